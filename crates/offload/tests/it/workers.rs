//! Workers start on demand, exit when idle, and the pool regrows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use taskloop::{ThreadPool, run_in_executor, sleep};

use crate::blocker;

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("unnamed").to_owned()
}

#[test]
fn workers_start_on_demand_up_to_max_workers() -> anyhow::Result<()> {
    taskloop::run(async {
        let pool = ThreadPool::new(2);
        assert_eq!(pool.num_workers(), 0);
        let mut running = Vec::new();
        let mut releases = Vec::new();
        let mut started = Vec::new();
        for i in 0..4 {
            let (job, s, release) = blocker(i);
            running.push(run_in_executor(Some(&pool), job));
            started.push(s);
            releases.push(release);
        }
        let mut started = started.into_iter();
        started.next().expect("four jobs").await?;
        started.next().expect("four jobs").await?;
        assert_eq!(pool.num_workers(), 2, "no more than max_workers");
        assert_eq!(pool.queued(), 2, "the rest wait in the queue");
        for release in releases {
            release.send(())?;
        }
        for (i, outcome) in running.into_iter().enumerate() {
            assert_eq!(outcome.await?, i);
        }
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn idle_workers_exit_and_the_pool_regrows_on_demand() -> anyhow::Result<()> {
    taskloop::run(async {
        let pool = ThreadPool::builder()
            .max_workers(1)
            .thread_name_prefix("regrow")
            .idle_timeout(Duration::from_millis(20))
            .build()?;
        assert_eq!(run_in_executor(Some(&pool), thread_name).await?, "regrow_0");
        // Wait (generously) for the idle worker to time out and exit.
        let deadline = Instant::now() + Duration::from_secs(30);
        while pool.num_workers() > 0 {
            assert!(Instant::now() < deadline, "the idle worker never exited");
            sleep(Duration::from_millis(5)).await?;
        }
        assert_eq!(run_in_executor(Some(&pool), thread_name).await?, "regrow_1", "a new worker started");
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn thread_names_use_the_prefix_and_the_initializer_runs_on_each_worker() -> anyhow::Result<()> {
    let initialized = Arc::new(AtomicUsize::new(0));
    let counter = initialized.clone();
    taskloop::run(async move {
        let pool = ThreadPool::builder()
            .max_workers(2)
            .thread_name_prefix("io")
            .initializer(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .build()?;
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let (a, b) = (barrier.clone(), barrier);
        let first = run_in_executor(Some(&pool), move || {
            a.wait();
            thread_name()
        });
        let second = run_in_executor(Some(&pool), move || {
            b.wait();
            thread_name()
        });
        let mut names = [first.await?, second.await?];
        names.sort();
        assert_eq!(names, ["io_0", "io_1"]);
        anyhow::Ok(())
    })?;
    assert_eq!(initialized.load(Ordering::SeqCst), 2);
    Ok(())
}

#[test]
fn a_panicking_initializer_shuts_the_pool_down_and_cancels_its_work() -> anyhow::Result<()> {
    crate::quiet_deliberate_panics();
    taskloop::run(async {
        let pool = ThreadPool::builder().max_workers(1).initializer(|| panic!("deliberate init failure")).build()?;
        let outcome = run_in_executor(Some(&pool), || 1).await;
        assert!(outcome.unwrap_err().is_cancelled());
        assert!(pool.is_shutdown());
        assert!(run_in_executor(Some(&pool), || 1).await.unwrap_err().is_shutdown());
        anyhow::Ok(())
    })?;
    Ok(())
}
