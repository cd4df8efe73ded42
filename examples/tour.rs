//! A tour of taskloop: asyncio's task model, in Rust, on tokio.
//!
//! Run it with `cargo run --example tour`. Each section is one idea an asyncio programmer
//! knows; the comments name the asyncio spelling.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskloop::prelude::*;
use taskloop::{
    CpuPool, LoopHandle, Runner, TaskGroup, create_eager_task, delay, run_in_executor, to_thread, wait_for,
};

fn section(title: &str) {
    println!("\n== {title}");
}

fn main() -> anyhow::Result<()> {
    taskloop::run(async {
        section("create a task, await it (asyncio.create_task / await task)");
        let task = create_task(async {
            sleep(Duration::from_millis(10)).await?;
            anyhow::Ok(6 * 7)
        });
        println!("{} started, done: {}", task.name(), task.done());
        println!("awaited: {}", (&task).await?);
        println!("awaited again: {}, result(): {}", (&task).await?, task.result()?);

        section("cancel with a message, and catch it (task.cancel(msg) / except CancelledError)");
        let stubborn = create_task(async {
            match sleep(Duration::from_secs(60)).await {
                Err(cancelled) => println!("  body caught: {cancelled}; cleaning up and finishing"),
                Ok(()) => println!("  body slept a whole minute"),
            }
            anyhow::Ok("finished anyway")
        });
        sleep(Duration::ZERO).await?;
        println!("cancel() -> {}", stubborn.cancel_with("time is up"));
        println!("outcome: {:?}, cancelled(): {}", (&stubborn).await, stubborn.cancelled());

        section("a cancellation nobody catches ends the task cancelled");
        let sleeper = create_task(async {
            sleep(Duration::from_secs(60)).await?;
            anyhow::Ok(())
        });
        sleep(Duration::ZERO).await?;
        sleeper.cancel_with("not needed");
        let err = (&sleeper).await.unwrap_err();
        println!("outcome: {err}; message: {:?}", err.cancel_message());

        section("result() says 'not done yet' instead of blocking");
        let slow = create_task(async {
            sleep(Duration::from_millis(50)).await?;
            anyhow::Ok("slow value")
        });
        println!("result() now: {}", slow.result().unwrap_err());
        println!("after await: {}", slow.clone().await?);

        section("done callbacks run on the loop, in order (task.add_done_callback)");
        let log = Arc::new(Mutex::new(Vec::new()));
        let worker = create_task(async { anyhow::Ok(1) });
        for name in ["first", "second"] {
            let log = log.clone();
            worker.add_done_callback(move |t| log.lock().unwrap().push(format!("{name} saw {:?}", t.result())));
        }
        (&worker).await?;
        yield_now().await?;
        for line in log.lock().unwrap().iter() {
            println!("{line}");
        }

        section("wait for every background task (asyncio.all_tasks / asyncio.wait)");
        for i in 1..=3u64 {
            let _task = create_task(async move {
                sleep(Duration::from_millis(10 * i)).await?;
                anyhow::Ok(())
            });
        }
        let me = current_task().expect("main is a task");
        let others: Vec<_> = all_tasks().into_iter().filter(|t| *t != me).collect();
        let (done, pending) = wait(others, ReturnWhen::AllCompleted, None).await?;
        println!("{} done, {} pending", done.len(), pending.len());

        section("cancelling a task that awaits another cancels that one too; shield stops it");
        let inner = create_task(async {
            sleep(Duration::from_secs(60)).await?;
            anyhow::Ok(())
        });
        let awaited = inner.clone();
        let outer = create_task(awaited);
        sleep(Duration::ZERO).await?;
        outer.cancel();
        let _ = (&outer).await;
        println!("outer cancelled: {}, inner cancelled: {}", outer.cancelled(), inner.cancelled());
        let protected = create_task(async {
            sleep(Duration::from_millis(20)).await?;
            anyhow::Ok("protected result")
        });
        let guarded = protected.clone();
        let outer = create_task(async move { Ok::<_, anyhow::Error>(shield(guarded).await??) });
        sleep(Duration::ZERO).await?;
        outer.cancel();
        let _ = (&outer).await;
        println!("outer cancelled: {}, shielded task went on to: {}", outer.cancelled(), protected.await?);

        section("abort: what asyncio cannot do - stop a task that never reaches an await");
        let spinning = create_task(async {
            std::future::pending::<()>().await;
            anyhow::Ok(())
        });
        sleep(Duration::ZERO).await?;
        spinning.abort();
        println!("aborted task cancelled: {}", spinning.clone().await.unwrap_err().is_cancelled());

        section("gather, as asyncio.gather; a TaskGroup fails fast and reports every failure");
        let squares: Vec<_> = (1..=4u64).map(|i| create_task(async move { anyhow::Ok(i * i) })).collect();
        println!("gather: {:?}", gather(squares).await?);
        let group = TaskGroup::new();
        let _ok = group.create_task(async {
            sleep(Duration::from_secs(60)).await?;
            anyhow::Ok(())
        });
        let _bad = group.create_task(async { Err::<(), _>(anyhow::anyhow!("disk full")) });
        let failures = group.join().await.unwrap_err();
        println!("group failures: {:?}", failures.iter().map(ToString::to_string).collect::<Vec<_>>());

        section("time limits and follow-ups (asyncio.wait_for, the seed's delay, add_done_callback)");
        let slow = create_task(async {
            sleep(Duration::from_secs(60)).await?;
            anyhow::Ok(())
        });
        let timed_out = wait_for(slow.clone(), Duration::from_millis(10)).await;
        println!("wait_for: {:?}, the task was cancelled: {}", timed_out.unwrap_err(), slow.cancelled());
        let later = delay(async { anyhow::Ok("ran after a delay") }, Duration::from_millis(5)).await?;
        println!("delay: {later}");
        let first = create_task(async { anyhow::Ok(20) });
        let follow_up = first.and_then(|n| async move { anyhow::Ok(n + 1) });
        println!("and_then: {}", follow_up.await?);

        section("blocking and CPU work off the loop (asyncio.to_thread / run_in_executor)");
        let read = to_thread(|| std::thread::sleep(Duration::from_millis(5))).await;
        println!("to_thread finished: {}", read.is_ok());
        let sum = run_in_executor(Some(CpuPool::global()), || (1..=1_000_000u64).sum::<u64>()).await?;
        println!("CpuPool sum: {sum}");

        section("eager tasks (asyncio 3.12): a task that finishes at once never touches the scheduler");
        let cached = create_eager_task(async { anyhow::Ok("cache hit") });
        println!("done when created: {}, value: {}", cached.done(), cached.result()?);

        section("other threads hand work to the loop (loop.call_soon_threadsafe / run_coroutine_threadsafe)");
        let handle = LoopHandle::current();
        let from_thread = to_thread(move || {
            handle.call_soon_threadsafe(|| println!("callback from a plain thread, run on the loop"))?;
            let job = handle.spawn_threadsafe(async {
                sleep(Duration::from_millis(5)).await?;
                anyhow::Ok(current_task().is_some())
            })?;
            anyhow::Ok(job.wait()?)
        });
        println!("the thread waited for a task of the loop: {}", from_thread.await??);

        section("main returns: the loop cancels what is left (asyncio.run)");
        let _task = create_task(async {
            if let Err(cancelled) = sleep(Duration::from_secs(60)).await {
                println!("leftover task: {cancelled} as the loop shuts down");
            }
            anyhow::Ok(())
        });
        sleep(Duration::ZERO).await?;
        println!("main returns");
        anyhow::Ok(())
    })?;
    println!("\nthe loop is closed");

    section("several mains on one loop (asyncio.Runner)");
    let mut runner = Runner::new()?;
    for i in 1..=2 {
        let value = runner.run(async move { anyhow::Ok(i * 10) })?;
        println!("main {i} returned {value}");
    }
    runner.close();

    section("a loop inside a tokio runtime you already have (#[tokio::main], axum)");
    let app_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let value = app_runtime.block_on(taskloop::run_embedded(async {
        let task = create_task(async { anyhow::Ok("a taskloop task on the application's runtime") });
        task.await
    }))?;
    println!("{value}");
    Ok(())
}
