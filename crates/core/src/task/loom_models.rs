//! loom models of the races listed in this module's docs ("Races"): every interleaving of
//! the header's transitions, checked against the promised linearisation. Run with
//! `cargo xtask test --loom`. Each model also records which way its race went, and asserts
//! at the end that every way was explored.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::{Shared, TaskError};
use crate::runtime::LoopShared;

fn new_task() -> (Arc<LoopShared>, Arc<Shared<u32>>) {
    let loop_ = Arc::new(LoopShared::new(1, true, false, false));
    let shared = Arc::new(Shared::new(loop_.clone(), None, false));
    (loop_, shared)
}

/// Completes the task with `result`, as the harness does.
fn complete(loop_: &LoopShared, shared: &Shared<u32>, result: Result<u32, TaskError>) -> Option<u32> {
    let (completion, discarded) = shared.header.transition_to_done(result, &shared.value);
    completion.notify(loop_);
    discarded
}

/// A waker that counts its wakes.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Records that a branch of a race ran; `all_seen` checks that both did.
struct Seen([AtomicBool; 2]);

impl Seen {
    const fn new() -> Self {
        Seen([AtomicBool::new(false), AtomicBool::new(false)])
    }
    fn saw(&self, branch: bool) {
        self.0[usize::from(branch)].store(true, std::sync::atomic::Ordering::Relaxed);
    }
    fn all_seen(&self) -> bool {
        self.0.iter().all(|b| b.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[test]
fn loom_cancel_racing_completion_is_accepted_iff_the_task_ends_cancelled() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        let (loop_, shared) = new_task();
        let other = shared.clone();
        let canceller = thread::spawn(move || other.header.cancel(Some("m".into())));
        let discarded = complete(&loop_, &shared, Ok(7));
        let accepted = canceller.join().unwrap();
        let outcome = shared.header.outcome(true).unwrap();
        assert_eq!(accepted, outcome.is_err(), "cancel() = {accepted}, outcome {outcome:?}");
        assert_eq!(accepted, discarded == Some(7), "a late-cancelled value is handed back to be dropped");
        assert_eq!(accepted, shared.header.is_cancelled());
        assert!(!shared.header.cancel(None), "a done task refuses requests");
        SEEN.saw(accepted);
    });
    assert!(SEEN.all_seen(), "both orders of the race ran");
}

#[test]
fn loom_add_done_callback_racing_completion_schedules_it_exactly_once() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        let (loop_, shared) = new_task();
        let other = shared.clone();
        let adder = thread::spawn(move || {
            let done_before = other.header.is_done();
            other.header.add_done_callback(Box::new(|| {}));
            done_before
        });
        complete(&loop_, &shared, Ok(1));
        let added_after_done = adder.join().unwrap();
        assert_eq!(loop_.queued(), 1, "scheduled once, by the completion or by the adder");
        SEEN.saw(added_after_done);
    });
    assert!(SEEN.all_seen(), "added both before and after completion");
}

#[test]
fn loom_remove_done_callback_racing_completion_is_true_iff_the_callback_never_runs() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        let (loop_, shared) = new_task();
        let id = shared.header.add_done_callback(Box::new(|| {}));
        let other = shared.clone();
        let remover = thread::spawn(move || other.header.remove_done_callback(id));
        complete(&loop_, &shared, Ok(1));
        let removed = remover.join().unwrap();
        assert_eq!(loop_.queued(), usize::from(!removed));
        SEEN.saw(removed);
    });
    assert!(SEEN.all_seen());
}

#[test]
fn loom_two_awaiters_registering_while_the_task_completes_are_each_woken_or_see_it_done() {
    loom::model(|| {
        let (loop_, shared) = new_task();
        let awaiters: Vec<_> = (0..2)
            .map(|_| {
                let s = shared.clone();
                thread::spawn(move || {
                    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
                    let waker = Waker::from(counter.clone());
                    let mut key = None;
                    let ready = s.header.poll_done(&mut key, &mut Context::from_waker(&waker)).is_ready();
                    (ready, counter)
                })
            })
            .collect();
        complete(&loop_, &shared, Ok(3));
        for a in awaiters {
            let (ready, counter) = a.join().unwrap();
            let wakes = counter.0.load(Ordering::SeqCst);
            if ready {
                assert_eq!(wakes, 0, "saw it done, so was never registered");
            } else {
                assert_eq!(wakes, 1, "registered before completion, so woken exactly once");
            }
        }
    });
}

#[test]
fn loom_abort_racing_completion_never_outlives_it() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        let (loop_, shared) = new_task();
        let other = shared.clone();
        let aborter = thread::spawn(move || {
            other.header.abort();
            other.header.is_done()
        });
        complete(&loop_, &shared, Ok(5));
        let was_done = aborter.join().unwrap();
        assert!(!shared.header.is_abort_requested(), "completion clears, and a late abort cannot set, the request");
        assert!(
            matches!(shared.header.outcome(true), Some(Ok(()))),
            "abort is acted on by the harness, never the header"
        );
        SEEN.saw(was_done);
    });
    assert!(SEEN.all_seen());
}

#[test]
fn loom_a_cancel_before_the_first_poll_is_taken_by_the_harness_exactly_once() {
    loom::model(|| {
        let (_loop, shared) = new_task();
        let other = shared.clone();
        let canceller = thread::spawn(move || other.header.cancel(None));
        let waker = Waker::from(Arc::new(CountingWaker(AtomicUsize::new(0))));
        let start = shared.header.transition_to_running(&waker);
        assert!(canceller.join().unwrap());
        let taken_at_start = matches!(start, super::Start::Cancelled(_));
        let taken_later = shared.header.take_cancel().is_some();
        assert!(taken_at_start ^ taken_later, "delivered once: at start or at the next cancellation point");
    });
}
