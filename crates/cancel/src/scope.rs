//! The current cancel scope of this thread, and the futures that consult it.
//!
//! The runtime installs the task being polled as the current [`CancelScope`] with [`enter`]
//! for the length of one poll of its body. A cancellation point asks it for a pending request
//! with [`take_current`]. [`shield`] masks the scope while it polls the future it protects, so
//! nothing inside sees the request.

use std::cell::Cell;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::Cancelled;

/// Something that can be cancelled: in practice a taskloop task.
///
/// The runtime implements it for its tasks; a cancellation point calls
/// [`take_cancel`](Self::take_cancel) on the current scope each time it is polled.
pub trait CancelScope: Send + Sync {
    /// Delivers the pending cancel request, if there is one. Must be cheap when there is none:
    /// every poll of every cancellation point calls it.
    fn take_cancel(&self) -> Option<Cancelled>;
}

thread_local! {
    static CURRENT: Cell<Option<Arc<dyn CancelScope>>> = const { Cell::new(None) };
    static MASKED: Cell<bool> = const { Cell::new(false) };
}

/// Makes `scope` the current cancel scope of this thread until the guard is dropped or
/// [`exit`](Entered::exit)ed; called by the runtime around each poll of a task body.
///
/// Moving the scope in and out (rather than cloning it) keeps a poll free of reference-count
/// traffic.
pub fn enter(scope: Arc<dyn CancelScope>) -> Entered {
    let previous = CURRENT.with(|c| c.replace(Some(scope)));
    let masked = MASKED.with(|m| m.replace(false));
    Entered { previous: Some(previous), masked }
}

/// Restores the previous scope when dropped; see [`enter`].
#[must_use = "the scope is left as soon as the guard is dropped"]
pub struct Entered {
    previous: Option<Option<Arc<dyn CancelScope>>>,
    masked: bool,
}

impl Entered {
    /// Leaves the scope and gives it back to the caller.
    pub fn exit(mut self) -> Option<Arc<dyn CancelScope>> {
        self.restore()
    }

    fn restore(&mut self) -> Option<Arc<dyn CancelScope>> {
        let previous = self.previous.take()?;
        MASKED.with(|m| m.set(self.masked));
        CURRENT.with(|c| c.replace(previous))
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        drop(self.restore());
    }
}

impl fmt::Debug for Entered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entered").finish_non_exhaustive()
    }
}

/// Hides the current scope's requests from everything polled until the guard is dropped.
pub fn mask() -> Masked {
    Masked { was: MASKED.with(|m| m.replace(true)) }
}

/// Unmasks when dropped; see [`mask`].
#[must_use = "the mask is lifted as soon as the guard is dropped"]
#[derive(Debug)]
pub struct Masked {
    was: bool,
}

impl Drop for Masked {
    fn drop(&mut self) {
        MASKED.with(|m| m.set(self.was));
    }
}

/// Delivers the current task's pending cancel request, if any: what every cancellation point
/// calls when it is polled. `None` outside a task and inside a [`shield`].
pub fn take_current() -> Option<Cancelled> {
    if MASKED.with(Cell::get) {
        return None;
    }
    CURRENT.with(|c| {
        // Take the scope out for the call and put it back: `take_cancel` is runtime code that
        // never re-enters this function, and this avoids cloning the `Arc`.
        let scope = c.take();
        let taken = scope.as_ref().and_then(|s| s.take_cancel());
        c.set(scope);
        taken
    })
}

/// Turns any future into a cancellation point: asyncio's behaviour for every `await`.
///
/// The result resolves to `Ok(output)`, or to `Err(Cancelled)` as soon as the task polling it
/// is cancelled (before `fut` completes). The inner future is then no longer polled; it is
/// dropped with the `Cancellable`.
///
/// # Cancellation
///
/// A cancellation point: each poll first delivers a pending request of the current task.
///
/// # Examples
///
/// ```
/// use taskloop::{cancellable, create_task, yield_now};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     // A future that knows nothing of taskloop, and never completes.
///     let foreign = std::future::pending::<u32>();
///     let waiter = create_task(async move { Ok::<_, anyhow::Error>(cancellable(foreign).await?) });
///     yield_now().await?;
///     waiter.cancel();
///     assert!((&waiter).await.unwrap_err().is_cancelled());
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn cancellable<F: IntoFuture>(fut: F) -> Cancellable<F::IntoFuture> {
    Cancellable { inner: fut.into_future() }
}

pin_project! {
    /// The future returned by [`cancellable`].
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct Cancellable<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Cancellable<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(cancelled) = take_current() {
            return Poll::Ready(Err(cancelled));
        }
        self.project().inner.poll(cx).map(Ok)
    }
}

/// Protects a future from the cancellation of the task awaiting it: asyncio's `shield`.
///
/// While `fut` runs, cancellation points inside it do not see the awaiting task's requests.
/// If the awaiting task is cancelled, the `Shield` resolves to `Err(Cancelled)` at once, as
/// in asyncio, without cancelling `fut`. `fut` is dropped with the `Shield`, so to let the
/// protected work run on after that, shield a [`Task`](../taskloop/struct.Task.html) (dropping
/// a task handle does not stop the task), as asyncio's `shield` does when it wraps a
/// coroutine in a task.
///
/// # Cancellation
///
/// A cancellation point for the awaiting task, never for `fut`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{create_task, shield, sleep};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let work = create_task(async {
///         sleep(Duration::from_millis(5)).await?;
///         anyhow::Ok(7)
///     });
///     let guarded = work.clone();
///     let waiter = create_task(async move { Ok::<_, anyhow::Error>(shield(guarded).await??) });
///     sleep(Duration::from_millis(1)).await?;
///     waiter.cancel();
///     assert!((&waiter).await.unwrap_err().is_cancelled());
///     assert_eq!(work.await?, 7, "the shielded task ran on");
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn shield<F: IntoFuture>(fut: F) -> Shield<F::IntoFuture> {
    Shield { inner: fut.into_future() }
}

pin_project! {
    /// The future returned by [`shield`].
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct Shield<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Shield<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(cancelled) = take_current() {
            return Poll::Ready(Err(cancelled));
        }
        let _masked = mask();
        self.project().inner.poll(cx).map(Ok)
    }
}
