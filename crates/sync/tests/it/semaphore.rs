//! `Semaphore` and `BoundedSemaphore`: CPython's `SemaphoreTests` and `test_pep492.py`.

use std::time::Duration;

use taskloop::sync::{BoundedSemaphore, Semaphore, TooManyReleases};
use taskloop::{Task, TaskGroup, create_task, gather_settled, sleep, yield_now};

use super::on_both_flavours;
use crate::support::{Log, current_thread, steps, until};

fn waiting(sem: &Semaphore, n: usize) -> bool {
    format!("{sem:?}").contains(&format!("waiters: {n}"))
}

/// asyncio's bare `await sem.acquire()`, then log `name`.
fn take(sem: &Semaphore, log: &Log, name: &'static str) -> Task<()> {
    let (sem, log) = (sem.clone(), log.clone());
    create_task(async move {
        sem.acquire().await?.forget();
        log.push(name);
        anyhow::Ok(())
    })
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_initial_value_zero`, `test_semaphore`, `test_release_no_waiters`,
    /// `test_release_not_acquired`, and `test_pep492.py`'s `async with sem`.
    fn asyncio_test_semaphore_basics() {
        let sem = Semaphore::new(0);
        assert!(sem.locked());
        let sem = Semaphore::new(1);
        assert_eq!(sem.value(), 1);
        {
            let _permit = sem.acquire().await?;
            assert!(sem.locked());
            assert_eq!(sem.value(), 0);
            assert!(sem.try_acquire().is_none());
        }
        assert!(!sem.locked());
        sem.acquire().await?.forget();
        assert!(sem.locked());
        sem.release();
        assert!(!sem.locked());

        let bounded = BoundedSemaphore::new(1);
        assert_eq!(bounded.release(), Err(TooManyReleases));
        {
            let _permit = bounded.acquire().await?;
            assert!(bounded.locked());
        }
        assert_eq!(bounded.value(), 1);
        anyhow::Ok(())
    }
}

/// asyncio's `test_acquire`, step by step (value 3; four tasks; FIFO wake-ups).
#[test]
fn asyncio_test_acquire() {
    current_thread(async {
        let sem = Semaphore::new(3);
        let log = Log::default();
        sem.acquire().await?.forget();
        sem.acquire().await?.forget();
        assert!(!sem.locked());
        let t1 = take(&sem, &log, "1");
        let t2 = take(&sem, &log, "2");
        let t3 = take(&sem, &log, "3");
        steps(1).await;
        log.check(&["1"]);
        assert!(sem.locked());
        assert!(waiting(&sem, 2));
        let t4 = take(&sem, &log, "4");
        sem.release();
        sem.release();
        assert_eq!(sem.value(), 0, "each release handed its permit to a waiter");
        steps(1).await;
        log.check(&["1", "2", "3"]);
        assert!(!t4.done());
        sem.release();
        steps(1).await;
        log.check(&["1", "2", "3", "4"]);
        assert!([t1, t2, t3, t4].iter().all(Task::done));
        anyhow::Ok(())
    });
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_acquire_cancel`: a cancelled acquire leaves no waiter.
    fn asyncio_test_acquire_cancel() {
        let sem = Semaphore::new(1);
        sem.acquire().await?.forget();
        let task = create_task({
            let sem = sem.clone();
            async move {
                let _permit = sem.acquire().await?;
                anyhow::Ok(())
            }
        });
        until("waiting", || waiting(&sem, 1)).await;
        task.cancel();
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(waiting(&sem, 0));
        assert_eq!(sem.value(), 0);
        anyhow::Ok(())
    }
}

/// asyncio's `test_acquire_cancel_before_awoken`: two waiters cancelled, one release: the
/// third waiter gets the permit, the fourth keeps waiting.
///
/// ```python
/// sem = asyncio.Semaphore(0); t1..t4 = create_task(sem.acquire()); await asyncio.sleep(0)
/// t1.cancel(); t2.cancel(); sem.release(); await asyncio.sleep(0); await asyncio.sleep(0)
/// t3.done(), t4.done()   # True, False (CPython 3.13)
/// ```
#[test]
fn asyncio_test_acquire_cancel_before_awoken() {
    current_thread(async {
        let sem = Semaphore::new(0);
        let log = Log::default();
        let ts = [take(&sem, &log, "1"), take(&sem, &log, "2"), take(&sem, &log, "3"), take(&sem, &log, "4")];
        yield_now().await?;
        ts[0].cancel();
        ts[1].cancel();
        sem.release();
        steps(2).await;
        assert!(ts[2].done());
        assert!(!ts[3].done());
        log.check(&["3"]);
        assert!(ts[0].cancelled() && ts[1].cancelled());
        ts[3].cancel();
        yield_now().await?;
        assert!(ts[3].cancelled());
        assert_eq!(sem.value(), 0, "no permit lost, none made up");
        anyhow::Ok(())
    });
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_acquire_hang`: the first waiter cancelled as a permit is released to
    /// it: the second waiter gets the permit.
    fn asyncio_test_acquire_hang() {
        let sem = Semaphore::new(0);
        let log = Log::default();
        let t1 = take(&sem, &log, "1");
        let t2 = take(&sem, &log, "2");
        until("both wait", || waiting(&sem, 2)).await;
        t1.cancel();
        sem.release();
        assert!((&t1).await.unwrap_err().is_cancelled());
        t2.await?;
        assert!(sem.locked());
        log.check(&["2"]);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_acquire_no_hang`: a waiter cancelled after the holder released to it
    /// gives the permit back.
    fn asyncio_test_acquire_no_hang() {
        let sem = Semaphore::new(1);
        let t2_slot: std::sync::Arc<std::sync::Mutex<Option<Task<()>>>> = Default::default();
        let t1 = create_task({
            let (sem, t2_slot) = (sem.clone(), t2_slot.clone());
            async move {
                {
                    let _permit = sem.acquire().await?;
                    yield_now().await?;
                    until("t2 waits", || t2_slot.lock().unwrap().is_some()).await;
                }
                t2_slot.lock().unwrap().as_ref().expect("t2").cancel();
                anyhow::Ok(())
            }
        });
        until("t1 holds the permit", || sem.locked()).await;
        let t2 = create_task({
            let sem = sem.clone();
            async move {
                let _permit = sem.acquire().await?;
                anyhow::bail!("t2 must not get the permit")
            }
        });
        until("t2 waits", || waiting(&sem, 1)).await;
        *t2_slot.lock().unwrap() = Some(t2.clone());
        let outcomes = gather_settled([t1.clone(), t2.clone()]).await?;
        assert!(outcomes[0].is_ok());
        assert!(outcomes[1].as_ref().unwrap_err().is_cancelled() || t2.exception().is_ok());
        let _permit = taskloop::wait_for(sem.acquire(), Duration::from_secs(1)).await?;
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_acquire_fifo_order`: three tasks, each acquiring twice with a sleep
    /// inside, take turns in FIFO order.
    fn asyncio_test_acquire_fifo_order() {
        let sem = Semaphore::new(1);
        let log = Log::default();
        let tg = TaskGroup::new();
        for (i, tag) in ["c1", "c2", "c3"].into_iter().enumerate() {
            let (task_sem, task_log) = (sem.clone(), log.clone());
            let _task = tg.create_task(async move {
                let (sem, log) = (task_sem, task_log);
                for round in 1..=2 {
                    let _permit = sem.acquire().await?;
                    log.push(format!("{tag}_{round}"));
                    sleep(Duration::from_millis(10)).await?;
                }
                anyhow::Ok(())
            });
            // Each task starts (and queues) before the next, as asyncio's run order has it.
            match i {
                0 => until("c1 holds the permit", || log.len() == 1).await,
                _ => until("the task queued", || waiting(&sem, i)).await,
            }
        }
        tg.join().await.map_err(|errors| anyhow::anyhow!("{errors:?}"))?;
        log.check(&["c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"]);
        anyhow::Ok(())
    }
}

/// asyncio's `test_acquire_fifo_order_2` and `_3`: releases go to waiters in order, and a
/// cancelled waiter is skipped.
#[test]
fn asyncio_test_acquire_fifo_order_2_and_3() {
    current_thread(async {
        let sem = Semaphore::new(1);
        let log = Log::default();
        let t1 = take(&sem, &log, "1");
        let t2 = create_task({
            let (sem, log) = (sem.clone(), log.clone());
            async move {
                sem.acquire().await?.forget();
                log.push("2");
                sem.release();
                sem.acquire().await?.forget();
                log.push("4");
                anyhow::Ok(())
            }
        });
        let t3 = take(&sem, &log, "3");
        yield_now().await?;
        sem.release();
        sem.release();
        taskloop::gather([t1, t2, t3]).await?;
        log.check(&["1", "2", "3", "4"]);

        let sem = Semaphore::new(0);
        let log = Log::default();
        let ts = [take(&sem, &log, "1"), take(&sem, &log, "2"), take(&sem, &log, "3")];
        yield_now().await?;
        ts[0].cancel();
        yield_now().await?;
        sem.release();
        sem.release();
        gather_settled(ts).await?;
        log.check(&["2", "3"]);
        anyhow::Ok(())
    });
}

/// asyncio's `test_acquire_fifo_order_4`: a successful acquire wakes every waiter the free
/// permits allow, and a task created meanwhile queues behind them.
#[test]
fn asyncio_test_acquire_fifo_order_4() {
    current_thread(async {
        let sem = Semaphore::new(0);
        let log = Log::default();
        let t1 = {
            let (sem, log) = (sem.clone(), log.clone());
            create_task(async move {
                sem.acquire().await?.forget();
                assert_eq!(sem.value(), 0, "all waiting tasks were woken");
                let t4 = take(&sem, &log, "4");
                log.push("1");
                anyhow::Ok(t4)
            })
        };
        let t2 = {
            let (sem, log) = (sem.clone(), log.clone());
            create_task(async move {
                sem.release();
                sem.release();
                sem.release();
                assert_eq!(sem.value(), 2);
                assert!(sem.locked(), "t1 has not woken up yet");
                sem.acquire().await?.forget();
                log.push("2");
                anyhow::Ok(())
            })
        };
        let t3 = take(&sem, &log, "3");
        yield_now().await?;
        assert_eq!(sem.value(), 2);
        assert!(waiting(&sem, 3));
        yield_now().await?;
        let t4 = t1.await?;
        t2.await?;
        t3.await?;
        sem.release();
        t4.await?;
        log.check(&["1", "2", "3", "4"]);
        anyhow::Ok(())
    });
}

on_both_flavours! {
    within 30;
    /// A dropped acquire that had been handed a permit gives it back to the next waiter.
    fn a_dropped_acquire_that_was_handed_a_permit_passes_it_on() {
        let sem = Semaphore::new(0);
        let log = Log::default();
        let mut first = sem.acquire();
        assert!(crate::support::poll_once(&mut first).await.is_pending());
        let second = take(&sem, &log, "second");
        until("second waits", || waiting(&sem, 2)).await;
        sem.release(); // hands the permit to `first`
        assert_eq!(sem.value(), 0);
        drop(first);
        second.await?;
        log.check(&["second"]);
        assert_eq!(sem.value(), 0);
        anyhow::Ok(())
    }
}
