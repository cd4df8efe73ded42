//! `Condition`: asyncio's `asyncio.Condition`, over a [`Lock`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use taskloop_cancel::{Cancelled, PointWaker};

use crate::lock::{Acquire, Lock, LockGuard, NotLocked};
use crate::mutex::{Mutex, lock, wake_all};
use crate::waiters::WaitList;

/// A condition variable for tasks: asyncio's `asyncio.Condition`.
///
/// Tasks take its [`Lock`] ([`acquire`](Self::acquire)), then [`wait`](Self::wait) with the
/// guard: the lock is released while they wait and taken again before `wait` returns the
/// guard. [`notify`](Self::notify) and [`notify_all`](Self::notify_all), called with the lock
/// held, wake waiters in the order they started waiting. As in asyncio, a wake-up may be
/// spurious: wait in a loop that checks the state, or use [`wait_for`](Self::wait_for).
///
/// A handle: clones are the same condition.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use taskloop::sync::Condition;
/// use taskloop::{create_task, yield_now};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let cond = Condition::new();
///     let ready = Arc::new(AtomicBool::new(false));
///     let consumer = create_task({
///         let (cond, ready) = (cond.clone(), ready.clone());
///         async move {
///             let guard = cond.acquire().await?;
///             let _guard = cond.wait_for(guard, || ready.load(Ordering::SeqCst)).await?;
///             anyhow::Ok("saw it ready")
///         }
///     });
///     yield_now().await?;
///     let _guard = cond.acquire().await?;
///     ready.store(true, Ordering::SeqCst);
///     cond.notify(1);
///     drop(_guard);
///     assert_eq!(consumer.await?, "saw it ready");
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct Condition {
    lock: Lock,
    waiters: Arc<Mutex<WaitList>>,
}

impl Condition {
    /// A condition over a lock of its own.
    pub fn new() -> Self {
        Self::with_lock(Lock::new())
    }

    /// A condition over `lock` (asyncio's `Condition(lock)`): several conditions may share a
    /// lock.
    pub fn with_lock(lock: Lock) -> Self {
        Condition { lock, waiters: Arc::new(Mutex::new(WaitList::new())) }
    }

    /// The condition's lock.
    pub fn lock(&self) -> &Lock {
        &self.lock
    }

    /// Takes the condition's lock: asyncio's `await cond.acquire()` (`async with cond:`).
    pub fn acquire(&self) -> Acquire<'_> {
        self.lock.acquire()
    }

    /// Releases the condition's lock: asyncio's `cond.release()` (see [`Lock::release`]).
    ///
    /// # Errors
    ///
    /// [`NotLocked`] if the lock is not held.
    pub fn release(&self) -> Result<(), NotLocked> {
        self.lock.release()
    }

    /// Whether the condition's lock is held: asyncio's `Condition.locked()`.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Releases the lock, waits until notified, takes the lock again and returns its guard:
    /// asyncio's `await cond.wait()`.
    ///
    /// # Cancellation
    ///
    /// A cancellation point, both while it waits to be notified and while it waits for the
    /// lock afterwards: resolves to `Err(Cancelled)`, and, as asyncio, notifies another
    /// waiter in its place (a notification this waiter had received is not lost; the other
    /// waiter may see a spurious wake-up). Unlike asyncio, which takes the lock again before
    /// raising so that `async with` can release it, a cancelled `wait` returns without the
    /// lock: the guard was moved in, and there is nothing for the caller to release.
    ///
    /// # Panics
    ///
    /// If `guard` holds another lock than the condition's (asyncio raises `RuntimeError`
    /// when the lock is not held).
    pub fn wait<'a>(&'a self, guard: LockGuard<'a>) -> CondWait<'a> {
        assert!(guard.lock().same(&self.lock), "Condition::wait: the guard is not of this condition's lock");
        CondWait { cond: self, stage: Stage::Start(guard), point: PointWaker::new() }
    }

    /// Waits until `predicate` returns `true`, checking it first and after every wake-up,
    /// with the lock held: asyncio's `await cond.wait_for(predicate)`. Returns the guard.
    ///
    /// # Cancellation
    ///
    /// As [`wait`](Self::wait).
    pub async fn wait_for<'a>(
        &'a self,
        mut guard: LockGuard<'a>,
        mut predicate: impl FnMut() -> bool,
    ) -> Result<LockGuard<'a>, Cancelled> {
        while !predicate() {
            guard = self.wait(guard).await?;
        }
        Ok(guard)
    }

    /// Wakes up to `n` waiters, first come first served: asyncio's `cond.notify(n)`. They
    /// return from `wait` once they have taken the lock, which the caller still holds.
    ///
    /// # Panics
    ///
    /// If the lock is not held (asyncio raises `RuntimeError`).
    pub fn notify(&self, n: usize) {
        assert!(self.locked(), "Condition::notify: cannot notify on un-acquired lock");
        self.wake(n);
    }

    /// Wakes every waiter: asyncio's `cond.notify_all()`.
    ///
    /// # Panics
    ///
    /// If the lock is not held (asyncio raises `RuntimeError`).
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }

    /// asyncio's `_notify(n)`, which needs no lock.
    fn wake(&self, n: usize) {
        let mut wakers = Vec::new();
        lock(&self.waiters).notify(n, &mut wakers);
        wake_all(wakers);
    }
}

impl Default for Condition {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("locked", &self.locked())
            .field("waiters", &lock(&self.waiters).len())
            .finish()
    }
}

/// Where a [`CondWait`] is.
enum Stage<'a> {
    /// Not polled yet: holds the lock.
    Start(LockGuard<'a>),
    /// Waiting to be notified, as entry `key`.
    Waiting(usize),
    /// Notified, taking the lock again.
    Relocking(Acquire<'a>),
    /// Resolved.
    Done,
}

/// The future returned by [`Condition::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct CondWait<'a> {
    cond: &'a Condition,
    stage: Stage<'a>,
    point: PointWaker,
}

impl CondWait<'_> {
    /// asyncio's `except BaseException: self._notify(1)`: whoever leaves `wait` on an error
    /// may have been notified, so it notifies another waiter.
    fn pass_on(&mut self) {
        self.cond.wake(1);
    }
}

impl<'a> Future for CondWait<'a> {
    type Output = Result<LockGuard<'a>, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let cond: &'a Condition = this.cond;
        loop {
            match std::mem::replace(&mut this.stage, Stage::Done) {
                Stage::Start(guard) => {
                    // asyncio releases the lock and suspends on its waiter future whatever
                    // happens: a request already pending is delivered at that await.
                    let key = lock(&cond.waiters).push(cx.waker());
                    drop(guard);
                    this.stage = Stage::Waiting(key);
                    if let Some(cancelled) = this.point.poll_cancel(cx) {
                        return Poll::Ready(Err(this.leave_waiting(key, cancelled)));
                    }
                    return Poll::Pending;
                }
                Stage::Waiting(key) => {
                    this.stage = Stage::Waiting(key);
                    if let Some(cancelled) = this.point.poll_cancel(cx) {
                        return Poll::Ready(Err(this.leave_waiting(key, cancelled)));
                    }
                    if !lock(&cond.waiters).poll_entry(key, cx.waker()) {
                        return Poll::Pending;
                    }
                    this.stage = Stage::Relocking(cond.lock.acquire());
                }
                Stage::Relocking(mut acquire) => match Pin::new(&mut acquire).poll(cx) {
                    Poll::Pending => {
                        this.stage = Stage::Relocking(acquire);
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(guard)) => return Poll::Ready(Ok(guard)),
                    Poll::Ready(Err(cancelled)) => {
                        this.pass_on();
                        return Poll::Ready(Err(cancelled));
                    }
                },
                Stage::Done => panic!("CondWait polled after it resolved"),
            }
        }
    }
}

impl CondWait<'_> {
    /// Leaves the waiters on a cancellation, notifying another in its place.
    fn leave_waiting(&mut self, key: usize, cancelled: Cancelled) -> Cancelled {
        self.stage = Stage::Done;
        lock(&self.cond.waiters).remove(key);
        self.pass_on();
        cancelled
    }
}

impl Drop for CondWait<'_> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Waiting(key) => {
                lock(&self.cond.waiters).remove(key);
                self.pass_on();
            }
            Stage::Relocking(acquire) => {
                drop(acquire);
                self.pass_on();
            }
            Stage::Start(_) | Stage::Done => {}
        }
    }
}

impl fmt::Debug for CondWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Start(_) => "start",
            Stage::Waiting(_) => "waiting",
            Stage::Relocking(_) => "relocking",
            Stage::Done => "done",
        };
        f.debug_struct("CondWait").field("stage", &stage).finish()
    }
}
