//! Loom models of the races a waiter list has with its own lock: a release or a put waking a
//! waiter while that waiter's future is being dropped. Run with
//! `RUSTFLAGS="--cfg taskloop_loom" cargo test --release -p taskloop-sync --lib loom` (the
//! last step of `cargo xtask test`). Each asserts that both orders of its race ran.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use crate::{Queue, Semaphore};

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

/// A permit released to a waiter whose acquire is dropped at the same time is never lost:
/// the waiter either took it (and its permit gave it back) or passes it on.
#[test]
fn loom_a_release_racing_a_dropped_acquire_loses_no_permit() {
    let (ready_first, waited_first) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let seen = (ready_first.clone(), waited_first.clone());
    loom::model(move || {
        let sem = Semaphore::new(0);
        let releaser = {
            let sem = sem.clone();
            loom::thread::spawn(move || sem.release())
        };
        {
            let mut acquire = sem.acquire();
            match poll_once(&mut acquire) {
                Poll::Ready(permit) => {
                    seen.0.store(true, Ordering::Relaxed);
                    drop(permit);
                }
                Poll::Pending => seen.1.store(true, Ordering::Relaxed),
            }
        }
        releaser.join().unwrap();
        assert_eq!(sem.value(), 1, "the permit was lost");
        assert!(!sem.locked());
    });
    assert!(ready_first.load(Ordering::Relaxed) && waited_first.load(Ordering::Relaxed), "both orders ran");
}

/// An item put for a getter whose future is dropped at the same time stays in the queue
/// (or was taken by that getter), and the getter leaves the waiter list.
#[test]
fn loom_a_put_racing_a_dropped_get_loses_no_item() {
    let (taken, left) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let seen = (taken.clone(), left.clone());
    loom::model(move || {
        let q = Queue::new(0);
        let putter = {
            let q = q.clone();
            loom::thread::spawn(move || q.put_nowait(7).map_err(|_| "put failed").unwrap())
        };
        let got = {
            let mut get = q.get();
            match poll_once(&mut get) {
                Poll::Ready(item) => Some(item.unwrap()),
                Poll::Pending => None,
            }
        };
        putter.join().unwrap();
        match got {
            Some(item) => {
                seen.0.store(true, Ordering::Relaxed);
                assert_eq!(item, 7);
                assert!(q.empty());
            }
            None => {
                seen.1.store(true, Ordering::Relaxed);
                assert_eq!(q.get_nowait().unwrap(), 7, "the item was lost");
            }
        }
        assert!(format!("{q:?}").contains("getters: 0"));
    });
    assert!(taken.load(Ordering::Relaxed) && left.load(Ordering::Relaxed), "both orders ran");
}
