//! `TaskGroupError`: every way a `TaskGroup` failed, asyncio's `BaseExceptionGroup`.

use std::fmt;

use taskloop_cancel::Cancelled;

use crate::error::TaskError;

/// What a [`TaskGroup`](crate::TaskGroup) ended with when it did not simply succeed: asyncio's
/// `BaseExceptionGroup('unhandled errors in a TaskGroup', errors)`, as a
/// [`std::error::Error`], so `tg.join().await?` and `task_group(..).await?` work in a body
/// returning `anyhow::Result`.
///
/// [`errors`](Self::errors) holds, in order: the cancellation of the joining task if it was
/// cancelled (from outside the group) while the group ran; then the failures of the children,
/// in the order they failed; then, for the scoped form, the failure of the body itself. The
/// children the group cancelled are not failures.
///
/// # Cancellation
///
/// When the error carries the joining task's cancellation ([`is_cancelled`](Self::is_cancelled)),
/// `?` ends that task *cancelled*, not failed: its [`source`](std::error::Error::source) chain
/// leads to the [`Cancelled`], which is how a task body's error is recognised as a cancellation
/// (`TaskError::from_body_error`). asyncio does the same in effect: a group whose parent was
/// cancelled from outside re-raises the `CancelledError`, or, if children failed too, raises
/// their group and cancels the parent again.
///
/// # Examples
///
/// asyncio's `except* ValueError:` is [`find`](Self::find):
///
/// ```
/// use taskloop::{task_group, TaskGroupError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("bad value {0}")]
/// struct BadValue(i32);
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let outcome = task_group(|tg| async move {
///         tg.create_task(async { Err::<(), _>(BadValue(7)) });
///         tg.create_task(async { anyhow::Ok(()) });
///         anyhow::Ok(())
///     })
///     .await;
///     let error: TaskGroupError = outcome.unwrap_err();
///     assert_eq!(error.len(), 1);
///     assert_eq!(error.find::<BadValue>().map(|e| e.0), Some(7));
///     assert!(!error.is_cancelled());
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct TaskGroupError {
    errors: Vec<TaskError>,
}

impl TaskGroupError {
    /// A group error of `errors`; `errors` must not be empty.
    pub(crate) fn new(errors: Vec<TaskError>) -> Self {
        debug_assert!(!errors.is_empty(), "a TaskGroupError holds at least one error");
        TaskGroupError { errors }
    }

    /// Every error, in order: the joining task's cancellation first if there is one, then
    /// the children's failures in the order they happened, then the scoped body's own
    /// failure. asyncio's `BaseExceptionGroup.exceptions`.
    pub fn errors(&self) -> &[TaskError] {
        &self.errors
    }

    /// How many errors there are (at least one).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always `false`: a group error holds at least one error. Here for `clippy::len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The errors, in the order of [`errors`](Self::errors).
    pub fn iter(&self) -> std::slice::Iter<'_, TaskError> {
        self.errors.iter()
    }

    /// The errors, by value.
    pub fn into_errors(self) -> Vec<TaskError> {
        self.errors
    }

    /// Whether the joining task was cancelled while the group ran: the group carries that
    /// cancellation, and `?` ends the task cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled().is_some()
    }

    /// The joining task's cancellation, if the group carries one.
    pub fn cancelled(&self) -> Option<&Cancelled> {
        self.errors.first().and_then(TaskError::as_cancelled)
    }

    /// The first error of type `E`: asyncio's `except* E`.
    ///
    /// Looks into every error: a child's or the body's error (anywhere in its `anyhow`
    /// context chain), the cancellation (`find::<Cancelled>()`), and the errors of a nested
    /// group that a child propagated with `?`.
    pub fn find<E>(&self) -> Option<&E>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        self.errors.iter().find_map(find_in::<E>)
    }
}

/// `E` in one error of a group, or in a nested group inside it.
fn find_in<E>(error: &TaskError) -> Option<&E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match error {
        TaskError::Failed(e) => {
            if let Some(found) = e.downcast_ref::<E>() {
                return Some(found);
            }
            e.chain().find_map(|cause| {
                cause.downcast_ref::<E>().or_else(|| cause.downcast_ref::<TaskGroupError>()?.find::<E>())
            })
        }
        other => (other as &(dyn std::error::Error + 'static))
            .downcast_ref::<E>()
            .or_else(|| std::error::Error::source(other)?.downcast_ref::<E>()),
    }
}

impl<'a> IntoIterator for &'a TaskGroupError {
    type Item = &'a TaskError;
    type IntoIter = std::slice::Iter<'a, TaskError>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl IntoIterator for TaskGroupError {
    type Item = TaskError;
    type IntoIter = std::vec::IntoIter<TaskError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

/// `unhandled errors in a TaskGroup (N sub-exceptions)`, as asyncio prints it; the alternate
/// form (`{:#}`) adds each error. (anyhow's `{:#}` of a group shows the first error, its source.)
impl fmt::Display for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(f, "unhandled errors in a TaskGroup ({n} sub-exception{})", if n == 1 { "" } else { "s" })?;
        if f.alternate() {
            for (i, error) in self.errors.iter().enumerate() {
                write!(f, "; {}: {error:#}", i + 1)?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TaskGroupError").field(&self.errors).finish()
    }
}

/// The source is the first error: the joining task's cancellation when there is one, which
/// makes a body that propagates the group with `?` end cancelled.
impl std::error::Error for TaskGroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.errors.first().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<TaskGroupError> for TaskError {
    /// The joining task's cancellation if the group carries one, else the group as a failure:
    /// how a task body's error would be classified.
    fn from(error: TaskGroupError) -> Self {
        match error.cancelled() {
            Some(cancelled) => TaskError::Cancelled(cancelled.clone()),
            None => TaskError::from_body_error(anyhow::Error::from(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Debug, thiserror::Error)]
    #[error("value {0}")]
    struct Value(i32);

    fn failed(e: impl Into<anyhow::Error>) -> TaskError {
        TaskError::Failed(Arc::new(e.into()))
    }

    #[test]
    fn a_group_carrying_a_cancellation_is_classified_as_one_by_the_harness() {
        let group = TaskGroupError::new(vec![TaskError::Cancelled(Cancelled::with_message("m")), failed(Value(1))]);
        let as_body_error = TaskError::from_body_error(anyhow::Error::from(group));
        assert_eq!(as_body_error.cancel_message(), Some("m"));
    }

    #[test]
    fn a_group_of_failures_is_a_failure() {
        let group = TaskGroupError::new(vec![failed(Value(1))]);
        assert!(TaskError::from_body_error(anyhow::Error::from(group)).is_failed());
    }

    #[test]
    fn find_looks_through_contexts_and_nested_groups() {
        use anyhow::Context as _;
        let inner = TaskGroupError::new(vec![failed(Value(2))]);
        let wrapped = Err::<(), _>(Value(3)).context("while saving").unwrap_err();
        let outer = TaskGroupError::new(vec![failed(inner), failed(wrapped)]);
        assert_eq!(outer.find::<Value>().map(|v| v.0), Some(2));
        let only_wrapped = TaskGroupError::new(vec![failed(Err::<(), _>(Value(3)).context("ctx").unwrap_err())]);
        assert_eq!(only_wrapped.find::<Value>().map(|v| v.0), Some(3));
        assert!(outer.find::<std::io::Error>().is_none());
    }

    #[test]
    fn display_is_asyncios_with_the_errors_in_the_alternate_form() {
        let group = TaskGroupError::new(vec![failed(Value(1)), failed(Value(2))]);
        assert_eq!(group.to_string(), "unhandled errors in a TaskGroup (2 sub-exceptions)");
        assert_eq!(format!("{group:#}"), "unhandled errors in a TaskGroup (2 sub-exceptions); 1: value 1; 2: value 2");
    }
}
