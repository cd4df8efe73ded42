//! Collecting the outcomes of many tasks: `gather`, `gather_settled`, `as_completed`.
//!
//! All three watch their tasks the way [`wait`](crate::wait) does (`wait::DoneSet`): one
//! waiter slot per task (no outcome read, no cancellation forwarded) that tells one shared
//! collector "child i finished", with no waker or allocation per task. So a completion costs
//! O(1), whatever the number of tasks, and the outcome is read from the typed handle only once
//! the task is known to be done. Tasks already done when the call is made are taken first, in
//! input order, without registering anything.

use std::borrow::Borrow;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::sync::Arc;

use futures::stream::{FusedStream, Stream};
use taskloop_cancel::{Cancelled, Forward, PointWaker};

use crate::error::TaskError;
use crate::sync::{Mutex, lock};
use crate::task::Task;
use crate::wait::{CallbackWake, DoneSet, hop};

/// The outcome of a task that is done, without its value: `Ok(())`, or how it ended.
/// Marks the outcome retrieved (a failure read here is not reported as never retrieved).
pub(crate) fn outcome_of<T>(task: &Task<T>) -> Result<(), TaskError> {
    task.header().retrieve()
}

/// How a call that waits for tasks resumes: asyncio's `gather` and `as_completed` await a
/// future of their own that a done callback of the tasks completes, so they resume two loop
/// iterations after a task finished (the callback runs, then the task's wake-up). Here a
/// finishing task wakes the caller directly, so the call yields once more after it waited
/// (unless the task arrived through a deferred callback, which stands for asyncio's done
/// callback: see `Collector::report`); the outcome is held meanwhile, and a cancellation
/// arriving then is delivered instead, as asyncio's `_must_cancel` is. A `gather` whose tasks
/// were all done at the call does not suspend (asyncio 3.12+ runs the callbacks of finished
/// children at once).
#[derive(Debug)]
struct Hop<O> {
    waited: bool,
    hops_left: Option<u8>,
    held: Option<O>,
    /// The held outcome is a request of the caller's taken while hopping (asyncio's
    /// `_must_cancel`), not the call's own: a later request replaces its message.
    absorbed: bool,
}

impl<O> Hop<O> {
    fn new() -> Self {
        Hop { waited: false, hops_left: None, held: None, absorbed: false }
    }

    /// Takes each poll's result: `Some` to return as it is, or `None` once the outcome is
    /// held, for [`next`](Self::next) to give back after the hop (none when the task that
    /// decided it arrived through a callback of its own, see `DoneSet::arrived_deferred`: that
    /// poll is asyncio's step after the call's future was completed).
    fn resume(&mut self, polled: Poll<O>, deferred: bool) -> Option<Poll<O>> {
        match polled {
            Poll::Pending => {
                self.waited = true;
                Some(Poll::Pending)
            }
            Poll::Ready(outcome) if !self.waited => Some(Poll::Ready(outcome)),
            Poll::Ready(outcome) => {
                self.held = Some(outcome);
                self.hops_left = Some(u8::from(!deferred));
                None
            }
        }
    }

    /// Whether an outcome is held (the call is hopping).
    fn holding(&self) -> bool {
        self.held.is_some()
    }

    /// One hop: `Pending` (woken) while hops are left, then the held outcome.
    fn next(&mut self, cx: &Context<'_>) -> Poll<O> {
        match &mut self.hops_left {
            Some(left) if *left > 0 => {
                *left -= 1;
                hop(cx);
                Poll::Pending
            }
            _ => Poll::Ready(self.held.take().expect("a hopping call holds its outcome")),
        }
    }
}

impl<X> Hop<Result<X, TaskError>> {
    /// While an outcome is held: takes a request of the caller's now, and holds what asyncio's
    /// `__step` will raise with that outcome: a held cancellation stands, anything else gives
    /// way to the request's cancellation.
    fn absorb_request(&mut self, point: &mut PointWaker, cx: &Context<'_>) {
        if let Some(cancelled) = point.poll_cancel(cx)
            && !matches!(self.held, Some(Err(TaskError::Cancelled(_))))
        {
            self.held = Some(Err(TaskError::Cancelled(cancelled)));
            self.absorbed = true;
        }
    }

    /// While an outcome is held, this poll's result: the next hop, or a cancellation of the
    /// caller that arrived meanwhile (which replaces a held value or failure, and the message
    /// of a request absorbed earlier, as asyncio's `cancel()` replaces `_cancel_message`
    /// while `_must_cancel` is set; the call's own cancellation stands). `None` otherwise.
    fn poll_held(&mut self, point: &mut PointWaker, cx: &Context<'_>) -> Option<Poll<Result<X, TaskError>>> {
        if !self.holding() {
            return None;
        }
        Some(match point.poll_cancel(cx) {
            // A held cancellation stands: asyncio's `__step` throws the awaited future's
            // `CancelledError` as it is, and `_must_cancel` only replaces another outcome.
            Some(cancelled) => match self.held.take() {
                Some(Err(TaskError::Cancelled(held))) if !self.absorbed => Poll::Ready(Err(TaskError::Cancelled(held))),
                _ => Poll::Ready(Err(TaskError::Cancelled(cancelled))),
            },
            None => self.next(cx),
        })
    }
}

/// The typed handles given to a gathering call, and which of them are still running.
struct Children<T> {
    /// Shared with the forward target ([`GatherForward`]) while the call waits.
    tasks: Arc<Vec<Task<T>>>,
    /// Tasks that were done at the call, in input order: reported before any other.
    ready: VecDeque<usize>,
    pending: DoneSet,
    /// Reaches the gathering call with a cancel request of the task awaiting it.
    point: PointWaker,
    /// While a `gather` waits, where its task's requests go at once (asyncio's gathering
    /// future, whose `cancel()` cancels the children): registered when it first waits.
    forward: Option<Arc<GatherForward<T>>>,
}

/// A gathering call as the forward target of the task awaiting it: asyncio's
/// `_GatheringFuture.cancel(msg)`, which cancels every child not done and remembers it was
/// cancelled if any child accepted.
struct GatherForward<T> {
    children: Arc<Vec<Task<T>>>,
    /// The first request passed on and accepted: the call ends with it.
    cancelled: Mutex<Option<Cancelled>>,
}

impl<T: Send + 'static> Forward for GatherForward<T> {
    fn forward(&self, message: Option<Arc<str>>) -> bool {
        let mut accepted = false;
        // A task given twice is asked twice, as asyncio's gathering future asks each child.
        for child in self.children.iter().filter(|child| !child.done()) {
            accepted |= child.header().cancel(message.clone());
        }
        if accepted {
            lock(&self.cancelled).get_or_insert_with(|| Cancelled::from_message(message));
        }
        accepted
    }
}

impl<T: Send + 'static> Children<T> {
    /// `dedup` drops repeated tasks (as `as_completed` does, by identity) instead of
    /// keeping a position for each.
    fn new<H: Borrow<Task<T>>>(tasks: impl IntoIterator<Item = H>, dedup: bool) -> Self {
        let iter = tasks.into_iter();
        let mut all = Vec::with_capacity(iter.size_hint().0);
        let mut seen = HashSet::new();
        let mut ready = VecDeque::new();
        let mut pending = DoneSet::with_capacity(iter.size_hint().0);
        for handle in iter {
            let task = handle.borrow();
            if dedup && !seen.insert(task.id()) {
                continue;
            }
            let index = all.len();
            if task.done() {
                ready.push_back(index);
            } else {
                pending.push(index);
            }
            all.push(task.clone());
        }
        Children { tasks: Arc::new(all), ready, pending, point: PointWaker::new(), forward: None }
    }

    /// The call waits: from now on the awaiting task's requests are passed to the children
    /// at once (invariant 8 of the task module). Registered once.
    fn forward_while_waiting(&mut self) {
        if self.forward.is_none() {
            let forward = Arc::new(GatherForward { children: self.tasks.clone(), cancelled: Mutex::new(None) });
            self.forward = Some(forward.clone());
            taskloop_cancel::forward_to(std::ptr::null(), || forward);
        }
    }

    /// The next task done, or `Pending` (forwarding requests meanwhile) with the caller's
    /// cancellation, if any, passed on to the tasks still running. Tasks that finished before
    /// this poll count first: asyncio's done callbacks for them ran before the caller's step,
    /// so the call's outcome was set before a request made since could cancel it.
    fn poll_settled(&mut self, phase: &mut Phase, cx: &mut Context<'_>) -> Poll<Option<usize>> {
        let next = self.poll_next(cx);
        if next.is_pending() {
            phase.check_cancel(self, cx);
            self.forward_while_waiting();
        }
        next
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
        self.pending.poll_next(&self.tasks, cx)
    }

    /// Asks every task still running to stop, with the caller's message (as asyncio's
    /// gathering future passes its `cancel(msg)` on to its children).
    fn cancel_pending(&self, cancelled: &Cancelled) {
        for index in self.pending.iter() {
            self.tasks[index].header().cancel(cancelled.message_arc().cloned());
        }
    }

    /// A request passed on while the call waited, if any child accepted one.
    fn forwarded(&self) -> Option<Cancelled> {
        self.forward.as_ref().and_then(|forward| lock(&forward.cancelled).clone())
    }

    /// The call is over (or dropped): requests no longer go to the children.
    fn stop_forwarding(&mut self) {
        if let Some(forward) = self.forward.take() {
            taskloop_cancel::end_forward(Arc::as_ptr(&forward).cast());
        }
    }
}

impl<T> Drop for Children<T> {
    fn drop(&mut self) {
        self.stop_forwarding();
        self.pending.forget(&self.tasks);
    }
}

impl<T> fmt::Debug for Children<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Children").field("tasks", &self.tasks.len()).field("remaining", &self.remaining()).finish()
    }
}

/// The part of a poll that differs between `gather` and `gather_settled`.
type Step<T, X> = fn(&mut Children<T>, &mut Phase, &mut Context<'_>) -> Poll<Result<X, TaskError>>;

/// What `gather` and `gather_settled` share: the children, where the call stands, and the
/// hop before it resumes.
#[derive(Debug)]
struct Gathering<T, X> {
    children: Children<T>,
    phase: Phase,
    hop: Hop<Result<X, TaskError>>,
}

impl<T: Send + 'static, X: Default> Gathering<T, X> {
    fn new<H: Borrow<Task<T>>>(tasks: impl IntoIterator<Item = H>) -> Self {
        Gathering { children: Children::new(tasks, false), phase: Phase::Waiting, hop: Hop::new() }
    }

    /// One poll: the hops of an outcome already held, else `step` over the children (a call
    /// with no tasks resolves at once to the empty outcome).
    fn poll(&mut self, cx: &mut Context<'_>, step: Step<T, X>) -> Poll<Result<X, TaskError>> {
        if let Some(polled) = self.hop.poll_held(&mut self.children.point, cx) {
            return polled;
        }
        if self.children.tasks.is_empty() {
            self.phase = Phase::Finished;
            return Poll::Ready(Ok(X::default()));
        }
        let polled = step(&mut self.children, &mut self.phase, cx);
        if let Some(polled) = self.hop.resume(polled, self.children.pending.arrived_deferred()) {
            return polled;
        }
        // The outcome is set and the caller's step is queued (asyncio's `__wakeup`): a request
        // made meanwhile is taken now, to be delivered with it at the hop's end.
        self.hop.absorb_request(&mut self.children.point, cx);
        self.hop.next(cx)
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
    /// A request the awaiting task passed on to the children while the call waited ends the
    /// call cancelled, as one taken at a poll does.
    fn take_forwarded<T>(&mut self, children: &Children<T>) {
        if matches!(self, Phase::Waiting)
            && let Some(cancelled) = children.forwarded()
        {
            *self = Phase::Cancelling(cancelled);
        }
    }

    /// At a poll that will wait: passes the caller's cancellation, if any, on to the children
    /// still running. A later request is passed on too, as asyncio's gathering future does;
    /// the call then still ends with the first.
    fn check_cancel<T>(&mut self, children: &mut Children<T>, cx: &Context<'_>) {
        self.take_forwarded(children);
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
    Gather { call: Gathering::new(tasks) }
}

/// The future returned by [`gather`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Gather<T> {
    call: Gathering<T, Vec<T>>,
}

/// Nothing of it is pinned (the values it holds while hopping are moved out by value).
impl<T> Unpin for Gather<T> {}

impl<T: Clone + Send + 'static> Future for Gather<T> {
    type Output = Result<Vec<T>, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.call.poll(cx, poll_gather)
    }
}

/// `gather`'s own part of a poll: the first failure ends the call.
fn poll_gather<T: Clone + Send + 'static>(
    children: &mut Children<T>,
    phase: &mut Phase,
    cx: &mut Context<'_>,
) -> Poll<Result<Vec<T>, TaskError>> {
    assert!(!matches!(phase, Phase::Finished), "Gather polled after it finished");
    phase.take_forwarded(children);
    while let Some(index) = std::task::ready!(children.poll_settled(phase, cx)) {
        let outcome = outcome_of(&children.tasks[index]);
        if let (Phase::Waiting, Err(error)) = (&*phase, outcome) {
            *phase = Phase::Finished;
            children.stop_forwarding();
            retrieve_later(children);
            return Poll::Ready(Err(error));
        }
    }
    children.stop_forwarding();
    phase.take_forwarded(children);
    match std::mem::replace(phase, Phase::Finished) {
        Phase::Cancelling(cancelled) => Poll::Ready(Err(TaskError::Cancelled(cancelled))),
        _ => Poll::Ready(children.tasks.iter().map(Task::result).collect()),
    }
}

/// After `gather` returned the first failure: the tasks still running will have their
/// failures read when they finish, as asyncio's gather callback does ("mark exception
/// retrieved"), so dropping their handles reports nothing.
fn retrieve_later<T: Send + 'static>(children: &Children<T>) {
    for &index in &children.ready {
        drop(children.tasks[index].exception());
    }
    for index in children.pending.iter() {
        let task = &children.tasks[index];
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
    GatherSettled { call: Gathering::new(tasks) }
}

/// The future returned by [`gather_settled`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct GatherSettled<T> {
    call: Gathering<T, Vec<Result<T, TaskError>>>,
}

/// Nothing of it is pinned (the values it holds while hopping are moved out by value).
impl<T> Unpin for GatherSettled<T> {}

impl<T: Clone + Send + 'static> Future for GatherSettled<T> {
    type Output = Result<Vec<Result<T, TaskError>>, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.call.poll(cx, poll_gather_settled)
    }
}

/// `gather_settled`'s own part of a poll: every outcome is an item.
fn poll_gather_settled<T: Clone + Send + 'static>(
    children: &mut Children<T>,
    phase: &mut Phase,
    cx: &mut Context<'_>,
) -> Poll<Result<Vec<Result<T, TaskError>>, TaskError>> {
    assert!(!matches!(phase, Phase::Finished), "GatherSettled polled after it finished");
    phase.take_forwarded(children);
    while std::task::ready!(children.poll_settled(phase, cx)).is_some() {}
    children.stop_forwarding();
    phase.take_forwarded(children);
    match std::mem::replace(phase, Phase::Finished) {
        Phase::Cancelling(cancelled) => {
            for task in children.tasks.iter() {
                drop(task.exception());
            }
            Poll::Ready(Err(TaskError::Cancelled(cancelled)))
        }
        _ => Poll::Ready(Ok(children.tasks.iter().map(Task::result).collect())),
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
    let children = Children::new(tasks, true);
    children.pending.defer_arrivals();
    AsCompleted { children, arrived: VecDeque::new(), started: false, first_ready: None, hop: Hop::new() }
}

/// The stream returned by [`as_completed`].
///
/// It keeps asyncio's queue: a task's completion *arrives* in it one loop iteration after the
/// task finished (asyncio's done callback), and a reader that found it empty resumes one
/// iteration after an arrival (the queue's getter wakes it); a reader that finds arrivals
/// there takes the first without suspending. On the current-thread loop every completion
/// arrives through a callback queued at it (asyncio's done callback), which wakes the reader,
/// so a cancellation made before that callback ran wakes the reader where it was made, as in
/// asyncio. Tasks done at the call are read after a callback queued at the first read.
#[must_use = "streams do nothing unless polled"]
#[derive(Debug)]
pub struct AsCompleted<T> {
    children: Children<T>,
    /// Indexes of tasks whose completion has arrived and not been read yet.
    arrived: VecDeque<usize>,
    /// The first read has been made (and registered with the running tasks).
    started: bool,
    /// With tasks done at the call: the callback that stands for the first one's done
    /// callback, which the first read waits for.
    first_ready: Option<CallbackWake>,
    /// A reader that waited resumes one iteration after the arrival.
    hop: Hop<()>,
}

impl<T: Clone + Send + 'static> Stream for AsCompleted<T> {
    type Item = Result<T, TaskError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.arrived.is_empty() && this.children.remaining() == 0 {
            return Poll::Ready(None);
        }
        if let Some(cancelled) = this.children.point.poll_cancel(cx) {
            this.hop = Hop::new();
            return Poll::Ready(Some(Err(TaskError::Cancelled(cancelled))));
        }
        if !this.started {
            this.started = true;
            // asyncio adds its done callbacks to every task at the call: the running ones are
            // registered now, so that they arrive in the order they finish from here on (a task
            // done by now joins those done at the call).
            let Children { tasks, ready, pending, .. } = &mut this.children;
            while let Poll::Ready(Some(index)) = pending.poll_next(tasks, cx) {
                ready.push_back(index);
            }
            // The done callback of the first task done at the call, queued now, wakes the
            // reader; a cancellation made before it runs wakes the reader itself, where it is
            // made. With none done, the reader just waits for an arrival.
            if !ready.is_empty() {
                this.first_ready = Some(CallbackWake::schedule(&tasks[0].header().loop_, cx));
            }
        }
        if let Some(wake) = &this.first_ready {
            if wake.poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.first_ready = None;
        }
        if !this.hop.holding() {
            while let Poll::Ready(Some(index)) = this.children.poll_next(cx) {
                this.arrived.push_back(index);
            }
            if this.arrived.is_empty() {
                this.hop.waited = true;
                return Poll::Pending;
            }
            // An arrival through a deferred callback is asyncio's `_handle_completion`, whose
            // wake-up of the reader is this step: no hop left.
            if !this.hop.waited || this.children.pending.arrived_deferred() {
                this.hop = Hop::new();
                let index = this.arrived.pop_front().expect("checked not empty");
                return Poll::Ready(Some(this.children.tasks[index].result()));
            }
            this.hop.held = Some(());
            this.hop.hops_left = Some(1);
        }
        match this.hop.next(cx) {
            // A task finishing before this hop's step looks arrives behind it anyway: every
            // arrival of `as_completed` is a callback of its own (`defer_arrivals`).
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                this.hop = Hop::new();
                let index = this.arrived.pop_front().expect("a hop waits for an arrival");
                Poll::Ready(Some(this.children.tasks[index].result()))
            }
        }
    }

    /// At least one item per task not yet yielded (a cancellation of the reader adds one).
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.arrived.len() + self.children.remaining(), None)
    }
}

impl<T: Clone + Send + 'static> FusedStream for AsCompleted<T> {
    fn is_terminated(&self) -> bool {
        self.arrived.is_empty() && self.children.remaining() == 0
    }
}
