//! `TaskGroup`: tasks that succeed or fail together, asyncio's `asyncio.TaskGroup`.
//!
//! The group learns of each child's end through a done callback, as asyncio's
//! `_on_task_done` does: the callback removes the child from the group's slab of running
//! tasks (O(1)), records a failure, and at the first failure cancels the others. `join` only
//! waits for the slab to empty. Every field sits behind one mutex, which is never held while
//! a task is cancelled or a waker woken: those are collected under it and acted on after.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use slab::Slab;
use taskloop_cancel::{Cancelled, PointWaker};

use crate::error::TaskError;
use crate::group_error::TaskGroupError;
use crate::spawn::create_task;
use crate::sync::lock;
use crate::task::{Task, TaskRef};

/// A set of tasks that finish together: asyncio's `asyncio.TaskGroup`.
///
/// The scoped form, [`task_group`](crate::task_group)`(|tg| async move { … })`, is asyncio's
/// `async with asyncio.TaskGroup() as tg:` block, body included: prefer it. This type is the
/// group itself, usable on its own as below.
///
/// Create tasks with [`create_task`](Self::create_task), then [`join`](Self::join) the
/// group, which is asyncio's `async with` exit: it waits for every task. The first task to
/// fail (an error or a panic) makes the group cancel every other task still running (each
/// at its current await, so a sibling waiting on a tokio future ends too), and `join`
/// returns a [`TaskGroupError`] with every failure, in the order they happened. Siblings ending cancelled
/// because of that are not failures, and neither is a task that ends cancelled on its own (a
/// sibling that catches the cancellation and then fails *is* one). The group reads its
/// children's outcomes, so their failures are never reported as never retrieved.
///
/// Differences from asyncio:
///
/// - Used on its own (not through [`task_group`](crate::task_group)), a failing child does
///   not cancel the task that owns the group (asyncio cancels the `async with` body to bring
///   it to `__aexit__` early); the failure waits for `join`.
/// - A group dropped without being joined cancels the tasks still running, since it cannot
///   wait for them; failures no one joined are then reported to the exception handler as
///   never retrieved.
/// - `create_task` while the group is shutting down (after a failure, or while a cancelled
///   `join` waits) gives a task that is cancelled before it starts, rather than asyncio's
///   `RuntimeError`, so a sibling spawning work need not handle an error.
///
/// To let children add siblings, give them a clone of the group (every clone is the same
/// group; it is dropped when the last clone goes); tasks created while `join` waits are
/// waited for too. The handle `create_task` returns may be dropped: the group keeps the task.
///
/// # Cancellation
///
/// [`join`](Self::join) is a cancellation point: cancelling the joining task cancels every
/// task of the group (with the same message), waits for all of them to finish, and `join`
/// fails with that cancellation first in the [`TaskGroupError`]
/// ([`is_cancelled`](TaskGroupError::is_cancelled)), followed by the failures of children (a
/// child that fails while being cancelled is still reported; asyncio gives such failures
/// priority over the `CancelledError`). `join().await?` then ends the task cancelled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{sleep, TaskGroup};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let group = TaskGroup::new();
///     let quick = group.create_task(async { anyhow::Ok(1) });
///     let slow = group.create_task(async {
///         sleep(Duration::from_secs(60)).await?;
///         anyhow::Ok(2)
///     });
///     let broken = group.create_task(async {
///         sleep(Duration::from_millis(10)).await?;
///         anyhow::bail!("disk full") as anyhow::Result<i32>
///     });
///     let failures = group.join().await.unwrap_err();
///     assert_eq!(failures.len(), 1, "the cancelled sibling is not a failure");
///     assert_eq!(failures.errors()[0].to_string(), "disk full");
///     assert_eq!(quick.result()?, 1);
///     assert!(slow.cancelled(), "the first failure cancelled the rest");
///     assert!(broken.exception()?.is_some());
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[must_use = "a group cancels its tasks when dropped; `join` it to wait for them"]
pub struct TaskGroup {
    pub(crate) shared: Arc<Mutex<GroupState>>,
    /// Shared by the clones of this handle: when the last one goes, the group is dropped.
    _owner: Arc<Owner>,
}

/// The group's handles, counted: its `Drop` is the group's.
struct Owner(Arc<Mutex<GroupState>>);

impl Clone for TaskGroup {
    /// Another handle to the same group (for a child to create siblings, or the body of the
    /// scoped form). The group is dropped, and cancels what is left unjoined, when the last
    /// handle goes.
    fn clone(&self) -> Self {
        TaskGroup { shared: self.shared.clone(), _owner: self._owner.clone() }
    }
}

/// Everything the group knows; see the module docs.
#[derive(Default)]
pub(crate) struct GroupState {
    /// The children whose done callback has not run yet.
    running: Slab<TaskRef>,
    /// Failures in the order the callbacks saw them.
    failures: Vec<TaskError>,
    /// A failure or a cancelled `join` has cancelled the children; new ones start cancelled.
    aborting: bool,
    /// The cancellation a `join` took from its task.
    join_cancelled: Option<Cancelled>,
    /// The wakers of the `join`s waiting for `running` to empty.
    joiners: Slab<Waker>,
    /// `join` has returned this; the group takes no more tasks.
    finished: Option<Result<(), TaskGroupError>>,
    /// The scoped form's waker while its body runs: woken at the first failure, so that the
    /// body is cancelled (asyncio cancels the parent task).
    pub(crate) body: Option<Waker>,
    /// The `TaskGroup` was dropped: leave failures unretrieved so they get reported.
    dropped: bool,
}

impl GroupState {
    /// Starts aborting: returns the children to cancel, for the caller to cancel unlocked.
    pub(crate) fn abort(&mut self) -> Vec<TaskRef> {
        if self.aborting {
            return Vec::new();
        }
        self.aborting = true;
        self.running.iter().map(|(_, t)| t.clone()).collect()
    }

    /// Whether a child failed (or the group is otherwise shutting down).
    pub(crate) fn is_aborting(&self) -> bool {
        self.aborting
    }

    /// Whether the waiting is over; if so, the wakers of the joiners to wake. Their slots
    /// stay theirs (each join frees its own), so a key is never reused under its owner.
    fn wake_joiners_if_idle(&self) -> Vec<Waker> {
        if self.running.is_empty() { self.all_joiners() } else { Vec::new() }
    }

    fn all_joiners(&self) -> Vec<Waker> {
        self.joiners.iter().map(|(_, w)| w.clone()).collect()
    }
}

pub(crate) fn cancel_all(tasks: Vec<TaskRef>, cancelled: Option<&Cancelled>) {
    let message = cancelled.and_then(|c| c.message_arc().cloned());
    for task in tasks {
        task.header().cancel(message.clone());
    }
}

impl TaskGroup {
    /// An empty group: asyncio's `asyncio.TaskGroup()`. Needs no running loop until its first
    /// task.
    pub fn new() -> Self {
        let shared = Arc::new(Mutex::new(GroupState::default()));
        TaskGroup { _owner: Arc::new(Owner(shared.clone())), shared }
    }

    /// Creates a task in the group: asyncio's `TaskGroup.create_task()`.
    ///
    /// Like [`create_task`](crate::create_task), and the group watches the task. The group
    /// keeps the task, so the returned handle may be dropped (it is not `#[must_use]`, unlike
    /// `create_task`'s):
    ///
    /// ```
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     taskloop::task_group(|tg| async move {
    ///         tg.create_task(async { anyhow::Ok(()) }); // no warning
    ///         anyhow::Ok(())
    ///     })
    ///     .await?;
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    ///
    /// ```compile_fail
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     // error: unused return value of `create_task` that must be used
    ///     taskloop::create_task(async { anyhow::Ok(()) });
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    ///
    /// While the group is shutting down (a task failed, or a `join` was cancelled) the task is cancelled
    /// before it starts, so its body never runs.
    ///
    /// # Panics
    ///
    /// Outside a running loop, like `create_task`; and once [`join`](Self::join) has returned
    /// (asyncio raises `RuntimeError: TaskGroup is finished`).
    #[track_caller]
    pub fn create_task<F, T, E>(&self, fut: F) -> Task<T>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<anyhow::Error>,
    {
        if lock(&self.shared).finished.is_some() {
            panic!("TaskGroup::create_task: the group is finished (join has returned)");
        }
        let task = create_task(fut);
        let (key, aborting) = {
            let mut st = lock(&self.shared);
            // Checked again with the insertion, in one critical section: a `create_task`
            // racing the end of `join` is either joined, or refused here, never lost.
            if st.finished.is_some() {
                drop(st);
                task.cancel();
                panic!("TaskGroup::create_task: the group is finished (join has returned)");
            }
            (st.running.insert(task.as_task_ref()), st.aborting)
        };
        if aborting {
            task.cancel();
        }
        let shared = self.shared.clone();
        task.add_done_callback(move |_| on_task_done(&shared, key));
        task
    }

    /// Waits for every task of the group: the end of asyncio's `async with TaskGroup()`.
    ///
    /// `Ok(())` if no task failed; else a [`TaskGroupError`] with every failure, in the order
    /// the tasks failed (see the [type docs](Self) for what counts). It is a
    /// `std::error::Error`, so `join().await?` works in a body returning `anyhow::Result`. An empty group is joined at once. Once `join`
    /// has returned, joining again gives the same result and `create_task` panics.
    ///
    /// # Cancellation
    ///
    /// A cancellation point: cancelling the joining task cancels every task of the group,
    /// waits for them, and fails with the `TaskError::Cancelled` first in the error, followed
    /// by any failures; `?` on that error ends the task cancelled. Dropping the `join` future unfinished cancels nothing (dropping the
    /// group does).
    pub fn join(&self) -> GroupJoin<'_> {
        GroupJoin { group: self, key: None, point: PointWaker::new() }
    }
}

/// The done callback of every child: forgets it, records a failure, and at the first failure
/// cancels the others.
fn on_task_done(shared: &Mutex<GroupState>, key: usize) {
    let to_cancel_and_wake = {
        let mut st = lock(shared);
        let Some(task) = st.running.try_remove(key) else { return };
        // Reading the outcome marks it retrieved; a dropped group leaves it to be reported.
        let outcome = task.header().outcome(!st.dropped);
        let mut to_cancel = Vec::new();
        let mut body = None;
        let mut first_failure = false;
        if let Some(Err(error)) = outcome
            && !error.is_cancelled()
        {
            st.failures.push(error);
            first_failure = !st.is_aborting();
            to_cancel = st.abort();
            body = st.body.take();
        }
        // At the first failure asyncio cancels the task in `async with`: one waiting in
        // `__aexit__` wakes (after the siblings' cancellations), and waits again if tasks
        // remain. A join woken here does the same, so that it ends where asyncio's does when
        // the rest have finished by then.
        let joiners = if first_failure { st.all_joiners() } else { st.wake_joiners_if_idle() };
        (to_cancel, joiners, body)
    };
    let (to_cancel, to_wake, body) = to_cancel_and_wake;
    cancel_all(to_cancel, None);
    to_wake.into_iter().chain(body).for_each(Waker::wake);
}

impl Default for TaskGroup {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let to_cancel = {
            let mut st = lock(&self.0);
            st.dropped = true;
            if st.finished.is_some() { Vec::new() } else { st.abort() }
        };
        cancel_all(to_cancel, None);
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.shared);
        f.debug_struct("TaskGroup")
            .field("running", &st.running.len())
            .field("failures", &st.failures.len())
            .field("aborting", &st.aborting)
            .field("finished", &st.finished.is_some())
            .finish()
    }
}

/// The future returned by [`TaskGroup::join`].
#[must_use = "futures do nothing unless awaited"]
pub struct GroupJoin<'a> {
    group: &'a TaskGroup,
    /// This join's slot in `joiners` while it waits.
    key: Option<usize>,
    /// Reaches the join with a cancel request of the task awaiting it.
    point: PointWaker,
}

/// The joining task's cancellation reached the group (its `join`, or the scoped form's body):
/// cancel every child with it, and have `join` report it. Only the first counts.
pub(crate) fn cancel_for_joiner(shared: &Mutex<GroupState>, cancelled: Cancelled) {
    let mut st = lock(shared);
    if st.join_cancelled.is_some() {
        return;
    }
    let to_cancel = st.abort();
    st.join_cancelled = Some(cancelled.clone());
    drop(st);
    cancel_all(to_cancel, Some(&cancelled));
}

impl Future for GroupJoin<'_> {
    type Output = Result<(), TaskGroupError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = &this.group.shared;
        let mut st = lock(shared);
        if let Some(result) = &st.finished {
            return Poll::Ready(result.clone());
        }
        if !st.running.is_empty() || this.key.is_some() {
            // Taking the request locks the current task's state: not under our lock. A
            // request after the first is absorbed, as asyncio's `__aexit__` does: the group
            // is already cancelling its tasks and waits for them. A join that found nothing
            // to wait for never suspended, and delivers nothing (asyncio's `__aexit__`
            // awaits only while tasks remain); one that waited does, even if the last task
            // has just ended.
            drop(st);
            if let Some(cancelled) = this.point.poll_cancel(cx) {
                cancel_for_joiner(shared, cancelled);
            }
            st = lock(shared);
        }
        if st.running.is_empty() {
            if let Some(key) = this.key.take() {
                st.joiners.try_remove(key);
            }
            let mut errors: Vec<TaskError> = st.join_cancelled.iter().cloned().map(TaskError::Cancelled).collect();
            errors.extend(st.failures.iter().cloned());
            let result = if errors.is_empty() { Ok(()) } else { Err(TaskGroupError::new(errors)) };
            st.finished = Some(result.clone());
            // After `finished` is set no join registers again, and a stale key finds the slab
            // empty, so draining is safe here.
            let to_wake: Vec<Waker> = st.joiners.drain().collect();
            drop(st);
            to_wake.into_iter().for_each(Waker::wake);
            return Poll::Ready(result);
        }
        let replaced = match this.key.and_then(|k| st.joiners.get_mut(k)) {
            Some(slot) if slot.will_wake(cx.waker()) => None,
            Some(slot) => Some(std::mem::replace(slot, cx.waker().clone())),
            None => {
                this.key = Some(st.joiners.insert(cx.waker().clone()));
                None
            }
        };
        drop(st);
        drop(replaced);
        Poll::Pending
    }
}

impl Drop for GroupJoin<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let removed = lock(&self.group.shared).joiners.try_remove(key);
            drop(removed);
        }
    }
}

impl fmt::Debug for GroupJoin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupJoin").field("group", self.group).finish()
    }
}
