//! `task_group`: the scoped `TaskGroup`, asyncio's `async with asyncio.TaskGroup() as tg:`.
//!
//! The body runs inside the joining task, as the `async with` block does. A child's failure
//! cancels the body at its current await, as asyncio's `_on_task_done` cancels the parent
//! task, and by the same mechanism as a `Timeout`'s deadline: when the group's first failure
//! wakes the body, the next poll `cancel()`s the task (so `cancelling()` counts it), moves the
//! request at once into a [`BlockScope`] of the body's own, and polls the body under it, so
//! only the body's cancellation points see it; a poll that leaves it untaken drops the body
//! at its foreign await. On the way out (`__aexit__`) the group `uncancel()`s, and absorbs the
//! body's cancellation if that leaves no request (asyncio 3.13's `uncancel() == 0` rule).

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use taskloop_cancel::{BlockScope, Cancelled};

use crate::context::current_task;
use crate::error::TaskError;
use crate::group::{TaskGroup, cancel_all, cancel_for_joiner};
use crate::group_error::TaskGroupError;
use crate::sync::lock;
use crate::task::TaskRef;

/// Runs `body` with a new [`TaskGroup`] and waits for every task in it: asyncio's
/// `async with asyncio.TaskGroup() as tg:` block.
///
/// `body` receives a handle to the group (clone it into children that create siblings) and
/// runs inside the calling task. Then:
///
/// - A child that fails (an error or a panic) cancels the other children **and the body, at
///   its current await**, as asyncio cancels the task running the `async with` block: a
///   cancellation point there resolves to `Err(Cancelled)` (the body may clean up, and
///   should let `?` carry it out), a foreign await (a tokio channel, lock or socket) drops
///   the body there. That cancellation is the group's own: it is absorbed, and the task is
///   left as it was (`cancelling()` back where it was).
/// - A body that fails cancels the children; its error comes last in the group error.
/// - When the body is done, every child is awaited; tasks created meanwhile too.
/// - The result is `Ok(value)` if nothing failed, else [`TaskGroupError`] with every failure
///   (the children the group cancelled are not failures). If the task was cancelled from
///   outside while the group ran, the error carries that cancellation first
///   ([`TaskGroupError::is_cancelled`]), and `?` ends the task cancelled.
///
/// Compared with asyncio: when the task is cancelled from outside *and* children fail, asyncio
/// raises the children's `ExceptionGroup` (and cancels the task again); here the error holds
/// both, and `?` ends the task cancelled (the failures are in the error for a body that looks).
///
/// # Cancellation
///
/// A cancellation point: cancelling the task cancels the body at its current await, then
/// every child (with the same message), and waits for them. Dropping the future drops the
/// body and the group, which cancels the children still running without waiting for them.
///
/// # Panics
///
/// When first polled outside a taskloop task (asyncio raises `RuntimeError: TaskGroup cannot
/// determine the parent task`).
///
/// # Examples
///
/// The "Terminating a Task Group" recipe of the asyncio docs: a child that fails on purpose
/// stops the group, the body included.
///
/// ```
/// use std::time::Duration;
/// use taskloop::{sleep, task_group, Instant, Runtime};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("terminate the task group")]
/// struct TerminateTaskGroup;
///
/// # fn main() -> anyhow::Result<()> {
/// Runtime::builder().start_paused(true).build()?.run(async {
///     let start = Instant::now();
///     let outcome = task_group(|tg| async move {
///         let slow = tg.create_task(async {
///             sleep(Duration::from_secs(10)).await?;
///             anyhow::Ok("slow done")
///         });
///         tg.create_task(async {
///             sleep(Duration::from_secs(1)).await?;
///             Err::<(), anyhow::Error>(TerminateTaskGroup.into())
///         });
///         sleep(Duration::from_secs(60)).await?; // the failing child cancels the body here
///         anyhow::Ok(slow)
///     })
///     .await;
///     assert_eq!(start.elapsed(), Duration::from_secs(1));
///     let error = outcome.unwrap_err();
///     assert!(error.find::<TerminateTaskGroup>().is_some());
///     assert!(!error.is_cancelled(), "the body's cancellation was the group's own");
///     anyhow::Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
pub async fn task_group<F, Fut, R, E>(body: F) -> Result<R, TaskGroupError>
where
    F: FnOnce(TaskGroup) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    E: Into<anyhow::Error>,
{
    let Some(task) = current_task() else {
        panic!("task_group() must be awaited inside a taskloop task: there is no task for a failing child to cancel");
    };
    let group = TaskGroup::new();
    let mut body = pin!(Some(body(group.clone())));
    // The request the group made to cancel the body, withdrawn on the way out (or if this
    // future is dropped first).
    let mut ours = OwnRequest { task, made: false };
    let mut scope: Option<Arc<BlockScope>> = None;

    let ended: Result<R, TaskError> = poll_fn(|cx| {
        {
            let mut st = lock(&group.shared);
            if st.is_aborting() {
                if !ours.made {
                    // A child failed: cancel the task running the body, as asyncio does, and
                    // take the request back into the body's own scope at once.
                    drop(st);
                    ours.made = true;
                    let _accepted = ours.task.cancel();
                    scope = Some(BlockScope::take_from_current());
                }
            } else if !st.body.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.body = Some(cx.waker().clone());
            }
        }
        let Some(fut) = body.as_mut().as_pin_mut() else {
            unreachable!("the body is polled until it ends, then never again");
        };
        let polled = match &scope {
            Some(scope) => {
                let armed = scope.is_pending();
                let polled = scope.poll_within(|| fut.poll(cx));
                if polled.is_pending()
                    && armed
                    && let Some(cancelled) = scope.take_own()
                {
                    // No cancellation point in the body took the group's request during a
                    // whole poll: the body awaits foreign futures only, and ends there.
                    body.set(None);
                    return Poll::Ready(Err(TaskError::Cancelled(cancelled)));
                }
                polled
            }
            None => fut.poll(cx),
        };
        polled.map(|r| r.map_err(|e| TaskError::from_body_error(e.into())))
    })
    .await;
    body.set(None);
    drop(scope);
    let body_waker = lock(&group.shared).body.take();
    drop(body_waker);

    // asyncio's `__aexit__`: a body that ended with an error aborts the group; one cancelled
    // from outside (the group had not failed) passes the cancellation on to the children.
    let mut value = None;
    let mut cancelled_in_body: Option<Cancelled> = None;
    let mut body_failure = None;
    match ended {
        Ok(v) => value = Some(v),
        Err(TaskError::Cancelled(cancelled)) => {
            if lock(&group.shared).is_aborting() {
                cancelled_in_body = Some(cancelled);
            } else {
                cancel_for_joiner(&group.shared, cancelled);
            }
        }
        Err(failure) => {
            let to_cancel = lock(&group.shared).abort();
            cancel_all(to_cancel, None);
            body_failure = Some(failure);
        }
    }
    let joined = group.join().await;

    if ours.made {
        ours.made = false;
        if ours.task.uncancel() == 0 {
            // Nobody else asked the task to stop: the body's cancellation was the group's own.
            cancelled_in_body = None;
        }
    }
    let mut errors = joined.err().map(TaskGroupError::into_errors).unwrap_or_default();
    if let Some(cancelled) = cancelled_in_body
        && !errors.first().is_some_and(TaskError::is_cancelled)
    {
        errors.insert(0, TaskError::Cancelled(cancelled));
    }
    errors.extend(body_failure);
    match value {
        Some(value) if errors.is_empty() => Ok(value),
        // The body ended without a value only by failing or by a cancellation, and either is
        // in `errors` (the group cancels the body only after a child failed, which is there).
        _ if errors.is_empty() => Err(TaskGroupError::new(vec![TaskError::Cancelled(Cancelled::new())])),
        _ => Err(TaskGroupError::new(errors)),
    }
}

/// The group's cancel request to its task, withdrawn if the scope is dropped before exiting.
struct OwnRequest {
    task: TaskRef,
    made: bool,
}

impl Drop for OwnRequest {
    fn drop(&mut self) {
        if self.made {
            self.task.uncancel();
        }
    }
}
