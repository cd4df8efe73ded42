//! The current cancel scope of this thread, and the futures that consult it.
//!
//! The runtime installs the task being polled as the current [`CancelScope`] with [`enter`]
//! for the length of one poll of its body. A cancellation point asks it for a pending request
//! with [`take_current`]. [`shield`] masks the scope while it polls the future it protects, so
//! nothing inside sees the request.

use std::any::Any;
use std::cell::RefCell;
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

    /// The runtime's handle to the task this scope belongs to, boxed: how the runtime answers
    /// "which task is running?" from the one thread-local it keeps. `None` by default.
    fn owner(self: Arc<Self>) -> Option<Box<dyn Any + Send>> {
        None
    }

    /// Diagnostics: the task is now suspended awaiting the task with this id (`None`: no
    /// longer). The runtime shows it in its task dumps. Does nothing by default.
    fn waiting_on(&self, _task_id: Option<u64>) {}
}

/// What this thread is polling: the current task's scope, and whether a [`shield`] hides it.
struct Current {
    scope: Option<Arc<dyn CancelScope>>,
    masked: bool,
}

thread_local! {
    // One slot for everything, so entering and leaving a task costs one access each.
    static CURRENT: RefCell<Current> = const { RefCell::new(Current { scope: None, masked: false }) };
}

/// A task's cancel scope, ready to be made current: the runtime keeps one per task and
/// [`swap`]s it in before each poll of the task's body and out after.
pub struct ScopeSlot(Current);

impl ScopeSlot {
    /// A slot holding `scope`, unmasked.
    pub fn new(scope: Arc<dyn CancelScope>) -> Self {
        ScopeSlot(Current { scope: Some(scope), masked: false })
    }
}

impl fmt::Debug for ScopeSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeSlot").field("current", &self.0.scope.is_some()).finish()
    }
}

/// Exchanges `slot` with this thread's current scope. Called twice around a poll, it enters
/// the scope and then restores whatever was current before (a shield's mask included).
///
/// A plain exchange with no guard and no reference counting: this runs twice per poll of
/// every task. The caller must call it again even if the poll panics (the runtime polls
/// bodies under `catch_unwind`).
pub fn swap(slot: &mut ScopeSlot) {
    CURRENT.with(|c| std::mem::swap(&mut *c.borrow_mut(), &mut slot.0));
}

/// Hides the current scope's requests from everything polled until the guard is dropped.
pub fn mask() -> Masked {
    Masked { was: CURRENT.with(|c| std::mem::replace(&mut c.borrow_mut().masked, true)) }
}

/// Unmasks when dropped; see [`mask`].
#[must_use = "the mask is lifted as soon as the guard is dropped"]
#[derive(Debug)]
pub struct Masked {
    was: bool,
}

impl Drop for Masked {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().masked = self.was);
    }
}

/// Delivers the current task's pending cancel request, if any: what every cancellation point
/// calls when it is polled. `None` outside a task and inside a [`shield`].
pub fn take_current() -> Option<Cancelled> {
    // `take_cancel` is runtime code that never touches this thread-local, so the shared borrow
    // cannot conflict.
    CURRENT.with(|c| {
        let current = c.borrow();
        if current.masked { None } else { current.scope.as_ref()?.take_cancel() }
    })
}

/// Whether a [`shield`] masks the current scope on this thread now.
pub fn is_masked() -> bool {
    CURRENT.with(|c| c.borrow().masked)
}

/// Calls `f` with the current scope (masked or not): how the runtime finds the running task.
pub fn with_current_scope<R>(f: impl FnOnce(Option<&Arc<dyn CancelScope>>) -> R) -> R {
    CURRENT.with(|c| f(c.borrow().scope.as_ref()))
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
