//! Creating tasks on the running loop: `create_task`, `try_create_task`, `TaskBuilder`, and
//! `run`'s main task. Above `task/` (it allocates and spawns the task) and `context.rs` (it
//! needs the running loop).

use std::future::Future;
use std::sync::Arc;
use std::task::Waker;

use crate::context;
use crate::task::{Harness, Header, Loop, MAIN, START_GATED, Shared, Task, TaskRef, eager, gate};

/// Why a task could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// Called on a thread that is not running a taskloop loop.
    #[error(
        "create_task() needs a running taskloop loop on this thread; call it from code run by taskloop::run() or Runtime::run()"
    )]
    NoRunningLoop,
    /// The loop has finished `run` and accepts no new tasks.
    #[error("the taskloop loop has shut down and accepts no new tasks")]
    Closed,
}

/// Configures a task before creating it: its name (and, later, other options).
///
/// # Examples
///
/// ```
/// use taskloop::TaskBuilder;
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let task = TaskBuilder::new().name("fetch-user").spawn(async { anyhow::Ok(()) });
///     assert_eq!(&*task.name(), "fetch-user");
///     task.await
/// })
/// # }
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a builder does nothing until `spawn` is called"]
pub struct TaskBuilder {
    name: Option<Arc<str>>,
    /// `None`: the loop's default (`Builder::eager_tasks`).
    eager: Option<bool>,
}

impl TaskBuilder {
    /// A builder with the defaults: named `Task-N`.
    pub fn new() -> Self {
        TaskBuilder::default()
    }

    /// Names the task (asyncio's `create_task(coro, name=...)`).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Runs the task's first step inside `spawn`, up to its first suspension: asyncio 3.12's
    /// eager tasks (`Task(eager_start=True)`, `eager_task_factory`).
    ///
    /// A body that finishes without suspending is done when `spawn` returns and never touches
    /// the scheduler, which makes such tasks cheaper than a bare `tokio::spawn`. A body that
    /// suspends is scheduled as usual and resumes where it left off; every waker it registered
    /// during the first step stays effective. During that step [`current_task`](crate::current_task)
    /// is the new task and [`all_tasks`](crate::all_tasks) includes it; its done callbacks are
    /// still scheduled on the loop, never run inside `spawn`. The default (`false`, or the
    /// loop's `Builder::eager_tasks`) is asyncio's: a task starts after its creator suspends.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::TaskBuilder;
    ///
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     let cached = TaskBuilder::new().eager(true).spawn(async { anyhow::Ok("hit") });
    ///     assert!(cached.done(), "finished inside spawn");
    ///     assert_eq!(cached.result()?, "hit");
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    pub fn eager(mut self, eager: bool) -> Self {
        self.eager = Some(eager);
        self
    }

    /// Creates the task; see [`create_task`].
    ///
    /// # Panics
    ///
    /// Outside a running loop, or on a loop that has shut down.
    #[track_caller]
    #[must_use = "a task runs even if its handle is dropped; bind it (`let _task = ...`) to make that explicit"]
    #[inline]
    pub fn spawn<F, T, E>(self, fut: F) -> Task<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<anyhow::Error>,
    {
        match self.try_spawn(fut) {
            Ok(task) => task,
            Err(e) => panic!("{e}"),
        }
    }

    /// Creates the task, or says why it cannot.
    ///
    /// # Errors
    ///
    /// [`SpawnError::NoRunningLoop`] outside a running loop, [`SpawnError::Closed`] once the
    /// loop has shut down.
    #[track_caller]
    #[inline]
    pub fn try_spawn<F, T, E>(self, fut: F) -> Result<Task<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<anyhow::Error>,
    {
        let loop_ = context::current_loop().ok_or(SpawnError::NoRunningLoop)?;
        let (closed, stopping) = loop_.closed_or_stopping();
        if closed {
            return Err(SpawnError::Closed);
        }
        if stopping {
            // Created while the loop cancels what main left: cancelled before it starts.
            let task = spawn_on(loop_, self.name, fut, false);
            task.cancel();
            return Ok(task);
        }
        let eager = self.eager.unwrap_or(loop_.eager_tasks);
        Ok(spawn_on(loop_, self.name, fut, eager))
    }
}

/// Schedules `fut` as a task on the running loop: asyncio's `asyncio.create_task()`.
///
/// `fut` is the task's body: any `Send` future resolving to `Result<T, E>` with `E`
/// convertible to `anyhow::Error` (so `async { ...; anyhow::Ok(v) }` works, and `?` on every
/// cancellation point). The task does not start before the caller next suspends; it runs to
/// the end whether or not the returned handle is kept.
///
/// A body that ends with an error that is (or wraps) [`Cancelled`](crate::Cancelled) ends the
/// task cancelled; any other error fails it with `TaskError::Failed`; a panic ends it with
/// `TaskError::Panicked` and disturbs nothing else on the loop.
///
/// # Panics
///
/// Outside a running loop (asyncio raises `RuntimeError: no running event loop`);
/// [`try_create_task`] returns the error instead.
///
/// # Examples
///
/// ```
/// use taskloop::create_task;
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let task = create_task(async { anyhow::Ok(6 * 7) });
///     assert!(!task.done(), "it has not started: the creator has not suspended yet");
///     assert_eq!(task.await?, 42);
///     anyhow::Ok(())
/// })
/// # }
/// ```
///
/// A task is `Send`, and so must its body be:
///
/// ```compile_fail
/// # taskloop::run(async {
/// let not_send = std::rc::Rc::new(1);
/// taskloop::create_task(async move { anyhow::Ok(*not_send) });
/// # anyhow::Ok(())
/// # });
/// ```
#[track_caller]
#[must_use = "a task runs even if its handle is dropped; bind it (`let _task = ...`) to make that explicit"]
#[inline]
pub fn create_task<F, T, E>(fut: F) -> Task<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    TaskBuilder::new().spawn(fut)
}

/// [`create_task`] with an eager first step: `TaskBuilder::new().eager(true).spawn(fut)`.
///
/// See [`TaskBuilder::eager`].
///
/// # Panics
///
/// Outside a running loop.
#[track_caller]
#[must_use = "a task runs even if its handle is dropped; bind it (`let _task = ...`) to make that explicit"]
#[inline]
pub fn create_eager_task<F, T, E>(fut: F) -> Task<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    TaskBuilder::new().eager(true).spawn(fut)
}

/// [`create_task`] that returns an error instead of panicking outside a running loop.
///
/// # Errors
///
/// [`SpawnError::NoRunningLoop`] outside a running loop, [`SpawnError::Closed`] once the loop
/// has shut down.
///
/// # Examples
///
/// ```
/// let outside = taskloop::try_create_task(async { anyhow::Ok(()) });
/// assert_eq!(outside.unwrap_err(), taskloop::SpawnError::NoRunningLoop);
/// ```
#[track_caller]
pub fn try_create_task<F, T, E>(fut: F) -> Result<Task<T>, SpawnError>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    TaskBuilder::new().try_spawn(fut)
}

/// Creates the shared state, registers the task with its loop, and hands the harness to
/// tokio, after running its first step inline if `eager`. Must run on a thread inside the
/// loop's tokio runtime.
#[track_caller]
#[inline]
fn spawn_on<F, T, E>(loop_: Arc<Loop>, name: Option<Arc<str>>, fut: F, eager: bool) -> Task<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    if eager {
        return spawn_eager(loop_, name, fut);
    }
    spawn_scheduled(loop_, name, fut, 0)
}

/// `run`'s main task: a task whose completion stops the loop (`LoopShared::schedule_stop`).
#[track_caller]
pub(crate) fn spawn_main<F, T, E>(loop_: Arc<Loop>, fut: F) -> Task<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    spawn_scheduled(loop_, None, fut, MAIN)
}

/// A task that starts when tokio first polls it (not eagerly), with its role `flags`.
#[track_caller]
#[inline]
fn spawn_scheduled<F, T, E>(loop_: Arc<Loop>, name: Option<Arc<str>>, fut: F, flags: u16) -> Task<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    // On one thread a new task cannot start before its creator's poll returns; on several it
    // could, on another worker, so it is held back (see `task::gate`).
    let gated = loop_.multi_thread && gate::in_task();
    let shared = Arc::new(Shared::new(loop_, name, flags | if gated { START_GATED } else { 0 }));
    shared.header.set_registry_key(shared.header.loop_.registry.insert(shared.clone()));
    task_span(&shared.header);
    spawn_harness(&shared.header, Harness::new(shared.clone(), fut));
    if gated {
        gate::hold_until_creator_suspends(TaskRef::from_arc(shared.clone()));
    }
    Task::from_shared(shared)
}

/// An eager task: the body is boxed (so the harness may move to tokio after being polled), its
/// first step runs here, and tokio and the loop's registry see it only if it suspends (during
/// the step `all_tasks()` finds it through `task::eager`).
#[track_caller]
fn spawn_eager<F, T, E>(loop_: Arc<Loop>, name: Option<Arc<str>>, fut: F) -> Task<T>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    let shared = Arc::new(Shared::new(loop_, name, 0));
    task_span(&shared.header);
    let mut harness = Harness::new(shared.clone(), Box::pin(fut));
    let forwarding = Waker::from(shared.clone());
    let finished = eager::first_step(|| harness.poll_eagerly(&forwarding));
    if !finished {
        shared.header.set_registry_key(shared.header.loop_.registry.insert(shared.clone()));
        spawn_harness(&shared.header, harness);
    }
    Task::from_shared(shared)
}

/// Gives the task its span, as tokio names its own (`runtime.spawn`): target
/// `taskloop::task`, the task's id and name, where it was created, and a `follows_from` link to
/// the span of its creator. Nothing is formatted, and nothing kept, unless a subscriber enables
/// the span.
#[track_caller]
#[inline]
fn task_span(header: &Header) {
    // The usual case, no subscriber wanting `trace` spans, decided inline: one load of the
    // global level filter, instead of a call that builds a disabled span.
    if !tracing::level_enabled!(tracing::Level::TRACE) {
        return;
    }
    make_task_span(header);
}

#[track_caller]
#[cold]
#[inline(never)]
fn make_task_span(header: &Header) {
    let location = std::panic::Location::caller();
    let span = tracing::trace_span!(
        target: "taskloop::task",
        "task",
        task.id = %header.id(),
        task.name = %header.name(),
        loc.file = location.file(),
        loc.line = location.line(),
        loc.col = location.column(),
    );
    if span.is_disabled() {
        return;
    }
    span.follows_from(tracing::Span::current());
    header.set_span(span);
}

/// Hands a harness to tokio. Under `--cfg tokio_unstable` (with tokio's `tracing` feature,
/// which this crate then enables), tokio's task carries the taskloop task's name, so
/// tokio-console lists `Task-7` or `fetch-user` (a later `set_name` is not seen there).
#[track_caller]
fn spawn_harness<F: Future<Output = ()> + Send + 'static>(header: &Header, harness: F) {
    // The task's first step is queued now, as asyncio's `create_task` does with `call_soon`.
    taskloop_cancel::note_wake();
    #[cfg(tokio_unstable)]
    {
        let name = header.name();
        // Fails only if the runtime is shutting down; the harness, dropped, then ends the task
        // cancelled, as a harness dropped by a runtime shutting down does.
        let _ = tokio::task::Builder::new().name(&name).spawn(harness);
    }
    #[cfg(not(tokio_unstable))]
    {
        let _ = header;
        tokio::spawn(harness);
    }
}
