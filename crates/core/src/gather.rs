//! Collecting the outcomes of many tasks: `gather`, `gather_settled`, `as_completed`.
//!
//! All three watch their tasks the way [`wait`](crate::wait) does: one waiter slot per task
//! (no outcome read, no cancellation forwarded) in a `FuturesUnordered`, whose per-task wakers
//! put exactly the task that finished on its ready queue. So a completion costs O(1), whatever
//! the number of tasks, and the outcome is read from the typed handle only once the task is
//! known to be done. Tasks already done when the call is made are taken first, in input order,
//! without registering anything.

use std::borrow::Borrow;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{FusedStream, FuturesUnordered, Stream, StreamExt};
use taskloop_cancel::{Cancelled, PointWaker};

use crate::error::TaskError;
use crate::task::Task;
use crate::wait::Done;

/// The outcome of a task that is done, without its value: `Ok(())`, or how it ended.
/// Marks the outcome retrieved (a failure read here is not reported as never retrieved).
pub(crate) fn outcome_of<T>(task: &Task<T>) -> Result<(), TaskError> {
    match task.exception() {
        Ok(None) => Ok(()),
        Ok(Some(error)) | Err(error) => Err(error),
    }
}

/// The typed handles given to a gathering call, and which of them are still running.
struct Children<T> {
    tasks: Vec<Task<T>>,
    /// Tasks that were done at the call, in input order: reported before any other.
    ready: VecDeque<usize>,
    pending: FuturesUnordered<Done>,
    /// Reaches the gathering call with a cancel request of the task awaiting it.
    point: PointWaker,
}

impl<T: Send + 'static> Children<T> {
    /// `dedup` drops repeated tasks (as `as_completed` does, by identity) instead of
    /// keeping a position for each.
    fn new<H: Borrow<Task<T>>>(tasks: impl IntoIterator<Item = H>, dedup: bool) -> Self {
        let iter = tasks.into_iter();
        let mut all = Vec::with_capacity(iter.size_hint().0);
        let mut seen = HashSet::new();
        let mut ready = VecDeque::new();
        let pending = FuturesUnordered::new();
        for handle in iter {
            let task = handle.borrow();
            if dedup && !seen.insert(task.id()) {
                continue;
            }
            let index = all.len();
            if task.done() {
                ready.push_back(index);
            } else {
                pending.push(Done::new(task.as_task_ref(), index));
            }
            all.push(task.clone());
        }
        Children { tasks: all, ready, pending, point: PointWaker::new() }
    }
}

impl<T> Children<T> {
    /// How many have not been reported by [`poll_next`](Self::poll_next) yet.
    fn remaining(&self) -> usize {
        self.ready.len() + self.pending.len()
    }

    /// The index of the next task done, `None` once every task was reported.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        if let Some(index) = self.ready.pop_front() {
            return Poll::Ready(Some(index));
        }
        self.pending.poll_next_unpin(cx)
    }

    /// Asks every task still running to stop, with the caller's message (as asyncio's
    /// gathering future passes its `cancel(msg)` on to its children).
    fn cancel_pending(&self, cancelled: &Cancelled) {
        for child in self.pending.iter() {
            child.task().header().cancel(cancelled.message_arc().cloned());
        }
    }
}

impl<T> fmt::Debug for Children<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Children").field("tasks", &self.tasks.len()).field("remaining", &self.remaining()).finish()
    }
}

/// Where a gathering future stands.
#[derive(Debug)]
enum Phase {
    Waiting,
    /// The caller was cancelled; the children were asked to stop and are being waited for.
    Cancelling(Cancelled),
    Finished,
}

impl Phase {
    /// At a poll that will wait: passes the caller's cancellation, if any, on to the children
    /// still running. A later request is passed on too, as asyncio's gathering future does;
    /// the call then still ends with the first.
    fn check_cancel<T>(&mut self, children: &mut Children<T>, cx: &Context<'_>) {
        if let Some(cancelled) = children.point.poll_cancel(cx) {
            children.cancel_pending(&cancelled);
            if matches!(self, Phase::Waiting) {
                *self = Phase::Cancelling(cancelled);
            }
        }
    }
}

/// Waits for every task and returns their values in input order: asyncio's `asyncio.gather()`.
///
/// `tasks` are [`Task`] handles, owned or borrowed (`gather(&tasks)`, `gather([a, b])`). The
/// values are cloned out of the tasks (`T: Clone`), so the handles stay usable and
/// `task.result()` afterwards gives the same value, as in asyncio; wrap a value that is costly
/// to clone in an `Arc`. The same task given twice appears twice in the result. An empty input
/// resolves to `Ok(vec![])` at once.
///
/// The first failure, in the order the tasks finish, is returned at once (a task ended
/// cancelled counts: `Err(TaskError::Cancelled)`); as in asyncio the other tasks are *not*
/// cancelled and keep running, and their failures are marked retrieved, so they are not
/// reported as never retrieved. Use [`TaskGroup`](crate::TaskGroup) to cancel the rest at the
/// first failure, or [`gather_settled`] to collect every outcome.
///
/// Each task is watched in O(1) per completion; the outcome is read once per task.
///
/// # Cancellation
///
/// A cancellation point. Cancelling the gathering task cancels every task still running
/// (with the same message), waits for all of them to finish, and resolves to that
/// `Err(TaskError::Cancelled)`, whatever they ended with. asyncio's `gather` resolves as soon
/// as the first child ends cancelled; taskloop waits for all of them, so nothing the gather
/// started is still running when it returns. Dropping the future unfinished cancels nothing.
///
/// # Futures
///
/// It takes tasks, not futures: asyncio's `gather(coro_a(), coro_b())` wraps each coroutine
/// in a task, which is a `create_task` here: `gather([create_task(fut_a), create_task(fut_b)])`,
/// or `gather(futures.into_iter().map(create_task))`. (Accepting futures as well would
/// leave the compiler unable to infer the handle type of `gather([a, b])`.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{create_task, gather, sleep};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let tasks: Vec<_> = (1..=3u64)
///         .map(|i| create_task(async move {
///             sleep(Duration::from_millis(40 - 10 * i)).await?;
///             anyhow::Ok(i * 10)
///         }))
///         .collect();
///     assert_eq!(gather(&tasks).await?, [10, 20, 30], "input order, not finishing order");
///
///     let failing = create_task(async { anyhow::bail!("no route") as anyhow::Result<u64> });
///     let slow = create_task(async {
///         sleep(Duration::from_secs(1)).await?;
///         anyhow::Ok(0)
///     });
///     let err = gather([&failing, &slow]).await.unwrap_err();
///     assert_eq!(err.to_string(), "no route");
///     assert!(!slow.done(), "the others keep running");
///     slow.cancel();
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn gather<T, H>(tasks: impl IntoIterator<Item = H>) -> Gather<T>
where
    T: Clone + Send + 'static,
    H: Borrow<Task<T>>,
{
    Gather { children: Children::new(tasks, false), phase: Phase::Waiting }
}

/// The future returned by [`gather`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Gather<T> {
    children: Children<T>,
    phase: Phase,
}

impl<T: Clone + Send + 'static> Future for Gather<T> {
    type Output = Result<Vec<T>, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!matches!(this.phase, Phase::Finished), "Gather polled after it finished");
        if this.children.remaining() > 0 {
            this.phase.check_cancel(&mut this.children, cx);
        }
        while let Some(index) = std::task::ready!(this.children.poll_next(cx)) {
            let outcome = outcome_of(&this.children.tasks[index]);
            if let (Phase::Waiting, Err(error)) = (&this.phase, outcome) {
                this.phase = Phase::Finished;
                retrieve_later(&this.children);
                return Poll::Ready(Err(error));
            }
        }
        match std::mem::replace(&mut this.phase, Phase::Finished) {
            Phase::Cancelling(cancelled) => Poll::Ready(Err(TaskError::Cancelled(cancelled))),
            _ => Poll::Ready(this.children.tasks.iter().map(Task::result).collect()),
        }
    }
}

/// After `gather` returned the first failure: the tasks still running will have their
/// failures read when they finish, as asyncio's gather callback does ("mark exception
/// retrieved"), so dropping their handles reports nothing.
fn retrieve_later<T: Send + 'static>(children: &Children<T>) {
    for &index in &children.ready {
        drop(children.tasks[index].exception());
    }
    for child in children.pending.iter() {
        let task = &children.tasks[child.index];
        task.add_done_callback(|task| drop(task.exception()));
    }
}

/// Waits for every task and returns every outcome in input order: asyncio's
/// `asyncio.gather(*tasks, return_exceptions=True)`.
///
/// Failures and cancellations of the tasks are items of the result, never the error of the
/// call; the outer `Err` only says the caller itself was cancelled. Values are cloned out as
/// in [`gather`]; an empty input resolves to `Ok(vec![])` at once.
///
/// # Cancellation
///
/// A cancellation point. Cancelling the gathering task cancels every task still running
/// (with the same message), waits for all of them, and resolves to that
/// `Err(TaskError::Cancelled)` — as asyncio does since bpo-32684, even with
/// `return_exceptions=True`. Dropping the future unfinished cancels nothing.
///
/// # Futures
///
/// It takes tasks, not futures: asyncio's `gather_settled(coro_a(), coro_b())` wraps each coroutine
/// in a task, which is a `create_task` here: `gather_settled([create_task(fut_a), create_task(fut_b)])`,
/// or `gather_settled(futures.into_iter().map(create_task))`. (Accepting futures as well would
/// leave the compiler unable to infer the handle type of `gather_settled([a, b])`.)
///
/// # Examples
///
/// ```
/// use taskloop::{create_task, gather_settled};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let ok = create_task(async { anyhow::Ok(1) });
///     let failed = create_task(async { anyhow::bail!("boom") as anyhow::Result<i32> });
///     let cancelled = create_task(async { anyhow::Ok(3) });
///     cancelled.cancel_with("not needed");
///     let outcomes = gather_settled([ok, failed, cancelled]).await?;
///     assert_eq!(*outcomes[0].as_ref().unwrap(), 1);
///     assert_eq!(outcomes[1].as_ref().unwrap_err().to_string(), "boom");
///     assert_eq!(outcomes[2].as_ref().unwrap_err().cancel_message(), Some("not needed"));
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn gather_settled<T, H>(tasks: impl IntoIterator<Item = H>) -> GatherSettled<T>
where
    T: Clone + Send + 'static,
    H: Borrow<Task<T>>,
{
    GatherSettled { children: Children::new(tasks, false), phase: Phase::Waiting }
}

/// The future returned by [`gather_settled`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct GatherSettled<T> {
    children: Children<T>,
    phase: Phase,
}

impl<T: Clone + Send + 'static> Future for GatherSettled<T> {
    type Output = Result<Vec<Result<T, TaskError>>, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(!matches!(this.phase, Phase::Finished), "GatherSettled polled after it finished");
        if this.children.remaining() > 0 {
            this.phase.check_cancel(&mut this.children, cx);
        }
        while std::task::ready!(this.children.poll_next(cx)).is_some() {}
        match std::mem::replace(&mut this.phase, Phase::Finished) {
            Phase::Cancelling(cancelled) => {
                for task in &this.children.tasks {
                    drop(task.exception());
                }
                Poll::Ready(Err(TaskError::Cancelled(cancelled)))
            }
            _ => Poll::Ready(Ok(this.children.tasks.iter().map(Task::result).collect())),
        }
    }
}

/// The outcomes of `tasks` in the order they finish: asyncio's `asyncio.as_completed()`.
///
/// A [`Stream`] (use `futures::StreamExt::next`) yielding each task's `Result<T, TaskError>`
/// once, as soon as the task is done; tasks already done come first, in input order. As in
/// asyncio, a task given twice is yielded once. Values are cloned out as in [`gather`]. An
/// empty input gives an empty stream.
///
/// # Cancellation
///
/// Each `next()` is a cancellation point. Cancelling the task that reads the stream makes the
/// pending `next()` yield `Some(Err(TaskError::Cancelled))` with the request's message
/// (so `item?` propagates it) and, as in asyncio, does not cancel the tasks: the stream goes
/// on with their outcomes if read further. Dropping the stream cancels nothing.
///
/// # Futures
///
/// It takes tasks, not futures: asyncio's `as_completed(coro_a(), coro_b())` wraps each coroutine
/// in a task, which is a `create_task` here: `as_completed([create_task(fut_a), create_task(fut_b)])`,
/// or `as_completed(futures.into_iter().map(create_task))`. (Accepting futures as well would
/// leave the compiler unable to infer the handle type of `as_completed([a, b])`.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use taskloop::{as_completed, create_task, sleep};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let tasks: Vec<_> = [30u64, 10, 20]
///         .into_iter()
///         .map(|ms| create_task(async move {
///             sleep(Duration::from_millis(ms)).await?;
///             anyhow::Ok(ms)
///         }))
///         .collect();
///     let mut finished = Vec::new();
///     let mut outcomes = as_completed(&tasks);
///     while let Some(outcome) = outcomes.next().await {
///         finished.push(outcome?);
///     }
///     assert_eq!(finished, [10, 20, 30]);
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn as_completed<T, H>(tasks: impl IntoIterator<Item = H>) -> AsCompleted<T>
where
    T: Clone + Send + 'static,
    H: Borrow<Task<T>>,
{
    AsCompleted { children: Children::new(tasks, true) }
}

/// The stream returned by [`as_completed`].
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct AsCompleted<T> {
    children: Children<T>,
}

impl<T: Clone + Send + 'static> Stream for AsCompleted<T> {
    type Item = Result<T, TaskError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.children.remaining() == 0 {
            return Poll::Ready(None);
        }
        if let Some(cancelled) = this.children.point.poll_cancel(cx) {
            return Poll::Ready(Some(Err(TaskError::Cancelled(cancelled))));
        }
        this.children.poll_next(cx).map(|next| next.map(|index| this.children.tasks[index].result()))
    }

    /// At least one item per task not yet yielded (a cancellation of the reader adds one).
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.children.remaining(), None)
    }
}

impl<T: Clone + Send + 'static> FusedStream for AsCompleted<T> {
    fn is_terminated(&self) -> bool {
        self.children.remaining() == 0
    }
}
