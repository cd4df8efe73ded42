//! The current cancel scope of this thread, and the futures that consult it.
//!
//! The runtime installs the task being polled as the current [`CancelScope`] with [`swap_in`]
//! for the length of one poll of its body, together with the identity of the waker it is
//! polled with. A cancellation point asks the scope for a pending request through its
//! [`PointWaker`], which also makes sure that a later request wakes the point itself when the
//! point is polled with some other waker (inside a `FuturesUnordered`, say). [`shield`] masks
//! the scope while it polls the future it protects, so nothing inside sees the request.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use crate::Cancelled;

/// Something that can be cancelled: in practice a taskloop task.
///
/// The runtime implements it for its tasks; a cancellation point calls
/// [`take_cancel`](Self::take_cancel) on the current scope each time it is polled.
pub trait CancelScope: Send + Sync {
    /// Delivers the pending cancel request, if a cancellation point may deliver it now (for a
    /// task: one made before its current poll began, see [`take_request`](Self::take_request)
    /// for the rest). Must be cheap when there is none: every poll of every point calls it,
    /// unless the scope was made current with [`ScopeSlot::for_poll`] and `may_deliver: false`.
    fn take_cancel(&self) -> Option<Cancelled>;

    /// Takes a pending request even if no cancellation point may deliver it yet (one the task
    /// made during its current poll): for the runtime's own scopes, such as a `Timeout` moving
    /// its deadline's request into its block. Defaults to [`take_cancel`](Self::take_cancel).
    fn take_request(&self) -> Option<Cancelled> {
        self.take_cancel()
    }

    /// The runtime's handle to the task this scope belongs to, boxed: how the runtime answers
    /// "which task is running?" from the one thread-local it keeps. `None` by default.
    fn owner(self: Arc<Self>) -> Option<Box<dyn Any + Send>> {
        None
    }

    /// The task is suspending at an await that takes its cancel requests itself, `target`
    /// (awaiting another task, a `gather`): until the task next suspends elsewhere, a request
    /// made while it is suspended is passed to `target` at once, as asyncio's `Task.cancel()`
    /// calls `cancel()` on the future the task waits on. Does nothing by default.
    fn forward_to(&self, _target: Arc<dyn Forward>) {}

    /// The await that registered the target at address `target` with
    /// [`forward_to`](Self::forward_to) was dropped before it finished: requests no longer go
    /// there. Does nothing by default.
    fn end_forward(&self, _target: *const u8) {}

    /// Whether this scope belongs to the task whose header is at `task` (a scope nested in a
    /// task, such as a `Timeout`'s block, answers for its task). By default, whether this
    /// scope is at `task`.
    fn is_task(&self, task: *const u8) -> bool {
        std::ptr::eq(std::ptr::from_ref(self).cast::<u8>(), task)
    }

    /// Keeps `waker`, the waker of a cancellation point suspended in this scope, to be woken
    /// when a cancel request arrives: in slot `key` if given (replacing what it held), else in
    /// a new slot. Returns the slot, or `None` if this scope keeps no wakers (the default).
    fn register_point(&self, _waker: &Waker, _key: Option<usize>) -> Option<usize> {
        None
    }

    /// Frees a slot [`register_point`](Self::register_point) returned.
    fn forget_point(&self, _key: usize) {}
}

/// What a task suspended at an await passes its cancel requests to, instead of keeping them
/// for its next poll: asyncio's `_fut_waiter`, whose `cancel()` its task's `cancel()` calls.
/// Awaiting a task forwards to that task; a `gather` to its children.
pub trait Forward: Send + Sync {
    /// Passes a request on; `false` if what the task awaits has already finished (asyncio's
    /// `_fut_waiter.cancel()` returning `False`), and the request then waits for the task's
    /// next poll as any other does.
    fn forward(&self, message: Option<Arc<str>>) -> bool;

    /// Diagnostics: the id of the task this forwards to, if it is one task.
    fn task_id(&self) -> Option<u64> {
        None
    }
}

/// Registers `target` with the current scope as where its task's cancel requests go while it
/// is suspended here (see [`CancelScope::forward_to`]); `target` is only built when there is
/// an unmasked scope (inside a [`shield`], requests do not go down). `awaited` is the address
/// of the task awaited, if it is one: returns `false`, registering nothing, if that is the
/// current task itself (a task awaiting itself would wait forever).
#[inline]
pub fn forward_to(awaited: *const u8, target: impl FnOnce() -> Arc<dyn Forward>) -> bool {
    CURRENT.with(|c| {
        let polling = c.borrow();
        let Some(scope) = &polling.current.scope else { return true };
        if scope.is_task(awaited) {
            return false;
        }
        if !polling.current.masked {
            scope.forward_to(target());
        }
        true
    })
}

/// Tells the current scope that the await that registered the target at address `target` was
/// dropped unfinished.
#[inline]
pub fn end_forward(target: *const u8) {
    CURRENT.with(|c| {
        if let Some(scope) = &c.borrow().current.scope {
            scope.end_forward(target);
        }
    });
}

/// Which waker a future is polled with, without holding it: what [`Waker::will_wake`]
/// compares. The scope's owner is polled with the same waker every time (tokio's contract for
/// a task), so a cancellation point polled with that waker needs nothing more to be woken.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct WakerId {
    data: usize,
    vtable: usize,
}

impl WakerId {
    #[inline]
    fn of(waker: &Waker) -> Self {
        WakerId { data: waker.data() as usize, vtable: std::ptr::from_ref(waker.vtable()) as usize }
    }
}

/// What this thread is polling: the current task's scope, and whether a [`shield`] hides it.
struct Current {
    scope: Option<Arc<dyn CancelScope>>,
    masked: bool,
    /// Whether `scope.take_cancel()` may deliver a request while this scope is current; when
    /// `false`, the scope's owner promised it returns `None` until the scope is swapped out
    /// (see [`ScopeSlot::for_poll`]), so cancellation points do not ask.
    may_deliver: bool,
}

/// This thread's current scope, and the waker its task was last polled with.
struct Polling {
    current: Current,
    /// Set by [`swap_in`] and left as it is by the swap back: after a nested poll (an eager
    /// task's first step inside its creator's poll) it names the inner task's waker, which
    /// only makes the outer task's points keep their wakers needlessly, never wrongly.
    waker: WakerId,
    /// A bare yield (`sleep(0)`, `yield_now`) suspended during this poll of the task
    /// ([`note_bare_yield`]); reset by [`swap_in`], reported by [`swap_out`].
    bare_yield: bool,
}

thread_local! {
    // One slot for everything, so entering and leaving a task costs one access each.
    // `ManuallyDrop`: a thread-local with no destructor needs no lazy registration of one,
    // so each access is an address, not a call that checks the slot's state first. A scope
    // still here when a thread ends would be leaked, not dropped; none is: every swap in is
    // undone before the poll that made it returns (the runtime polls bodies under
    // `catch_unwind`).
    static CURRENT: ManuallyDrop<RefCell<Polling>> = const {
        ManuallyDrop::new(RefCell::new(Polling {
            current: Current { scope: None, masked: false, may_deliver: false },
            waker: WakerId { data: 0, vtable: 0 },
            bare_yield: false,
        }))
    };
    // How many wake-ups the runtime noted on this thread (wrapping): [`note_wake`]. A plain
    // `Cell` with no destructor, the cheapest thread-local there is: it is bumped at every
    // spawn and every awaiter's wake-up.
    static WAKES: Cell<u32> = const { Cell::new(0) };
}

/// A task's cancel scope, ready to be made current: the runtime keeps one per task and
/// swaps it in (`swap_in`) before each poll of the task's body and out after.
pub struct ScopeSlot(Current);

impl ScopeSlot {
    /// A slot holding `scope`, unmasked.
    pub fn new(scope: Arc<dyn CancelScope>) -> Self {
        ScopeSlot::for_poll(scope, true)
    }

    /// A slot holding `scope` for one poll of its task. `may_deliver: false` promises that
    /// `scope.take_cancel()` returns `None` for as long as the slot is current (a task whose
    /// poll began with no request armed: none becomes deliverable before its next poll), so
    /// the cancellation points polled meanwhile skip asking it (a dynamic call each, on every
    /// poll of every point). A scope swapped in over it (a block's) carries its own.
    #[inline]
    pub fn for_poll(scope: Arc<dyn CancelScope>, may_deliver: bool) -> Self {
        ScopeSlot(Current { scope: Some(scope), masked: false, may_deliver })
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
pub(crate) fn swap(slot: &mut ScopeSlot) {
    CURRENT.with(|c| std::mem::swap(&mut c.borrow_mut().current, &mut slot.0));
}

/// `swap` for a task about to be polled with `waker`: a cancellation point polled with the
/// same waker needs no waker of its own kept (see [`PointWaker`]). The swap back is a plain
/// `swap`. A scope nested inside a task's poll (a block) is swapped in with `swap`.
#[inline]
pub fn swap_in(slot: &mut ScopeSlot, waker: &Waker) {
    CURRENT.with(|c| {
        let mut polling = c.borrow_mut();
        std::mem::swap(&mut polling.current, &mut slot.0);
        polling.waker = WakerId::of(waker);
        polling.bare_yield = false;
    });
}

/// Which task's step is running on this thread: the data pointer of the waker the task is
/// polled with (tokio's task, so it differs between any two tasks alive at once), or `None`
/// outside any task's poll (in a plain tokio task, or after the task's poll, while the runtime
/// completes it). The callback queue uses it to tell whether two callbacks were scheduled by
/// one step: on a single thread, a task polled again after scheduling a callback is polled
/// after that callback's runner, which ends the batch first.
#[inline]
pub fn step_mark() -> Option<usize> {
    CURRENT.with(|c| {
        let polling = c.borrow();
        polling.current.scope.is_some().then_some(polling.waker.data)
    })
}

/// The swap back after a poll that [`swap_in`] began; returns whether the task is suspended
/// at a bare yield ([`note_bare_yield`] was called during the poll).
#[inline]
pub fn swap_out(slot: &mut ScopeSlot) -> bool {
    CURRENT.with(|c| {
        let mut polling = c.borrow_mut();
        std::mem::swap(&mut polling.current, &mut slot.0);
        std::mem::take(&mut polling.bare_yield)
    })
}

/// A bare yield (`sleep(0)`, `yield_now`) is returning `Pending`: the task waits on no future,
/// so, as in asyncio (where `_fut_waiter` is then `None`), a request made before it runs again
/// is not handed to an await: a later request still replaces its message.
#[inline]
pub fn note_bare_yield() {
    CURRENT.with(|c| c.borrow_mut().bare_yield = true);
    note_wake();
}

/// The runtime is waking a task (or queueing work) on this thread; returns the new
/// [`wake_mark`]. Together with the self-wake of [`note_bare_yield`], this tells the runtime
/// whether anything was queued between two events (see `wake_mark`).
#[inline]
pub fn note_wake() -> u32 {
    WAKES.with(|w| {
        let mark = w.get().wrapping_add(1);
        w.set(mark);
        mark
    })
}

/// A number that changes whenever the runtime wakes a task on this thread ([`note_wake`],
/// [`note_bare_yield`]): equal marks mean nothing the runtime knows of was queued in between
/// (tokio's own wake-ups, by its timers or I/O, are not counted).
#[inline]
pub fn wake_mark() -> u32 {
    WAKES.with(Cell::get)
}

/// Hides the current scope's requests from everything polled until the guard is dropped.
pub(crate) fn mask() -> Masked {
    Masked { was: CURRENT.with(|c| std::mem::replace(&mut c.borrow_mut().current.masked, true)) }
}

/// Unmasks when dropped; see [`mask`].
#[must_use = "the mask is lifted as soon as the guard is dropped"]
#[derive(Debug)]
pub(crate) struct Masked {
    was: bool,
}

impl Drop for Masked {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().current.masked = self.was);
    }
}

/// Delivers the current task's pending cancel request, if any. `None` outside a task and
/// inside a [`shield`]. A cancellation point calls [`PointWaker::poll_cancel`] instead, which
/// also keeps the point reachable by later requests.
pub fn take_current() -> Option<Cancelled> {
    // `take_cancel` is runtime code that never touches this thread-local, so the shared borrow
    // cannot conflict.
    CURRENT.with(|c| {
        let current = &c.borrow().current;
        if current.masked { None } else { current.scope.as_ref()?.take_cancel() }
    })
}

/// Whether a [`shield`] masks the current scope on this thread now.
pub(crate) fn is_masked() -> bool {
    CURRENT.with(|c| c.borrow().current.masked)
}

/// Calls `f` with the current scope (masked or not): how the runtime finds the running task.
pub fn with_current_scope<R>(f: impl FnOnce(Option<&Arc<dyn CancelScope>>) -> R) -> R {
    CURRENT.with(|c| f(c.borrow().current.scope.as_ref()))
}

/// What every cancellation point keeps between polls, so that a cancel request reaches it.
///
/// A request wakes the task, whose next poll re-polls the futures it awaits. A point polled
/// with the task's own waker is re-polled with it. A point inside a combinator that re-polls
/// only the children it was woken for (`FuturesUnordered`, `select` over streams,
/// `join_all`) is polled with a waker of that combinator; the point asks the task to keep
/// that waker and wake it with the request, so the point gets to deliver the request (which
/// the body may catch) instead of the body being ended at a foreign await around it.
///
/// Costs nothing beyond one comparison when the point is polled with the task's waker.
#[derive(Default)]
pub struct PointWaker(ManuallyDrop<Option<Box<Registration>>>);

/// Where a point's waker is kept: the scope that keeps it, and the slot, which dropping the
/// registration frees.
struct Registration {
    scope: Arc<dyn CancelScope>,
    key: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.scope.forget_point(self.key);
    }
}

impl PointWaker {
    /// A point that has not been polled yet.
    pub const fn new() -> Self {
        PointWaker(ManuallyDrop::new(None))
    }

    /// What a cancellation point calls at the start of every poll: delivers the current
    /// task's pending cancel request (`None` outside a task and inside a [`shield`]); if
    /// there is none and the point is polled with a waker other than the task's, keeps that
    /// waker in the task so that a later request wakes it.
    #[inline]
    pub fn poll_cancel(&mut self, cx: &Context<'_>) -> Option<Cancelled> {
        // The scope's methods are runtime code that never touches this thread-local, so the
        // shared borrow cannot conflict.
        CURRENT.with(|c| {
            let polling = c.borrow();
            if polling.current.masked {
                return None;
            }
            let scope = polling.current.scope.as_ref()?;
            if polling.current.may_deliver
                && let Some(cancelled) = scope.take_cancel()
            {
                return Some(cancelled);
            }
            if self.0.is_some() || WakerId::of(cx.waker()) != polling.waker {
                self.register(scope, cx.waker());
            }
            None
        })
    }

    #[cold]
    #[inline(never)]
    fn register(&mut self, scope: &Arc<dyn CancelScope>, waker: &Waker) {
        match &mut *self.0 {
            // Polled under the scope it registered with: update the slot.
            Some(reg) if Arc::ptr_eq(&reg.scope, scope) => {
                if let Some(key) = reg.scope.register_point(waker, Some(reg.key)) {
                    reg.key = key;
                }
            }
            _ => {
                drop(self.0.take());
                if let Some(key) = scope.register_point(waker, None) {
                    *self.0 = Some(Box::new(Registration { scope: scope.clone(), key }));
                }
            }
        }
    }
}

/// A point is dropped once per await: the common case (nothing kept) is one inlined check.
impl Drop for PointWaker {
    #[inline(always)]
    fn drop(&mut self) {
        if self.0.is_some() {
            forget(self.0.take());
        }
    }
}

#[cold]
#[inline(never)]
fn forget(registration: Option<Box<Registration>>) {
    drop(registration);
}

impl fmt::Debug for PointWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PointWaker").field("registered", &self.0.is_some()).finish()
    }
}

/// Makes a foreign await catchable: turns any future into a cancellation point, as every
/// `await` is in asyncio.
///
/// A task cancelled while its body awaits a future that is not a cancellation point (a tokio
/// channel, lock or socket, a `JoinHandle`, an HTTP client's request, …) has its body dropped
/// at that await: its `Drop` guards run and the task ends cancelled, but no code of the body
/// sees the request. Wrapped in `cancellable`, the same await resolves to `Err(Cancelled)`
/// carrying the message instead, so the body can catch it — clean up with more awaits,
/// `uncancel()`, return a value — as asyncio's `except CancelledError:` around that `await`
/// does.
///
/// The result resolves to `Ok(output)`, or to `Err(Cancelled)` as soon as the task polling it
/// is cancelled (before `fut` completes). The inner future is then no longer polled; it is
/// dropped with the `Cancellable`.
///
/// # Cancellation
///
/// A cancellation point: each poll first delivers a pending request of the current task.
/// Outside a task, and inside a [`shield`], it is `fut` with its output in `Ok`.
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
///     let waiter = create_task(async move {
///         match cancellable(foreign).await {
///             Ok(n) => anyhow::Ok(n),
///             // Caught at the foreign await: fall back to a default and complete.
///             Err(cancelled) => {
///                 assert_eq!(cancelled.message(), Some("stop waiting"));
///                 anyhow::Ok(0)
///             }
///         }
///     });
///     yield_now().await?;
///     waiter.cancel_with("stop waiting");
///     assert_eq!((&waiter).await?, 0);
///     assert!(!waiter.cancelled(), "the body caught the cancellation and completed");
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn cancellable<F: IntoFuture>(fut: F) -> Cancellable<F::IntoFuture> {
    Cancellable { inner: fut.into_future(), point: PointWaker::new() }
}

pin_project! {
    /// The future returned by [`cancellable`].
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct Cancellable<F> {
        #[pin]
        inner: F,
        point: PointWaker,
    }
}

impl<F: Future> Future for Cancellable<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(cancelled) = this.point.poll_cancel(cx) {
            return Poll::Ready(Err(cancelled));
        }
        this.inner.poll(cx).map(Ok)
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
/// A cancellation point for the awaiting task, never for `fut`: the request stops at the
/// `Shield`, which takes it, so the body is not dropped at a foreign await inside `fut`
/// either.
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
    Shield { inner: fut.into_future(), point: PointWaker::new(), woken: false }
}

pin_project! {
    /// The future returned by [`shield`].
    ///
    /// As asyncio's `shield`, which awaits an outer future that a done callback of the
    /// protected one completes, it resumes one loop iteration after what woke it: once `fut`
    /// has made it wait, each wake-up is followed by one more yield before `fut` is polled
    /// again, so a cancellation that arrives in between is delivered first (asyncio's
    /// `_must_cancel` on a task whose outer future is already done).
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct Shield<F> {
        #[pin]
        inner: F,
        point: PointWaker,
        // `fut` returned `Pending` and the shield has not yielded since.
        woken: bool,
    }
}

impl<F: Future> Future for Shield<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(cancelled) = this.point.poll_cancel(cx) {
            return Poll::Ready(Err(cancelled));
        }
        if std::mem::take(this.woken) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let polled = {
            let _masked = mask();
            this.inner.poll(cx)
        };
        *this.woken = polled.is_pending();
        polled.map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Waker};

    use super::{CancelScope, PointWaker, ScopeSlot, swap, swap_in, swap_out};
    use crate::Cancelled;

    /// A scope that always has a request, and counts how often it was asked.
    struct Always(AtomicUsize);

    impl CancelScope for Always {
        fn take_cancel(&self) -> Option<Cancelled> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Some(Cancelled::new())
        }
    }

    fn poll_point(point: &mut PointWaker) -> Option<Cancelled> {
        point.poll_cancel(&Context::from_waker(Waker::noop()))
    }

    #[test]
    fn points_ask_a_scope_made_current_for_a_poll_only_if_it_may_deliver_and_a_block_over_it_always() {
        let scope = Arc::new(Always(AtomicUsize::new(0)));
        let mut point = PointWaker::new();

        let mut may = ScopeSlot::for_poll(scope.clone(), true);
        swap_in(&mut may, Waker::noop());
        assert!(poll_point(&mut point).is_some(), "asked, and delivered");
        swap_out(&mut may);
        assert_eq!(scope.0.load(Ordering::Relaxed), 1);

        let mut quiet = ScopeSlot::for_poll(scope.clone(), false);
        swap_in(&mut quiet, Waker::noop());
        assert!(poll_point(&mut point).is_none(), "the owner promised nothing to deliver");
        assert_eq!(scope.0.load(Ordering::Relaxed), 1, "so the point did not ask");
        // A block's scope swapped in over it is asked as usual, and the promise is back after.
        let mut block = ScopeSlot::new(scope.clone());
        swap(&mut block);
        assert!(poll_point(&mut point).is_some());
        swap(&mut block);
        assert!(poll_point(&mut point).is_none());
        swap_out(&mut quiet);
        assert_eq!(scope.0.load(Ordering::Relaxed), 2);
    }
}
