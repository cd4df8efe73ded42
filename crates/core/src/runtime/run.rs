//! `Runtime::run` and `run`: the main task, then the leftovers, the queue and the executor.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;

use super::Builder;
use crate::context;
use crate::error::TaskError;
use crate::event_loop::Report;
use crate::spawn::spawn_main;
use crate::task::Loop;
use crate::task::TaskRef;

/// An event loop, ready to [`run`](Runtime::run) a main task: asyncio's `asyncio.Runner`.
///
/// Use [`run`](crate::run) for the default loop, and `Runtime::builder()` to choose another.
#[must_use = "a runtime does nothing until `run` is called"]
pub struct Runtime {
    pub(crate) tokio: tokio::runtime::Runtime,
    pub(crate) shared: Arc<Loop>,
    pub(crate) ctrl_c: crate::ctrl_c::CtrlCConfig,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("flavor", &self.tokio.handle().runtime_flavor()).finish()
    }
}

impl Runtime {
    /// The default loop: tokio's current-thread runtime.
    ///
    /// # Errors
    ///
    /// If tokio fails to start.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure the loop.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `fut` as the main task and shuts the loop down: asyncio's `asyncio.run()`.
    ///
    /// When the main task ends, every task still pending is cancelled and awaited (so their
    /// cancellation handlers and `Drop` guards run; each is cancelled at its current await,
    /// so a task waiting on a tokio future does not hold the loop up; a task created meanwhile
    /// starts cancelled and is awaited too), the queued callbacks
    /// run, the default executor is shut down (waiting for its running work at most
    /// [`Builder::shutdown_timeout`]), and the main task's outcome is returned. Background
    /// tasks never keep the loop alive; wait for them in main (see
    /// [`all_tasks`](crate::all_tasks)). Failures of the tasks cancelled here are reported to
    /// the exception handler.
    ///
    /// Ctrl-C (SIGINT) cancels the main task with the message `"interrupted"` and the loop
    /// ends as above, returning that cancellation; a second Ctrl-C exits at once. See
    /// [`Builder::handle_ctrl_c`] (feature `ctrl-c`, on by default in `taskloop`; Unix).
    ///
    /// # Panics
    ///
    /// If this thread is already running a loop.
    pub fn run<F, T, E>(self, fut: F) -> Result<T, TaskError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<anyhow::Error>,
    {
        let Runtime { tokio, shared, ctrl_c } = self;
        let _on_this_thread = context::enter_loop(shared.clone());
        let outcome = tokio.block_on(async {
            let runners = CallbackRunners::start(&shared, false);
            // asyncio's `run_until_complete`: main's end stops the loop (see `schedule_stop`).
            let main = spawn_main(shared.clone(), fut);
            // Ctrl-C cancels main until the loop is closed (see `ctrl_c.rs`).
            let ctrl_c = crate::ctrl_c::listen(ctrl_c, main.as_task_ref());
            let outcome = crate::ctrl_c::outcome(ctrl_c.as_ref(), main.join().await);
            let leftovers = shared.stopped().await;
            await_leftovers(&shared, leftovers).await;
            shared.set_closed();
            shared.callbacks.close();
            runners.join().await;
            drop(ctrl_c);
            outcome
        });
        // asyncio's `shutdown_default_executor()`: after the leftovers, bounded by the timeout.
        shared.executor.shutdown();
        drop(tokio);
        outcome
    }
}

/// The second half of asyncio's `_cancel_all_tasks`: waits for the tasks the stopper
/// cancelled, and reports the ones that ended with a failure rather than the cancellation.
/// Tasks created meanwhile (by a cancellation handler, say) start cancelled (`cancel_all`) and
/// are awaited in turn, until none is left: asyncio leaves them pending, to be destroyed with
/// the loop.
pub(crate) async fn await_leftovers(shared: &Loop, mut leftovers: Vec<TaskRef>) {
    while !leftovers.is_empty() {
        for task in leftovers {
            if let Err(error) = task.clone().await
                && !error.is_cancelled()
            {
                shared.report(Report::new(
                    "unhandled exception during taskloop::run() shutdown".to_owned(),
                    Some(error),
                    Some(task),
                ));
            }
        }
        leftovers = shared.cancel_all();
    }
    shared.stopped_cancelling();
}

/// Runs `fut` as the main task of a new default loop: asyncio's `asyncio.run()`.
///
/// See [`Runtime::run`]; this is `Runtime::new()?.run(fut)` on tokio's current-thread runtime.
///
/// # Errors
///
/// The main task's outcome: its error, `TaskError::Panicked` if it panicked, or
/// `TaskError::Cancelled` if something cancelled it.
///
/// # Panics
///
/// If this thread is already running a loop.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), taskloop::TaskError> {
/// let answer = taskloop::run(async { anyhow::Ok(42) })?;
/// assert_eq!(answer, 42);
/// # Ok(())
/// # }
/// ```
pub fn run<F, T, E>(fut: F) -> Result<T, TaskError>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    match Runtime::new() {
        Ok(rt) => rt.run(fut),
        Err(e) => Err(TaskError::Failed(Arc::new(anyhow::Error::new(e).context("failed to start the taskloop loop")))),
    }
}

/// The loop's callback runners (see `event_loop/callbacks.rs`): plain tokio tasks on the
/// loop's runtime. One is started with the loop; the queue starts more (on a current-thread
/// loop) when a batch of callbacks needs a runner of its own.
pub(crate) struct CallbackRunners(Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl CallbackRunners {
    /// Starts the first runner on the current tokio runtime, and lets the queue start more
    /// there. `in_loop`: each poll makes `shared` the thread's loop (a loop embedded in a
    /// runtime it does not own, see `InLoop`).
    pub(crate) fn start(shared: &Arc<Loop>, in_loop: bool) -> CallbackRunners {
        let runners = CallbackRunners(Arc::default());
        let tokio = tokio::runtime::Handle::current();
        // Weak: the queue, which keeps this, is the loop's.
        let (weak, handles) = (Arc::downgrade(shared), runners.0.clone());
        let start_one = move || {
            let Some(shared) = weak.upgrade() else { return };
            let runner = shared.clone().run_callbacks();
            let handle = if in_loop { tokio.spawn(context::InLoop::new(shared, runner)) } else { tokio.spawn(runner) };
            crate::sync::lock(&handles).push(handle);
        };
        start_one();
        shared.callbacks.first_runner_started(Arc::new(start_one));
        runners
    }

    /// Waits for the runners to end, after the queue's `close` (which starts no more).
    pub(crate) async fn join(self) {
        loop {
            let Some(runner) = crate::sync::lock(&self.0).pop() else { return };
            // A runner only ends by returning; a panic in it is impossible (callbacks are
            // caught), so its outcome carries nothing.
            let _ = runner.await;
        }
    }
}
