//! The loop as user code drives it: [`Runtime`] and [`run`] (`run.rs`), [`Builder`]
//! (`builder.rs`), and here what code running on the loop reaches it for — `call_soon`, the
//! exception handler, per-loop state, the default executor, the tokio runtime underneath.
//!
//! Everything below (`event_loop/`, `task/`, `context.rs`, `spawn.rs`) is crate-private; this
//! module is where the loop's public API starts.

use std::sync::Arc;

mod builder;
mod run;

pub use builder::Builder;
pub(crate) use run::{CallbackRunners, await_leftovers};
pub use run::{Runtime, run};

use crate::context;
use crate::error::TaskError;
use crate::event_loop::{Handle, Report};
use crate::executor::Executor;
use crate::task::TaskRef;

/// What went wrong where nobody was waiting to hear it: the argument of the exception
/// handler, asyncio's exception-handler `context` dict.
#[derive(Debug, Clone)]
pub struct ExceptionContext {
    message: String,
    error: Option<TaskError>,
    task: Option<TaskRef>,
}

impl ExceptionContext {
    fn from_report(report: &Report<TaskRef>) -> Self {
        ExceptionContext { message: report.message.clone(), error: report.error.clone(), task: report.task.clone() }
    }

    /// What happened, in words (asyncio's `context["message"]`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error, if there is one (asyncio's `context["exception"]`).
    pub fn error(&self) -> Option<&TaskError> {
        self.error.as_ref()
    }

    /// The task concerned, when it is still alive (asyncio's `context["task"]`).
    pub fn task(&self) -> Option<&TaskRef> {
        self.task.as_ref()
    }
}

/// Sets the running loop's exception handler: asyncio's `loop.set_exception_handler()`.
///
/// It receives what nobody else will: panics in done callbacks and `call_soon` callbacks,
/// failures of tasks whose outcome was never retrieved (reported when the last handle is
/// dropped), failures of tasks cancelled at the end of `run`, and panics in a task body's
/// `Drop`. The default handler logs them through `tracing` at `error` level (target
/// `taskloop`) when a `tracing` subscriber is set, and otherwise writes asyncio's report to
/// stderr (`Task exception was never retrieved`, the task, the error with its `Caused by:`
/// chain and, with `RUST_BACKTRACE=1`, its backtrace). A panic in the handler is logged and
/// goes no further.
///
/// # Panics
///
/// Outside a running loop.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use taskloop::{call_soon, set_exception_handler, yield_now};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let seen = Arc::new(Mutex::new(Vec::new()));
///     let sink = seen.clone();
///     set_exception_handler(move |ctx| sink.lock().unwrap().push(ctx.message().to_owned()));
///     let _ = call_soon(|| panic!("boom"));
///     yield_now().await?;
///     assert_eq!(*seen.lock().unwrap(), ["Exception in callback: boom"]);
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn set_exception_handler(handler: impl Fn(&ExceptionContext) + Send + Sync + 'static) {
    let loop_ = context::current_loop().expect("set_exception_handler() needs a running taskloop loop on this thread");
    loop_.set_exception_handler(Arc::new(move |report: &Report<TaskRef>| {
        handler(&ExceptionContext::from_report(report))
    }));
}

/// The running loop's instance of `T`, created with `T::default()` on first use: per-loop
/// state for crates that build on the loop (the timer queue of `taskloop-timing`, say), as
/// asyncio code hangs attributes on its loop. `None` outside a running loop.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use taskloop_core::rt::loop_state;
///
/// #[derive(Default)]
/// struct Counter(AtomicUsize);
///
/// # fn main() -> Result<(), taskloop_core::TaskError> {
/// assert!(loop_state::<Counter>().is_none(), "no loop here");
/// taskloop_core::run(async {
///     loop_state::<Counter>().unwrap().0.fetch_add(1, Ordering::Relaxed);
///     assert_eq!(loop_state::<Counter>().unwrap().0.load(Ordering::Relaxed), 1);
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn loop_state<T: Default + Send + Sync + 'static>() -> Option<Arc<T>> {
    Some(context::current_loop()?.state::<T>())
}

/// Runs `f` on the loop after the current step: asyncio's `loop.call_soon()`.
///
/// Callbacks run in the order scheduled (done callbacks share the same queue). `f` runs
/// outside any task (`current_task()` is `None`); a panic in it is reported to the exception
/// handler and the loop goes on.
///
/// # Panics
///
/// Outside a running loop.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use taskloop::{call_soon, yield_now};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let log = Arc::new(Mutex::new(Vec::new()));
///     for i in 0..3 {
///         let log = log.clone();
///         let _ = call_soon(move || log.lock().unwrap().push(i));
///     }
///     let skipped = { let log = log.clone(); call_soon(move || log.lock().unwrap().push(99)) };
///     skipped.cancel();
///     assert!(log.lock().unwrap().is_empty(), "not before the current step ends");
///     yield_now().await?;
///     assert_eq!(*log.lock().unwrap(), [0, 1, 2]);
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[must_use = "the handle is the only way to cancel the callback; `let _ =` to discard it"]
pub fn call_soon(f: impl FnOnce() + Send + 'static) -> Handle {
    let loop_ = context::current_loop().expect("call_soon() needs a running taskloop loop on this thread");
    loop_.callbacks.call_soon(Box::new(f))
}

/// The running loop's tokio runtime handle, for tokio APIs that want one
/// (`spawn_blocking`, `block_on` from another thread, ...): asyncio has none, its loop being
/// the only one.
///
/// Plain tokio futures (`tokio::net`, `tokio::sync`, `tokio::time`) need no handle: they
/// work inside task bodies as they are (with the `io` feature, on by default in
/// `taskloop`, the loop runs tokio's I/O driver), and a cancel reaches them. A task
/// cancelled while it awaits one has its body dropped at that await and ends cancelled
/// (see [`Task::cancel`](crate::Task::cancel)); wrap the await in
/// [`cancellable`](crate::cancellable) to catch the request there instead. A tokio task
/// spawned through this handle is not a taskloop task, though: no taskloop cancel reaches
/// it, and dropping its `JoinHandle` (as a cancelled body does) leaves it running.
///
/// # Panics
///
/// Outside a running loop.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let tokio = taskloop::tokio_handle();
///     let value = tokio.spawn_blocking(|| 2 + 2).await?;
///     assert_eq!(value, 4);
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn tokio_handle() -> tokio::runtime::Handle {
    assert!(context::current_loop().is_some(), "tokio_handle() needs a running taskloop loop on this thread");
    tokio::runtime::Handle::current()
}

/// Replaces the running loop's default executor: asyncio's `loop.set_default_executor()`.
///
/// `to_thread` and `run_in_executor(None, ..)` use it from now on; the loop owns it and shuts
/// it down when `run` ends. The executor it replaces is shut down (`wait = true`,
/// `cancel_futures = false`) on a helper thread, so work already submitted to it still
/// finishes and this call does not block.
///
/// # Panics
///
/// Outside a running loop.
///
/// # Examples
///
/// ```
/// use taskloop::{ThreadPool, set_default_executor, to_thread};
///
/// # fn main() -> anyhow::Result<()> {
/// taskloop::run(async {
///     set_default_executor(ThreadPool::builder().max_workers(1).thread_name_prefix("mine").build()?);
///     let name = to_thread(|| std::thread::current().name().map(str::to_owned)).await?;
///     assert!(name.unwrap_or_default().starts_with("mine"));
///     anyhow::Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
pub fn set_default_executor(executor: impl Executor + 'static) {
    let loop_ = context::current_loop().expect("set_default_executor() needs a running taskloop loop on this thread");
    loop_.executor.replace(Arc::new(executor));
}

/// The running loop's default executor, set to the one `init` makes if the loop has none yet.
///
/// The hook `taskloop-offload` uses so that `to_thread` creates its `ThreadPool` lazily, on
/// first use, as asyncio creates its default `ThreadPoolExecutor`. `init` runs outside the
/// slot's lock, so it may itself call [`set_default_executor`]; if the slot was filled while it
/// ran (by `init`, or by another thread), the executor `init` made is shut down and the slot's
/// is returned.
///
/// # Errors
///
/// `TaskError::Shutdown` once `run` has shut the default executor down (after main ended).
///
/// # Panics
///
/// Outside a running loop.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use taskloop::CpuPool;
/// use taskloop_core::rt::default_executor_or_init;
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let first = default_executor_or_init(|| Arc::new(CpuPool::new(1)))?;
///     let again = default_executor_or_init(|| unreachable!("the loop already has one"))?;
///     assert!(Arc::ptr_eq(&first, &again));
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn default_executor_or_init(init: impl FnOnce() -> Arc<dyn Executor>) -> Result<Arc<dyn Executor>, TaskError> {
    let loop_ = context::current_loop().expect("the default executor needs a running taskloop loop on this thread");
    loop_.executor.get_or_init(init)
}
