//! `Lock`: CPython's `LockTests` and `test_pep492.py`'s `async with lock`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use taskloop::sync::{Lock, NotLocked};
use taskloop::{Task, create_task, yield_now};

use super::on_both_flavours;
use crate::support::{Log, current_thread, steps, until};

/// A task that takes the lock with asyncio's bare `await lock.acquire()` (no release), logs
/// `name` and ends.
fn take(lock: &Lock, log: &Log, name: &'static str) -> Task<()> {
    let (lock, log) = (lock.clone(), log.clone());
    create_task(async move {
        lock.acquire().await?.forget();
        log.push(name);
        anyhow::Ok(())
    })
}

fn waiters(lock: &Lock) -> String {
    format!("{lock:?}")
}

/// asyncio's `test_acquire`, step by step: waiters take the lock in FIFO order, one per
/// release.
#[test]
fn asyncio_test_acquire() {
    current_thread(async {
        let lock = Lock::new();
        let log = Log::default();
        lock.acquire().await?.forget();
        let t1 = take(&lock, &log, "1");
        let t2 = take(&lock, &log, "2");
        yield_now().await?;
        log.check(&[]);
        lock.release()?;
        yield_now().await?;
        log.check(&["1"]);
        yield_now().await?;
        log.check(&["1"]);
        let t3 = take(&lock, &log, "3");
        lock.release()?;
        yield_now().await?;
        log.check(&["1", "2"]);
        lock.release()?;
        yield_now().await?;
        log.check(&["1", "2", "3"]);
        assert!(t1.done() && t2.done() && t3.done());
        anyhow::Ok(())
    });
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_lock`, `test_context_manager`, `test_release_not_acquired`,
    /// `test_release_no_waiters`, and `test_pep492.py`'s `async with lock`.
    fn asyncio_test_lock_guard_and_release() {
        let lock = Lock::new();
        assert!(!lock.locked());
        {
            let _guard = lock.acquire().await?;
            assert!(lock.locked());
            assert!(lock.try_acquire().is_none());
        }
        assert!(!lock.locked());
        assert_eq!(lock.release(), Err(NotLocked));
        lock.acquire().await?.forget();
        assert!(lock.locked());
        lock.release()?;
        assert!(!lock.locked());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_acquire_cancel`: a cancelled acquire leaves no waiter.
    fn asyncio_test_acquire_cancel() {
        let lock = Lock::new();
        let guard = lock.acquire().await?;
        let task = create_task({
            let lock = lock.clone();
            async move {
                let _guard = lock.acquire().await?;
                anyhow::Ok(())
            }
        });
        until("the task waits", || waiters(&lock).contains("waiters: 1")).await;
        task.cancel();
        assert!((&task).await.unwrap_err().is_cancelled());
        assert!(waiters(&lock).contains("waiters: 0"), "{lock:?}");
        drop(guard);
        assert!(!lock.locked());
        anyhow::Ok(())
    }
}

/// asyncio's `test_cancel_race`: A holds the lock, B and C wait; B is cancelled as A
/// releases: C gets the lock.
///
/// ```python
/// fa.set_result(None); tb.cancel(); await asyncio.sleep(0)
/// lock.locked()  # False (A released, C woken but not yet run); tb.cancelled(); await tc
/// ```
#[test]
fn asyncio_test_cancel_race() {
    current_thread(async {
        let lock = Lock::new();
        let log = Log::default();
        let a_go = taskloop::sync::Event::new();
        let ta = create_task({
            let (lock, a_go) = (lock.clone(), a_go.clone());
            async move {
                let _guard = lock.acquire().await?;
                a_go.wait().await?;
                anyhow::Ok(())
            }
        });
        yield_now().await?;
        assert!(lock.locked());
        let tb = take(&lock, &log, "B");
        yield_now().await?;
        let tc = take(&lock, &log, "C");
        yield_now().await?;
        assert!(waiters(&lock).contains("waiters: 2"));
        a_go.set();
        tb.cancel();
        yield_now().await?;
        assert!(ta.done());
        assert!(!lock.locked(), "released; the woken waiter has not run yet");
        assert!((&tb).await.unwrap_err().is_cancelled());
        tc.await?;
        log.check(&["C"]);
        anyhow::Ok(())
    });
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_cancel_release_race` (bpo-32734): four holders-to-be, the first
    /// waiter cancelled as the lock is released: exactly one task takes the lock.
    fn asyncio_test_cancel_release_race() {
        let lock = Lock::new();
        let count = Arc::new(AtomicUsize::new(0));
        lock.acquire().await?.forget();
        let lockit = || {
            let (lock, count) = (lock.clone(), count.clone());
            create_task(async move {
                lock.acquire().await?.forget();
                count.fetch_add(1, Ordering::SeqCst);
                anyhow::Ok(())
            })
        };
        // One at a time, so that they queue in this order on either loop.
        let t1 = lockit();
        until("t1 waits", || waiters(&lock).contains("waiters: 1")).await;
        let t2 = lockit();
        until("t2 waits", || waiters(&lock).contains("waiters: 2")).await;
        let t3 = lockit();
        until("t3 waits", || waiters(&lock).contains("waiters: 3")).await;
        let _handle = taskloop::call_soon({
            let (t1, lock) = (t1.clone(), lock.clone());
            move || {
                t1.cancel();
                lock.release().expect("held");
            }
        });
        assert!((&t1).await.unwrap_err().is_cancelled());
        (&t2).await?;
        steps(5).await;
        assert_eq!(count.load(Ordering::SeqCst), 1, "only one lock was taken");
        assert!(!t3.done());
        t3.cancel();
        assert!(t3.await.unwrap_err().is_cancelled());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_finished_waiter_cancelled`: the first waiter, woken and cancelled,
    /// passes the lock to the second.
    fn asyncio_test_finished_waiter_cancelled() {
        let lock = Lock::new();
        let log = Log::default();
        lock.acquire().await?.forget();
        let tb = take(&lock, &log, "B");
        until("B waits", || waiters(&lock).contains("waiters: 1")).await;
        let tc = take(&lock, &log, "C");
        until("C waits", || waiters(&lock).contains("waiters: 2")).await;
        tb.cancel();
        lock.release()?;
        assert!((&tb).await.unwrap_err().is_cancelled());
        tc.await?;
        assert!(lock.locked());
        log.check(&["C"]);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// A woken waiter whose acquire future is dropped (not cancelled) passes the lock on too.
    fn a_dropped_acquire_that_was_woken_passes_the_lock_on() {
        let lock = Lock::new();
        let log = Log::default();
        let guard = lock.acquire().await?;
        let mut first = lock.acquire();
        assert!(crate::support::poll_once(&mut first).await.is_pending());
        let second = take(&lock, &log, "second");
        until("second waits", || waiters(&lock).contains("waiters: 2")).await;
        drop(guard); // wakes `first`
        drop(first);
        second.await?;
        log.check(&["second"]);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// Many tasks contending for the lock on both flavours: mutual exclusion holds, and every
    /// waiter gets its turn.
    fn the_lock_excludes_under_contention() {
        let lock = Lock::new();
        let inside = Arc::new(AtomicUsize::new(0));
        let turns = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (lock, inside, turns) = (lock.clone(), inside.clone(), turns.clone());
                create_task(async move {
                    for _ in 0..50 {
                        let _guard = lock.acquire().await?;
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two tasks inside");
                        yield_now().await?;
                        inside.fetch_sub(1, Ordering::SeqCst);
                        turns.fetch_add(1, Ordering::SeqCst);
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        taskloop::gather(tasks).await?;
        assert_eq!(turns.load(Ordering::SeqCst), 16 * 50);
        assert!(!lock.locked());
        anyhow::Ok(())
    }
}
