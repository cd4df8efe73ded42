//! `Barrier`: CPython's `BarrierTests`.

use std::sync::{Arc, Mutex};

use taskloop::sync::{Barrier, BarrierError};
use taskloop::{Task, create_task, gather, gather_settled, yield_now};

use super::on_both_flavours;
use crate::support::{current_thread, until};

/// The parties in most tests, as CPython's `N`.
const N: usize = 5;

fn spawn_n<F, Fut>(n: usize, f: F) -> Vec<Task<()>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    (0..n).map(|_| create_task(f())).collect()
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_barrier`, `test_filling_tasks_check_return_value` and
    /// `test_filling_tasks_wait_twice`: N parties, each index once, two rounds.
    fn asyncio_test_barrier_two_rounds() {
        let barrier = Barrier::new(N);
        assert_eq!(barrier.parties(), N);
        let indices = Arc::new(Mutex::new(Vec::new()));
        let tasks = spawn_n(N, || {
            let (barrier, indices) = (barrier.clone(), indices.clone());
            async move {
                for _ in 0..2 {
                    let index = barrier.wait().await?;
                    indices.lock().unwrap().push(index);
                }
                anyhow::Ok(())
            }
        });
        gather(tasks).await?;
        let mut indices = indices.lock().unwrap().clone();
        indices.sort();
        assert_eq!(indices, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
        anyhow::Ok(())
    }
}

/// asyncio's `test_filling_task_by_task` and `test_draining_state`, step by step.
#[test]
fn asyncio_test_filling_task_by_task() {
    current_thread(async {
        let barrier = Barrier::new(3);
        let wait = || {
            let barrier = barrier.clone();
            create_task(async move { anyhow::Ok(barrier.wait().await?) })
        };
        let t1 = wait();
        yield_now().await?;
        assert_eq!(barrier.n_waiting(), 1);
        let t2 = wait();
        yield_now().await?;
        assert_eq!(barrier.n_waiting(), 2);
        let t3 = wait();
        yield_now().await?;
        assert!(t3.done(), "the last party leaves at once");
        assert!(format!("{barrier:?}").contains("Draining"), "{barrier:?}");
        assert_eq!(gather([t1, t2, t3]).await?, [0, 1, 2]);
        assert!(format!("{barrier:?}").contains("Filling"));
        anyhow::Ok(())
    });
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_blocking_tasks_while_draining`: tasks that come back while the
    /// barrier drains wait for the next round.
    fn asyncio_test_blocking_tasks_while_draining() {
        let barrier = Barrier::new(N);
        let nowaiting = Barrier::new(N - 2);
        let rewait = Arc::new(Mutex::new(2));
        let tasks = spawn_n(N, || {
            let (barrier, nowaiting, rewait) = (barrier.clone(), nowaiting.clone(), rewait.clone());
            async move {
                barrier.wait().await?;
                let again = {
                    let mut n = rewait.lock().unwrap();
                    let again = *n > 0;
                    if again {
                        *n -= 1;
                    }
                    again
                };
                if !again {
                    nowaiting.wait().await?;
                }
                barrier.wait().await?;
                anyhow::Ok(())
            }
        });
        gather(tasks).await?;
        anyhow::Ok(())
    }
}

/// asyncio's `test_filling_tasks_cancel_one`: a party cancelled while it waits leaves the
/// barrier (it no longer counts), and the barrier still trips with three others. The
/// indices are asyncio's: a party's index is the count inside when it arrives.
///
/// ```python
/// b = asyncio.Barrier(3)
/// t1 = create_task(b.wait()); await sleep(0); t2 = create_task(b.wait()); await sleep(0)
/// t1.cancel(); await sleep(0); print(b.n_waiting)        # 1
/// t3 = create_task(b.wait()); await sleep(0); t4 = create_task(b.wait())
/// print(await asyncio.gather(t2, t3, t4))                 # [1, 1, 2] (CPython 3.13)
/// ```
#[test]
fn asyncio_test_filling_tasks_cancel_one() {
    current_thread(async {
        let barrier = Barrier::new(3);
        let wait = || {
            let barrier = barrier.clone();
            create_task(async move { anyhow::Ok(barrier.wait().await?) })
        };
        let t1 = wait();
        yield_now().await?;
        assert_eq!(barrier.n_waiting(), 1);
        let t2 = wait();
        yield_now().await?;
        assert_eq!(barrier.n_waiting(), 2);
        t1.cancel();
        yield_now().await?;
        assert_eq!(barrier.n_waiting(), 1);
        assert!((&t1).await.unwrap_err().is_cancelled());
        let t3 = wait();
        yield_now().await?;
        assert_eq!(barrier.n_waiting(), 2);
        let t4 = wait();
        assert_eq!(gather([t2, t3, t4]).await?, [1, 1, 2]);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
        anyhow::Ok(())
    });
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_reset_barrier` and `test_reset_barrier_while_tasks_waiting`: the
    /// parties inside fail with `BrokenBarrierError`, and the barrier fills again.
    fn asyncio_test_reset_barrier_while_tasks_waiting() {
        let barrier = Barrier::new(N);
        barrier.reset();
        assert!(!barrier.broken());
        let tasks: Vec<_> = (0..N - 1)
            .map(|_| {
                let barrier = barrier.clone();
                create_task(async move { anyhow::Ok(barrier.wait().await.unwrap_err()) })
            })
            .collect();
        until("N-1 wait", || barrier.n_waiting() == N - 1).await;
        barrier.reset();
        for err in gather(tasks).await? {
            assert_eq!(err, BarrierError::Broken);
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(format!("{barrier:?}").contains("Filling"));
        assert!(!barrier.broken());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_abort_barrier` and `test_abort_barrier_when_exception`: a party that
    /// fails aborts the barrier; every other party gets `BrokenBarrierError`, now and later.
    fn asyncio_test_abort_barrier_when_exception() {
        let barrier = Barrier::new(1);
        barrier.abort();
        assert!(barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);

        let barrier = Barrier::new(N);
        let tasks = spawn_n(N, || {
            let barrier = barrier.clone();
            async move {
                let i = barrier.wait().await?;
                if i == N / 2 {
                    barrier.abort();
                    anyhow::bail!("RuntimeError");
                }
                barrier.wait().await?;
                anyhow::Ok(())
            }
        });
        let outcomes = gather_settled(tasks).await?;
        let broken = outcomes
            .iter()
            .filter(|o| o.as_ref().is_err_and(|e| e.to_string().contains("BrokenBarrierError")))
            .count();
        assert_eq!(broken, N - 1);
        assert!(barrier.broken());
        assert_eq!(barrier.n_waiting(), 0);
        assert!(barrier.wait().await.unwrap_err().is_broken(), "still broken later");
        barrier.reset();
        assert!(!barrier.broken());
        anyhow::Ok(())
    }
}

#[test]
#[should_panic(expected = "parties must be > 0")]
fn asyncio_test_barrier_parties() {
    let _ = Barrier::new(0);
}
