//! The per-task cancel bookkeeping, as plain data.

use std::sync::Arc;

use crate::Cancelled;

/// What asyncio's `Task` keeps about cancellation, without the task.
///
/// The owner (taskloop-core's task header) keeps it behind its own lock; every method here is
/// a pure state change. The rules are asyncio's (CPython `Lib/asyncio/tasks.py`):
///
/// - [`request`](Self::request) counts a request (`cancelling()` goes up) and makes it
///   *pending* until it is delivered at the task's current await, by [`take`](Self::take):
///   either a cancellation point takes it and resolves to `Err(Cancelled)`, or the runtime,
///   finding it still pending after a poll of the body that suspended, takes it to end the
///   body at that (foreign) await. Several requests before delivery are delivered once.
/// - A request is *handed* to the await the task is suspended at — asyncio's
///   `_fut_waiter.cancel()` — when it is made while the task is suspended, and when the task
///   suspends with one pending ([`hand`](Self::hand)). Until then, a request the running task
///   made itself is asyncio's `_must_cancel`: a later request replaces its message. Once
///   handed, the message is the first one and later requests only count.
/// - [`uncancel`](Self::uncancel) counts one request down; reaching zero also withdraws a
///   pending request not yet handed to an await (asyncio 3.13).
/// - [`close`](Self::close) is called once, when the task finishes: it hands back a request
///   that was never delivered (so a body that returned `Ok` while one was pending ends
///   cancelled, as asyncio's `test_cancel_at_end`), and from then on `request` is refused —
///   a finished task cannot be cancelled.
///
/// # Examples
///
/// ```
/// use taskloop_cancel::CancelState;
///
/// let mut state = CancelState::new();
/// // Made by the running task itself: the latest message counts until it suspends.
/// assert!(state.request(None, true));
/// assert!(state.request(Some("second".into()), true));
/// assert_eq!(state.cancelling(), 2);
/// assert_eq!(state.take().unwrap().message(), Some("second"));
/// assert!(state.take().is_none(), "delivered once");
/// assert_eq!(state.uncancel(), 1);
///
/// // Made while the task is suspended: handed to its await, the first message stands.
/// assert!(state.request(Some("first".into()), false));
/// assert!(state.request(Some("later".into()), false));
/// assert_eq!(state.uncancel(), 2);
/// assert_eq!(state.uncancel(), 1);
/// assert_eq!(state.uncancel(), 0, "a handed request is not withdrawn");
/// assert_eq!(state.take().unwrap().message(), Some("first"));
/// assert!(state.close().is_none());
/// assert!(!state.request(None, false), "a finished task refuses requests");
/// ```
#[derive(Debug, Default, Clone)]
pub struct CancelState {
    /// `cancelling()`: requests made minus `uncancel()` calls. A `u32` (saturating) keeps the
    /// state, which lives in every task, at 24 bytes.
    requests: u32,
    /// The pending request's message: the latest one's until the request is handed, then
    /// fixed.
    message: Option<Arc<str>>,
    /// A request was made and not yet delivered.
    pending: bool,
    /// The task has finished; requests are refused.
    closed: bool,
    /// The pending request was handed to the await the task is suspended at.
    handed: bool,
}

impl CancelState {
    /// A task nobody has asked to cancel.
    pub const fn new() -> Self {
        Self { requests: 0, message: None, pending: false, closed: false, handed: false }
    }

    /// Records a cancel request carrying `message`; `false` if the task has finished.
    /// `running` says the task makes the request itself, while it runs.
    #[must_use = "`false` means the task had finished and the request was refused"]
    pub fn request(&mut self, message: Option<Arc<str>>, running: bool) -> bool {
        self.count() && self.pend(message, running)
    }

    /// Counts a request that the task passes on to what it awaits instead of keeping it
    /// (asyncio's `Task.cancel()` when `_fut_waiter.cancel()` accepts): `cancelling()` goes
    /// up, nothing becomes pending. `false` if the task has finished.
    #[must_use = "`false` means the task had finished and the request was refused"]
    pub fn count(&mut self) -> bool {
        if self.closed {
            return false;
        }
        self.requests = self.requests.saturating_add(1);
        true
    }

    /// Makes a request pending without counting it: the second half of
    /// [`request`](Self::request), and what a counted request whose forwarding was refused
    /// becomes. `false` if the task has finished.
    #[must_use = "`false` means the task had finished and the request was refused"]
    pub fn pend(&mut self, message: Option<Arc<str>>, running: bool) -> bool {
        if self.closed {
            return false;
        }
        if !(self.pending && self.handed) {
            self.message = message;
        }
        if !self.pending {
            self.pending = true;
            self.handed = !running;
        }
        true
    }

    /// The task suspended with a request pending: it is handed to the await it suspended at.
    pub fn hand(&mut self) {
        self.handed = self.pending;
    }

    /// Delivers the pending request, if any: it is taken at most once.
    pub fn take(&mut self) -> Option<Cancelled> {
        if !self.pending {
            return None;
        }
        self.pending = false;
        self.handed = false;
        Some(Cancelled::from_message(self.message.clone()))
    }

    /// Whether a request is waiting to be delivered.
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// asyncio's `Task.cancelling()`: the number of requests not yet withdrawn.
    pub fn cancelling(&self) -> usize {
        self.requests as usize
    }

    /// asyncio's `Task.uncancel()`: withdraws one request and returns how many remain.
    ///
    /// Reaching zero also withdraws a pending request not yet handed to an await (asyncio
    /// 3.13 clears `_must_cancel`; a future it already cancelled stays cancelled).
    pub fn uncancel(&mut self) -> usize {
        self.requests = self.requests.saturating_sub(1);
        if self.requests == 0 && !self.handed {
            self.pending = false;
        }
        self.requests as usize
    }

    /// Marks the task finished; returns the request that was never delivered, if any.
    pub fn close(&mut self) -> Option<Cancelled> {
        self.closed = true;
        self.take()
    }
}
