//! `TaskRef`: the type-erased task handle, and `TaskId`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use taskloop_cancel::PointWaker;

use super::{AnyTask, Header, WaiterKey};
use crate::error::TaskError;
use crate::event_loop::Registered;

/// A task's id: unique in the process, and the `N` of its default name `Task-N`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TaskId(u64);

impl TaskId {
    pub(crate) fn next() -> TaskId {
        // asyncio numbers tasks with one counter for the process; so do we.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TaskId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn from_u64(id: u64) -> TaskId {
        TaskId(id)
    }

    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A task's state as [`dump`](crate::dump) shows it: asyncio's `Task.__repr__` states.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum TaskState {
    /// Not done, no cancel request waiting for delivery.
    Pending,
    /// Not done, with a cancel request waiting for delivery at the task's current await.
    Cancelling,
    /// Done with a value or a failure.
    Done,
    /// Done, ended by cancellation.
    Cancelled,
}

impl TaskState {
    /// The state in lower case, as printed: `pending`, `cancelling`, `done`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Cancelling => "cancelling",
            TaskState::Done => "done",
            TaskState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for TaskState {
    /// [`as_str`](Self::as_str), padded as asked (`{:<10}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A handle to a task of any value type: what [`all_tasks`](crate::all_tasks) and
/// [`current_task`](crate::current_task) give.
///
/// It offers everything about a task that does not involve its value; awaiting it gives
/// `Result<(), TaskError>` (the value, if any, stays with the typed [`Task`](crate::Task)).
/// Equal and hashed by task identity, so it can go in a `HashSet` as asyncio's task sets do.
///
/// # Cancellation
///
/// Awaiting a `TaskRef` is a cancellation point that passes a cancellation on to the awaited
/// task, exactly as awaiting a [`Task`](crate::Task).
///
/// # Examples
///
/// ```
/// use taskloop::{all_tasks, create_task, current_task, TaskRef};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let task = create_task(async { anyhow::Ok("value") });
///     let erased: TaskRef = task.as_task_ref();
///     assert!(all_tasks().contains(&erased));
///     assert!(all_tasks().contains(&current_task().unwrap()));
///     erased.clone().await?;
///     assert!(erased.done());
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub struct TaskRef {
    task: Arc<dyn AnyTask>,
    /// This handle's waiter slot while it is being awaited.
    waiter: WaiterKey,
    /// Reaches this handle's await with a cancel request of the awaiting task.
    point: PointWaker,
    /// This handle, polled as a future, has yielded the outcome (`FusedFuture`).
    yielded: bool,
}

impl TaskRef {
    pub(crate) fn from_arc(task: Arc<dyn AnyTask>) -> TaskRef {
        TaskRef { task, waiter: None, point: PointWaker::new(), yielded: false }
    }

    /// The task whose body is being polled on this thread (`current_task()`).
    pub(crate) fn current() -> Option<TaskRef> {
        let scope = taskloop_cancel::with_current_scope(|s| s.cloned())?;
        scope.owner()?.downcast::<TaskRef>().ok().map(|t| *t)
    }

    pub(crate) fn header(&self) -> &Header {
        self.task.header()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.header().id()
    }

    /// The task's name: `Task-N` unless named.
    pub fn name(&self) -> Arc<str> {
        self.header().name()
    }

    /// Renames the task; seen by every handle.
    pub fn set_name(&self, name: impl Into<Arc<str>>) {
        self.header().set_name(name.into())
    }

    /// Whether the task has finished.
    pub fn done(&self) -> bool {
        self.header().is_done()
    }

    /// Whether the task is done and ended by cancellation.
    pub fn cancelled(&self) -> bool {
        self.header().is_cancelled()
    }

    /// Asks the task to stop at its current await; see [`Task::cancel`](crate::Task::cancel).
    pub fn cancel(&self) -> bool {
        self.header().cancel(None)
    }

    /// Asks the task to stop, with a message; see [`Task::cancel_with`](crate::Task::cancel_with).
    pub fn cancel_with(&self, message: impl Into<Arc<str>>) -> bool {
        self.header().cancel(Some(message.into()))
    }

    /// Cancels the task for a block inside it that received a cancellation of its own (a
    /// `Timeout` whose deadline passed): counted as a request, passed on to the task the body
    /// awaits if it awaits one, and otherwise returned for the block's `taskloop_cancel::BlockScope` to deliver. Runtime plumbing for `taskloop-timing`.
    #[doc(hidden)]
    pub fn cancel_block(&self) -> taskloop_cancel::BlockCancel {
        self.header().cancel_block()
    }

    /// The number of cancel requests not withdrawn.
    pub fn cancelling(&self) -> usize {
        self.header().cancelling()
    }

    /// Withdraws one cancel request; see [`Task::uncancel`](crate::Task::uncancel).
    pub fn uncancel(&self) -> usize {
        self.header().transition_to_uncancelled()
    }

    /// Drops the task's body at once, without a message and without waiting for an await;
    /// see [`Task::abort`](crate::Task::abort).
    pub fn abort(&self) {
        self.header().abort()
    }

    /// The failure the task ended with; see [`Task::exception`](crate::Task::exception).
    ///
    /// # Errors
    ///
    /// `InvalidState` if not done; the cancellation if it was cancelled.
    pub fn exception(&self) -> Result<Option<TaskError>, TaskError> {
        self.header().exception()
    }
}

/// The loop's registry hands out `TaskRef`s, and keeps each task's `Arc<dyn AnyTask>`.
impl Registered for TaskRef {
    type Entry = Arc<dyn AnyTask>;

    fn from_entry(entry: &Arc<dyn AnyTask>) -> TaskRef {
        TaskRef::from_arc(entry.clone())
    }

    fn entry_is_done(entry: &Arc<dyn AnyTask>) -> bool {
        entry.header().is_done()
    }

    fn cancel(&self) -> bool {
        TaskRef::cancel(self)
    }

    fn name(&self) -> Arc<str> {
        TaskRef::name(self)
    }

    fn id(&self) -> u64 {
        TaskRef::id(self).as_u64()
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> Self {
        TaskRef::from_arc(self.task.clone())
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        if self.waiter.is_some() {
            self.task.header().forget_await(&mut self.waiter, Arc::as_ptr(&self.task).cast());
        }
    }
}

impl Future for TaskRef {
    type Output = Result<(), TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let task = &this.task;
        let outcome =
            std::task::ready!(task.header().poll_await(&mut this.waiter, &mut this.point, cx, || task.clone()));
        this.yielded = true;
        Poll::Ready(outcome)
    }
}

/// Terminated once it has yielded the outcome as a future; see `Task`'s `FusedFuture`.
impl futures::future::FusedFuture for TaskRef {
    fn is_terminated(&self) -> bool {
        self.yielded
    }
}

impl PartialEq for TaskRef {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for TaskRef {}

impl std::hash::Hash for TaskRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state)
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("state", &self.header().state().as_str())
            .finish()
    }
}
