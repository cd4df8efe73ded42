//! `Barrier`: asyncio's `asyncio.Barrier` (3.11).
//!
//! asyncio builds it on a `Condition`; every step of its `wait()` runs with the condition's
//! lock held and suspends only in `cond.wait_for(..)`, so the same state machine under one
//! mutex, with waiters that re-check their predicate when woken, behaves the same. The states
//! are asyncio's: *filling* (parties arrive), *draining* (the barrier tripped; the parties
//! leave), *resetting* (reset with parties inside; they leave with an error), *broken*.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use taskloop_cancel::{Cancelled, PointWaker};

use crate::mutex::{Mutex, lock, wake_all};
use crate::waiters::WaitList;

/// A meeting point for a fixed number of tasks: asyncio's `asyncio.Barrier`.
///
/// Each of `parties` tasks calls [`wait`](Self::wait); when the last arrives, all are
/// released, each with a distinct index from `0` to `parties - 1` (the order they arrived).
/// The barrier then fills again for the next round. [`abort`](Self::abort) breaks it and
/// [`reset`](Self::reset) sends the tasks inside away: both make their waits fail with
/// [`BarrierError::Broken`] (asyncio's `BrokenBarrierError`).
///
/// A handle: clones are the same barrier.
///
/// # Examples
///
/// ```
/// use taskloop::sync::Barrier;
/// use taskloop::{create_task, gather};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let barrier = Barrier::new(3);
///     let parties: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             create_task(async move { anyhow::Ok(barrier.wait().await?) })
///         })
///         .collect();
///     let mut indices = gather(parties).await?;
///     indices.sort();
///     assert_eq!(indices, [0, 1, 2]);
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct Barrier {
    inner: Arc<Mutex<State>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Filling,
    Draining,
    Resetting,
    Broken,
}

struct State {
    parties: usize,
    phase: Phase,
    /// The tasks inside the barrier (asyncio's `_count`).
    count: usize,
    waiters: WaitList,
}

impl State {
    /// asyncio's `_exit`: the last task out of a drained or reset barrier fills it again.
    fn exit(&mut self, wakers: &mut Vec<Waker>) {
        if self.count == 0 {
            if matches!(self.phase, Phase::Resetting | Phase::Draining) {
                self.phase = Phase::Filling;
            }
            self.waiters.notify_all(wakers);
        }
    }
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    ///
    /// If `parties` is 0 (asyncio raises `ValueError: parties must be > 0`).
    pub fn new(parties: usize) -> Self {
        assert!(parties > 0, "Barrier::new: parties must be > 0");
        Barrier {
            inner: Arc::new(Mutex::new(State { parties, phase: Phase::Filling, count: 0, waiters: WaitList::new() })),
        }
    }

    /// The number of tasks it takes to trip the barrier: asyncio's `Barrier.parties`.
    pub fn parties(&self) -> usize {
        lock(&self.inner).parties
    }

    /// The tasks waiting in the barrier while it fills: asyncio's `Barrier.n_waiting`.
    pub fn n_waiting(&self) -> usize {
        let state = lock(&self.inner);
        if state.phase == Phase::Filling { state.count } else { 0 }
    }

    /// Whether the barrier is broken: asyncio's `Barrier.broken`.
    pub fn broken(&self) -> bool {
        lock(&self.inner).phase == Phase::Broken
    }

    /// Waits until `parties` tasks are waiting; resolves to this task's index, `0` to
    /// `parties - 1` in order of arrival: asyncio's `await barrier.wait()`.
    ///
    /// A task arriving while the previous round drains waits for it to end first.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] if the barrier is or becomes broken, or is reset while the
    /// task waits.
    ///
    /// # Cancellation
    ///
    /// A cancellation point: resolves to `BarrierError::Cancelled`, and the task leaves the
    /// barrier (it no longer counts towards `parties`), as in asyncio.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait { barrier: self, stage: WaitStage::Block, key: None, point: PointWaker::new() }
    }

    /// Sends the tasks waiting inside away with [`BarrierError::Broken`] and fills the
    /// barrier again once they have left; a broken barrier is mended: asyncio's
    /// `await barrier.reset()` (it needs no await here).
    pub fn reset(&self) {
        let mut wakers = Vec::new();
        {
            let mut state = lock(&self.inner);
            state.phase = if state.count > 0 { Phase::Resetting } else { Phase::Filling };
            state.waiters.notify_all(&mut wakers);
        }
        wake_all(wakers);
    }

    /// Breaks the barrier: every wait, now and later, fails with [`BarrierError::Broken`]
    /// until [`reset`](Self::reset): asyncio's `await barrier.abort()`.
    pub fn abort(&self) {
        let mut wakers = Vec::new();
        {
            let mut state = lock(&self.inner);
            state.phase = Phase::Broken;
            state.waiters.notify_all(&mut wakers);
        }
        wake_all(wakers);
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner);
        f.debug_struct("Barrier")
            .field("parties", &state.parties)
            .field("phase", &state.phase)
            .field("count", &state.count)
            .finish()
    }
}

/// Why a [`Barrier::wait`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BarrierError {
    /// The barrier was aborted, or reset while the task waited: asyncio's
    /// `BrokenBarrierError`.
    Broken,
    /// The waiting task was cancelled.
    Cancelled(Cancelled),
}

impl BarrierError {
    /// Whether this is asyncio's `BrokenBarrierError`.
    pub fn is_broken(&self) -> bool {
        matches!(self, BarrierError::Broken)
    }

    /// Whether the wait was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, BarrierError::Cancelled(_))
    }
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarrierError::Broken => f.write_str("BrokenBarrierError: the barrier was aborted or reset"),
            BarrierError::Cancelled(_) => f.write_str("barrier wait cancelled"),
        }
    }
}

impl Error for BarrierError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            BarrierError::Cancelled(cancelled) => Some(cancelled),
            BarrierError::Broken => None,
        }
    }
}

/// Where a [`BarrierWait`] is.
#[derive(Debug, Clone, Copy)]
enum WaitStage {
    /// Waiting for a draining or resetting barrier to fill again (asyncio's `_block`).
    Block,
    /// Inside, with this index, waiting for the barrier to trip (asyncio's `_wait`).
    Inside(usize),
}

/// The future returned by [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    stage: WaitStage,
    key: Option<usize>,
    point: PointWaker,
}

impl BarrierWait<'_> {
    /// Leaves the waiters, and the barrier if inside (asyncio's `finally:` of `wait`).
    fn leave(&mut self) {
        let mut wakers = Vec::new();
        {
            let mut state = lock(&self.barrier.inner);
            if let Some(key) = self.key.take() {
                state.waiters.remove(key);
            }
            if let WaitStage::Inside(_) = self.stage {
                self.stage = WaitStage::Block;
                state.count -= 1;
                state.exit(&mut wakers);
            }
        }
        wake_all(wakers);
    }

    /// One step under the lock: `Ready` with the outcome, or `Pending` once registered (only
    /// when `may_wait`, else `None` to ask the caller to check for a cancellation first).
    fn step(&mut self, cx: &Context<'_>, may_wait: bool) -> Option<Poll<Result<usize, BarrierError>>> {
        let mut wakers = Vec::new();
        let outcome = {
            let mut state = lock(&self.barrier.inner);
            if let Some(key) = self.key {
                if !state.waiters.poll_entry(key, cx.waker()) {
                    return Some(Poll::Pending);
                }
                self.key = None;
            }
            loop {
                match self.stage {
                    WaitStage::Block => {
                        if matches!(state.phase, Phase::Draining | Phase::Resetting) {
                            break None;
                        }
                        if state.phase == Phase::Broken {
                            break Some(Err(BarrierError::Broken));
                        }
                        let index = state.count;
                        state.count += 1;
                        if index + 1 == state.parties {
                            // The last party trips the barrier and leaves first.
                            state.phase = Phase::Draining;
                            state.waiters.notify_all(&mut wakers);
                            state.count -= 1;
                            state.exit(&mut wakers);
                            break Some(Ok(index));
                        }
                        self.stage = WaitStage::Inside(index);
                    }
                    WaitStage::Inside(index) => {
                        if state.phase == Phase::Filling {
                            break None;
                        }
                        let outcome = match state.phase {
                            Phase::Broken | Phase::Resetting => Err(BarrierError::Broken),
                            Phase::Draining | Phase::Filling => Ok(index),
                        };
                        self.stage = WaitStage::Block;
                        state.count -= 1;
                        state.exit(&mut wakers);
                        break Some(outcome);
                    }
                }
            }
            .map(Poll::Ready)
            .or_else(|| {
                may_wait.then(|| {
                    self.key = Some(state.waiters.push(cx.waker()));
                    Poll::Pending
                })
            })
        };
        wake_all(wakers);
        outcome
    }
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BarrierError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.key.is_some() {
            if let Some(cancelled) = this.point.poll_cancel(cx) {
                this.leave();
                return Poll::Ready(Err(BarrierError::Cancelled(cancelled)));
            }
            return this.step(cx, true).unwrap_or(Poll::Pending);
        }
        if let Some(done) = this.step(cx, false) {
            return done;
        }
        if let Some(cancelled) = this.point.poll_cancel(cx) {
            this.leave();
            return Poll::Ready(Err(BarrierError::Cancelled(cancelled)));
        }
        this.step(cx, true).unwrap_or(Poll::Pending)
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if self.key.is_some() || matches!(self.stage, WaitStage::Inside(_)) {
            self.leave();
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait").field("stage", &self.stage).field("waiting", &self.key.is_some()).finish()
    }
}
