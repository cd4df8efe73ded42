//! Waiting for many tasks: `wait`.

use std::future::{Future, poll_fn};

use std::task::Poll;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use taskloop_cancel::PointWaker;

use crate::error::TaskError;
pub(crate) use crate::task::Done;
use crate::task::TaskRef;

/// When [`wait`] returns: asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any task is done (or all, if none was pending).
    FirstCompleted,
    /// As soon as any task fails or panics (a cancellation does not count), else when all
    /// are done.
    FirstException,
    /// When every task is done.
    AllCompleted,
}

/// Waits for tasks without cancelling them: asyncio's `asyncio.wait()`.
///
/// Resolves to `(done, pending)`: the handles it was given (`Task<T>`, `&Task<T>` clones, or
/// `TaskRef`), split by whether each task is done, in the order given. With a `timeout` it
/// returns when time runs out, with the unfinished tasks in `pending`; they keep running.
/// Outcomes are not retrieved: read them from the handles. An empty input returns
/// `([], [])` at once.
///
/// # Cancellation
///
/// A cancellation point. Cancelling the waiting task ends the wait with
/// `Err(TaskError::Cancelled)` and, as in asyncio, does not cancel the tasks waited for.
///
/// # Futures
///
/// It takes tasks, not futures (asyncio 3.11+ refuses coroutines here too): start them first,
/// `wait(futures.into_iter().map(create_task).collect::<Vec<_>>(), ReturnWhen::AllCompleted,
/// None)`, keeping the handles to read the outcomes. (Accepting futures as well would leave
/// the compiler unable to infer the handle type of `wait([a, b], ..)`.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{create_task, sleep, wait, ReturnWhen};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let fast = create_task(async { anyhow::Ok("fast") });
///     let slow = create_task(async {
///         sleep(Duration::from_secs(60)).await?;
///         anyhow::Ok("slow")
///     });
///     let (done, pending) = wait([fast.clone(), slow.clone()], ReturnWhen::FirstCompleted, None).await?;
///     assert_eq!((done, pending), (vec![fast], vec![slow.clone()]));
///     slow.cancel();
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub async fn wait<H>(
    tasks: impl IntoIterator<Item = H>,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
) -> Result<(Vec<H>, Vec<H>), TaskError>
where
    H: Clone + Into<TaskRef>,
{
    let handles: Vec<H> = tasks.into_iter().collect();
    let refs: Vec<TaskRef> = handles.iter().cloned().map(Into::into).collect();
    let finished = |r: &TaskRef| match return_when {
        ReturnWhen::FirstCompleted => true,
        ReturnWhen::FirstException => r.header().failed(),
        ReturnWhen::AllCompleted => false,
    };

    let already = refs.iter().any(|r| r.done() && finished(r));
    let mut waiting: FuturesUnordered<Done> =
        refs.iter().enumerate().filter(|(_, r)| !r.done()).map(|(i, r)| Done::new(r.clone(), i)).collect();
    if !refs.is_empty() {
        // As asyncio's `wait`, which always awaits a future of its own that a done callback of
        // the tasks completes: it resumes two loop iterations after what it waits for
        // happened (the callback runs, then the wake-up), and at least that late when that
        // happened before the call. Here a finishing task wakes it directly, so it yields once
        // more after waiting, twice after not waiting; each poll is where a cancellation is
        // delivered.
        let mut wait_more = !already && !waiting.is_empty();
        let mut suspended = false;
        let mut hops: Option<u8> = None;
        let mut deadline = timeout.filter(|_| wait_more).map(|d| Box::pin(tokio::time::sleep(d)));
        let mut point = PointWaker::new();
        poll_fn(|cx| {
            if let Some(cancelled) = point.poll_cancel(cx) {
                return Poll::Ready(Err(TaskError::Cancelled(cancelled)));
            }
            while wait_more && let Poll::Ready(next) = waiting.poll_next_unpin(cx) {
                match next {
                    Some(index) if !finished(&refs[index]) => {}
                    _ => wait_more = false,
                }
            }
            if wait_more && let Some(Poll::Ready(())) = deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                // The deadline's timer wakes this task where asyncio's timer callback would
                // queue its wake-up, as a `sleep` does: no hop to add.
                wait_more = false;
                hops = Some(0);
            }
            if wait_more {
                suspended = true;
                return Poll::Pending;
            }
            let left = hops.get_or_insert(if suspended { 1 } else { 2 });
            if *left > 0 {
                *left -= 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        })
        .await?;
    }
    drop(waiting);

    let mut done = Vec::new();
    let mut pending = Vec::new();
    for (handle, r) in handles.into_iter().zip(&refs) {
        if r.done() { done.push(handle) } else { pending.push(handle) }
    }
    Ok((done, pending))
}
