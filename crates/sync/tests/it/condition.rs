//! `Condition`: CPython's `ConditionTests`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use taskloop::sync::{Condition, Lock};
use taskloop::{Task, create_task, yield_now};

use super::on_both_flavours;
use crate::support::{Log, current_thread, steps, until};

fn waiting(cond: &Condition, n: usize) -> bool {
    format!("{cond:?}").contains(&format!("waiters: {n}"))
}

/// asyncio's `c1`..`c3`: take the lock, wait, log, and keep the lock (no release).
fn waiter(cond: &Condition, log: &Log, name: &'static str) -> Task<()> {
    let (cond, log) = (cond.clone(), log.clone());
    create_task(async move {
        let guard = cond.acquire().await?;
        cond.wait(guard).await?.forget();
        log.push(name);
        anyhow::Ok(())
    })
}

/// asyncio's `test_wait`, step by step: a notified waiter returns once it has taken the lock
/// back; `notify(2)` wakes the next two, each returning after a release.
#[test]
fn asyncio_test_wait() {
    current_thread(async {
        let cond = Condition::new();
        let log = Log::default();
        let tasks = [waiter(&cond, &log, "1"), waiter(&cond, &log, "2"), waiter(&cond, &log, "3")];
        yield_now().await?;
        log.check(&[]);
        assert!(!cond.locked());

        cond.acquire().await?.forget();
        cond.notify(1);
        yield_now().await?;
        log.check(&[]);
        assert!(cond.locked());

        cond.release()?;
        yield_now().await?;
        log.check(&["1"]);
        assert!(cond.locked());

        cond.notify(2);
        yield_now().await?;
        log.check(&["1"]);
        cond.release()?;
        yield_now().await?;
        log.check(&["1", "2"]);
        cond.release()?;
        yield_now().await?;
        log.check(&["1", "2", "3"]);
        assert!(cond.locked());
        assert!(tasks.iter().all(Task::done));
        anyhow::Ok(())
    });
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_wait_cancel`: a cancelled wait leaves no waiter (and, unlike asyncio,
    /// returns without the lock: the guard went into `wait`).
    fn asyncio_test_wait_cancel() {
        let cond = Condition::new();
        let task = create_task({
            let cond = cond.clone();
            async move {
                let guard = cond.acquire().await?;
                let _guard = cond.wait(guard).await?;
                anyhow::Ok(())
            }
        });
        until("the task waits", || waiting(&cond, 1)).await;
        assert!(!cond.locked(), "wait released the lock");
        task.cancel();
        assert!((&task).await.unwrap_err().is_cancelled());
        assert!(waiting(&cond, 0));
        assert!(!cond.locked());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_wait_cancel_after_notify` and `test_cancelled_error_re_aquire`: a
    /// waiter notified, then cancelled while it waits for the lock, ends cancelled with the
    /// message and does not take the lock.
    fn asyncio_test_wait_cancel_after_notify() {
        let cond = Condition::new();
        let task = create_task({
            let cond = cond.clone();
            async move {
                let guard = cond.acquire().await?;
                let _guard = cond.wait(guard).await?;
                anyhow::Ok(())
            }
        });
        until("the task waits", || waiting(&cond, 1)).await;
        let guard = cond.acquire().await?;
        cond.notify(1);
        until("the task is notified", || waiting(&cond, 0)).await;
        steps(2).await; // it is now waiting for the lock
        task.cancel_with("foo");
        steps(2).await;
        drop(guard);
        let err = (&task).await.unwrap_err();
        assert_eq!(err.cancel_message(), Some("foo"));
        assert!(!cond.locked());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_wait_for` and `test_cancelled_error_wakeup`: `wait_for` returns once
    /// the predicate holds, with the lock; cancelled while it waits it ends with the message.
    fn asyncio_test_wait_for() {
        let cond = Condition::new();
        let presult = Arc::new(AtomicI64::new(0));
        let task = create_task({
            let (cond, presult) = (cond.clone(), presult.clone());
            async move {
                let guard = cond.acquire().await?;
                let guard = cond.wait_for(guard, || presult.load(Ordering::SeqCst) == 3).await?;
                assert!(guard.lock().locked());
                anyhow::Ok(())
            }
        });
        until("waiting", || waiting(&cond, 1)).await;
        for value in 1..=3 {
            let _guard = cond.acquire().await?;
            presult.store(value, Ordering::SeqCst);
            cond.notify(1);
        }
        task.await?;

        let cancelled = create_task({
            let cond = cond.clone();
            async move {
                let guard = cond.acquire().await?;
                let _guard = cond.wait_for(guard, || false).await?;
                anyhow::Ok(())
            }
        });
        until("waiting again", || waiting(&cond, 1)).await;
        cancelled.cancel_with("foo");
        assert_eq!(cancelled.await.unwrap_err().cancel_message(), Some("foo"));
        anyhow::Ok(())
    }
}

/// asyncio's `test_notify`: `notify(1)` then `notify(2048)` wakes the rest, each returning
/// in turn as the lock passes on.
#[test]
fn asyncio_test_notify_and_notify_all() {
    current_thread(async {
        let cond = Condition::new();
        let log = Log::default();
        let releasing = |name: &'static str| {
            let (cond, log) = (cond.clone(), log.clone());
            create_task(async move {
                let guard = cond.acquire().await?;
                let _guard = cond.wait(guard).await?;
                log.push(name);
                anyhow::Ok(())
            })
        };
        let tasks = [releasing("1"), releasing("2"), releasing("3")];
        yield_now().await?;
        {
            let _guard = cond.acquire().await?;
            cond.notify(1);
        }
        yield_now().await?;
        log.check(&["1"]);
        {
            let _guard = cond.acquire().await?;
            cond.notify(1);
            cond.notify(2048);
        }
        steps(3).await;
        log.check(&["1", "2", "3"]);
        assert!(tasks.iter().all(Task::done));

        let tasks = [releasing("4"), releasing("5")];
        yield_now().await?;
        {
            let _guard = cond.acquire().await?;
            cond.notify_all();
        }
        steps(3).await;
        log.check(&["1", "2", "3", "4", "5"]);
        assert!(tasks.iter().all(Task::done));
        anyhow::Ok(())
    });
}

#[test]
#[should_panic(expected = "cannot notify on un-acquired lock")]
fn asyncio_test_notify_unacquired() {
    Condition::new().notify(1);
}

#[test]
#[should_panic(expected = "cannot notify on un-acquired lock")]
fn asyncio_test_notify_all_unacquired() {
    Condition::new().notify_all();
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_explicit_lock` and `test_wait_unacquired`: conditions share the lock
    /// they are given; a guard of another lock is refused.
    fn asyncio_test_explicit_lock() {
        let lock = Lock::new();
        let cond = Condition::with_lock(lock.clone());
        let other = Condition::with_lock(lock.clone());
        {
            let _guard = lock.acquire().await?;
            assert!(cond.locked() && other.locked());
        }
        assert!(!cond.locked());
        let stranger = Lock::new();
        let guard = stranger.acquire().await?;
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(cond.wait(guard))));
        assert!(refused.is_err(), "a guard of another lock is refused");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_cancelled_wakeup`: a consumer notified and cancelled before it runs
    /// does not swallow the notification; the other consumer takes the item.
    fn asyncio_test_cancelled_wakeup() {
        let cond = Condition::new();
        let state = Arc::new(AtomicI64::new(0));
        let consumer = || {
            let (cond, state) = (cond.clone(), state.clone());
            create_task(async move {
                let mut guard = cond.acquire().await?;
                loop {
                    guard = cond.wait_for(guard, || state.load(Ordering::SeqCst) != 0).await?;
                    if state.load(Ordering::SeqCst) < 0 {
                        return anyhow::Ok(());
                    }
                    state.fetch_sub(1, Ordering::SeqCst);
                }
            })
        };
        let c = [consumer(), consumer()];
        until("both consumers wait", || waiting(&cond, 2)).await;
        {
            let _guard = cond.acquire().await?;
            state.fetch_add(1, Ordering::SeqCst);
            cond.notify(1);
            c[0].cancel();
        }
        until("the item was consumed: the notification was not lost", || state.load(Ordering::SeqCst) == 0).await;
        {
            let _guard = cond.acquire().await?;
            state.store(-1, Ordering::SeqCst);
            cond.notify_all();
        }
        let _ = (&c[0]).await;
        c[1].clone().await?;
        anyhow::Ok(())
    }
}
