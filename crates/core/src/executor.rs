//! The `Executor` trait and the loop's default-executor slot.
//!
//! The pools live in `taskloop-offload`; the trait lives here so that the loop can own its
//! default executor and shut it down when `run` ends, as `asyncio.run()` calls
//! `loop.shutdown_default_executor()`. Core never creates an executor itself: the slot starts
//! empty (unless `Builder::default_executor` filled it), and the first `to_thread` fills it
//! through [`default_executor_or_init`].
//!
//! # The slot
//!
//! | state | meaning | left by |
//! |---|---|---|
//! | empty | no default executor yet | `set_default_executor`, `default_executor_or_init` → set |
//! | set | the loop owns this executor | `set_default_executor` → set (the old one is shut down on a helper thread); the end of `run` → closed |
//! | closed | `run` has shut the default executor down | never |
//!
//! Shutting an executor down may block (it waits for running work), so the loop never does it
//! on its own thread without a bound: the end of `run` waits at most `shutdown_timeout`, and a
//! replaced executor is shut down on a helper thread.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use crate::error::TaskError;
use crate::sync::lock;

/// Where blocking or CPU-bound work runs: asyncio's `concurrent.futures.Executor`, as seen
/// by the loop.
///
/// `taskloop-offload` implements it for its `ThreadPool` (std threads) and `CpuPool`
/// (rayon); `run_in_executor` and `to_thread` submit through it, and the loop shuts its
/// default executor down when `run` ends. The trait is object safe: the loop keeps an
/// `Arc<dyn Executor>`, and `run_in_executor` takes `Option<&dyn Executor>`.
///
/// Unlike `concurrent.futures.Executor.submit`, submission does not return a future: the
/// caller builds a [`Job`] that delivers its own result, and the executor only runs it (or
/// drops it, which is how queued work is cancelled).
///
/// # Implementing it
///
/// An implementation is usually a handle around an `Arc` of its state. Only
/// [`try_submit`](Executor::try_submit), [`shutdown`](Executor::shutdown) and
/// [`to_shared`](Executor::to_shared) are required; an unbounded executor that cannot take
/// work back keeps the defaults of [`poll_ready`](Executor::poll_ready) and
/// [`withdraw`](Executor::withdraw).
///
/// # Examples
///
/// An executor that starts one thread per job:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use taskloop::{Executor, Job, Refused, run_in_executor};
///
/// #[derive(Debug, Default)]
/// struct ThreadPerJob(Arc<AtomicBool>);
///
/// impl Executor for ThreadPerJob {
///     fn try_submit(&self, job: Job) -> Result<(), Refused> {
///         if self.0.load(Ordering::Acquire) {
///             return Err(Refused::Shutdown(job));
///         }
///         std::thread::spawn(move || job.run());
///         Ok(())
///     }
///     fn shutdown(&self, _wait: bool, _cancel_futures: bool) {
///         self.0.store(true, Ordering::Release);
///     }
///     fn to_shared(&self) -> Arc<dyn Executor> {
///         Arc::new(ThreadPerJob(self.0.clone()))
///     }
/// }
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let executor = ThreadPerJob::default();
///     assert_eq!(run_in_executor(Some(&executor), || 6 * 7).await?, 42);
///     executor.shutdown(true, false);
///     assert!(run_in_executor(Some(&executor), || 0).await.unwrap_err().is_shutdown());
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub trait Executor: Send + Sync {
    /// Queues `job` to run on one of the executor's threads, or gives it back.
    ///
    /// The executor must eventually either call [`Job::run`] or drop the job (dropping it
    /// tells its submitter the work was cancelled).
    ///
    /// # Errors
    ///
    /// [`Refused::Full`] when a bounded queue has no room (the submitter waits with
    /// [`poll_ready`](Executor::poll_ready) and tries again), [`Refused::Shutdown`] once the
    /// executor accepts no more work.
    fn try_submit(&self, job: Job) -> Result<(), Refused>;

    /// Whether [`try_submit`](Executor::try_submit) may find room now; if not, `cx`'s waker is
    /// woken when it may. `Ready` after a shutdown (the next submission is refused).
    ///
    /// The default, for unbounded executors, is always `Ready`.
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let _ = cx;
        Poll::Ready(())
    }

    /// Takes the job `id` back out of the queue if it has not started; `true` if it was
    /// removed. The removed job is dropped.
    ///
    /// Submitters call it when the task awaiting the work is cancelled. The submitter has
    /// already made sure the work will never run; withdrawing only frees its place in the
    /// queue. The default, for executors that cannot take work back, returns `false`.
    fn withdraw(&self, id: JobId) -> bool {
        let _ = id;
        false
    }

    /// Stops accepting work: concurrent.futures' `Executor.shutdown(wait, cancel_futures)`.
    ///
    /// With `cancel_futures`, queued jobs that have not started are dropped (their awaiters
    /// see `TaskError::Cancelled`); running ones finish. With `wait`, returns once every
    /// accepted job has finished (or been dropped). Calling it again is harmless.
    fn shutdown(&self, wait: bool, cancel_futures: bool);

    /// An owned handle to this same executor, for futures that outlive the borrow they were
    /// given (`run_in_executor(Some(&pool), f)` returns a `'static` future).
    fn to_shared(&self) -> Arc<dyn Executor>;
}

impl<E: Executor + ?Sized> Executor for Arc<E> {
    fn try_submit(&self, job: Job) -> Result<(), Refused> {
        (**self).try_submit(job)
    }
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_ready(cx)
    }
    fn withdraw(&self, id: JobId) -> bool {
        (**self).withdraw(id)
    }
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        (**self).shutdown(wait, cancel_futures)
    }
    fn to_shared(&self) -> Arc<dyn Executor> {
        (**self).to_shared()
    }
}

impl<E: Executor + ?Sized> Executor for &'static E {
    fn try_submit(&self, job: Job) -> Result<(), Refused> {
        (**self).try_submit(job)
    }
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_ready(cx)
    }
    fn withdraw(&self, id: JobId) -> bool {
        (**self).withdraw(id)
    }
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        (**self).shutdown(wait, cancel_futures)
    }
    fn to_shared(&self) -> Arc<dyn Executor> {
        (**self).to_shared()
    }
}

/// Identifies a [`Job`], so its submitter can [`withdraw`](Executor::withdraw) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(u64);

/// One piece of work for an [`Executor`]: run it once with [`run`](Job::run), or drop it.
///
/// A job carries its own way of reporting back (`taskloop-offload` builds them so that the
/// awaiting future learns the outcome); the executor only decides where and when it runs.
/// Dropping a job without running it cancels it.
#[must_use = "a job does nothing unless run; dropping it cancels the work"]
pub struct Job {
    id: JobId,
    work: Box<dyn FnOnce() + Send>,
}

impl Job {
    /// Wraps `work` as a job with a fresh id.
    pub fn new(work: impl FnOnce() + Send + 'static) -> Job {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // Ids only need to be unique; no other memory depends on this counter.
        Job { id: JobId(NEXT.fetch_add(1, Ordering::Relaxed)), work: Box::new(work) }
    }

    /// The job's id.
    pub fn id(&self) -> JobId {
        self.id
    }

    /// Runs the work on the calling thread. A panic in it unwinds to the caller; executors
    /// catch it so that their threads survive (the jobs `taskloop-offload` builds never
    /// panic: they catch and report the panic of the function they run).
    pub fn run(self) {
        (self.work)()
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Why an [`Executor`] did not take a [`Job`]; the job comes back with it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Refused {
    /// The executor's queue is full; wait with [`Executor::poll_ready`] and try again.
    Full(Job),
    /// The executor is shut down and accepts no more work (`TaskError::Shutdown`).
    Shutdown(Job),
}

impl Refused {
    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Refused::Full(_))
    }

    /// Whether the executor was shut down.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, Refused::Shutdown(_))
    }

    /// The job that was refused.
    pub fn into_job(self) -> Job {
        match self {
            Refused::Full(job) | Refused::Shutdown(job) => job,
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Full(job) => write!(f, "the executor's queue is full; job {:?} was not queued", job.id),
            Refused::Shutdown(job) => write!(f, "the executor is shut down; job {:?} was refused", job.id),
        }
    }
}

impl std::error::Error for Refused {}

/// How long `run` waits for the default executor's running work by default: CPython's
/// `asyncio.runners` constant of 300 seconds.
pub(crate) const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(300);

/// The executor options of a [`Builder`].
#[derive(Clone, Default)]
pub(crate) struct ExecutorConfig {
    pub(crate) executor: Option<Arc<dyn Executor>>,
    pub(crate) shutdown_timeout: Option<Duration>,
}

impl fmt::Debug for ExecutorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutorConfig")
            .field("default_executor", &self.executor.as_ref().map(|_| "dyn Executor"))
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish()
    }
}

/// The loop's default executor: see the module doc for its states.
pub(crate) struct DefaultExecutor {
    slot: Mutex<Slot>,
    shutdown_timeout: Mutex<Duration>,
}

enum Slot {
    Empty,
    Set(Arc<dyn Executor>),
    Closed,
}

impl Default for DefaultExecutor {
    fn default() -> Self {
        DefaultExecutor { slot: Mutex::new(Slot::Empty), shutdown_timeout: Mutex::new(DEFAULT_SHUTDOWN_TIMEOUT) }
    }
}

impl DefaultExecutor {
    /// Applies a builder's options to a loop that has not started.
    pub(crate) fn configure(&self, config: &ExecutorConfig) {
        if let Some(executor) = &config.executor {
            *lock(&self.slot) = Slot::Set(executor.clone());
        }
        if let Some(timeout) = config.shutdown_timeout {
            *lock(&self.shutdown_timeout) = timeout;
        }
    }

    /// Shuts the default executor down at the end of `run`: waits for its running work at
    /// most the shutdown timeout, then reports what is still running and returns.
    pub(crate) fn shutdown(&self) {
        let executor = match std::mem::replace(&mut *lock(&self.slot), Slot::Closed) {
            Slot::Set(executor) => executor,
            Slot::Empty | Slot::Closed => return,
        };
        let timeout = *lock(&self.shutdown_timeout);
        // `shutdown(wait = true)` blocks for as long as the work runs, which may be forever;
        // a helper thread does it, and this thread waits for the helper at most `timeout`. A
        // helper that never finishes is left behind: it holds only the executor.
        let (done_tx, done_rx) = mpsc::channel();
        let spawned = thread::Builder::new().name("taskloop-executor-shutdown".to_owned()).spawn(move || {
            executor.shutdown(true, false);
            // The receiver is gone if `run` stopped waiting; then nobody needs to know.
            let _ = done_tx.send(());
            drop(executor);
        });
        if let Err(e) = spawned {
            tracing::error!(target: "taskloop", "could not start a thread to shut the default executor down: {e}; not waiting for its work");
            return;
        }
        if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(timeout) {
            tracing::warn!(
                target: "taskloop",
                "the default executor did not finish its running work within {timeout:?}; taskloop::run() returns without waiting for it"
            );
        }
    }
}

impl DefaultExecutor {
    /// Closes an empty slot and returns `false`; `true` if there is an executor for
    /// [`shutdown`](Self::shutdown) to shut down. Lets an embedded loop (`run_embedded`), which
    /// must not block its thread, start a helper thread for the shutdown only when there is
    /// one to do.
    pub(crate) fn close_if_empty(&self) -> bool {
        let mut slot = lock(&self.slot);
        match &*slot {
            Slot::Set(_) => true,
            Slot::Empty | Slot::Closed => {
                *slot = Slot::Closed;
                false
            }
        }
    }

    /// `set_default_executor`: puts `executor` in the slot and shuts the one it replaces down
    /// on a helper thread (or `executor` itself, once `run` has closed the slot).
    pub(crate) fn replace(&self, executor: Arc<dyn Executor>) {
        let old = {
            let mut slot = lock(&self.slot);
            match &*slot {
                // `run` has already shut the default executor down; the new one goes the same way.
                Slot::Closed => Some(executor),
                Slot::Empty | Slot::Set(_) => match std::mem::replace(&mut *slot, Slot::Set(executor)) {
                    Slot::Set(old) => Some(old),
                    Slot::Empty | Slot::Closed => None,
                },
            }
        };
        if let Some(old) = old {
            shut_down_in_background(old);
        }
    }

    /// `default_executor_or_init`: the executor in the slot, or the one `init` makes if the
    /// slot is empty. `init` is the caller's code, so it runs outside the slot's lock (it may
    /// itself set the default executor); the slot is checked again afterwards, and if it was
    /// filled meanwhile, the executor `init` made is shut down and the slot's is returned.
    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> Arc<dyn Executor>) -> Result<Arc<dyn Executor>, TaskError> {
        match &*lock(&self.slot) {
            Slot::Set(executor) => return Ok(executor.clone()),
            Slot::Closed => return Err(TaskError::Shutdown),
            Slot::Empty => {}
        }
        let made = init();
        let (outcome, unused) = {
            let mut slot = lock(&self.slot);
            match &*slot {
                Slot::Empty => {
                    *slot = Slot::Set(made.clone());
                    (Ok(made), None)
                }
                Slot::Set(executor) => (Ok(executor.clone()), Some(made)),
                Slot::Closed => (Err(TaskError::Shutdown), Some(made)),
            }
        };
        if let Some(unused) = unused {
            shut_down_in_background(unused);
        }
        outcome
    }
}

/// Shuts `executor` down without blocking this thread.
fn shut_down_in_background(executor: Arc<dyn Executor>) {
    // Refuse new work at once, so nothing more is queued on an executor nobody owns.
    executor.shutdown(false, false);
    let spawned = thread::Builder::new().name("taskloop-executor-shutdown".to_owned()).spawn(move || {
        executor.shutdown(true, false);
        drop(executor);
    });
    if let Err(e) = spawned {
        tracing::error!(target: "taskloop", "could not start a thread to shut a replaced executor down: {e}");
    }
}
