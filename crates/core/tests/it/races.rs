//! Races between threads on the multi-thread loop, run many times. Each asserts the
//! linearisation the state machine promises (crates/core/src/task/mod.rs, "Races").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use taskloop::{Runtime, create_task, yield_now};

fn multi<F>(body: F)
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    Runtime::builder().worker_threads(2).build().unwrap().run(body).unwrap();
}

#[test]
fn cancel_from_another_thread_racing_completion_is_accepted_iff_the_task_ends_cancelled() {
    multi(async {
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..2000 {
            let task = create_task(async { anyhow::Ok(1) });
            let t = task.clone();
            let canceller = std::thread::spawn(move || t.cancel());
            yield_now().await?;
            let was_accepted = canceller.join().unwrap();
            let outcome = (&task).await;
            assert_eq!(was_accepted, task.cancelled(), "cancel()={was_accepted} but outcome {outcome:?}");
            assert_eq!(was_accepted, outcome.is_err());
            if was_accepted { accepted += 1 } else { refused += 1 }
        }
        assert_eq!(accepted + refused, 2000);
        anyhow::Ok(())
    });
}

#[test]
fn abort_racing_completion_gives_every_awaiter_one_outcome_and_callbacks_run_once() {
    multi(async {
        for _ in 0..1000 {
            let calls = Arc::new(AtomicUsize::new(0));
            let task = create_task(async {
                yield_now().await?;
                anyhow::Ok(2)
            });
            let c = calls.clone();
            task.add_done_callback(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            });
            let t = task.clone();
            let aborter = std::thread::spawn(move || t.abort());
            let a = task.clone();
            let b = task.clone();
            let (ra, rb) = (a.await, b.await);
            aborter.join().unwrap();
            assert_eq!(ra.is_ok(), rb.is_ok());
            assert_eq!(ra.is_err(), task.cancelled());
            while calls.load(Ordering::SeqCst) == 0 {
                yield_now().await?;
            }
            yield_now().await?;
            assert_eq!(calls.load(Ordering::SeqCst), 1);
        }
        anyhow::Ok(())
    });
}

#[test]
fn add_done_callback_from_another_thread_racing_completion_runs_exactly_once() {
    multi(async {
        let total = Arc::new(AtomicUsize::new(0));
        for _ in 0..1000 {
            let task = create_task(async { anyhow::Ok(()) });
            let t = task.clone();
            let tot = total.clone();
            let adder = std::thread::spawn(move || {
                t.add_done_callback(move |_| {
                    tot.fetch_add(1, Ordering::SeqCst);
                })
            });
            (&task).await?;
            adder.join().unwrap();
        }
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while total.load(Ordering::SeqCst) < 1000 && std::time::Instant::now() < give_up {
            yield_now().await?;
        }
        yield_now().await?;
        assert_eq!(total.load(Ordering::SeqCst), 1000);
        anyhow::Ok(())
    });
}
