//! `shutdown(wait, cancel_futures)` and submitting afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use taskloop::{CpuPool, Executor, Job, ThreadPool, run_in_executor};

use crate::blocker;

#[test]
fn shutdown_without_waiting_cancels_a_full_queue_and_lets_running_work_finish() -> anyhow::Result<()> {
    taskloop::run(async {
        let pool = Arc::new(ThreadPool::builder().max_workers(1).queue_capacity(3).build()?);
        let (job, started, release) = blocker("finished");
        let running = run_in_executor(Some(&*pool), job);
        started.await?;
        let ran = Arc::new(AtomicUsize::new(0));
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let counter = ran.clone();
                run_in_executor(Some(&*pool), move || counter.fetch_add(1, Ordering::SeqCst))
            })
            .collect();
        assert_eq!(pool.queued(), 3, "the queue is full");

        // On another thread, so that a shutdown that waited for the blocked job fails the test
        // instead of hanging it.
        let (returned_tx, returned_rx) = mpsc::channel();
        let shutter = pool.clone();
        std::thread::spawn(move || {
            shutter.shutdown(false, true);
            let _ = returned_tx.send(());
        });
        returned_rx.recv_timeout(Duration::from_secs(30)).expect("shutdown(wait = false) returned at once");
        assert!(pool.is_shutdown());
        assert_eq!(pool.queued(), 0);

        for outcome in queued {
            let error = outcome.await.unwrap_err();
            assert!(error.is_cancelled(), "queued work is cancelled: {error:?}");
        }
        release.send(())?;
        assert_eq!(running.await?, "finished", "running work finishes");
        assert_eq!(ran.load(Ordering::SeqCst), 0, "cancelled work never ran");
        assert!(run_in_executor(Some(&*pool), || ()).await.unwrap_err().is_shutdown());
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn submitting_after_shutdown_fails_with_shutdown_and_never_runs() -> anyhow::Result<()> {
    taskloop::run(async {
        let ran = Arc::new(AtomicUsize::new(0));
        let thread_pool = ThreadPool::new(2);
        let cpu_pool = CpuPool::new(1);
        let executors: [&dyn Executor; 2] = [&thread_pool, &cpu_pool];
        for executor in executors {
            executor.shutdown(true, false);
            let counter = ran.clone();
            let outcome = run_in_executor(Some(executor), move || counter.fetch_add(1, Ordering::SeqCst)).await;
            assert!(outcome.unwrap_err().is_shutdown());
        }
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn shutdown_with_wait_runs_the_queued_work_first() -> anyhow::Result<()> {
    taskloop::run(async {
        let pool = ThreadPool::new(1);
        let (job, started, release) = blocker(());
        let running = run_in_executor(Some(&pool), job);
        started.await?;
        let ran = Arc::new(AtomicUsize::new(0));
        let queued: Vec<_> = (0..5)
            .map(|_| {
                let counter = ran.clone();
                run_in_executor(Some(&pool), move || counter.fetch_add(1, Ordering::SeqCst))
            })
            .collect();
        release.send(())?;
        // Blocks this thread until the worker is done: the queued work still runs.
        pool.shutdown(true, false);
        assert_eq!(ran.load(Ordering::SeqCst), 5);
        assert_eq!(pool.num_workers(), 0);
        running.await?;
        for outcome in queued {
            outcome.await?;
        }
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn cpu_pool_shutdown_with_cancel_futures_skips_jobs_that_have_not_started() -> anyhow::Result<()> {
    taskloop::run(async {
        let pool = CpuPool::new(1);
        let (job, started, release) = blocker(7);
        let running = run_in_executor(Some(&pool), job);
        started.await?;
        let ran = Arc::new(AtomicUsize::new(0));
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let counter = ran.clone();
                run_in_executor(Some(&pool), move || counter.fetch_add(1, Ordering::SeqCst))
            })
            .collect();
        pool.shutdown(false, true);
        release.send(())?;
        assert_eq!(running.await?, 7);
        for outcome in queued {
            assert!(outcome.await.unwrap_err().is_cancelled());
        }
        pool.shutdown(true, true);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn dropping_a_pool_runs_its_queued_work_and_joins_its_workers() {
    let ran = Arc::new(AtomicUsize::new(0));
    let pool = ThreadPool::new(2);
    for _ in 0..6 {
        let counter = ran.clone();
        pool.try_submit(Job::new(move || {
            std::thread::sleep(Duration::from_millis(5));
            counter.fetch_add(1, Ordering::SeqCst);
        }))
        .expect("the pool takes the job");
    }
    drop(pool);
    assert_eq!(ran.load(Ordering::SeqCst), 6, "drop waited for every queued job");
}
