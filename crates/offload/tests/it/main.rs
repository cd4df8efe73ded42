//! Behaviour tests of taskloop-offload: one binary, a module per feature.

mod backpressure;
mod builder;
mod cancel;
mod cpu_pool;
mod faults;
mod loop_shutdown;
mod panics;
mod pool_shutdown;
mod regressions;
mod to_thread;
mod workers;

use std::sync::mpsc;

use tokio::sync::oneshot;

/// A job that says when it started and then blocks until released (or the releaser is
/// dropped), returning `value`.
pub(crate) fn blocker<T: Send + 'static>(
    value: T,
) -> (impl FnOnce() -> T + Send + 'static, oneshot::Receiver<()>, mpsc::Sender<()>) {
    let (started_tx, started_rx) = oneshot::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let job = move || {
        let _ = started_tx.send(());
        let _ = release_rx.recv();
        value
    };
    (job, started_rx, release_tx)
}

pub(crate) use taskloop_test_support::quiet_deliberate_panics;

/// Both loop flavours, as `Runtime` builders.
pub(crate) fn flavours() -> [(&'static str, taskloop::Builder); 2] {
    let mut multi = taskloop::Runtime::builder();
    multi.worker_threads(2);
    [("current_thread", taskloop::Runtime::builder()), ("multi_thread", multi)]
}

#[test]
fn public_types_are_send_and_sync_and_futures_are_send_and_unpin() {
    fn send_sync<T: Send + Sync>() {}
    fn send_unpin<T: Send + Unpin>() {}
    send_sync::<taskloop::ThreadPool>();
    send_sync::<taskloop::ThreadPoolBuilder>();
    send_sync::<taskloop::CpuPool>();
    send_sync::<taskloop::BuildError>();
    send_sync::<std::sync::Arc<dyn taskloop::Executor>>();
    send_unpin::<taskloop::ToThread<String>>();
    send_unpin::<taskloop::RunInExecutor<String>>();
    send_unpin::<taskloop::Job>();
}
