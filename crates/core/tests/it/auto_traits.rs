//! The auto traits of every public type of taskloop-core: handles are `Send + Sync`, futures a
//! task body awaits are `Send`, and the ones users poll by hand or `select!` on are `Unpin`.

use std::time::Duration;

use taskloop::{
    Builder, CallbackId, Cancelled, ExceptionContext, GroupJoin, Handle, Join, ReturnWhen, Runtime, SpawnError, Task,
    TaskBuilder, TaskDump, TaskError, TaskGroup, TaskGroupError, TaskId, TaskInfo, TaskRef, YieldNow,
};

fn send_sync<T: Send + Sync>() {}
fn send_sync_unpin<T: Send + Sync + Unpin>() {}
fn send<T: Send>(_: &T) {}

#[test]
fn handles_errors_and_builders_are_send_and_sync() {
    send_sync_unpin::<Task<u32>>();
    send_sync_unpin::<Task<String>>();
    send_sync_unpin::<TaskRef>();
    send_sync_unpin::<Join<u32>>();
    send_sync::<TaskError>();
    send_sync::<Cancelled>();
    send_sync::<SpawnError>();
    send_sync::<TaskBuilder>();
    send_sync::<Builder>();
    send_sync::<Runtime>();
    send_sync::<Handle>();
    send_sync::<ExceptionContext>();
    send_sync::<TaskDump>();
    send_sync::<TaskInfo>();
    send_sync::<TaskGroup>();
    send_sync::<TaskGroupError>();
    send_sync::<CallbackId>();
    send_sync::<TaskId>();
    send_sync::<ReturnWhen>();
    send_sync_unpin::<YieldNow>();
    send_sync_unpin::<GroupJoin<'static>>();
    // Issue 16: the loop handle is shared between threads; a thread's future moves to it.
    send_sync_unpin::<taskloop::LoopHandle>();
    send_sync_unpin::<taskloop::ConcurrentFuture<u32>>();
    send_sync::<taskloop::Runner>();
    fn clone<T: Clone>() {}
    clone::<taskloop::LoopHandle>();
    // `run_embedded`'s future can be spawned on any tokio runtime (it is `Send + 'static`).
    send(&taskloop::run_embedded(async { anyhow::Ok(()) }));
}

#[test]
fn the_futures_a_body_awaits_are_send() {
    // Built, never polled: no loop is needed.
    send(&taskloop::sleep(Duration::ZERO)); // the same type as any sleep; a timer needs a loop
    send(&taskloop::yield_now());
    send(&taskloop::wait(Vec::<TaskRef>::new(), ReturnWhen::AllCompleted, None));
    send(&taskloop::gather(Vec::<Task<u32>>::new()));
    send(&taskloop::gather_settled(Vec::<Task<u32>>::new()));
    send(&taskloop::as_completed(Vec::<Task<u32>>::new()));
    send(&taskloop::cancellable(std::future::ready(1)));
    send(&taskloop::shield(std::future::ready(1)));
    send(&taskloop::task_group(|tg| async move {
        tg.create_task(async { anyhow::Ok(1) });
        taskloop::sleep(Duration::ZERO).await?;
        anyhow::Ok(())
    }));
}
