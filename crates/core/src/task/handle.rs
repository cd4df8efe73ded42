//! `Task<T>`: the typed, cloneable, awaitable handle.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use taskloop_callbacks::CallbackId;
use taskloop_cancel::PointWaker;

use super::{Header, Shared, TaskId, TaskRef, WaiterKey};
use crate::error::TaskError;
use crate::sync::lock;

/// A handle to a task: asyncio's `asyncio.Task`.
///
/// Made by [`create_task`](crate::create_task) or [`TaskBuilder`](crate::TaskBuilder). Every
/// clone is the same task; the task runs whether or not any handle is kept (dropping handles
/// neither cancels nor detaches anything, as in asyncio where the loop keeps the task).
///
/// Await it (`task.await` or `(&task).await`) for `Result<T, TaskError>`: any number of
/// handles, any number of times, all see the same outcome (`T: Clone`). [`join`](Task::join)
/// takes the value instead, for a `T` that is not `Clone`.
///
/// # Cancellation
///
/// Awaiting a task is a cancellation point. If the awaiting task is cancelled while it waits,
/// the request is passed on to the awaited task (asyncio cancels the future a task waits
/// on), and the awaiter goes on waiting for it: it sees `Err(Cancelled)` if the awaited task
/// ends cancelled, or its value if that task caught the cancellation. Wrap the task in
/// [`shield`](crate::shield) to keep the request from going down.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{create_task, sleep};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let task = create_task(async {
///         sleep(Duration::from_millis(10)).await?;
///         anyhow::Ok(100)
///     });
///     assert!(task.result().unwrap_err().is_invalid_state(), "not done yet");
///     assert_eq!((&task).await?, 100);
///     assert_eq!(task.clone().await?, 100, "awaiting again gives the same value");
///     assert_eq!(task.result()?, 100);
///     anyhow::Ok(())
/// })
/// # }
/// ```
// Not `#[must_use]` on the type: a `TaskGroup` keeps its tasks, so the handle
// `TaskGroup::create_task` returns may be dropped freely. The functions that start a task on
// its own (`create_task`, `TaskBuilder::spawn`, ...) carry the lint instead.
pub struct Task<T> {
    pub(super) shared: Arc<Shared<T>>,
    /// This handle's waiter slot while it is being awaited.
    waiter: WaiterKey,
    /// Reaches this handle's await with a cancel request of the awaiting task.
    point: PointWaker,
    /// This handle, polled as a future, has yielded the outcome (`FusedFuture`).
    yielded: bool,
}

impl<T> Task<T> {
    pub(crate) fn from_shared(shared: Arc<Shared<T>>) -> Self {
        Task { shared, waiter: None, point: PointWaker::new(), yielded: false }
    }

    /// asyncio's `Task.cancel()`: asks the task to stop; `false` if it is already done.
    ///
    /// Returns `true` every time it is called on a task not done
    /// ([`cancelling`](Self::cancelling) counts the requests).
    ///
    /// # Cancellation
    ///
    /// The request is delivered once, **at the task's current await**:
    ///
    /// - If that is a cancellation point (`sleep`, `yield_now`, awaiting a task, `wait`,
    ///   `gather`, `TaskGroup::join`, `shield`, `cancellable(fut)`, `to_thread`, `wait_for`,
    ///   `timeout`, …), the point resolves to `Err(Cancelled)` carrying the message. The body
    ///   may let `?` carry it out, or catch it, [`uncancel`](Self::uncancel), and go on.
    /// - If the body is suspended only in futures that are not cancellation points (a tokio
    ///   channel, lock or socket, a raw `JoinHandle`, `std::future::pending()`), the body is
    ///   dropped right there: its `Drop` guards run, as asyncio's `finally:` blocks do, before
    ///   any awaiter sees the outcome, and the task ends cancelled with the message, exactly as
    ///   if `Err(Cancelled)` had propagated out of it. To catch the request at such an await
    ///   instead, wrap it in [`cancellable`](crate::cancellable).
    ///
    /// A task cancelled before it first runs ends cancelled without its body ever being polled.
    /// A task awaiting another task (or `gather`, `TaskGroup::join`, `to_thread`, …) passes the
    /// request down that chain, as in asyncio; [`shield`](crate::shield) stops it there. A
    /// body that never suspends (a loop with no await, a blocking call) cannot be reached until
    /// it does, as in asyncio. [`abort`](Self::abort) is the stop that carries no message and
    /// waits for no await.
    ///
    /// # Races
    ///
    /// A request that arrives while the body is being polled (on another thread) is decided at
    /// the next poll, which the request itself causes. Called from another thread while the
    /// task completes: either the request is refused (`false`, the task completed first) or it
    /// is accepted and then a body that returns `Ok` without having seen it ends cancelled.
    pub fn cancel(&self) -> bool {
        self.shared.header.cancel(None)
    }

    /// [`cancel`](Self::cancel) with a message, which the `Cancelled` error carries to the
    /// body and to every reader of the outcome: asyncio's `Task.cancel(msg)`.
    ///
    /// # Cancellation
    ///
    /// Delivered at the task's current await, as for [`cancel`](Self::cancel).
    ///
    /// # Examples
    ///
    /// A task waiting on a tokio channel, which is not a cancellation point: the request ends
    /// the body at that await, its guard runs, and every reader sees the message.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use taskloop::{create_task, yield_now};
    ///
    /// struct Closed(Arc<AtomicBool>);
    ///
    /// impl Drop for Closed {
    ///     fn drop(&mut self) {
    ///         self.0.store(true, Ordering::SeqCst);
    ///     }
    /// }
    ///
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     let (_tx, rx) = tokio::sync::oneshot::channel::<u32>();
    ///     let closed = Arc::new(AtomicBool::new(false));
    ///     let guard = Closed(closed.clone());
    ///     let task = create_task(async move {
    ///         let _guard = guard;
    ///         anyhow::Ok(rx.await?)
    ///     });
    ///     yield_now().await?;
    ///     assert!(task.cancel_with("shutting down"));
    ///     let outcome = (&task).await.unwrap_err();
    ///     assert_eq!(outcome.cancel_message(), Some("shutting down"));
    ///     assert!(closed.load(Ordering::SeqCst), "the guard ran before the await saw the outcome");
    ///     assert!(!task.cancel(), "done: a second request is refused");
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    pub fn cancel_with(&self, message: impl Into<Arc<str>>) -> bool {
        self.shared.header.cancel(Some(message.into()))
    }

    /// Stops the task at once, which asyncio cannot do: no message, no waiting for the body to
    /// reach an await, and nothing the body can catch.
    ///
    /// The body's future is dropped (at once if it is not being polled, else as soon as the
    /// current poll returns), its `Drop` guards run before any awaiter sees the outcome, and
    /// the task ends cancelled. A no-op on a task that is done.
    pub fn abort(&self) {
        self.shared.header.abort()
    }

    /// asyncio's `Task.cancelled()`: whether the task is done and ended by cancellation.
    pub fn cancelled(&self) -> bool {
        self.shared.header.is_cancelled()
    }

    /// asyncio's `Task.done()`: whether the task has finished (value, failure or cancellation).
    pub fn done(&self) -> bool {
        self.shared.header.is_done()
    }

    /// asyncio's `Task.exception()`: the failure the task ended with, `Ok(None)` if it
    /// succeeded.
    ///
    /// # Errors
    ///
    /// `TaskError::InvalidState` if the task is not done; the `TaskError::Cancelled` if it was
    /// cancelled (asyncio raises `CancelledError` here too).
    pub fn exception(&self) -> Result<Option<TaskError>, TaskError> {
        self.shared.header.exception()
    }

    /// asyncio's `Task.add_done_callback()`: runs `callback` once, on the loop, after the task
    /// is done.
    ///
    /// Callbacks run in the order added, scheduled like [`call_soon`](crate::call_soon) —
    /// never inside `cancel()` or the poll that completes the task. Added to a task already
    /// done, it is scheduled at once. A panicking callback is reported to the loop's
    /// exception handler and the others still run.
    pub fn add_done_callback<F>(&self, callback: F) -> CallbackId
    where
        F: FnOnce(&Task<T>) + Send + 'static,
        T: Send + 'static,
    {
        let task = self.clone();
        self.shared.header.add_done_callback(Box::new(move || callback(&task)))
    }

    /// asyncio's `Task.remove_done_callback()`: `true` if the callback was still waiting and
    /// is now removed; `false` if it was already scheduled or removed.
    pub fn remove_done_callback(&self, id: CallbackId) -> bool {
        self.shared.header.remove_done_callback(id)
    }

    /// asyncio's `Task.get_name()`: `Task-N` unless named.
    pub fn name(&self) -> Arc<str> {
        self.shared.header.name()
    }

    /// asyncio's `Task.set_name()`; seen by every clone and [`TaskRef`].
    pub fn set_name(&self, name: impl Into<Arc<str>>) {
        self.shared.header.set_name(name.into())
    }

    /// The task's id, unique in the process (the `N` of the default name `Task-N`).
    pub fn id(&self) -> TaskId {
        self.shared.header.id()
    }

    /// asyncio's `Task.cancelling()`: the number of cancel requests not withdrawn by
    /// [`uncancel`](Self::uncancel).
    pub fn cancelling(&self) -> usize {
        self.shared.header.cancelling()
    }

    /// asyncio's `Task.uncancel()`: withdraws one cancel request and returns how many remain.
    /// Reaching 0 also withdraws a pending request the task made itself and has not yet
    /// suspended on (asyncio 3.13's `_must_cancel`); a request already handed to the await the
    /// task is suspended at stays, as a future asyncio already cancelled stays cancelled.
    pub fn uncancel(&self) -> usize {
        self.shared.header.transition_to_uncancelled()
    }

    /// The type-erased handle to the same task.
    pub fn as_task_ref(&self) -> TaskRef
    where
        T: Send + 'static,
    {
        TaskRef::from_arc(self.shared.clone())
    }

    /// Cancels the task when `token` is cancelled: a bridge from tokio-util's
    /// `CancellationToken` to an asyncio-style cancel, delivered at the task's current await
    /// as [`cancel`](Self::cancel)'s is (a cancellation point there gives the body an
    /// `Err(Cancelled)` it may catch; a foreign await ends the body). A plain tokio task
    /// watches both and ends with whichever comes first, so a token that is never cancelled
    /// costs nothing once the task is done.
    ///
    /// # Panics
    ///
    /// Outside a running loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskloop::{create_task, sleep};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     let token = CancellationToken::new();
    ///     let task = create_task(async {
    ///         sleep(Duration::from_secs(3600)).await?;
    ///         anyhow::Ok(())
    ///     });
    ///     task.cancel_on(token.clone());
    ///     token.cancel();
    ///     assert!(task.await.unwrap_err().is_cancelled());
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    #[cfg(feature = "tokio-util")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio-util")))]
    pub fn cancel_on(&self, token: tokio_util::sync::CancellationToken)
    where
        T: Send + 'static,
    {
        let task = self.as_task_ref();
        tokio::spawn(async move {
            let done = std::pin::pin!(super::Done::new(task.clone()));
            let cancelled = std::pin::pin!(token.cancelled_owned());
            if let futures::future::Either::Right(_) = futures::future::select(done, cancelled).await {
                task.cancel();
            }
        });
    }

    /// Waits for the task and takes its value, for a `T` that need not be `Clone`.
    ///
    /// Only one `join` takes the value; after that, reading the value through another handle
    /// gives `TaskError::InvalidState`. Failures and cancellations are seen by everyone.
    ///
    /// # Cancellation
    ///
    /// A cancellation point, like awaiting the task.
    pub fn join(self) -> Join<T> {
        Join { task: self }
    }

    /// The task's header, for the crate's combinators.
    pub(crate) fn header(&self) -> &Header {
        &self.shared.header
    }

    fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>>
    where
        T: Clone + Send + 'static,
    {
        let shared = &self.shared;
        let outcome = ready!(shared.header.poll_await(&mut self.waiter, &mut self.point, cx, || shared.clone()));
        Poll::Ready(outcome.and_then(|()| self.read_value(false, T::clone)))
    }

    fn read_value(&self, take: bool, clone: impl FnOnce(&T) -> T) -> Result<T, TaskError> {
        let mut slot = lock(&self.shared.value);
        let value = if take { slot.take() } else { slot.as_ref().map(clone) };
        value.ok_or(TaskError::InvalidState)
    }
}

impl<T: Clone> Task<T> {
    /// asyncio's `Task.result()`: the value, or the failure, of a task that is done.
    ///
    /// # Errors
    ///
    /// `TaskError::InvalidState` if the task is not done yet; otherwise the error the task
    /// ended with (a cancellation included, with its message).
    pub fn result(&self) -> Result<T, TaskError> {
        self.shared.header.retrieve().and_then(|()| self.read_value(false, T::clone))
    }
}

impl<T> Clone for Task<T> {
    fn clone(&self) -> Self {
        Task::from_shared(self.shared.clone())
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if self.waiter.is_some() {
            self.shared.header.forget_await(&mut self.waiter, Arc::as_ptr(&self.shared).cast());
        }
    }
}

/// `T: Send + 'static` as every task's value is (`create_task` requires it): awaiting a task
/// makes it where the awaiting task's cancel requests go.
impl<T: Clone + Send + 'static> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outcome = ready!(self.poll_outcome(cx));
        self.yielded = true;
        Poll::Ready(outcome)
    }
}

/// A handle is terminated once it has yielded the outcome as a future, so `futures::select!`
/// does not poll it again; polling it anyway yields the same outcome again. Await a clone
/// (`(&task).await`) to read the outcome once more.
impl<T: Clone + Send + 'static> futures::future::FusedFuture for Task<T> {
    fn is_terminated(&self) -> bool {
        self.yielded
    }
}

impl<T: Clone + Send + 'static> IntoFuture for &Task<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = Task<T>;

    /// Awaiting a borrowed handle awaits a clone of it, so the handle stays usable.
    fn into_future(self) -> Task<T> {
        self.clone()
    }
}

impl<T> PartialEq for Task<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Eq for Task<T> {}

impl<T> std::hash::Hash for Task<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state)
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("state", &self.shared.header.state().as_str())
            .finish()
    }
}

impl<T: Send + 'static> From<Task<T>> for TaskRef {
    fn from(task: Task<T>) -> TaskRef {
        task.as_task_ref()
    }
}

impl<T: Send + 'static> From<&Task<T>> for TaskRef {
    fn from(task: &Task<T>) -> TaskRef {
        task.as_task_ref()
    }
}

/// The future returned by [`Task::join`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Join<T> {
    task: Task<T>,
}

impl<T: Send + 'static> Future for Join<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let task = &mut self.task;
        let shared = &task.shared;
        let outcome = ready!(shared.header.poll_await(&mut task.waiter, &mut task.point, cx, || shared.clone()));
        Poll::Ready(outcome.and_then(|()| lock(&task.shared.value).take().ok_or(TaskError::InvalidState)))
    }
}
