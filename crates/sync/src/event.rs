//! `Event`: asyncio's `asyncio.Event`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use taskloop_cancel::{Cancelled, PointWaker};

use crate::mutex::{Mutex, lock, wake_all};
use crate::waiters::WaitList;

/// A flag tasks can wait for: asyncio's `asyncio.Event`.
///
/// [`set`](Self::set) raises the flag and wakes every task waiting in [`wait`](Self::wait);
/// [`clear`](Self::clear) lowers it. A waiter woken by `set` returns even if the flag is
/// cleared again before it runs, as in asyncio.
///
/// A handle: clones are the same event, usable from any task of the loop and any thread.
///
/// # Examples
///
/// ```
/// use taskloop::sync::Event;
/// use taskloop::{create_task, yield_now};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let ready = Event::new();
///     let waiter = create_task({
///         let ready = ready.clone();
///         async move {
///             ready.wait().await?;
///             anyhow::Ok("went")
///         }
///     });
///     yield_now().await?;
///     assert!(!waiter.done(), "waiting for the flag");
///     ready.set();
///     assert_eq!(waiter.await?, "went");
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct Event {
    inner: Arc<Mutex<State>>,
}

struct State {
    set: bool,
    waiters: WaitList,
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Self {
        Event { inner: Arc::new(Mutex::new(State { set: false, waiters: WaitList::new() })) }
    }

    /// Whether the flag is set: asyncio's `Event.is_set()`.
    pub fn is_set(&self) -> bool {
        lock(&self.inner).set
    }

    /// Sets the flag and wakes every waiter: asyncio's `Event.set()`. Waits that start
    /// afterwards return at once, until [`clear`](Self::clear).
    pub fn set(&self) {
        let mut wakers = Vec::new();
        {
            let mut state = lock(&self.inner);
            if state.set {
                return;
            }
            state.set = true;
            state.waiters.notify_all(&mut wakers);
        }
        wake_all(wakers);
    }

    /// Lowers the flag: asyncio's `Event.clear()`. Waiters already woken still return.
    pub fn clear(&self) {
        lock(&self.inner).set = false;
    }

    /// Waits until the flag is set: asyncio's `await event.wait()`.
    ///
    /// Resolves at once, without suspending, if the flag is set.
    ///
    /// # Cancellation
    ///
    /// A cancellation point while it waits: resolves to `Err(Cancelled)` and leaves the
    /// event's waiters. A wait that does not have to suspend delivers nothing, as in asyncio.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait { event: self, key: None, point: PointWaker::new() }
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner);
        f.debug_struct("Event").field("set", &state.set).field("waiters", &state.waiters.len()).finish()
    }
}

/// The future returned by [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<usize>,
    point: PointWaker,
}

impl Future for EventWait<'_> {
    type Output = Result<(), Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(key) = this.key {
            if let Some(cancelled) = this.point.poll_cancel(cx) {
                this.key = None;
                lock(&this.event.inner).waiters.remove(key);
                return Poll::Ready(Err(cancelled));
            }
            if lock(&this.event.inner).waiters.poll_entry(key, cx.waker()) {
                this.key = None;
                return Poll::Ready(Ok(()));
            }
            return Poll::Pending;
        }
        if lock(&this.event.inner).set {
            return Poll::Ready(Ok(()));
        }
        if let Some(cancelled) = this.point.poll_cancel(cx) {
            return Poll::Ready(Err(cancelled));
        }
        let mut state = lock(&this.event.inner);
        if state.set {
            return Poll::Ready(Ok(()));
        }
        this.key = Some(state.waiters.push(cx.waker()));
        Poll::Pending
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.event.inner).waiters.remove(key);
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait").field("waiting", &self.key.is_some()).finish()
    }
}
