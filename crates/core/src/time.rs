//! Suspending a task: `sleep` and `yield_now`, both cancellation points.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use taskloop_cancel::{Cancelled, PointWaker};

/// Suspends the current task for `duration`: asyncio's `asyncio.sleep()`.
///
/// `sleep(Duration::ZERO)` only yields to the other ready tasks, like `asyncio.sleep(0)`. A
/// duration too large for the clock (`Duration::MAX`) sleeps forever rather than overflowing.
/// Time is tokio's, so a loop with paused time (`Builder::start_paused`) skips ahead.
///
/// On the multi-thread loop, tasks whose sleeps end at the same instant resume in no set
/// order (they may run at once, on different workers); when the order matters, chain the
/// steps, or schedule callbacks with `call_later`/`call_at`, which run in the order scheduled
/// on both flavours.
///
/// # Cancellation
///
/// A cancellation point: resolves to `Err(Cancelled)` as soon as the task is cancelled, with
/// the request's message. A cancel request wins over a timer that expired at the same time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{create_task, sleep};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let sleeper = create_task(async {
///         match sleep(Duration::from_secs(3600)).await {
///             Err(cancelled) => anyhow::Ok(format!("woken by {cancelled}")),
///             Ok(()) => anyhow::Ok("slept".to_owned()),
///         }
///     });
///     sleep(Duration::ZERO).await?;
///     sleeper.cancel_with("the alarm");
///     assert_eq!(sleeper.await?, "woken by cancelled: the alarm");
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[inline]
pub fn sleep(duration: Duration) -> Sleep {
    let wait = if duration.is_zero() {
        Wait::Yield { yielded: false }
    } else {
        Wait::Timer { timer: tokio::time::sleep(duration) }
    };
    Sleep { wait, point: PointWaker::new() }
}

pin_project! {
    /// The future returned by [`sleep`].
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct Sleep {
        #[pin]
        wait: Wait,
        point: PointWaker,
    }
}

pin_project! {
    /// What a [`Sleep`] waits for. An enum rather than an optional timer beside a flag, so the
    /// flag fits in the timer's spare bits: a body's future is moved by value when it is
    /// spawned, and a few bytes decide whether that copy is inlined.
    #[project = WaitProj]
    #[derive(Debug)]
    enum Wait {
        Timer { #[pin] timer: tokio::time::Sleep },
        Yield { yielded: bool },
    }
}

impl Future for Sleep {
    type Output = Result<(), Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(cancelled) = this.point.poll_cancel(cx) {
            return Poll::Ready(Err(cancelled));
        }
        match this.wait.project() {
            WaitProj::Timer { timer } => timer.poll(cx).map(Ok),
            WaitProj::Yield { yielded } => yield_once(yielded, cx),
        }
    }
}

/// Lets the other ready tasks run, then resumes: asyncio's `await asyncio.sleep(0)`.
///
/// # Cancellation
///
/// A cancellation point, checked both before and after the yield.
///
/// # Examples
///
/// ```
/// use taskloop::{create_task, yield_now};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let task = create_task(async { anyhow::Ok(()) });
///     assert!(!task.done());
///     yield_now().await?; // the task gets its turn
///     assert!(task.done());
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false, point: PointWaker::new() }
}

/// The future returned by [`yield_now`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
    point: PointWaker,
}

impl Future for YieldNow {
    type Output = Result<(), Cancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Some(cancelled) = this.point.poll_cancel(cx) {
            return Poll::Ready(Err(cancelled));
        }
        yield_once(&mut this.yielded, cx)
    }
}

/// Pending once, having asked to be polled again. A task that wakes itself while being
/// polled is put at the back of tokio's run queue (both flavours), so the others run first.
fn yield_once(yielded: &mut bool, cx: &mut Context<'_>) -> Poll<Result<(), Cancelled>> {
    if *yielded {
        return Poll::Ready(Ok(()));
    }
    *yielded = true;
    cx.waker().wake_by_ref();
    taskloop_cancel::note_bare_yield();
    Poll::Pending
}
