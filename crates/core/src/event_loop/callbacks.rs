//! The callback queue: done callbacks and `call_soon` callbacks, in one FIFO queue that the
//! loop's *runners* (plain tokio tasks, see `runtime::CallbackRunners`) drain in order.
//!
//! # Batches: callbacks at their place among task steps
//!
//! asyncio keeps task steps and callbacks in one ready queue, so a callback runs after every
//! step woken before it was scheduled and before every step woken after. Here steps are tokio's
//! and callbacks are ours: a runner woken for a callback is queued in tokio's run queue where
//! that callback's place is. Callbacks scheduled by one step, with no other step polled and no
//! task woken since, share a place: they join the last *batch*, which one runner runs. A
//! callback scheduled anywhere else (by a later step, after a wake-up, by a completion, which
//! wakes the task's awaiters right after, by a callback, a timer or another thread) opens a new
//! batch and wakes an idle runner, queued behind whatever was woken in between. A current-thread loop starts one runner and
//! adds more when a batch finds none idle, up to [`CURRENT_THREAD_RUNNERS`]; past that a new
//! batch joins the last one (a late callback then runs a few steps early). The multi-thread
//! loop, whose steps have no single order, has one runner, which runs the batches queued while
//! it runs without yielding in between.
//!
//! # Invariants
//!
//! 1. `jobs` holds the queued callbacks in order; `batches` cuts it into runs: their `len`s add
//!    up to `jobs.len()`. Runners take whole batches from the front, so callbacks run in the
//!    order they were queued, one at a time (the current-thread loop's runners share its one
//!    thread; the multi-thread loop has one runner).
//! 2. A batch is `woken` iff the push that made it woke an idle runner or started a new one for
//!    it. A runner takes the front batch when tokio polls it after a wake (or first); a runner
//!    coming back from a batch takes only a batch no runner was woken for, so a batch runs at
//!    its own runner's place in tokio's queue, never earlier.
//! 3. `open` is `Some((step, wakes))` only while the last batch was made by the step with
//!    `step_mark` `step`, no runner has taken a batch since, and the thread's `wake_mark` was
//!    `wakes` after its runner was roused: only a callback of that step with nothing woken
//!    since (a task's `cancel()` wakes it, and asyncio queues that step between the two
//!    callbacks) can join it.
//! 4. `stopped` is set once `closing` is, the queue is empty and no runner is running a batch:
//!    nothing queued after that would run, so pushes are refused. No runner is started once
//!    `closing` is set.

use std::any::Any;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};

use crate::sync::{Mutex, lock};

/// A callback as queued: a done callback (already bound to its task) or a `call_soon` job.
pub(crate) type Callback = Box<dyn FnOnce() + Send>;

/// At most how many runners a current-thread loop has: how many batches can wait in tokio's
/// queue at their own places at once.
pub(crate) const CURRENT_THREAD_RUNNERS: usize = 4;

/// Starts one more runner on the loop's runtime (see `runtime::CallbackRunners`).
pub(crate) type StartRunner = Arc<dyn Fn() + Send + Sync>;

/// The queue and its runners' state.
pub(crate) struct CallbackQueue(Mutex<Queue>);

struct Queue {
    jobs: VecDeque<Job>,
    batches: VecDeque<Batch>,
    /// The step that made the last batch and the thread's `wake_mark` after it, while
    /// callbacks may still join it (invariant 3).
    open: Option<(usize, u32)>,
    /// The wakers of the runners waiting for a batch.
    idle: Vec<Waker>,
    /// Runners running a batch now.
    running: usize,
    /// Runners started, and at most how many there may be (1: batches share one runner).
    runners: usize,
    max_runners: usize,
    /// How to start another runner; set with the first runner.
    start_runner: Option<StartRunner>,
    /// `run` is ending: the runners drain what is queued and stop.
    closing: bool,
    /// The runners have stopped: nothing queued now would ever run (invariant 4).
    stopped: bool,
}

/// One run of callbacks that a runner takes at once.
struct Batch {
    len: usize,
    /// A runner was woken or started for it (invariant 2).
    woken: bool,
}

struct Job {
    callback: Callback,
    /// Set by [`Handle::cancel`]; `None` for done callbacks, which cannot be cancelled.
    cancelled: Option<Arc<AtomicBool>>,
}

/// What a push leaves its caller to do once the queue is unlocked.
#[must_use = "a batch's runner must be woken or started"]
enum Rouse {
    Wake(Waker),
    Start(StartRunner),
}

impl Rouse {
    fn run(this: Option<Rouse>) {
        match this {
            None => {}
            Some(Rouse::Wake(waker)) => {
                taskloop_cancel::note_wake();
                waker.wake();
            }
            Some(Rouse::Start(start)) => {
                taskloop_cancel::note_wake();
                start();
            }
        }
    }
}

impl CallbackQueue {
    /// A queue for at most `max_runners` runners (1 on a multi-thread loop).
    pub(crate) fn new(max_runners: usize) -> Self {
        CallbackQueue(Mutex::new(Queue {
            jobs: VecDeque::new(),
            batches: VecDeque::new(),
            open: None,
            idle: Vec::new(),
            running: 0,
            runners: 0,
            max_runners,
            start_runner: None,
            closing: false,
            stopped: false,
        }))
    }

    /// The first runner has been started; `start` starts another when a batch needs one.
    pub(crate) fn first_runner_started(&self, start: StartRunner) {
        let mut q = lock(&self.0);
        q.runners = 1;
        q.start_runner = Some(start);
    }

    /// Queues done callbacks, in order, to run on the loop.
    pub(crate) fn schedule(&self, callbacks: Vec<Callback>) {
        Rouse::run(self.push(callbacks.into_iter().map(|callback| Job { callback, cancelled: None })));
    }

    /// Waits until every callback queued before this call has run: queues a marker behind
    /// them and awaits it (a closed queue drops the marker, which ends the wait too).
    pub(crate) async fn flush(&self) {
        let (ran, marker) = futures::channel::oneshot::channel::<()>();
        self.schedule(vec![Box::new(move || {
            let _ = ran.send(());
        })]);
        let _ = marker.await;
    }

    /// `call_soon`: queues `f` with a [`Handle`] that can cancel it.
    pub(crate) fn call_soon(&self, f: Callback) -> Handle {
        let cancelled = Arc::new(AtomicBool::new(false));
        Rouse::run(self.push([Job { callback: f, cancelled: Some(cancelled.clone()) }]));
        Handle { cancelled }
    }

    /// `call_soon` from any thread (`LoopHandle::call_soon_threadsafe`): queues `f` and wakes
    /// a runner, or gives `f` back once the queue has stopped (the loop has ended).
    pub(crate) fn call_soon_threadsafe(&self, f: Callback) -> Result<Handle, Callback> {
        let cancelled = Arc::new(AtomicBool::new(false));
        let job = Job { callback: f, cancelled: Some(cancelled.clone()) };
        let rouse = {
            let mut q = lock(&self.0);
            if q.stopped {
                return Err(job.callback);
            }
            // Another thread's steps have no place among this loop's: a batch of its own.
            q.add(std::iter::once(job), None)
        };
        Rouse::run(rouse);
        Ok(Handle { cancelled })
    }

    /// Queues `jobs` (invariant 1) and says which runner to wake or start for them, if one
    /// must be, for the caller to do after unlocking. A task's completion runs after its last
    /// poll, outside its step (`step_mark` is `None`): its batch is one nothing joins, as it
    /// wakes the task's awaiters next.
    fn push(&self, jobs: impl IntoIterator<Item = Job>) -> Option<Rouse> {
        let mut q = lock(&self.0);
        if q.stopped {
            // The loop is gone: nothing will ever run these. Dropped below, unlocked.
            drop(q);
            drop(jobs.into_iter().collect::<Vec<_>>());
            return None;
        }
        let mark = if q.max_runners > 1 {
            taskloop_cancel::step_mark().map(|step| (step, taskloop_cancel::wake_mark()))
        } else {
            None
        };
        q.add(jobs, mark)
    }

    /// A runner: runs batches until [`close`](Self::close) and the queue is empty. A
    /// callback's panic is caught and handed to `on_panic`.
    pub(crate) async fn run(&self, on_panic: impl Fn(&(dyn Any + Send))) {
        let mut batch = VecDeque::new();
        let mut back_from_batch = false;
        while self.next_batch(&mut batch, back_from_batch).await {
            for job in batch.drain(..) {
                if job.cancelled.as_ref().is_some_and(|c| c.load(Ordering::Acquire)) {
                    continue;
                }
                if let Err(payload) = catch_unwind(AssertUnwindSafe(job.callback)) {
                    on_panic(&*payload);
                }
            }
            back_from_batch = true;
        }
    }

    /// Moves the next batch this runner may run into `batch` (invariant 2), waiting for one;
    /// `false` once the queue is closed and empty.
    async fn next_batch(&self, batch: &mut VecDeque<Job>, back_from_batch: bool) -> bool {
        let mut waited = false;
        poll_fn(|cx| {
            let mut q = lock(&self.0);
            if !waited {
                if back_from_batch {
                    q.running -= 1;
                }
            } else if !q.idle.is_empty() {
                // Polled again without a push having taken this runner's waker (a close, or a
                // spurious poll): it must not stay listed, or a later batch would count on it.
                q.idle.retain(|w| !w.will_wake(cx.waker()));
            }
            let take = q.batches.front().is_some_and(|front| waited || !back_from_batch || !front.woken);
            if take {
                let Batch { len, .. } = q.batches.pop_front().expect("a front batch");
                if len == q.jobs.len() {
                    // The whole queue (the usual case): the runner's empty buffer goes back.
                    std::mem::swap(&mut q.jobs, batch);
                } else {
                    batch.extend(q.jobs.drain(..len));
                }
                q.open = None;
                q.running += 1;
                return Poll::Ready(true);
            }
            if q.closing && q.batches.is_empty() {
                if q.running == 0 {
                    q.stopped = true;
                }
                // The other idle runners end too (one started late may have left them idle).
                let idle = std::mem::take(&mut q.idle);
                drop(q);
                idle.into_iter().for_each(Waker::wake);
                return Poll::Ready(false);
            }
            q.idle.push(cx.waker().clone());
            waited = true;
            Poll::Pending
        })
        .await
    }

    /// How many callbacks wait in the queue (for the loom models).
    #[cfg(all(test, taskloop_loom))]
    pub(crate) fn len(&self) -> usize {
        lock(&self.0).jobs.len()
    }

    /// Lets the runners finish: they drain the queue and stop; none is started any more.
    pub(crate) fn close(&self) {
        let (idle, start) = {
            let mut q = lock(&self.0);
            q.closing = true;
            (std::mem::take(&mut q.idle), q.start_runner.take())
        };
        drop(start);
        for w in idle {
            w.wake();
        }
    }
}

impl Queue {
    /// Appends `jobs`, scheduled by the step `mark` (`None`: outside any task's step), to the
    /// last batch if they share its place (invariant 3), or else to a new batch with a runner
    /// of its own: an idle one to wake, or a new one to start. With neither, they join the last
    /// batch anyway (its runner is queued and will run them), or make a batch that the runner
    /// running now takes next.
    fn add(&mut self, jobs: impl IntoIterator<Item = Job>, mark: Option<(usize, u32)>) -> Option<Rouse> {
        let before = self.jobs.len();
        self.jobs.extend(jobs);
        let len = self.jobs.len() - before;
        let can_start = self.runners < self.max_runners && self.start_runner.is_some();
        let may_rouse = !self.idle.is_empty() || can_start;
        if ((mark.is_some() && self.open == mark) || !may_rouse)
            && let Some(last) = self.batches.back_mut()
        {
            last.len += len;
            return None;
        }
        let rouse = match (self.idle.pop(), &self.start_runner) {
            (Some(idle), _) => Some(Rouse::Wake(idle)),
            (None, Some(start)) if can_start => {
                self.runners += 1;
                Some(Rouse::Start(start.clone()))
            }
            (None, _) => None,
        };
        self.batches.push_back(Batch { len, woken: rouse.is_some() });
        // Waking the runner counts in the thread's `wake_mark`: expected, it does not close
        // the batch.
        self.open = mark.map(|(step, wakes)| (step, wakes.wrapping_add(u32::from(rouse.is_some()))));
        rouse
    }
}

/// A callback scheduled by [`call_soon`](crate::call_soon): asyncio's `asyncio.Handle`.
#[derive(Debug, Clone)]
pub struct Handle {
    cancelled: Arc<AtomicBool>,
}

impl Handle {
    /// Keeps the callback from running, if it has not run yet.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}
