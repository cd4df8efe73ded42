//! One offloaded call: the shared slot between the awaiting future and the job on a worker
//! thread, and the futures `to_thread` and `run_in_executor` return.
//!
//! # Handles
//!
//! - [`Submission`] — owned by the executor (inside a [`Job`]): the right to run the function.
//! - [`Offload`] — owned by the awaiting task: submits the job, waits for the outcome, and
//!   cancels the call when the task is cancelled or the future dropped.
//!
//! Both point at one `Arc<Call<F, R>>`, whose `stage` only changes under its lock.
//!
//! # States
//!
//! | stage | meaning | left by | to |
//! |---|---|---|---|
//! | `Queued(f)` | submitted (or about to be), not started | worker; awaiter cancel; job dropped | `Running`; `Abandoned`; `Dropped` |
//! | `Running` | `f` runs on a worker | worker; awaiter cancel | `Done`; `Abandoned` |
//! | `Done(outcome)` | finished, outcome not taken | awaiter | `Taken` |
//! | `Abandoned` | the awaiter gave up; whoever holds `f` or the outcome drops it | never | |
//! | `Dropped` | the executor dropped the job unrun (shutdown with `cancel_futures`) | awaiter | `Taken` |
//! | `Taken` | the awaiter has the outcome | never | |
//!
//! # Invariants
//!
//! 1. `f` runs at most once, and only if the worker moved the stage from `Queued` to
//!    `Running`; an awaiter that moved it to `Abandoned` first therefore knows it never runs.
//! 2. `f`, its outcome and the waker are dropped or called after the lock is released.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use taskloop_cancel::{Cancelled, PointWaker, take_current};
use taskloop_core::{Executor, Job, JobId, Refused, TaskError};

/// The message of the `Cancelled` an awaiter gets when the executor drops its job unrun.
pub(crate) const DROPPED_MESSAGE: &str = "the executor shut down before the work started";

struct Call<F, R> {
    state: Mutex<State<F, R>>,
}

struct State<F, R> {
    stage: Stage<F, R>,
    waker: Option<Waker>,
}

enum Stage<F, R> {
    Queued(F),
    Running,
    Done(Result<R, TaskError>),
    Abandoned,
    Dropped,
    Taken,
}

impl<F, R> Call<F, R> {
    fn lock(&self) -> MutexGuard<'_, State<F, R>> {
        crate::lock(&self.state)
    }
}

/// What the awaiting future needs of a call, with `F` erased.
trait Outcome<R>: Send + Sync {
    fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<R, TaskError>>;
    /// Gives the call up; `true` if `f` had not started (and now never will, by invariant 1).
    fn abandon(&self) -> bool;
}

impl<F: Send, R: Send> Outcome<R> for Call<F, R> {
    fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<R, TaskError>> {
        let mut state = self.lock();
        match std::mem::replace(&mut state.stage, Stage::Taken) {
            Stage::Done(outcome) => Poll::Ready(outcome),
            Stage::Dropped => Poll::Ready(Err(TaskError::Cancelled(Cancelled::with_message(DROPPED_MESSAGE)))),
            stage @ (Stage::Queued(_) | Stage::Running) => {
                state.stage = stage;
                let old = match &state.waker {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    _ => state.waker.replace(cx.waker().clone()),
                };
                drop(state);
                drop(old);
                Poll::Pending
            }
            Stage::Abandoned | Stage::Taken => unreachable!("an offload future is polled after it completed"),
        }
    }

    fn abandon(&self) -> bool {
        let mut state = self.lock();
        let waker = state.waker.take();
        let previous = match state.stage {
            // Taken or abandoned already: keep it so.
            Stage::Taken | Stage::Abandoned => Stage::Taken,
            _ => std::mem::replace(&mut state.stage, Stage::Abandoned),
        };
        drop(state);
        drop(waker);
        // By invariant 2, `f` or the outcome is dropped here, unlocked.
        matches!(previous, Stage::Queued(_))
    }
}

/// The executor's half of a call: runs `f` once, or reports that it never will.
struct Submission<F, R> {
    call: Option<Arc<Call<F, R>>>,
}

impl<F: FnOnce() -> R, R> Submission<F, R> {
    fn run(mut self) {
        let Some(call) = self.call.take() else { return };
        let f = {
            let mut state = call.lock();
            match std::mem::replace(&mut state.stage, Stage::Running) {
                Stage::Queued(f) => f,
                other => {
                    // Abandoned before it started: by invariant 1 it must never run.
                    state.stage = other;
                    return;
                }
            }
        };
        let outcome = catch_unwind(AssertUnwindSafe(f)).map_err(|payload| TaskError::from_panic(&*payload));
        let (waker, unwanted) = {
            let mut state = call.lock();
            if matches!(state.stage, Stage::Running) {
                state.stage = Stage::Done(outcome);
                (state.waker.take(), None)
            } else {
                // The awaiter gave up while `f` ran: the result is dropped here, on the worker.
                (None, Some(outcome))
            }
        };
        drop(unwanted);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<F, R> Drop for Submission<F, R> {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else { return };
        let (f, waker) = {
            let mut state = call.lock();
            if matches!(state.stage, Stage::Queued(_)) {
                let Stage::Queued(f) = std::mem::replace(&mut state.stage, Stage::Dropped) else {
                    unreachable!("matched Queued just above")
                };
                (Some(f), state.waker.take())
            } else {
                (None, None)
            }
        };
        drop(f);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Where an [`Offload`] stands with its executor.
enum Phase {
    /// Not queued yet: before the first poll of `to_thread`, or while a full queue makes the
    /// submission wait. `None` means the loop's default executor, looked up when polled.
    Unsubmitted { executor: Option<Arc<dyn Executor>>, job: Job },
    /// Queued or running on `executor`.
    Submitted { executor: Arc<dyn Executor>, id: JobId },
    /// The outcome was returned, or the call given up.
    Finished,
}

/// The machinery of [`ToThread`] and [`RunInExecutor`].
struct Offload<R> {
    call: Arc<dyn Outcome<R>>,
    phase: Phase,
    /// Reaches the awaiting future with a cancel request of its task.
    point: PointWaker,
}

impl<R: Send + 'static> Offload<R> {
    fn new<F>(executor: Option<Arc<dyn Executor>>, f: F) -> Self
    where
        F: FnOnce() -> R + Send + 'static,
    {
        let call = Arc::new(Call { state: Mutex::new(State { stage: Stage::Queued(f), waker: None }) });
        let submission = Submission { call: Some(call.clone()) };
        let job = Job::new(move || submission.run());
        Offload { call, phase: Phase::Unsubmitted { executor, job }, point: PointWaker::new() }
    }

    /// Hands the job to its executor if it is not queued yet; `Ready(Err)` if it cannot be.
    fn submit(&mut self, cx: Option<&mut Context<'_>>) -> Poll<Result<(), TaskError>> {
        let Phase::Unsubmitted { executor, job } = std::mem::replace(&mut self.phase, Phase::Finished) else {
            // Submitted: nothing to do. (`Finished` is never submitted again.)
            return Poll::Ready(Ok(()));
        };
        let executor = match executor {
            Some(executor) => executor,
            None => match taskloop_core::rt::default_executor_or_init(crate::default_thread_pool) {
                Ok(executor) => executor,
                // The loop is shutting down: the job is dropped, unrun, with `self.phase` finished.
                Err(e) => return Poll::Ready(Err(e)),
            },
        };
        let mut job = job;
        let mut cx = cx;
        loop {
            let id = job.id();
            match executor.try_submit(job) {
                Ok(()) => {
                    self.phase = Phase::Submitted { executor, id };
                    return Poll::Ready(Ok(()));
                }
                Err(Refused::Shutdown(_)) => return Poll::Ready(Err(TaskError::Shutdown)),
                Err(Refused::Full(back)) => {
                    let ready = cx.as_deref_mut().map(|cx| executor.poll_ready(cx));
                    match ready {
                        // Room appeared since `try_submit` looked: try again.
                        Some(Poll::Ready(())) => job = back,
                        // Not polled yet (the eager submission at the call), or waiting for room.
                        None | Some(Poll::Pending) => {
                            self.phase = Phase::Unsubmitted { executor: Some(executor), job: back };
                            return Poll::Pending;
                        }
                    }
                }
                Err(other) => {
                    // `Refused` may grow; anything else is a refusal for good.
                    drop(other);
                    return Poll::Ready(Err(TaskError::Shutdown));
                }
            }
        }
    }

    fn poll_offload(&mut self, cx: &mut Context<'_>) -> Poll<Result<R, TaskError>> {
        if let Some(cancelled) = self.point.poll_cancel(cx) {
            self.give_up();
            return Poll::Ready(Err(TaskError::Cancelled(cancelled)));
        }
        match self.phase {
            Phase::Finished => panic!("an offload future was polled after it completed"),
            Phase::Unsubmitted { .. } => match self.submit(Some(cx)) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            },
            Phase::Submitted { .. } => {}
        }
        let outcome = self.call.poll_outcome(cx);
        if outcome.is_ready() {
            self.phase = Phase::Finished;
        }
        outcome
    }
}

impl<R> Offload<R> {
    /// Cancels the call: unqueued work is dropped, queued work withdrawn (it never runs),
    /// running work left to finish with its result dropped.
    fn give_up(&mut self) {
        match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Unsubmitted { job, .. } => {
                // Mark it abandoned first, so the job's drop does not report a shutdown.
                self.call.abandon();
                drop(job);
            }
            Phase::Submitted { executor, id } => {
                if self.call.abandon() {
                    // It will never run (invariant 1); free its place in the queue.
                    executor.withdraw(id);
                }
            }
            Phase::Finished => {}
        }
    }
}

impl<R> Drop for Offload<R> {
    fn drop(&mut self) {
        self.give_up();
    }
}

/// Runs `f` on the running loop's default executor and waits for its result:
/// asyncio's `await asyncio.to_thread(f)`.
///
/// Lazy like the coroutine it mirrors: nothing is submitted until the future is first polled.
/// The default executor is the one given to `Builder::default_executor` or
/// [`set_default_executor`](crate::set_default_executor); if the loop has none, the first
/// `to_thread` creates a [`ThreadPool`](crate::ThreadPool) with the default options, which
/// the loop shuts down when `run` ends. Arguments are whatever `f` captures (asyncio's
/// `*args`).
///
/// # Cancellation
///
/// A cancellation point. Cancelling the awaiting task (or dropping the future) takes work
/// that has not started out of the queue — it never runs — and ends the await at once with
/// `Err(TaskError::Cancelled)`; work already running finishes on its thread and its result is
/// dropped there. The task never waits for the thread.
///
/// # Errors
///
/// - `TaskError::Panicked` with the message if `f` panicked (the worker survives);
/// - `TaskError::Cancelled` if the awaiting task was cancelled, or the executor was shut down
///   with `cancel_futures` before `f` started;
/// - `TaskError::Shutdown` if the default executor accepts no more work (the loop is ending).
///
/// # Panics
///
/// When polled outside a running taskloop loop.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::to_thread;
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let answer = to_thread(|| {
///         std::thread::sleep(Duration::from_millis(10)); // a blocking call
///         42
///     })
///     .await?;
///     assert_eq!(answer, 42);
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn to_thread<F, R>(f: F) -> ToThread<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    ToThread { offload: Offload::new(None, f) }
}

/// Runs `f` on `executor` (the default executor when `None`) and gives a future of its
/// result: asyncio's `loop.run_in_executor(executor, f)`.
///
/// Eager, as asyncio's: the work is submitted at the call, before the future is polled. If
/// the executor's queue is full, the submission waits for room when the future is polled
/// (back-pressure) instead. `executor` takes a [`ThreadPool`](crate::ThreadPool), a
/// [`CpuPool`](crate::CpuPool) or any other [`Executor`]; the returned future does not borrow
/// it, so it can be awaited in another task.
///
/// # Cancellation
///
/// A cancellation point, as [`to_thread`]: cancelling the awaiting task or dropping the
/// future withdraws work that has not started (it never runs) and ends the await at once;
/// running work finishes and its result is dropped. To let the work run without waiting for
/// it, await the future in a task of its own.
///
/// # Errors
///
/// As [`to_thread`]; `TaskError::Shutdown` if `executor` was shut down.
///
/// # Panics
///
/// With `None`, outside a running taskloop loop.
///
/// # Examples
///
/// ```
/// use taskloop::{CpuPool, ThreadPool, run_in_executor};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let pool = ThreadPool::new(2);
///     let started = run_in_executor(Some(&pool), || "blocking I/O done"); // already queued
///     assert_eq!(started.await?, "blocking I/O done");
///     let sum = run_in_executor(Some(CpuPool::global()), || (1..=100u64).sum::<u64>()).await?;
///     assert_eq!(sum, 5050);
///     assert_eq!(run_in_executor(None, || 1 + 1).await?, 2);
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn run_in_executor<F, R>(executor: Option<&dyn Executor>, f: F) -> RunInExecutor<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let mut offload = Offload::new(
        Some(match executor {
            Some(executor) => executor.to_shared(),
            None => match taskloop_core::rt::default_executor_or_init(crate::default_thread_pool) {
                Ok(executor) => executor,
                Err(e) => return RunInExecutor { offload: None, refused: Some(e), _r: PhantomData },
            },
        }),
        f,
    );
    match offload.submit(None) {
        Poll::Ready(Err(e)) => RunInExecutor { offload: None, refused: Some(e), _r: PhantomData },
        Poll::Ready(Ok(())) | Poll::Pending => RunInExecutor { offload: Some(offload), refused: None, _r: PhantomData },
    }
}

/// The future of [`to_thread`]: resolves to `f`'s result.
#[must_use = "to_thread does nothing until awaited"]
pub struct ToThread<R> {
    offload: Offload<R>,
}

impl<R: Send + 'static> Future for ToThread<R> {
    type Output = Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().offload.poll_offload(cx)
    }
}

impl<R> fmt::Debug for ToThread<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToThread").field("phase", &self.offload.phase).finish()
    }
}

/// The future of [`run_in_executor`]: resolves to `f`'s result.
#[must_use = "dropping the future withdraws the work if it has not started"]
pub struct RunInExecutor<R> {
    offload: Option<Offload<R>>,
    /// Why the submission at the call failed; returned by the first poll.
    refused: Option<TaskError>,
    _r: PhantomData<fn() -> R>,
}

impl<R: Send + 'static> Future for RunInExecutor<R> {
    type Output = Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.offload {
            Some(offload) => offload.poll_offload(cx),
            None => {
                if let Some(cancelled) = take_current() {
                    return Poll::Ready(Err(TaskError::Cancelled(cancelled)));
                }
                Poll::Ready(Err(this.refused.take().expect("a run_in_executor future polled after it completed")))
            }
        }
    }
}

impl<R> fmt::Debug for RunInExecutor<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RunInExecutor");
        match &self.offload {
            Some(offload) => d.field("phase", &offload.phase),
            None => d.field("refused", &self.refused),
        };
        d.finish()
    }
}

impl fmt::Debug for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Unsubmitted { job, .. } => f.debug_tuple("Unsubmitted").field(&job.id()).finish(),
            Phase::Submitted { id, .. } => f.debug_tuple("Submitted").field(id).finish(),
            Phase::Finished => f.write_str("Finished"),
        }
    }
}
