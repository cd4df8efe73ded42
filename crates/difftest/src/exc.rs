//! The exceptions an interpreted body raises, written as the Python side writes them.

use std::fmt;
use std::sync::Arc;

use taskloop::{Cancelled, TaskError};
use taskloop_difftest::program::Catch;

/// Whether `except` of this kind catches `exc`.
pub(crate) fn catches(catch: Catch, exc: &Exc) -> bool {
    match catch {
        Catch::Cancelled => matches!(exc, Exc::Cancelled(_)),
        Catch::Error => !matches!(exc, Exc::Cancelled(_)),
        Catch::Any => true,
    }
}

/// An exception travelling through an interpreted body, written as the Python side writes it.
#[derive(Debug, Clone)]
pub(crate) enum Exc {
    /// `CancelledError(message)`.
    Cancelled(Option<Arc<str>>),
    /// `ValueError(name)`, from a `raise` op.
    Error(String),
    /// `TimeoutError`.
    Timeout,
    /// `InvalidStateError`.
    InvalidState,
    /// A `TaskGroup`'s exception group.
    Group(Vec<Exc>),
    /// Anything else (a panic, an error of taskloop's own), by its message.
    Other(String),
}

impl Exc {
    /// How a `TaskError` reads as an exception.
    pub(crate) fn from_task_error(error: &TaskError) -> Exc {
        match error {
            TaskError::Cancelled(cancelled) => Exc::from(cancelled),
            TaskError::Timeout => Exc::Timeout,
            TaskError::InvalidState => Exc::InvalidState,
            TaskError::Failed(error) => match error.downcast_ref::<Raised>() {
                Some(Raised(exc)) => exc.clone(),
                None => Exc::Other(error.to_string()),
            },
            other => Exc::Other(other.to_string()),
        }
    }

    /// The error a body returns to raise this: a cancellation stays a `Cancelled` and a time-out
    /// a `TaskError::Timeout`, so that taskloop classifies them as it would a user's.
    pub(crate) fn into_anyhow(self) -> anyhow::Error {
        match self {
            Exc::Cancelled(message) => Cancelled::from_message(message).into(),
            Exc::Timeout => TaskError::Timeout.into(),
            other => Raised(other).into(),
        }
    }
}

impl From<&Cancelled> for Exc {
    fn from(cancelled: &Cancelled) -> Exc {
        Exc::Cancelled(cancelled.message_arc().cloned())
    }
}

impl fmt::Display for Exc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exc::Cancelled(message) => write!(f, "Cancelled({})", message.as_deref().unwrap_or("")),
            Exc::Error(name) => write!(f, "Error({name})"),
            Exc::Timeout => f.write_str("Timeout"),
            Exc::InvalidState => f.write_str("InvalidState"),
            Exc::Group(errors) => {
                f.write_str("Group(")?;
                for (i, error) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{error}")?;
                }
                f.write_str(")")
            }
            Exc::Other(message) => write!(f, "Other({message})"),
        }
    }
}

/// An exception raised by a body, carried through taskloop as the body's error.
#[derive(Debug)]
struct Raised(Exc);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Raised {}
