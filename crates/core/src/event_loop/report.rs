//! Reports of what went wrong where nobody was waiting ([`Report`], the exception handler's
//! argument before `runtime/` wraps it as the public `ExceptionContext`), the loop's handler
//! slot, and the default handler: asyncio's `default_exception_handler`, which logs "Task
//! exception was never retrieved" and the like with the traceback.
//!
//! asyncio logs through `logging`, whose last-resort handler writes to stderr when the program
//! configured nothing. Here: through `tracing` (target `taskloop`, level `error`) when a
//! subscriber is set, else straight to stderr, so that a failure nobody read is never silent.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::{LoopShared, Registered};
use crate::error::{TaskError, panic_message};
use crate::sync::lock;

/// What went wrong, and where: asyncio's exception-handler `context` dict.
#[derive(Debug, Clone)]
pub(crate) struct Report<R> {
    pub(crate) message: String,
    pub(crate) error: Option<TaskError>,
    /// The task concerned, when it is still alive.
    pub(crate) task: Option<R>,
}

impl<R> Report<R> {
    pub(crate) fn new(message: String, error: Option<TaskError>, task: Option<R>) -> Self {
        Report { message, error, task }
    }
}

/// The handler `set_exception_handler` installs.
pub(crate) type ExceptionHandler<R> = dyn Fn(&Report<R>) + Send + Sync;

impl<R: Registered> LoopShared<R> {
    /// Replaces the exception handler.
    pub(crate) fn set_exception_handler(&self, handler: Arc<ExceptionHandler<R>>) {
        let old = lock(&self.handler).replace(handler);
        drop(old);
    }

    /// Calls the exception handler (or the default one) with `report`; a panic in the
    /// handler is caught and logged, never unwound into our state.
    pub(crate) fn report(&self, report: Report<R>) {
        let handler = lock(&self.handler).clone();
        match handler {
            Some(handler) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler(&report))) {
                    tracing::error!(target: "taskloop", "the exception handler panicked: {}", panic_message(&*payload));
                    default_exception_handler(&report);
                }
            }
            None => default_exception_handler(&report),
        }
    }
}

/// Reports `context` as asyncio's default handler does: to `tracing` if a subscriber is set
/// (globally or for this thread), else to stderr.
fn default_exception_handler<R: Registered>(context: &Report<R>) {
    let no_subscriber = tracing::dispatcher::get_default(|d| d.is::<tracing::subscriber::NoSubscriber>());
    if no_subscriber {
        // One write of the whole report, so reports from two threads do not interleave.
        // `eprint!` (not a raw write) so a test harness's output capture sees it; it panics
        // only if stderr fails, and such an error has nowhere else to go.
        let report = render(context);
        let _ = std::panic::catch_unwind(|| eprint!("{report}"));
        return;
    }
    let message = &context.message;
    match (&context.error, &context.task) {
        (Some(e), Some(t)) => {
            tracing::error!(target: "taskloop", "{message}: {e} (task {}, id {})", t.name(), t.id())
        }
        (Some(e), None) => tracing::error!(target: "taskloop", "{message}: {e}"),
        (None, _) => tracing::error!(target: "taskloop", "{message}"),
    }
}

/// The stderr report, asyncio's layout: the message, the task, then the error with what we
/// have of its traceback — the `anyhow` chain (`Caused by:`) and the backtrace anyhow
/// captured, if `RUST_BACKTRACE` / `RUST_LIB_BACKTRACE` asked for one.
fn render<R: Registered>(context: &Report<R>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", context.message);
    if let Some(task) = &context.task {
        let _ = writeln!(out, "task: {} (id {})", task.name(), task.id());
    }
    if let Some(error) = &context.error {
        let shown = match error {
            // anyhow's `Debug` is its report: the error, `Caused by:` and the backtrace.
            TaskError::Failed(e) => format!("{:?}", **e),
            other => other.to_string(),
        };
        let _ = writeln!(out, "error: {}", shown.trim_end());
    }
    out
}
