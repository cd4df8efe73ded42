//! The error a cancellation point resolves to.

use std::fmt;
use std::sync::Arc;

/// The error a cancelled operation ends with: asyncio's `CancelledError`.
///
/// It carries the message given to `cancel_with`, if any. Every reader sees the same message
/// (asyncio hands it to the first reader only; taskloop keeps it).
///
/// `Cancelled` is a `std::error::Error + Send + Sync + 'static`, so `?` turns it into an
/// `anyhow::Error`, and `err.downcast_ref::<Cancelled>()` finds it again. A task whose body
/// ends with an error that is (or wraps) `Cancelled` ends cancelled.
///
/// # Examples
///
/// ```
/// use taskloop_cancel::Cancelled;
///
/// let cancelled = Cancelled::with_message("shutting down");
/// assert_eq!(cancelled.message(), Some("shutting down"));
/// assert_eq!(cancelled.to_string(), "cancelled: shutting down");
///
/// let err: anyhow::Error = cancelled.clone().into();
/// assert_eq!(err.downcast_ref::<Cancelled>(), Some(&cancelled));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Cancelled {
    message: Option<Arc<str>>,
}

impl Cancelled {
    /// A cancellation without a message, as `task.cancel()` delivers.
    pub fn new() -> Self {
        Self { message: None }
    }

    /// A cancellation carrying `message`, as `task.cancel_with(message)` delivers.
    pub fn with_message(message: impl Into<Arc<str>>) -> Self {
        Self { message: Some(message.into()) }
    }

    /// A cancellation carrying `message` if it is `Some`.
    pub fn from_message(message: Option<Arc<str>>) -> Self {
        Self { message }
    }

    /// The message given to `cancel_with`, if any.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The message as the shared string it is stored in.
    pub fn message_arc(&self) -> Option<&Arc<str>> {
        self.message.as_ref()
    }

    /// Finds a `Cancelled` in `err` or anywhere in its chain of sources.
    ///
    /// # Examples
    ///
    /// ```
    /// use anyhow::Context;
    /// use taskloop_cancel::Cancelled;
    ///
    /// let err = Err::<(), _>(Cancelled::with_message("stop"))
    ///     .context("while fetching")
    ///     .unwrap_err();
    /// assert_eq!(Cancelled::find(err.as_ref()).and_then(Cancelled::message), Some("stop"));
    /// ```
    pub fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a Cancelled> {
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(c) = e.downcast_ref::<Cancelled>() {
                return Some(c);
            }
            next = e.source();
        }
        None
    }
}

impl fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => f.debug_tuple("Cancelled").field(m).finish(),
            None => f.write_str("Cancelled"),
        }
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => write!(f, "cancelled: {m}"),
            None => f.write_str("cancelled"),
        }
    }
}

impl std::error::Error for Cancelled {}
