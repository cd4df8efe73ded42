//! `call_later` and `call_at`: callbacks scheduled for a time, run on the loop.
//!
//! # Design
//!
//! Each loop has one timer queue, [`Timers`], kept as the loop's `loop_state`: a `BTreeMap`
//! keyed by `(deadline, sequence number)`, the sequence number counting `call_at` calls on
//! that loop. One *driver* per loop — a plain tokio task (not a taskloop task: it is not in
//! `all_tasks()` and is not cancelled when main ends), spawned with the loop's first timer as a
//! loop service (`taskloop_core::rt::spawn_loop_service`, so it runs with its loop on a runtime the
//! loop does not own, `run_embedded`'s) —
//! sleeps until the earliest deadline, pops every entry that is due, in key order, and hands
//! each to the loop's `call_soon` queue. That queue is FIFO and drained by one runner, so:
//!
//! - callbacks due at the same instant run in the order they were scheduled, on both runtime
//!   flavours (the key orders them, the FIFO keeps the order);
//! - a timer callback runs exactly like a `call_soon` callback: on the loop, outside any task,
//!   a panic reported to the exception handler.
//!
//! # Invariants
//!
//! 1. An entry leaves `entries` once: popped by the driver when due, or removed by
//!    [`TimerHandle::cancel`]. Both happen under the queue lock.
//! 2. No user code runs under the queue lock: entries popped or removed (whose callbacks are
//!    user closures, with user `Drop`s) are handed on or dropped after unlocking, and the
//!    driver's waker is woken after unlocking.
//! 3. `armed` is the instant the driver's sleep is set for, or `None` when it waits for an
//!    entry. The driver records it in the same critical section in which it reads the first
//!    key and registers its waker, so an insert that is earlier than `armed` finds the waker
//!    to wake: no wake-up is lost.
//! 4. A callback that has left the queue runs only if its handle was not cancelled: the
//!    closure handed to `call_soon` checks the flag when it is called.
//! 5. Once the driver is dropped (the loop's runtime is shutting down, or an embedded loop has
//!    ended and aborted its services), `stopped` is set and
//!    nothing enters the queue again; what was in it is dropped. No timer callback ever runs
//!    after its loop has ended, and none keeps the loop's state alive.

use std::collections::BTreeMap;
use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

/// How far ahead "forever" is: a deadline that cannot be represented is moved here, and no
/// tokio sleep is armed further ahead than this (as tokio's own `sleep` does with
/// `Duration::MAX`). About 30 years.
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + delay`, saturating: a delay too long for the clock gives a deadline about 30
/// years ahead instead of overflowing.
pub(crate) fn deadline_after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay).or_else(|| now.checked_add(FAR_FUTURE)).unwrap_or(now)
}

/// The instant to arm a tokio sleep for, to wake at `deadline`: never further ahead than
/// [`FAR_FUTURE`], so tokio's timer arithmetic cannot overflow on an instant near the end of
/// the clock's range. Waking early is harmless: the caller re-arms.
pub(crate) fn sleep_target(deadline: Instant) -> Instant {
    let now = Instant::now();
    match now.checked_add(FAR_FUTURE) {
        Some(limit) => deadline.min(limit),
        None => deadline,
    }
}

/// Locks `mutex`, ignoring poisoning: no user code runs under our locks (invariant 2), so a
/// poisoned lock still guards consistent data. The crate's one lock helper.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

type Callback = Box<dyn FnOnce() + Send>;

/// A loop's timer queue; see the module docs.
#[derive(Default)]
pub(crate) struct Timers {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    entries: BTreeMap<(Instant, u64), Entry>,
    /// The sequence number of the next entry.
    next_seq: u64,
    /// The driver has been spawned.
    started: bool,
    /// The driver is gone; see invariant 5.
    stopped: bool,
    /// The driver's waker, while it waits.
    waker: Option<Waker>,
    /// See invariant 3.
    armed: Option<Instant>,
}

struct Entry {
    callback: Callback,
    cancelled: Arc<AtomicBool>,
}

impl Entry {
    /// Queues the callback behind the loop's `call_soon` callbacks (invariant 4).
    fn hand_to_loop(self) {
        let Entry { callback, cancelled } = self;
        // The driver only runs on the loop's threads, where `call_soon` has its loop. Its
        // handle is not needed: our own flag cancels the callback.
        let _ = taskloop_core::call_soon(move || {
            if !cancelled.load(Ordering::Acquire) {
                callback();
            }
        });
    }
}

impl Timers {
    /// Adds a timer; starts the driver if it is the loop's first, wakes it if the new timer
    /// is due before the driver would wake.
    fn schedule(self: &Arc<Self>, when: Instant, callback: Callback) -> TimerHandle {
        let cancelled = Arc::new(AtomicBool::new(false));
        let (seq, start, wake, refused) = {
            let mut q = lock(&self.queue);
            let seq = q.next_seq;
            q.next_seq += 1;
            if q.stopped {
                (seq, false, None, Some(callback))
            } else {
                q.entries.insert((when, seq), Entry { callback, cancelled: cancelled.clone() });
                let start = !std::mem::replace(&mut q.started, true);
                let wake = if q.armed.is_none_or(|armed| when < armed) { q.waker.take() } else { None };
                (seq, start, wake, None)
            }
        };
        // Invariant 2: the refused callback is dropped and the driver woken, unlocked.
        drop(refused);
        if start {
            // A loop service, so it runs with its loop on any runtime (`run_embedded`'s too)
            // and ends with the loop.
            taskloop_core::rt::spawn_loop_service(drive(self.clone()));
        }
        if let Some(waker) = wake {
            waker.wake();
        }
        TimerHandle { when, seq, cancelled, timers: Arc::downgrade(self) }
    }

    /// Stops the queue for good (invariant 5) and drops what is left in it.
    fn stop(&self) {
        let (entries, waker) = {
            let mut q = lock(&self.queue);
            q.stopped = true;
            q.armed = None;
            (std::mem::take(&mut q.entries), q.waker.take())
        };
        drop(entries);
        drop(waker);
    }
}

/// Stops the queue when the driver is dropped, which only happens when the loop's runtime
/// shuts down (the driver itself never returns).
struct StopOnDrop(Arc<Timers>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The driver: hands due entries to the loop, in key order, and sleeps until the next one.
async fn drive(timers: Arc<Timers>) {
    let _stop = StopOnDrop(timers.clone());
    let mut sleep = Box::pin(tokio::time::sleep_until(Instant::now()));
    let mut due = Vec::new();
    poll_fn(|cx| {
        loop {
            let now = Instant::now();
            let (next, replaced) = {
                let mut q = lock(&timers.queue);
                while let Some(first) = q.entries.first_entry() {
                    if first.key().0 > now {
                        break;
                    }
                    due.push(first.remove());
                }
                // Invariant 3: the first key, `armed` and the waker, in one critical section.
                let next = q.entries.keys().next().map(|&(when, _)| sleep_target(when));
                q.armed = next;
                let replaced = match &q.waker {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    _ => q.waker.replace(cx.waker().clone()),
                };
                (next, replaced)
            };
            drop(replaced);
            for entry in due.drain(..) {
                entry.hand_to_loop();
            }
            let Some(next) = next else {
                return Poll::Pending;
            };
            if sleep.deadline() != next {
                sleep.as_mut().reset(next);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    })
    .await
}

/// A callback scheduled by [`call_later`] or [`call_at`]: asyncio's `asyncio.TimerHandle`.
///
/// Cloning it gives another handle to the same timer.
#[derive(Clone)]
#[must_use = "the handle is the only way to cancel the callback; `let _ =` to discard it"]
pub struct TimerHandle {
    when: Instant,
    seq: u64,
    cancelled: Arc<AtomicBool>,
    timers: Weak<Timers>,
}

impl TimerHandle {
    /// Keeps the callback from running, if it has not run yet: asyncio's
    /// `TimerHandle.cancel()`.
    ///
    /// A callback that has not run never will, even if it is already due and queued behind
    /// other callbacks; it is dropped (with what it captured) at once if it is still waiting
    /// for its time. Cancelling a callback that has run, or cancelling twice, does nothing
    /// more than mark the handle cancelled.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        if let Some(timers) = self.timers.upgrade() {
            let removed = lock(&timers.queue).entries.remove(&(self.when, self.seq));
            // Invariant 2: the user's closure is dropped unlocked.
            drop(removed);
        }
    }

    /// Whether [`cancel`](Self::cancel) was called: asyncio's `TimerHandle.cancelled()`.
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// When the callback is due: asyncio's `TimerHandle.when()`, as a tokio `Instant` (so
    /// the paused clock of tests applies).
    pub fn when(&self) -> Instant {
        self.when
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle").field("when", &self.when).field("cancelled", &self.cancelled()).finish()
    }
}

/// Runs `callback` on the loop once `delay` has passed: asyncio's `loop.call_later()`.
///
/// The callback runs like a [`call_soon`](taskloop_core::call_soon) callback once it is due:
/// on the loop, outside any task (`current_task()` is `None`), and a panic in it is reported
/// to the loop's exception handler without disturbing anything else. Callbacks due at the
/// same instant run in the order they were scheduled, on either runtime flavour. A delay too
/// long for the clock (`Duration::MAX`) saturates to about 30 years ahead: the callback never
/// runs in practice, and nothing panics or overflows. Time is tokio's, so a loop with paused
/// time skips ahead.
///
/// The callback runs only while the loop runs: one still waiting when `run` returns is
/// dropped without running, as asyncio's loop closes with its timers.
///
/// # Panics
///
/// Outside a running loop (asyncio raises `RuntimeError: no running event loop`).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use taskloop::{call_later, sleep, Runtime};
///
/// # fn main() -> anyhow::Result<()> {
/// Runtime::builder().start_paused(true).build()?.run(async {
///     let log = Arc::new(Mutex::new(Vec::new()));
///     for (delay, word) in [(2, "world"), (1, "hello"), (2, "!")] {
///         let log = log.clone();
///         let _ = call_later(Duration::from_secs(delay), move || log.lock().unwrap().push(word));
///     }
///     let never = { let log = log.clone(); call_later(Duration::from_secs(1), move || log.lock().unwrap().push("?")) };
///     never.cancel();
///     sleep(Duration::from_secs(3)).await?;
///     assert_eq!(*log.lock().unwrap(), ["hello", "world", "!"]);
///     anyhow::Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
#[track_caller]
pub fn call_later(delay: Duration, callback: impl FnOnce() + Send + 'static) -> TimerHandle {
    schedule(deadline_after(delay), Box::new(callback), "call_later")
}

/// Runs `callback` on the loop at `when`: asyncio's `loop.call_at()`.
///
/// As [`call_later`], with an instant instead of a delay; an instant already past runs the
/// callback as soon as the loop gets to it, and one far in the future is accepted without
/// overflow. `when` is a tokio [`Instant`](tokio::time::Instant) (re-exported as
/// `taskloop::Instant`), the clock that paused time moves.
///
/// # Panics
///
/// Outside a running loop.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use taskloop::{call_at, sleep, Instant, Runtime};
///
/// # fn main() -> anyhow::Result<()> {
/// Runtime::builder().start_paused(true).build()?.run(async {
///     let log = Arc::new(Mutex::new(Vec::new()));
///     let when = Instant::now() + Duration::from_millis(50);
///     for i in 0..3 {
///         let log = log.clone();
///         let handle = call_at(when, move || log.lock().unwrap().push(i));
///         assert_eq!(handle.when(), when);
///     }
///     sleep(Duration::from_millis(60)).await?;
///     assert_eq!(*log.lock().unwrap(), [0, 1, 2], "same instant: the order scheduled");
///     anyhow::Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
#[track_caller]
pub fn call_at(when: Instant, callback: impl FnOnce() + Send + 'static) -> TimerHandle {
    schedule(when, Box::new(callback), "call_at")
}

#[track_caller]
fn schedule(when: Instant, callback: Callback, name: &str) -> TimerHandle {
    match taskloop_core::rt::loop_state::<Timers>() {
        Some(timers) => timers.schedule(when, callback),
        None => panic!("{name}() needs a running taskloop loop on this thread"),
    }
}
