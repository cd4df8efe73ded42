//! A panic in offloaded work ends that await with `Panicked`; the pool lives on.

use std::sync::{Arc, Barrier};

use taskloop::{TaskError, ThreadPool, run_in_executor};

use crate::quiet_deliberate_panics;

#[test]
fn a_panic_becomes_task_error_panicked_with_its_message() -> anyhow::Result<()> {
    quiet_deliberate_panics();
    taskloop::run(async {
        let pool = ThreadPool::new(1);
        let outcome = run_in_executor(Some(&pool), || -> u32 { panic!("deliberate: {}", 42) }).await;
        match outcome {
            Err(TaskError::Panicked(message)) => assert_eq!(&*message, "deliberate: 42"),
            other => panic!("expected Panicked, got {other:?}"),
        }
        let to_thread_outcome = taskloop::to_thread(|| panic!("deliberate too")).await;
        assert_eq!(to_thread_outcome.unwrap_err().to_string(), "task panicked: deliberate too");
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn the_pool_survives_100_panicking_jobs_with_all_its_workers() -> anyhow::Result<()> {
    quiet_deliberate_panics();
    taskloop::run(async {
        let pool = ThreadPool::new(2);
        // Two jobs that can only finish together make the pool start both workers.
        let barrier = Arc::new(Barrier::new(2));
        let (a, b) = (barrier.clone(), barrier);
        let first = run_in_executor(Some(&pool), move || a.wait().is_leader());
        let second = run_in_executor(Some(&pool), move || b.wait().is_leader());
        assert_ne!(first.await?, second.await?, "exactly one leader");
        assert_eq!(pool.num_workers(), 2);

        let panicking: Vec<_> =
            (0..100).map(|i| run_in_executor(Some(&pool), move || -> () { panic!("deliberate {i}") })).collect();
        for (i, outcome) in panicking.into_iter().enumerate() {
            match outcome.await {
                Err(TaskError::Panicked(message)) => assert_eq!(*message, *format!("deliberate {i}")),
                other => panic!("job {i}: expected Panicked, got {other:?}"),
            }
        }
        assert_eq!(pool.num_workers(), 2, "no worker died");
        assert_eq!(run_in_executor(Some(&pool), || 6 * 7).await?, 42);
        anyhow::Ok(())
    })?;
    Ok(())
}
