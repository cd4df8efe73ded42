//! Regressions found by review: a submitter waiting for room keeps one waker however often it
//! is polled, and every `shutdown(wait = true)` waits for the workers, not just the first.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use taskloop::{ThreadPool, run_in_executor};

use crate::blocker;

struct Counting;

impl Wake for Counting {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn a_submitter_waiting_for_room_does_not_pile_up_wakers_when_polled_repeatedly() {
    let pool = ThreadPool::builder().max_workers(1).queue_capacity(1).build().unwrap();
    let (job, started, release) = blocker(());
    let running = run_in_executor(Some(&pool), job);
    started.blocking_recv().unwrap();
    let queued = run_in_executor(Some(&pool), || ());
    assert_eq!(pool.queued(), 1, "the queue is full");

    let counter = Arc::new(Counting);
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut waiting = pin!(run_in_executor(Some(&pool), || ()));
    for _ in 0..1000 {
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
    }
    let clones = Arc::strong_count(&counter) - 2; // minus `counter` and `waker`
    release.send(()).unwrap();
    drop((running, queued));
    assert!(clones <= 2, "one waiting future holds {clones} clones of its waker in the pool");
}

#[test]
fn two_shutdowns_with_wait_both_wait_for_the_workers() {
    let pool = Arc::new(ThreadPool::new(1));
    let (job, started, release) = blocker(());
    let running = run_in_executor(Some(&*pool), job);
    started.blocking_recv().unwrap();

    let first = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.shutdown(true, false))
    };
    // `shutdown` sets the flag and drains the handles in one critical section.
    while !pool.is_shutdown() {
        std::thread::yield_now();
    }
    let (returned_tx, returned_rx) = mpsc::channel();
    let second = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            pool.shutdown(true, false);
            let _ = returned_tx.send(());
        })
    };
    // The job is still blocked: a waiting shutdown cannot return yet.
    let returned_early = returned_rx.recv_timeout(Duration::from_millis(500)).is_ok();
    release.send(()).unwrap();
    first.join().unwrap();
    second.join().unwrap();
    drop(running);
    assert!(!returned_early, "shutdown(wait = true) returned while the worker was still running a job");
}
