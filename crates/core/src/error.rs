//! `TaskError`: everything a task, or an operation on one, can end in.

use std::fmt;
use std::sync::Arc;

use taskloop_cancel::Cancelled;

/// How a task or an operation on tasks ended, other than with its value.
///
/// One error type for every outcome that is not a value, as asyncio raises `CancelledError`,
/// the body's own exception, `InvalidStateError` or `TimeoutError` from the same `await`.
/// It is `Clone`, because every awaiter of a task sees the same outcome.
///
/// `TaskError` converts into `anyhow::Error` with `?`; a task whose body returns one ends
/// with that same error (so awaiting a failed task and propagating with `?` fails the awaiter
/// the same way, as asyncio re-raises).
///
/// # Examples
///
/// ```
/// use taskloop::{create_task, TaskError};
///
/// # fn main() -> Result<(), TaskError> {
/// taskloop::run(async {
///     let task = create_task(async { anyhow::bail!("disk full") as anyhow::Result<()> });
///     match (&task).await {
///         Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "disk full"),
///         other => panic!("unexpected {other:?}"),
///     }
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub enum TaskError {
    /// The task ended by cancellation; [`Cancelled::message`] is the message given to
    /// `cancel_with`, if any.
    Cancelled(Cancelled),
    /// The body returned `Err`.
    Failed(Arc<anyhow::Error>),
    /// The body panicked; the panic's message.
    Panicked(Arc<str>),
    /// `result()`/`exception()` asked of a task not yet done (asyncio's `InvalidStateError`),
    /// or a value asked for after `join()` took it.
    InvalidState,
    /// `wait_for` or `timeout` ran out of time.
    Timeout,
    /// An executor or loop no longer accepts work.
    Shutdown,
}

impl TaskError {
    /// Whether this is a cancellation.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled(_))
    }

    /// Whether this is a time-out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, TaskError::Timeout)
    }

    /// Whether this is asyncio's `InvalidStateError`.
    pub fn is_invalid_state(&self) -> bool {
        matches!(self, TaskError::InvalidState)
    }

    /// Whether the body panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }

    /// Whether the body returned an error.
    pub fn is_failed(&self) -> bool {
        matches!(self, TaskError::Failed(_))
    }

    /// Whether an executor or loop refused the work because it was shut down.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, TaskError::Shutdown)
    }

    /// The cancellation, if this is one.
    pub fn as_cancelled(&self) -> Option<&Cancelled> {
        match self {
            TaskError::Cancelled(c) => Some(c),
            _ => None,
        }
    }

    /// The message of the cancellation, if this is one and it has a message.
    pub fn cancel_message(&self) -> Option<&str> {
        self.as_cancelled().and_then(Cancelled::message)
    }

    /// Classifies the error a task body ended with.
    ///
    /// A `TaskError` is kept as it is (a body that propagates an awaited task's failure fails
    /// the same way); an error that is or wraps a [`Cancelled`] is a cancellation; anything
    /// else is `Failed`.
    pub fn from_body_error(err: anyhow::Error) -> TaskError {
        if let Some(e) = err.downcast_ref::<TaskError>() {
            return e.clone();
        }
        for cause in err.chain() {
            if let Some(c) = cause.downcast_ref::<Cancelled>() {
                return TaskError::Cancelled(c.clone());
            }
            if let Some(TaskError::Cancelled(c)) = cause.downcast_ref::<TaskError>() {
                return TaskError::Cancelled(c.clone());
            }
        }
        TaskError::Failed(Arc::new(err))
    }

    /// `TaskError::Panicked` for a caught panic's payload (what `catch_unwind` returns), with
    /// the message `std` would print: for executors and other code that runs a body on
    /// taskloop's behalf.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::TaskError;
    ///
    /// let payload = std::panic::catch_unwind(|| panic!("boom")).unwrap_err();
    /// let error = TaskError::from_panic(&*payload);
    /// assert!(error.is_panic());
    /// assert_eq!(error.to_string(), "task panicked: boom");
    /// ```
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> TaskError {
        TaskError::Panicked(panic_message(payload).into())
    }
}

/// The message of a panic payload: the `&str` or `String` it carries.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

impl From<Cancelled> for TaskError {
    fn from(c: Cancelled) -> Self {
        TaskError::Cancelled(c)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled(c) => fmt::Display::fmt(c, f),
            TaskError::Failed(e) => fmt::Display::fmt(&**e, f),
            TaskError::Panicked(m) => write!(f, "task panicked: {m}"),
            TaskError::InvalidState => f.write_str("invalid state: the task is not done, or join() took its value"),
            TaskError::Timeout => f.write_str("timed out"),
            TaskError::Shutdown => f.write_str("the executor or loop is shut down and accepts no more work"),
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled(c) => fmt::Debug::fmt(c, f),
            TaskError::Failed(e) => f.debug_tuple("Failed").field(&format_args!("{e:#}")).finish(),
            TaskError::Panicked(m) => f.debug_tuple("Panicked").field(m).finish(),
            TaskError::InvalidState => f.write_str("InvalidState"),
            TaskError::Timeout => f.write_str("Timeout"),
            TaskError::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskError::Cancelled(c) => Some(c),
            // Display shows the top of the chain; the rest follows as the source.
            TaskError::Failed(e) => (***e).source(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn body_error_wrapping_cancelled_is_a_cancellation() {
        let err = Err::<(), _>(Cancelled::with_message("m")).context("outer").unwrap_err();
        assert_eq!(TaskError::from_body_error(err).cancel_message(), Some("m"));
    }

    #[test]
    fn body_error_that_is_a_task_error_is_kept() {
        let err = anyhow::Error::from(TaskError::Panicked("p".into()));
        assert!(TaskError::from_body_error(err).is_panic());
    }

    #[test]
    fn other_body_errors_fail_with_the_full_chain() {
        let err = Err::<(), _>(anyhow::anyhow!("inner")).context("outer").unwrap_err();
        let e = TaskError::from_body_error(err);
        assert_eq!(e.to_string(), "outer");
        assert_eq!(format!("{:#}", anyhow::Error::from(e)), "outer: inner");
    }
}
