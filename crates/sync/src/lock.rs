//! `Lock`: asyncio's `asyncio.Lock`, with a guard that releases it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use taskloop_cancel::{Cancelled, PointWaker};

use crate::mutex::{Mutex, lock};
use crate::waiters::WaitList;

/// A mutual-exclusion lock for tasks: asyncio's `asyncio.Lock`.
///
/// [`acquire`](Self::acquire) resolves to a [`LockGuard`]; dropping the guard releases the
/// lock (asyncio's `release()`, or leaving `async with lock:`). The lock guards no data, as
/// asyncio's does not: it orders tasks. Waiters are served first come, first served; a waiter
/// woken by a release that is cancelled before it runs passes the lock on to the next.
///
/// A handle: clones are the same lock. It may be held across awaits, and its guard released
/// from any task or thread.
///
/// # Examples
///
/// ```
/// use taskloop::sync::Lock;
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let lock = Lock::new();
///     {
///         let _guard = lock.acquire().await?; // async with lock:
///         assert!(lock.locked());
///     }
///     assert!(!lock.locked());
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct Lock {
    inner: Arc<Mutex<State>>,
}

struct State {
    locked: bool,
    waiters: WaitList,
}

impl State {
    /// asyncio's `_wake_up_first`: wakes the first waiter, unless one is already woken and
    /// about to take the lock (asyncio's first waiter being `done()`).
    fn wake_up_first(&mut self) -> Option<Waker> {
        if self.waiters.notified() > 0 { None } else { self.waiters.notify_one() }
    }
}

impl Lock {
    /// A new lock, unlocked.
    pub fn new() -> Self {
        Lock { inner: Arc::new(Mutex::new(State { locked: false, waiters: WaitList::new() })) }
    }

    /// Whether the lock is held: asyncio's `Lock.locked()`. `false` between a release and
    /// the woken waiter taking the lock, as in asyncio.
    pub fn locked(&self) -> bool {
        lock(&self.inner).locked
    }

    /// Waits until the lock is free and takes it: asyncio's `await lock.acquire()`.
    ///
    /// Fair, as asyncio's: the lock is taken at once only if it is free and no other task
    /// waits for it.
    ///
    /// # Cancellation
    ///
    /// A cancellation point while it waits: resolves to `Err(Cancelled)` without the lock,
    /// and if the waiter had been woken to take it, the next waiter is woken instead. An
    /// acquire that does not have to suspend delivers nothing, as in asyncio.
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire { lock: self, key: None, point: PointWaker::new() }
    }

    /// Takes the lock if that needs no wait (it is free and nobody waits), else `None`.
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        let mut state = lock(&self.inner);
        if !state.locked && state.waiters.len() == 0 {
            state.locked = true;
            return Some(LockGuard { lock: self });
        }
        None
    }

    /// Releases the lock, whoever took it, waking the first waiter: asyncio's
    /// `Lock.release()`. Pairs with [`LockGuard::forget`] for asyncio's split
    /// `acquire()` / `release()`; a guard releases by itself when dropped.
    ///
    /// # Errors
    ///
    /// [`NotLocked`] if the lock is not held (asyncio's `RuntimeError`).
    pub fn release(&self) -> Result<(), NotLocked> {
        let waker = {
            let mut state = lock(&self.inner);
            if !state.locked {
                return Err(NotLocked);
            }
            state.locked = false;
            state.wake_up_first()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    pub(crate) fn same(&self, other: &Lock) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// [`Lock::release`] of a lock nobody holds: asyncio's `RuntimeError('Lock is not
/// acquired.')`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotLocked;

impl fmt::Display for NotLocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lock is not acquired")
    }
}

impl std::error::Error for NotLocked {}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner);
        f.debug_struct("Lock").field("locked", &state.locked).field("waiters", &state.waiters.len()).finish()
    }
}

/// Holds a [`Lock`]; dropping it releases the lock and wakes the first waiter.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl<'a> LockGuard<'a> {
    /// The lock this guard holds.
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }

    /// Keeps the lock held without the guard: only [`Lock::release`] frees it then, as after
    /// asyncio's bare `await lock.acquire()`.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // Unlocked already only if someone called `Lock::release` by hand while the guard
        // lived; asyncio's `release()` would raise there, a drop cannot, so it does nothing.
        let _ = self.lock.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

/// The future returned by [`Lock::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    lock: &'a Lock,
    key: Option<usize>,
    point: PointWaker,
}

impl<'a> Acquire<'a> {
    /// Leaves the waiters; if this one had been woken to take the lock and the lock is still
    /// free, wakes the next one (asyncio's `if not self._locked: self._wake_up_first()`).
    fn leave(&mut self, key: usize) {
        let waker = {
            let mut state = lock(&self.lock.inner);
            state.waiters.remove(key);
            if state.locked { None } else { state.wake_up_first() }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<LockGuard<'a>, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let owner: &'a Lock = this.lock;
        if let Some(key) = this.key {
            if let Some(cancelled) = this.point.poll_cancel(cx) {
                this.key = None;
                this.leave(key);
                return Poll::Ready(Err(cancelled));
            }
            let mut state = lock(&owner.inner);
            if state.waiters.poll_entry(key, cx.waker()) {
                this.key = None;
                state.locked = true;
                return Poll::Ready(Ok(LockGuard { lock: owner }));
            }
            return Poll::Pending;
        }
        if let Some(guard) = owner.try_acquire() {
            return Poll::Ready(Ok(guard));
        }
        if let Some(cancelled) = this.point.poll_cancel(cx) {
            return Poll::Ready(Err(cancelled));
        }
        let mut state = lock(&owner.inner);
        if !state.locked && state.waiters.len() == 0 {
            state.locked = true;
            return Poll::Ready(Ok(LockGuard { lock: owner }));
        }
        this.key = Some(state.waiters.push(cx.waker()));
        Poll::Pending
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.leave(key);
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire").field("waiting", &self.key.is_some()).finish()
    }
}
