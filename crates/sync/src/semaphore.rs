//! `Semaphore` and `BoundedSemaphore`: asyncio's, with a permit that releases on drop.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use taskloop_cancel::{Cancelled, PointWaker};

use crate::mutex::{Mutex, lock, wake_all};
use crate::waiters::WaitList;

/// A counter of permits tasks wait for: asyncio's `asyncio.Semaphore`, the usual way to bound
/// how many tasks do something at once (`async with sem:` around each request).
///
/// [`acquire`](Self::acquire) takes a permit, waiting while there is none, and resolves to a
/// [`SemaphorePermit`] that gives it back when dropped (leaving `async with sem:`).
/// [`release`](Self::release) adds a permit by hand (asyncio's `release()`); pair it with
/// [`SemaphorePermit::forget`] for asyncio's split `acquire()` / `release()`.
///
/// Fair, as asyncio's: a task takes a permit at once only if no other task waits; a release
/// hands its permit to the first waiter, and a waiter cancelled after being handed one gives
/// it back and the next waiter gets it.
///
/// A handle: clones are the same semaphore, usable from any task of the loop and any thread.
///
/// # Examples
///
/// At most two fetches at a time:
///
/// ```
/// use std::time::Duration;
/// use taskloop::sync::Semaphore;
/// use taskloop::{create_task, gather, sleep};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let sem = Semaphore::new(2);
///     let fetches: Vec<_> = (0..5)
///         .map(|i| {
///             let sem = sem.clone();
///             create_task(async move {
///                 let _permit = sem.acquire().await?; // async with sem:
///                 sleep(Duration::from_millis(1)).await?;
///                 anyhow::Ok(i)
///             })
///         })
///         .collect();
///     assert_eq!(gather(fetches).await?, [0, 1, 2, 3, 4]);
///     assert_eq!(sem.value(), 2);
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Arc<Mutex<State>>,
}

struct State {
    /// Free permits (asyncio's `_value`); a permit handed to a woken waiter is already taken.
    value: usize,
    /// A `BoundedSemaphore`'s initial value.
    bound: Option<usize>,
    waiters: WaitList,
}

impl State {
    /// asyncio's `locked()`: no permit, or someone waits (or was woken and has not run).
    fn locked(&self) -> bool {
        self.value == 0 || self.waiters.len() > 0
    }

    /// asyncio's `_wake_up_next`: hands a permit to the first waiter.
    fn wake_up_next(&mut self) -> Option<Waker> {
        let waker = self.waiters.notify_one()?;
        self.value -= 1;
        Some(waker)
    }

    /// The end of asyncio's `acquire()`: hands out as many permits as are free.
    fn wake_up_free(&mut self, wakers: &mut Vec<Waker>) {
        while self.value > 0 {
            match self.wake_up_next() {
                Some(waker) => wakers.push(waker),
                None => break,
            }
        }
    }

    /// Gives a permit back; `false` (and nothing changes) if a bounded semaphore is full.
    fn release(&mut self) -> Option<Option<Waker>> {
        if self.bound.is_some_and(|bound| self.value >= bound) {
            return None;
        }
        self.value += 1;
        Some(self.wake_up_next())
    }
}

impl Semaphore {
    /// A semaphore with `value` permits (asyncio's default is 1).
    pub fn new(value: usize) -> Self {
        Self::with_bound(value, None)
    }

    fn with_bound(value: usize, bound: Option<usize>) -> Self {
        Semaphore { inner: Arc::new(Mutex::new(State { value, bound, waiters: WaitList::new() })) }
    }

    /// Whether an [`acquire`](Self::acquire) would have to wait: asyncio's
    /// `Semaphore.locked()` — no permit is free, or another task waits for one.
    pub fn locked(&self) -> bool {
        lock(&self.inner).locked()
    }

    /// The permits free now (asyncio's `_value`).
    pub fn value(&self) -> usize {
        lock(&self.inner).value
    }

    /// Waits for a permit and takes it: asyncio's `await sem.acquire()`.
    ///
    /// # Cancellation
    ///
    /// A cancellation point while it waits: resolves to `Err(Cancelled)` without a permit;
    /// a permit already handed to this waiter goes to the next one. An acquire that does not
    /// have to suspend delivers nothing, as in asyncio.
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        SemaphoreAcquire { sem: self, key: None, point: PointWaker::new() }
    }

    /// Takes a permit if that needs no wait (one is free and nobody waits), else `None`.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut state = lock(&self.inner);
        if state.locked() {
            return None;
        }
        state.value -= 1;
        Some(SemaphorePermit { sem: self })
    }

    /// Adds a permit, waking the first waiter: asyncio's `Semaphore.release()`.
    pub fn release(&self) {
        self.give_back();
    }

    /// Gives a permit back; `false` if a bounded semaphore was already full.
    fn give_back(&self) -> bool {
        let released = lock(&self.inner).release();
        match released {
            None => false,
            Some(waker) => {
                if let Some(waker) = waker {
                    waker.wake();
                }
                true
            }
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner);
        f.debug_struct("Semaphore").field("value", &state.value).field("waiters", &state.waiters.len()).finish()
    }
}

/// A [`Semaphore`] that refuses to be released above its initial value: asyncio's
/// `asyncio.BoundedSemaphore`.
///
/// [`release`](Self::release) returns [`TooManyReleases`] (asyncio's `ValueError`) when every
/// permit is already free. A [`SemaphorePermit`] dropped then gives nothing back.
///
/// # Examples
///
/// ```
/// use taskloop::sync::BoundedSemaphore;
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let sem = BoundedSemaphore::new(1);
///     sem.acquire().await?.forget();
///     sem.release()?;
///     assert!(sem.release().is_err(), "released too many times");
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    sem: Semaphore,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `value` permits, never more.
    pub fn new(value: usize) -> Self {
        BoundedSemaphore { sem: Semaphore::with_bound(value, Some(value)) }
    }

    /// As [`Semaphore::locked`].
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }

    /// As [`Semaphore::value`].
    pub fn value(&self) -> usize {
        self.sem.value()
    }

    /// As [`Semaphore::acquire`].
    pub fn acquire(&self) -> SemaphoreAcquire<'_> {
        self.sem.acquire()
    }

    /// As [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.sem.try_acquire()
    }

    /// Adds a permit, waking the first waiter: asyncio's `BoundedSemaphore.release()`.
    ///
    /// # Errors
    ///
    /// [`TooManyReleases`] if every permit is already free (asyncio's `ValueError`); nothing
    /// changes then.
    pub fn release(&self) -> Result<(), TooManyReleases> {
        if self.sem.give_back() { Ok(()) } else { Err(TooManyReleases) }
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.sem.inner);
        f.debug_struct("BoundedSemaphore")
            .field("value", &state.value)
            .field("bound", &state.bound)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

/// [`BoundedSemaphore::release`] with every permit already free: asyncio's `ValueError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyReleases;

impl fmt::Display for TooManyReleases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundedSemaphore released too many times")
    }
}

impl Error for TooManyReleases {}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`]; dropping it gives the permit back.
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken: nothing is given back until someone calls `release()`, as
    /// after asyncio's bare `await sem.acquire()`.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.give_back();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// The future returned by [`Semaphore::acquire`] and [`BoundedSemaphore::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct SemaphoreAcquire<'a> {
    sem: &'a Semaphore,
    key: Option<usize>,
    point: PointWaker,
}

impl SemaphoreAcquire<'_> {
    /// Leaves the waiters without a permit: one already handed over is given back (asyncio's
    /// `self._value += 1`), and the free permits go to the next waiters.
    fn leave(&mut self, key: usize) {
        let mut wakers = Vec::new();
        {
            let mut state = lock(&self.sem.inner);
            if state.waiters.remove(key) {
                state.value += 1;
            }
            state.wake_up_free(&mut wakers);
        }
        wake_all(wakers);
    }
}

impl<'a> Future for SemaphoreAcquire<'a> {
    type Output = Result<SemaphorePermit<'a>, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let sem: &'a Semaphore = this.sem;
        if let Some(key) = this.key {
            if let Some(cancelled) = this.point.poll_cancel(cx) {
                this.key = None;
                this.leave(key);
                return Poll::Ready(Err(cancelled));
            }
            let mut wakers = Vec::new();
            {
                let mut state = lock(&sem.inner);
                if !state.waiters.poll_entry(key, cx.waker()) {
                    return Poll::Pending;
                }
                this.key = None;
                // The permit was taken for this waiter when it was woken.
                state.wake_up_free(&mut wakers);
            }
            wake_all(wakers);
            return Poll::Ready(Ok(SemaphorePermit { sem }));
        }
        if let Some(permit) = sem.try_acquire() {
            return Poll::Ready(Ok(permit));
        }
        if let Some(cancelled) = this.point.poll_cancel(cx) {
            return Poll::Ready(Err(cancelled));
        }
        let mut state = lock(&sem.inner);
        if !state.locked() {
            state.value -= 1;
            return Poll::Ready(Ok(SemaphorePermit { sem }));
        }
        this.key = Some(state.waiters.push(cx.waker()));
        Poll::Pending
    }
}

impl Drop for SemaphoreAcquire<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.leave(key);
        }
    }
}

impl fmt::Debug for SemaphoreAcquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreAcquire").field("waiting", &self.key.is_some()).finish()
    }
}
