//! Cancelling the task that awaits offloaded work.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use taskloop::{CpuPool, ThreadPool, create_task, run_in_executor, to_thread, yield_now};

use crate::blocker;

#[test]
fn cancelling_the_awaiter_removes_queued_work_so_it_never_runs() -> anyhow::Result<()> {
    for (flavour, mut builder) in crate::flavours() {
        builder.build()?.run(async move {
            let pool = ThreadPool::new(1);
            let (job, started, release) = blocker(1);
            let running = run_in_executor(Some(&pool), job);
            started.await?;

            let ran = Arc::new(AtomicUsize::new(0));
            let counter = ran.clone();
            let queued = run_in_executor(Some(&pool), move || {
                counter.fetch_add(1, Ordering::SeqCst);
            });
            assert_eq!(pool.queued(), 1, "{flavour}: queued behind the running job");
            let awaiter = create_task(queued);
            yield_now().await?;
            assert!(awaiter.cancel());
            let outcome = (&awaiter).await;
            assert!(outcome.unwrap_err().is_cancelled(), "{flavour}: the awaiter ends cancelled");
            assert_eq!(pool.queued(), 0, "{flavour}: the work left the queue");

            release.send(())?;
            assert_eq!(running.await?, 1);
            // One more job through the single worker: anything left in the queue would run first.
            run_in_executor(Some(&pool), || ()).await?;
            assert_eq!(ran.load(Ordering::SeqCst), 0, "{flavour}: the withdrawn work never ran");
            anyhow::Ok(())
        })?;
    }
    Ok(())
}

#[test]
fn dropping_a_run_in_executor_future_withdraws_work_that_has_not_started() -> anyhow::Result<()> {
    taskloop::run(async {
        let pool = ThreadPool::new(1);
        let (job, started, release) = blocker(());
        let running = run_in_executor(Some(&pool), job);
        started.await?;
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        let queued = run_in_executor(Some(&pool), move || counter.fetch_add(1, Ordering::SeqCst));
        assert_eq!(pool.queued(), 1);
        drop(queued);
        assert_eq!(pool.queued(), 0);
        release.send(())?;
        running.await?;
        run_in_executor(Some(&pool), || ()).await?;
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn cancelling_the_awaiter_of_queued_cpu_pool_work_skips_it() -> anyhow::Result<()> {
    taskloop::run(async {
        let pool = CpuPool::new(1);
        let (job, started, release) = blocker(());
        let running = run_in_executor(Some(&pool), job);
        started.await?;
        let ran = Arc::new(AtomicUsize::new(0));
        let counter = ran.clone();
        let queued = run_in_executor(Some(&pool), move || counter.fetch_add(1, Ordering::SeqCst));
        let awaiter = create_task(queued);
        yield_now().await?;
        awaiter.cancel();
        assert!((&awaiter).await.unwrap_err().is_cancelled());
        release.send(())?;
        running.await?;
        // The pool has one thread and runs spawned jobs in FIFO order from outside the pool.
        run_in_executor(Some(&pool), || ()).await?;
        assert_eq!(ran.load(Ordering::SeqCst), 0, "the skipped job never ran");
        anyhow::Ok(())
    })?;
    Ok(())
}

/// The value of a job; says when it is dropped, and on which thread.
struct Reported(mpsc::Sender<String>);

impl Drop for Reported {
    fn drop(&mut self) {
        let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
        let _ = self.0.send(thread);
    }
}

#[test]
fn cancelling_the_awaiter_of_running_work_ends_it_at_once_and_the_work_finishes() -> anyhow::Result<()> {
    for (flavour, mut builder) in crate::flavours() {
        builder.build()?.run(async move {
            let pool = ThreadPool::builder().max_workers(1).thread_name_prefix("busy").build()?;
            let (dropped_tx, dropped_rx) = mpsc::channel();
            let (job, started, release) = blocker(Reported(dropped_tx));
            let running = run_in_executor(Some(&pool), job);
            let awaiter = create_task(async move { running.await.map(drop) });
            started.await?;
            awaiter.cancel_with("stop waiting");
            // The job still blocks (it is not released yet): the awaiter did not wait for it.
            let outcome = (&awaiter).await;
            assert_eq!(outcome.unwrap_err().cancel_message(), Some("stop waiting"), "{flavour}");
            assert!(dropped_rx.try_recv().is_err(), "{flavour}: the job is still running");

            release.send(())?;
            let dropped_on = to_thread(move || dropped_rx.recv_timeout(Duration::from_secs(30))).await??;
            assert!(dropped_on.starts_with("busy"), "{flavour}: the result was dropped on the worker: {dropped_on}");
            anyhow::Ok(())
        })?;
    }
    Ok(())
}
