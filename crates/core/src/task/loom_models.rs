//! loom models of the races listed in this module's docs ("Races"): every interleaving of
//! the header's transitions, checked against the promised linearisation. Run with
//! `cargo xtask test --loom`. Each model also records which way its race went, and asserts
//! at the end that every way was explored.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::Loop;
use super::{CancelRequest, Shared, TaskError};
use crate::event_loop::LoopConfig;

fn new_task() -> (Arc<Loop>, Arc<Shared<u32>>) {
    let loop_ =
        Arc::new(Loop::new(LoopConfig { shards: 1, multi_thread: true, eager_tasks: false, track_task_ages: false }));
    let shared = Arc::new(Shared::new(loop_.clone(), None, 0));
    (loop_, shared)
}

/// Completes the task with `result`, as the harness does.
fn complete(loop_: &Loop, shared: &Shared<u32>, result: Result<u32, TaskError>) -> Option<u32> {
    let (completion, discarded) = shared.header.transition_to_done(result, &shared.value);
    drop(completion.notify(loop_));
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
        assert_eq!(loop_.callbacks.len(), 1, "scheduled once, by the completion or by the adder");
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
        assert_eq!(loop_.callbacks.len(), usize::from(!removed));
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
        // Otherwise the next poll arms it and the body's first cancellation point takes it.
        let _endable = shared.header.arm_cancel();
        let taken_later = shared.header.take_cancel().is_some();
        assert!(taken_at_start ^ taken_later, "delivered once: at start or at the next cancellation point");
    });
}

/// A task that has started and suspended once, as the harness leaves it.
fn suspended_task() -> (Arc<Loop>, Arc<Shared<u32>>, Arc<CountingWaker>) {
    let (loop_, shared) = new_task();
    let task_waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(task_waker.clone());
    assert!(matches!(shared.header.transition_to_running(&waker), super::Start::Poll));
    assert!(matches!(shared.header.transition_to_suspended(&waker), super::Suspend::Park));
    (loop_, shared, task_waker)
}

/// The harness's end of a poll that returned `Pending` after arming, with no cancellation
/// point in the body: the request is ended at the await, or it is not there any more.
fn end_poll_at_foreign_await(loop_: &Loop, shared: &Shared<u32>, endable: bool) -> bool {
    if !endable || !shared.header.is_cancel_pending() {
        return false;
    }
    match shared.header.transition_to_suspended_with_request(true) {
        super::Suspended::End(cancelled) => {
            complete(loop_, shared, Err(TaskError::Cancelled(cancelled)));
            true
        }
        super::Suspended::Kept | super::Suspended::Handed | super::Suspended::Forward(..) => false,
    }
}

#[test]
fn loom_a_second_cancel_racing_the_end_at_a_foreign_await_is_accepted_iff_the_task_ends_cancelled() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        let (loop_, shared, _waker) = suspended_task();
        assert!(shared.header.cancel(Some("first".into())));
        let other = shared.clone();
        let second = thread::spawn(move || other.header.cancel(Some("second".into())));
        let armed = shared.header.arm_cancel();
        assert!(armed, "a request pending before the poll is armed");
        assert!(end_poll_at_foreign_await(&loop_, &shared, armed), "no point took it: the body ends there");
        let accepted = second.join().unwrap();
        let outcome = shared.header.outcome(true);
        let message = match &outcome {
            Some(Err(TaskError::Cancelled(c))) => c.message().map(str::to_owned),
            other => panic!("ended at the await, so cancelled: {other:?}"),
        };
        // Accepted before the harness took the request: merged into it (the latest message).
        // Accepted after the take but before completion: merged into a cancellation already
        // under way, which keeps its message (asyncio: the first message wins once the
        // awaited future is cancelled). After completion: refused.
        if !accepted {
            assert_eq!(message.as_deref(), Some("first"));
        }
        assert!(!shared.header.cancel(None), "a done task refuses requests");
        SEEN.saw(accepted);
    });
    assert!(SEEN.all_seen());
}

#[test]
fn loom_uncancel_racing_the_suspension_after_a_self_cancel_withdraws_it_or_comes_too_late() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        let (loop_, shared, _waker) = suspended_task();
        // The task cancels itself while running (asyncio's `_must_cancel`).
        let CancelRequest::Accepted(_) = shared.header.transition_to_cancel_requested(None, true) else {
            panic!("no point asked to be woken");
        };
        let other = shared.clone();
        let withdrawer = thread::spawn(move || other.header.transition_to_uncancelled());
        // The poll ends suspended: a pending request is handed to the await.
        if shared.header.is_cancel_pending() {
            assert!(matches!(
                shared.header.transition_to_suspended_with_request(false),
                super::Suspended::Kept | super::Suspended::Handed
            ));
        }
        assert_eq!(withdrawer.join().unwrap(), 0);
        // The next poll, with no cancellation point in the body.
        let endable = shared.header.arm_cancel();
        let ended = end_poll_at_foreign_await(&loop_, &shared, endable);
        // uncancel() first: withdrawn, the body goes on. After the suspension: handed, so
        // not withdrawn (asyncio 3.13), and the body ends at its await.
        assert_eq!(ended, shared.header.is_cancelled());
        if !ended {
            assert!(!shared.header.is_done());
            assert!(!shared.header.is_cancel_pending());
        }
        SEEN.saw(ended);
    });
    assert!(SEEN.all_seen());
}

#[test]
fn loom_abort_racing_the_end_at_a_foreign_await_ends_the_task_once() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        let (loop_, shared, _waker) = suspended_task();
        assert!(shared.header.cancel(Some("m".into())));
        let other = shared.clone();
        let aborter = thread::spawn(move || other.header.abort());
        let armed = shared.header.arm_cancel();
        // The harness looks at an abort first, as after every poll that returned `Pending`.
        let aborted = shared.header.is_abort_requested();
        if aborted {
            complete(&loop_, &shared, Err(TaskError::Cancelled(taskloop_cancel::Cancelled::new())));
        } else {
            assert!(end_poll_at_foreign_await(&loop_, &shared, armed));
        }
        aborter.join().unwrap();
        assert!(shared.header.is_cancelled(), "ended cancelled whichever came first");
        assert!(!shared.header.is_abort_requested(), "a late abort of a done task is a no-op");
        SEEN.saw(aborted);
    });
    assert!(SEEN.all_seen());
}

#[test]
fn loom_a_request_is_armed_only_after_the_points_that_asked_for_it_were_woken() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        let (_loop, shared, _waker) = suspended_task();
        // A cancellation point inside a `FuturesUnordered`: polled with a waker of its own.
        let point = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let _key = shared.header.register_point(&Waker::from(point.clone()), None);
        let other = shared.clone();
        let canceller = thread::spawn(move || other.header.cancel(None));
        // A branch point, so loom also runs the harness's poll before the request (its first
        // plain load of the flags alone does not make loom try the other order).
        thread::yield_now();
        let armed = shared.header.arm_cancel();
        if armed {
            assert_eq!(point.0.load(Ordering::SeqCst), 1, "armed, so the point was woken first and gets its chance");
        }
        assert!(canceller.join().unwrap());
        assert_eq!(point.0.load(Ordering::SeqCst), 1);
        SEEN.saw(armed);
    });
    assert!(SEEN.all_seen());
}

/// Completion takes the task's rare part (callbacks, further waiters, cancellation points'
/// wakers) out whole: a `cancel()` still waking the points it found there when the task
/// completes comes back to no rare part, which must neither panic nor leave `WAKING` set.
#[test]
fn loom_a_cancel_waking_points_racing_completion_finds_the_rare_part_gone_and_still_settles() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        let (loop_, shared, _waker) = suspended_task();
        let point = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let _key = shared.header.register_point(&Waker::from(point.clone()), None);
        let other = shared.clone();
        let canceller = thread::spawn(move || other.header.cancel(None));
        let discarded = complete(&loop_, &shared, Ok(1));
        let accepted = canceller.join().unwrap();
        assert_eq!(accepted, shared.header.is_cancelled(), "accepted iff the task ended cancelled");
        assert_eq!(accepted, discarded == Some(1));
        assert_eq!(point.0.load(Ordering::SeqCst), usize::from(accepted), "an accepted request woke the point once");
        assert_eq!(shared.header.flags() & (super::WAKING | super::CANCEL_PENDING | super::ARMED), 0);
        SEEN.saw(accepted);
    });
    assert!(SEEN.all_seen(), "both orders of the race ran");
}

#[test]
fn loom_a_forwarded_cancel_racing_the_awaited_task_completing_is_never_lost() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        // The awaiting task, suspended awaiting `awaited` (invariant 8: its forward target).
        let (loop_, awaiter, _waker) = suspended_task();
        let awaited = Arc::new(Shared::<u32>::new(loop_.clone(), None, 0));
        super::CancelScope::forward_to(&*awaiter, awaited.clone());
        let other = awaiter.clone();
        let canceller = thread::spawn(move || other.header.cancel(Some("m".into())));
        thread::yield_now();
        complete(&loop_, &awaited, Ok(7));
        assert!(canceller.join().unwrap(), "the awaiter was suspended, so the request is accepted");
        let forwarded = awaited.header.is_cancelled();
        // Either the awaited task took the request (and ended cancelled with it), or it had
        // finished and the request waits for the awaiter's next poll: never both, never neither.
        assert_eq!(forwarded, !awaiter.header.is_cancel_pending(), "forwarded {forwarded}");
        assert_eq!(awaiter.header.cancelling(), 1, "counted once either way");
        if forwarded {
            let outcome = awaited.header.outcome(true).unwrap();
            assert_eq!(outcome.unwrap_err().cancel_message(), Some("m"));
        }
        SEEN.saw(forwarded);
    });
    assert!(SEEN.all_seen(), "both orders of the race ran");
}

#[test]
fn loom_children_finishing_while_their_collector_looks_are_each_reported_once_and_wake_it_once_per_batch() {
    static SEEN: Seen = Seen::new();
    loom::model(|| {
        let (loop_, first) = new_task();
        let second = Arc::new(Shared::<u32>::new(loop_.clone(), None, 0));
        let collector = super::Collector::new();
        let finishers: Vec<_> = [first.clone(), second.clone()]
            .into_iter()
            .map(|child| {
                let loop_ = loop_.clone();
                thread::spawn(move || {
                    let _ = complete(&loop_, &child, Ok(1));
                })
            })
            .collect();
        // The caller's first look: registers the collector with each child not done, then
        // takes what was reported meanwhile and leaves its waker.
        let mut seen = [0usize; 2];
        let mut keys = [None, None];
        for (position, child) in [&first, &second].into_iter().enumerate() {
            if child.header.register_report(&mut keys[position], &collector, position).is_ready() {
                seen[position] += 1;
            }
        }
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut batch = Vec::new();
        collector.take_finished(&waker, &mut batch, 0);
        batch.iter().for_each(|&position| seen[position] += 1);
        for finisher in finishers {
            finisher.join().unwrap();
        }
        // The next look, once both children are done.
        let mut later = Vec::new();
        collector.take_finished(&waker, &mut later, 0);
        later.iter().for_each(|&position| seen[position] += 1);
        assert_eq!(seen, [1, 1], "each child reported exactly once");
        let wakes = counter.0.load(Ordering::SeqCst);
        assert_eq!(wakes, usize::from(!later.is_empty()), "one wake-up for the batch after the look, none before");
        SEEN.saw(!later.is_empty());
    });
    assert!(SEEN.all_seen(), "children finished both before and after the caller looked");
}
