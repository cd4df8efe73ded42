//! A bounded queue makes submitters wait for room.

use std::sync::{Arc, Mutex};

use taskloop::{ThreadPool, create_task, run_in_executor, yield_now};

use crate::blocker;

#[test]
fn a_full_queue_makes_submitters_wait_until_there_is_room() -> anyhow::Result<()> {
    for (flavour, mut builder) in crate::flavours() {
        builder.build()?.run(async move {
            let pool = ThreadPool::builder().max_workers(1).queue_capacity(2).build()?;
            let (job, started, release) = blocker(usize::MAX);
            let running = run_in_executor(Some(&pool), job);
            started.await?;

            let log = Arc::new(Mutex::new(Vec::new()));
            let waiting: Vec<_> = (0..5)
                .map(|i| {
                    let log = log.clone();
                    let submitted = run_in_executor(Some(&pool), move || {
                        log.lock().unwrap().push(i);
                        i
                    });
                    create_task(submitted)
                })
                .collect();
            for _ in 0..10 {
                yield_now().await?;
            }
            assert_eq!(pool.queued(), 2, "{flavour}: never more than the capacity in the queue");
            assert!(waiting.iter().all(|t| !t.done()), "{flavour}: every submitter still waits");

            // The loop is not blocked while submitters wait.
            let other = create_task(async { anyhow::Ok("the loop runs") });
            assert_eq!(other.await?, "the loop runs");

            release.send(())?;
            assert_eq!(running.await?, usize::MAX);
            for (i, task) in waiting.into_iter().enumerate() {
                assert_eq!(task.await?, i, "{flavour}");
            }
            let log = log.lock().unwrap().clone();
            assert_eq!(log[..2], [0, 1], "{flavour}: the two queued first ran first");
            let mut sorted = log.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3, 4], "{flavour}: each ran once");
            assert_eq!(pool.queued(), 0);
            anyhow::Ok(())
        })?;
    }
    Ok(())
}

#[test]
fn a_waiting_submitter_that_is_cancelled_never_runs_its_work() -> anyhow::Result<()> {
    taskloop::run(async {
        let pool = ThreadPool::builder().max_workers(1).queue_capacity(1).build()?;
        let (job, started, release) = blocker(());
        let running = run_in_executor(Some(&pool), job);
        started.await?;
        let fills = run_in_executor(Some(&pool), || "queued");
        let ran = Arc::new(Mutex::new(false));
        let flag = ran.clone();
        let waits = run_in_executor(Some(&pool), move || *flag.lock().unwrap() = true);
        let waiter = create_task(waits);
        yield_now().await?;
        assert!(!waiter.done());
        waiter.cancel();
        assert!((&waiter).await.unwrap_err().is_cancelled());
        release.send(())?;
        running.await?;
        assert_eq!(fills.await?, "queued");
        run_in_executor(Some(&pool), || ()).await?;
        assert!(!*ran.lock().unwrap());
        anyhow::Ok(())
    })?;
    Ok(())
}
