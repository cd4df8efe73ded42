//! The running loop as code on it reaches it: `call_soon`, the exception handler, per-loop state.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

mod builder;
mod run;

pub use builder::Builder;
pub(crate) use run::await_leftovers;
pub use run::{Runtime, run};

use crate::context;
use crate::error::TaskError;
use crate::event_loop::{Handle, Job, lock_std};
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
    pub(crate) fn new(message: String, error: Option<TaskError>, task: Option<TaskRef>) -> Self {
        ExceptionContext { message, error, task }
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
    *lock_std(&loop_.handler) = Some(Arc::new(handler));
}

/// The running loop's instance of `T`, created with `T::default()` on first use: per-loop
/// state for crates that build on the loop (the timer queue of `taskloop-timing`, say), as
/// asyncio code hangs attributes on its loop. `None` outside a running loop.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use taskloop_core::loop_state;
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
    let cancelled = Arc::new(AtomicBool::new(false));
    loop_.enqueue([Job { callback: Box::new(f), cancelled: Some(cancelled.clone()) }]);
    Handle { cancelled }
}
