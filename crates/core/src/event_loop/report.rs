//! The default exception handler: asyncio's `default_exception_handler`, which logs
//! "Task exception was never retrieved" and the like with the traceback.
//!
//! asyncio logs through `logging`, whose last-resort handler writes to stderr when the program
//! configured nothing. Here: through `tracing` (target `taskloop`, level `error`) when a
//! subscriber is set, else straight to stderr, so that a failure nobody read is never silent.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::{LoopShared, lock_std};
use crate::error::{TaskError, panic_message};
use crate::runtime::ExceptionContext;

/// Reports `context` as asyncio's default handler does: to `tracing` if a subscriber is set
/// (globally or for this thread), else to stderr.
pub(crate) fn default_exception_handler(context: &ExceptionContext) {
    let no_subscriber = tracing::dispatcher::get_default(|d| d.is::<tracing::subscriber::NoSubscriber>());
    if no_subscriber {
        // One write of the whole report, so reports from two threads do not interleave.
        // `eprint!` (not a raw write) so a test harness's output capture sees it; it panics
        // only if stderr fails, and such an error has nowhere else to go.
        let report = render(context);
        let _ = std::panic::catch_unwind(|| eprint!("{report}"));
        return;
    }
    let message = context.message();
    match (context.error(), context.task()) {
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
pub(crate) fn render(context: &ExceptionContext) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", context.message());
    if let Some(task) = context.task() {
        let _ = writeln!(out, "task: {} (id {})", task.name(), task.id());
    }
    if let Some(error) = context.error() {
        let shown = match error {
            // anyhow's `Debug` is its report: the error, `Caused by:` and the backtrace.
            TaskError::Failed(e) => format!("{:?}", **e),
            other => other.to_string(),
        };
        let _ = writeln!(out, "error: {}", shown.trim_end());
    }
    out
}

pub(crate) type ExceptionHandler = dyn Fn(&ExceptionContext) + Send + Sync;

impl LoopShared {
    /// Calls the exception handler (or the default one) with `context`; a panic in the
    /// handler is caught and logged, never unwound into our state.
    pub(crate) fn report(&self, context: ExceptionContext) {
        let handler = lock_std(&self.handler).clone();
        match handler {
            Some(handler) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler(&context))) {
                    tracing::error!(target: "taskloop", "the exception handler panicked: {}", panic_message(&*payload));
                    default_exception_handler(&context);
                }
            }
            None => default_exception_handler(&context),
        }
    }
}
