//! Reaching a loop from other threads: [`LoopHandle`] (asyncio's `loop.call_soon_threadsafe`,
//! `asyncio.run_coroutine_threadsafe`) and the [`ConcurrentFuture`] a submission returns
//! (asyncio's `concurrent.futures.Future`).
//!
//! Everything a handle submits goes through the loop's callback queue, whose lock and runner
//! wakers already make it a multi-producer queue: `call_soon_threadsafe` queues the callback in
//! a batch of its own and wakes a runner; `spawn_threadsafe` queues a callback that creates the task on the loop
//! (so it starts as any task created in a callback does) and chains the task's outcome to the
//! future with a done callback.
//!
//! # The future's slot
//!
//! A [`ConcurrentFuture`] and its producer share one `Slot`: a mutex over the outcome, a
//! condition variable for blocked threads and a waker for an async awaiter.
//!
//! 1. The outcome is set once (`finish`); later attempts are ignored. Whoever sets it — the
//!    done callback, `cancel()`, or the `Completer`'s `Drop` — notifies every waiter after
//!    unlocking.
//! 2. One `Completer` exists per submission, and it moves: the queued callback owns it, then
//!    the task's done callback. Whichever owns it last finishes the slot, with the task's
//!    outcome when it runs, with `TaskError::Shutdown` when it is dropped unrun (the loop ended
//!    before running it). So a future is always finished: a waiter never hangs on a loop that
//!    has gone.
//! 3. A submission whose future was cancelled before the loop got to it never creates its task
//!    (asyncio creates it and cancels it before its first step: the body is never polled either
//!    way).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use taskloop_cancel::Cancelled;

use crate::context;
use crate::error::TaskError;
use crate::event_loop::Handle;
use crate::spawn::{SpawnError, TaskBuilder};
use crate::sync::lock;
use crate::task::{Loop, TaskRef};

/// A handle to a loop for other threads: the asyncio event loop object as seen from outside
/// it.
///
/// Get one from inside the loop with [`LoopHandle::current`], or from a
/// [`Runner`](crate::Runner) with [`Runner::handle`](crate::Runner::handle). It is
/// `Send + Sync + Clone` and cheap to clone; it does not keep the loop alive, and once the loop
/// has ended every submission is refused with [`SpawnError::Closed`].
///
/// # Examples
///
/// A plain thread handing work to a running loop and waiting for the result:
///
/// ```
/// use taskloop::{LoopHandle, sleep, to_thread};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let handle = LoopHandle::current();
///     let from_thread = to_thread(move || {
///         let job = handle.spawn_threadsafe(async {
///             sleep(Duration::from_millis(1)).await?;
///             anyhow::Ok("done on the loop")
///         })?;
///         anyhow::Ok(job.wait()?)
///     });
///     assert_eq!(from_thread.await??, "done on the loop");
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct LoopHandle {
    shared: Weak<Loop>,
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle").field("closed", &self.is_closed()).finish()
    }
}

impl LoopHandle {
    pub(crate) fn new(shared: &Arc<Loop>) -> Self {
        LoopHandle { shared: Arc::downgrade(shared) }
    }

    /// The running loop's handle: asyncio's `asyncio.get_running_loop()`.
    ///
    /// # Panics
    ///
    /// Outside a running loop (asyncio raises `RuntimeError: no running event loop`);
    /// [`try_current`](Self::try_current) returns `None` instead.
    pub fn current() -> LoopHandle {
        Self::try_current().expect("LoopHandle::current() needs a running taskloop loop on this thread")
    }

    /// The running loop's handle, or `None` outside a running loop.
    pub fn try_current() -> Option<LoopHandle> {
        context::current_loop().map(|shared| LoopHandle::new(&shared))
    }

    /// Whether the loop has ended and refuses work (asyncio's `loop.is_closed()`).
    pub fn is_closed(&self) -> bool {
        self.shared.upgrade().is_none_or(|shared| shared.is_closed())
    }

    /// Runs `f` on the loop after the step it is running now, from any thread: asyncio's
    /// `loop.call_soon_threadsafe()`.
    ///
    /// `f` is queued behind the loop's callbacks and runs as a [`call_soon`](crate::call_soon)
    /// callback does (on the loop, outside any task, a panic reported to the exception
    /// handler). Queued callbacks still run while the loop shuts down.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Closed`] once the loop has ended (asyncio: "Event loop is closed").
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> Result<Handle, SpawnError> {
        let shared = self.shared.upgrade().ok_or(SpawnError::Closed)?;
        if shared.is_closed() {
            return Err(SpawnError::Closed);
        }
        // Given back when refused; dropped here, outside the queue's lock.
        shared.callbacks.call_soon_threadsafe(Box::new(f)).map_err(|_refused| SpawnError::Closed)
    }

    /// Creates a task running `fut` on the loop, from any thread, and returns a future of its
    /// outcome that a thread can block on: asyncio's `asyncio.run_coroutine_threadsafe()`.
    ///
    /// The task is created by a callback queued as by
    /// [`call_soon_threadsafe`](Self::call_soon_threadsafe), so it starts as a task created in
    /// a callback does. If the loop ends before it gets to the callback, or has stopped
    /// accepting tasks by then, the future finishes with `TaskError::Shutdown`.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Closed`] once the loop has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::Runtime;
    ///
    /// # fn main() -> anyhow::Result<()> {
    /// let mut runner = Runtime::builder().worker_threads(2).build_runner()?;
    /// let handle = runner.handle();
    /// let answer = runner.run(async move {
    ///     let from_thread = std::thread::spawn(move || {
    ///         handle.spawn_threadsafe(async { anyhow::Ok(6 * 7) }).map(|job| job.wait())
    ///     });
    ///     // The loop is free to run the job while the thread waits.
    ///     taskloop::sleep(std::time::Duration::from_millis(50)).await?;
    ///     anyhow::Ok(from_thread.join().unwrap())
    /// })?;
    /// assert_eq!(answer??, 42);
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawn_threadsafe<F, T, E>(&self, fut: F) -> Result<ConcurrentFuture<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<anyhow::Error>,
    {
        let slot = Arc::new(Slot::new());
        let completer = Completer(slot.clone());
        self.call_soon_threadsafe(move || start(completer, fut))?;
        Ok(ConcurrentFuture { slot })
    }

    /// [`spawn_threadsafe`](Self::spawn_threadsafe) under asyncio's name.
    ///
    /// # Errors
    ///
    /// [`SpawnError::Closed`] once the loop has ended.
    pub fn run_coroutine_threadsafe<F, T, E>(&self, fut: F) -> Result<ConcurrentFuture<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<anyhow::Error>,
    {
        self.spawn_threadsafe(fut)
    }

    /// The loop's tasks that are not done, from any thread: asyncio's `asyncio.all_tasks(loop)`.
    /// Empty once the loop has ended. An eager task in the middle of its first step (inside
    /// `create_task` on a loop thread) is not listed yet: only that thread sees it then.
    pub fn all_tasks(&self) -> Vec<TaskRef> {
        self.shared.upgrade().map(|shared| shared.registry.snapshot()).unwrap_or_default()
    }
}

/// The queued callback of `spawn_threadsafe`: creates the task and chains its outcome to the
/// slot (invariant 2), unless the future was cancelled first (invariant 3).
fn start<F, T, E>(completer: Completer<T>, fut: F)
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    if completer.0.is_finished() {
        return;
    }
    let slot = completer.0.clone();
    // The body leaves its value in the slot, so `T` need not be `Clone`; the task's own
    // outcome (which may still turn out cancelled) decides whether the value is delivered.
    let body = async move {
        let value = fut.await.map_err(Into::into)?;
        slot.store_value(value);
        anyhow::Ok(())
    };
    match TaskBuilder::new().try_spawn(body) {
        Ok(task) => {
            // A `cancel()` that raced this callback (after the check above) found no task to
            // cancel; it is applied here, so the task never runs for a cancelled future.
            if let Some(message) = completer.0.set_task(task.as_task_ref()) {
                match message {
                    Some(m) => task.cancel_with(m),
                    None => task.cancel(),
                };
            }
            let _id = task.add_done_callback(move |task| {
                let outcome = match task.exception() {
                    Ok(None) => completer.0.take_value(),
                    Ok(Some(error)) | Err(error) => Err(error),
                };
                completer.0.finish(outcome);
            });
        }
        Err(_) => {
            completer.0.finish(Err(TaskError::Shutdown));
        }
    }
}

/// Finishes the slot with `TaskError::Shutdown` if dropped before it did (invariant 2).
struct Completer<T>(Arc<Slot<T>>);

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.0.finish(Err(TaskError::Shutdown));
    }
}

struct Slot<T> {
    state: Mutex<SlotState<T>>,
    finished: Condvar,
}

struct SlotState<T> {
    /// Set once (invariant 1); taken by the reader.
    outcome: Option<Result<T, TaskError>>,
    finished: bool,
    /// The body's value, between the body's end and the done callback.
    value: Option<T>,
    /// The task, once created, for `cancel()`.
    task: Option<TaskRef>,
    /// The outcome is (or was, before a reader took it) a cancellation.
    cancelled: bool,
    /// `cancel()` finished the slot, with this message: for a task created afterwards.
    cancel_request: Option<Option<Arc<str>>>,
    /// An async awaiter's waker.
    waker: Option<Waker>,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            state: Mutex::new(SlotState {
                outcome: None,
                finished: false,
                value: None,
                task: None,
                cancelled: false,
                cancel_request: None,
                waker: None,
            }),
            finished: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        lock(&self.state)
    }

    fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// Records the task for `cancel()`; if `cancel()` has already finished the slot, returns
    /// its message for the caller to cancel the task with (invariant 3).
    fn set_task(&self, task: TaskRef) -> Option<Option<Arc<str>>> {
        let mut st = self.lock();
        if st.finished {
            return st.cancel_request.clone();
        }
        st.task = Some(task);
        None
    }

    fn store_value(&self, value: T) {
        let old = self.lock().value.replace(value);
        drop(old);
    }

    fn take_value(&self) -> Result<T, TaskError> {
        self.lock().value.take().ok_or(TaskError::InvalidState)
    }

    /// Sets the outcome if none is set (invariant 1) and wakes every waiter; `false` if the
    /// slot was already finished (then `outcome` is dropped, unlocked).
    fn finish(&self, outcome: Result<T, TaskError>) -> bool {
        self.finish_with(outcome, None)
    }

    /// [`finish`](Self::finish); `request` is the message of a `cancel()` doing it, kept for a
    /// task created afterwards.
    fn finish_with(&self, outcome: Result<T, TaskError>, request: Option<Option<Arc<str>>>) -> bool {
        let (set, waker, dropped) = {
            let mut st = self.lock();
            if st.finished {
                (false, None, (Some(outcome), None, None))
            } else {
                st.finished = true;
                st.cancelled = matches!(outcome, Err(TaskError::Cancelled(_)));
                st.cancel_request = request;
                st.outcome = Some(outcome);
                (true, st.waker.take(), (None, st.task.take(), st.value.take()))
            }
        };
        drop(dropped);
        if set {
            self.finished.notify_all();
        }
        if let Some(w) = waker {
            w.wake();
        }
        set
    }
}

/// The outcome of work submitted to a loop from another thread: asyncio's
/// `concurrent.futures.Future` as `asyncio.run_coroutine_threadsafe()` returns it.
///
/// A plain thread blocks on it with [`wait`](Self::wait) or
/// [`wait_timeout`](Self::wait_timeout); async code (on any runtime) `.await`s it. Either way it
/// resolves to the task's outcome, or `TaskError::Shutdown` if the loop ended before it ran the
/// task. [`cancel`](Self::cancel) cancels the task asyncio-style.
///
/// # Panics
///
/// The blocking waits panic when called on a thread that is running a taskloop loop (in a
/// task, a callback, or inside `run`), where blocking would stall the loop — perhaps the very
/// loop that must finish the work — as tokio's `block_on` panics inside a runtime. Await the
/// future there instead.
#[must_use = "the future is the only way to learn the outcome; the task runs either way"]
pub struct ConcurrentFuture<T> {
    slot: Arc<Slot<T>>,
}

impl<T> fmt::Debug for ConcurrentFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrentFuture").field("done", &self.done()).finish()
    }
}

impl<T> ConcurrentFuture<T> {
    /// asyncio's `Future.done()`: whether the outcome is known (the task ended, the future was
    /// cancelled, or the loop ended first).
    pub fn done(&self) -> bool {
        self.slot.is_finished()
    }

    /// Whether the future ended cancelled: by [`cancel`](Self::cancel), or because its task
    /// did.
    pub fn cancelled(&self) -> bool {
        self.slot.lock().cancelled
    }

    /// Cancels the work: `concurrent.futures.Future.cancel()` on a future of
    /// `run_coroutine_threadsafe`. `false` if the future is already done.
    ///
    /// As in asyncio, the future is cancelled at once (its waits give `TaskError::Cancelled`),
    /// and the task gets a cancel request, delivered at its current await as
    /// [`Task::cancel`](crate::Task::cancel) describes (dropped there if that await is not a
    /// cancellation point). What the task then does — even catching the request and returning a
    /// value — is not seen here. A task not yet created is never created.
    pub fn cancel(&self) -> bool {
        self.cancel_request(None)
    }

    /// [`cancel`](Self::cancel) with a message, which both the future's outcome and the task's
    /// request carry.
    pub fn cancel_with(&self, message: impl Into<Arc<str>>) -> bool {
        self.cancel_request(Some(message.into()))
    }

    fn cancel_request(&self, message: Option<Arc<str>>) -> bool {
        let task = self.slot.lock().task.clone();
        let cancelled = match &message {
            Some(m) => Cancelled::with_message(m.clone()),
            None => Cancelled::new(),
        };
        if !self.slot.finish_with(Err(TaskError::Cancelled(cancelled)), Some(message.clone())) {
            return false;
        }
        if let Some(task) = task {
            match message {
                Some(m) => task.cancel_with(m),
                None => task.cancel(),
            };
        }
        true
    }

    /// Blocks this thread until the outcome is known and returns it: asyncio's
    /// `concurrent.futures.Future.result()`.
    ///
    /// # Errors
    ///
    /// The task's error; `TaskError::Cancelled` if it or this future was cancelled;
    /// `TaskError::Shutdown` if the loop ended before running it.
    ///
    /// # Panics
    ///
    /// On a thread running a taskloop loop (see the type's docs).
    pub fn wait(self) -> Result<T, TaskError> {
        refuse_on_loop_thread("wait");
        let mut st = self.slot.lock();
        while !st.finished {
            st = self.slot.finished.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.outcome.take().unwrap_or(Err(TaskError::InvalidState))
    }

    /// [`wait`](Self::wait) for at most `timeout`: asyncio's
    /// `concurrent.futures.Future.result(timeout)`.
    ///
    /// `None` if the outcome is still unknown when the time runs out (asyncio raises
    /// `TimeoutError`); the future stays usable. `Some(outcome)` hands the outcome out, as
    /// `wait` does; after that, every wait gives `Some(Err(TaskError::InvalidState))`.
    ///
    /// # Panics
    ///
    /// On a thread running a taskloop loop (see the type's docs).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<T, TaskError>> {
        refuse_on_loop_thread("wait_timeout");
        let deadline = Instant::now().checked_add(timeout);
        let mut st = self.slot.lock();
        while !st.finished {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return None;
            }
            st = self.slot.finished.wait_timeout(st, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        Some(st.outcome.take().ok_or(TaskError::InvalidState).and_then(|o| o))
    }
}

fn refuse_on_loop_thread(what: &str) {
    assert!(
        context::current_loop().is_none(),
        "ConcurrentFuture::{what}() would block a thread of a running taskloop loop; `.await` the future instead"
    );
}

/// Awaiting it from async code (on any runtime, or inside a taskloop loop) gives the outcome
/// without blocking a thread. It is not a cancellation point: a taskloop task cancelled while
/// awaiting it is ended at this await (see [`Task::cancel`](crate::Task::cancel)); wrap it in
/// [`cancellable`](crate::cancellable) to catch the request there.
impl<T> Future for ConcurrentFuture<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (outcome, old) = {
            let mut st = this.slot.lock();
            if st.finished {
                (Some(st.outcome.take().unwrap_or(Err(TaskError::InvalidState))), None)
            } else {
                let old = match &st.waker {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    _ => st.waker.replace(cx.waker().clone()),
                };
                (None, old)
            }
        };
        drop(old);
        match outcome {
            Some(outcome) => Poll::Ready(outcome),
            None => Poll::Pending,
        }
    }
}
