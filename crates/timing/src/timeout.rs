//! `timeout`, `timeout_at` and `wait_for`: asyncio's `asyncio.timeout()`,
//! `asyncio.timeout_at()` and `asyncio.wait_for()` (Python 3.12, where `wait_for` is a
//! `timeout` block around `await fut`).
//!
//! # How a deadline is delivered
//!
//! asyncio's `Timeout` schedules a loop callback that calls `task.cancel()` on the task that
//! entered the block, and on leaving the block turns the resulting `CancelledError` into
//! `TimeoutError` — unless another cancel request arrived meanwhile, which it can tell
//! because `task.uncancel()` then leaves more requests than there were on entry.
//!
//! [`Timeout`] does the same from inside the task, as a future wrapping the block:
//!
//! 1. First poll (asyncio's `__aenter__`): note the current task and its `cancelling()`,
//!    then poll the body. The body always runs until it first suspends, however short the
//!    deadline, as in asyncio where the timer callback cannot run before the task yields.
//! 2. When the deadline passes, it *expires* (asyncio's `_on_timeout`): `cancel()` on the
//!    task that entered the block. The timer's waker does it, as the timer fires, exactly as
//!    asyncio's timer callback runs: before any task step that the same instant's timers
//!    cause (a sleep due at the same instant in another task, or the task the block awaits,
//!    sees the request: `cancel()` passes it on to an awaited task at once). A poll that
//!    finds the deadline passed before the timer fired expires it there. The next poll of
//!    the block moves the request out of the task into the block's own scope, so that only
//!    the block's cancellation points may deliver it (a cancellation point takes it: the
//!    block may clean up, or absorb it); if that poll suspends without any point taking it,
//!    the block awaits only foreign futures and is dropped there, as if the cancellation had
//!    propagated out of it. Nested blocks whose deadlines pass together all cancel before the
//!    body is polled again, so the counts in step 3 come out as in asyncio.
//! 3. When the body ends after an expiry (asyncio's `__aexit__`): `uncancel()`, and if that
//!    leaves no more requests than on entry and the body ended cancelled, the outcome is
//!    `TaskError::Timeout`; otherwise it is whatever the body ended with (a value the body
//!    returned after absorbing the cancellation, its failure, or a cancellation that came
//!    from elsewhere).
//!
//! A body that completes before its next poll sees the expiry keeps its value: completion
//! wins over a deadline whose cancellation has not been delivered (the request is withdrawn).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use pin_project_lite::pin_project;
use taskloop_cancel::{BlockCancel, BlockScope, Cancelled};
use taskloop_core::{TaskError, TaskRef, current_task};
use tokio::time::{Instant, Sleep};

use crate::timer::{deadline_after, sleep_target};

/// Limits `fut` to `duration`: asyncio's `async with asyncio.timeout(delay):` around a block.
///
/// When the time runs out, the task awaiting the `Timeout` is cancelled, so the block's
/// cancellation points (`sleep`, awaiting a task, …) see the request; if the block then ends
/// cancelled, the `Timeout` resolves to `Err(TaskError::Timeout)` and the task is left as it
/// was ([`uncancel`](taskloop_core::Task::uncancel) withdraws the request). As in asyncio:
///
/// - the block is cancelled at its current await. At a cancellation point the request is
///   delivered as `Err(Cancelled)` and the block runs on, so its clean-up runs; a block that
///   absorbs the cancellation and returns a value gives that value. A block suspended in
///   futures that are not cancellation points (a tokio channel, lock or socket) is dropped
///   there, its `Drop` guards running as asyncio's `finally` blocks do.
/// - a cancellation from elsewhere (the task cancelled by someone else, before or after the
///   deadline) stays a cancellation: `Err(TaskError::Cancelled)`, never `Timeout`.
/// - nested timeouts compose: only the block whose deadline caused the cancellation turns it
///   into `Timeout`; an inner block that merely sees an outer deadline's cancellation passes
///   it on.
/// - the block runs until it first suspends even with `Duration::ZERO`, so a block that is
///   ready at once (awaiting a finished task) gives its value.
///
/// `fut` is any future (or `IntoFuture`: a `Task`, `&Task`, `TaskRef`) resolving to
/// `Result<T, E>` with `E: Into<anyhow::Error>`; an error is classified as a task body's
/// error is (`TaskError::from_body_error`). The clock starts at the first poll. A duration
/// too long for the clock (`Duration::MAX`) never expires, and `None` (asyncio's
/// `timeout(None)`) sets no deadline. To read or move the deadline from inside the block
/// (`when`, `reschedule`, `expired`), use [`timeout_with`]; [`Timeout::handle`] gives the same
/// handle outside.
///
/// # Cancellation
///
/// The deadline, and any cancellation of the awaiting task, reach the block at its current
/// await: a cancellation point there delivers it, anything else is dropped. Dropping the
/// `Timeout` drops the block and withdraws a cancel request its deadline made.
///
/// # Panics
///
/// When first polled outside a taskloop task (asyncio raises `RuntimeError: Timeout should
/// be used inside a task`): there is no task to cancel.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{sleep, timeout, Runtime, TaskError};
///
/// # fn main() -> anyhow::Result<()> {
/// Runtime::builder().start_paused(true).build()?.run(async {
///     let slow = timeout(Duration::from_secs(1), async {
///         sleep(Duration::from_secs(10)).await?;
///         anyhow::Ok("finished")
///     });
///     assert!(matches!(slow.await, Err(TaskError::Timeout)));
///
///     let quick = timeout(Duration::from_secs(1), async {
///         sleep(Duration::from_millis(10)).await?;
///         anyhow::Ok("finished")
///     });
///     assert_eq!(quick.await?, "finished");
///     anyhow::Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
pub fn timeout<F, T, E>(duration: impl Into<Option<Duration>>, fut: F) -> Timeout<F::IntoFuture>
where
    F: IntoFuture<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    Timeout::new(Deadline::after(duration.into()), fut.into_future())
}

/// [`timeout`] whose block can see and move its own deadline: asyncio's
/// `async with asyncio.timeout(delay) as cm:`.
///
/// `block` is called at once with a [`TimeoutHandle`] (`cm`: [`when`](TimeoutHandle::when),
/// [`reschedule`](TimeoutHandle::reschedule), [`expired`](TimeoutHandle::expired)) and
/// returns the block's future. The handle is `Clone + Send + Sync`; keep a clone, or take one
/// from the returned [`Timeout`] with [`Timeout::handle`], to ask `expired()` after the
/// block, as asyncio programs do. `delay` is a `Duration`, or `None` for no deadline until
/// one is set with `reschedule`.
///
/// # Cancellation
///
/// As [`timeout`].
///
/// # Panics
///
/// When first polled outside a taskloop task.
///
/// # Examples
///
/// The asyncio docs' `reschedule` example: the deadline is not known when the block starts.
///
/// ```
/// use std::time::Duration;
/// use taskloop::{sleep, timeout_with, Instant, Runtime};
///
/// # fn main() -> anyhow::Result<()> {
/// Runtime::builder().start_paused(true).build()?.run(async {
///     let block = timeout_with(None, |cm| async move {
///         assert_eq!(cm.when(), None);
///         // We know the timeout now, so we reschedule it.
///         cm.reschedule(Some(Instant::now() + Duration::from_secs(10)));
///         sleep(Duration::from_secs(3600)).await?; // long_running_task()
///         anyhow::Ok(())
///     });
///     let cm = block.handle();
///     assert!(block.await.unwrap_err().is_timeout());
///     assert!(cm.expired(), "Looks like we haven't finished on time.");
///     anyhow::Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
pub fn timeout_with<B, Fut, T, E>(delay: impl Into<Option<Duration>>, block: B) -> Timeout<Fut::IntoFuture>
where
    B: FnOnce(TimeoutHandle) -> Fut,
    Fut: IntoFuture<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    let deadline = Deadline::after(delay.into());
    let handle = TimeoutHandle::new(&deadline);
    let fut = block(handle.clone()).into_future();
    let timeout = Timeout::new(deadline, fut);
    let _ = timeout.handle.set(handle);
    timeout
}

/// [`timeout`] with a deadline instead of a duration: asyncio's `asyncio.timeout_at()`.
///
/// `deadline` is a tokio [`Instant`] (re-exported as `taskloop::Instant`); one already past
/// cancels the block as soon as it first suspends.
///
/// # Cancellation
///
/// As [`timeout`].
///
/// # Panics
///
/// When first polled outside a taskloop task.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{sleep, timeout_at, Instant, Runtime};
///
/// # fn main() -> anyhow::Result<()> {
/// Runtime::builder().start_paused(true).build()?.run(async {
///     let deadline = Instant::now() + Duration::from_secs(5);
///     let outcome = timeout_at(deadline, sleep(Duration::from_secs(60))).await;
///     assert!(outcome.unwrap_err().is_timeout());
///     assert_eq!(Instant::now(), deadline);
///     anyhow::Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
pub fn timeout_at<F, T, E>(deadline: impl Into<Option<Instant>>, fut: F) -> Timeout<F::IntoFuture>
where
    F: IntoFuture<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    let deadline = match deadline.into() {
        Some(at) => Deadline::At(at),
        None => Deadline::Never,
    };
    Timeout::new(deadline, fut.into_future())
}

/// Waits for a task or a future, for at most `duration`: asyncio's `asyncio.wait_for()`
/// (Python 3.12 and later).
///
/// `fut_or_task` is a [`Task`](taskloop_core::Task) (or `&Task`, or `task.join()` for a value
/// that is not `Clone`), a [`TaskRef`], or any future resolving to `Result<T, E>` with
/// `E: Into<anyhow::Error>`. It resolves to the task's or future's outcome if that comes in
/// time. When the time runs out, what it waits on is cancelled and awaited until it ends:
///
/// - if it ends cancelled, `wait_for` resolves to `Err(TaskError::Timeout)`;
/// - if it absorbed the cancellation and returned a value (or failed), that is the outcome,
///   as in asyncio 3.12.
///
/// Cancelling the task that awaits `wait_for` cancels what it waits on, and `wait_for` then
/// ends with what that ends with (a cancellation, unless it absorbed it). A task that is
/// already done gives its outcome at once, even with `Duration::ZERO`. A duration too long
/// for the clock (`Duration::MAX`) never expires; `None` waits as long as it takes (asyncio's
/// `wait_for(aw, None)`).
///
/// It is [`timeout`]`(duration, fut_or_task)`, exactly as asyncio 3.12 implements it; a task
/// is cancelled because awaiting a task passes the awaiting task's cancellation on to it.
/// Unlike asyncio a plain future is not wrapped in a task: it runs inside the awaiting task,
/// which asyncio 3.12 also does for a coroutine, and it may borrow. One consequence: with
/// `Duration::ZERO` a plain future runs until it first suspends (as in `asyncio.timeout(0)`),
/// where `asyncio.wait_for(coro, 0)` never starts the coroutine. To keep the waited-on task
/// running past the deadline, wrap it in [`shield`](taskloop_core::shield).
///
/// # Cancellation
///
/// As [`timeout`]: the deadline and the awaiting task's cancellation reach `fut_or_task` at
/// its current await (awaiting a task is a cancellation point that passes the request on to
/// the task, which ends it at its own current await).
///
/// # Panics
///
/// When first polled outside a taskloop task.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{create_task, sleep, wait_for, Runtime, TaskError};
///
/// # fn main() -> anyhow::Result<()> {
/// Runtime::builder().start_paused(true).build()?.run(async {
///     let slow = create_task(async {
///         sleep(Duration::from_secs(3600)).await?;
///         anyhow::Ok("report")
///     });
///     let outcome = wait_for(&slow, Duration::from_secs(1)).await;
///     assert!(matches!(outcome, Err(TaskError::Timeout)));
///     assert!(slow.cancelled(), "the time-out cancelled the task and waited for it");
///
///     let quick = create_task(async { anyhow::Ok(7) });
///     assert_eq!(wait_for(quick, Duration::from_secs(1)).await?, 7);
///     anyhow::Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
pub fn wait_for<F, T, E>(fut_or_task: F, duration: impl Into<Option<Duration>>) -> Timeout<F::IntoFuture>
where
    F: IntoFuture<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    timeout(duration, fut_or_task)
}

#[derive(Debug)]
enum Deadline {
    After(Duration),
    At(Instant),
    /// `timeout(None)`: no deadline, until one is set with `reschedule`.
    Never,
}

impl Deadline {
    fn after(duration: Option<Duration>) -> Self {
        duration.map_or(Deadline::Never, Deadline::After)
    }
}

/// Where a [`Timeout`] is; the names are asyncio's `_State`.
#[derive(Debug)]
enum State {
    /// Not polled yet.
    Created(Deadline),
    /// The block runs; its deadline (if any) has not passed.
    Entered { task: TaskRef, cancelling: usize, deadline: Option<Instant> },
    /// The deadline expired: the task was cancelled (and owes an `uncancel`), and the request
    /// moved into `scope`, which delivers it to the block alone.
    Expiring { task: TaskRef, cancelling: usize, scope: Arc<BlockScope> },
    /// The block has ended.
    Exited,
}

pin_project! {
    /// The future returned by [`timeout`], [`timeout_at`] and [`wait_for`]: asyncio's
    /// `asyncio.Timeout` context manager wrapped around its block.
    ///
    /// Resolves to `Result<T, TaskError>`; see [`timeout`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        // `None` once the deadline dropped it at a foreign await.
        #[pin]
        body: Option<F>,
        #[pin]
        timer: Option<Sleep>,
        // The timer's waker, made when the timer is first armed (or the deadline found passed).
        expiry: Option<(Arc<Expiry>, Waker)>,
        state: State,
        // Shared with the `TimeoutHandle`s, once there is one.
        handle: OnceLock<TimeoutHandle>,
    }

    impl<F> PinnedDrop for Timeout<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped after expiring but before the block ended: withdraw our request, so the
            // task is not left cancelling (reaching zero also withdraws it if undelivered).
            let this = this.project();
            let fired = this.expiry.as_ref().is_some_and(|(expiry, _)| expiry.disarm());
            match this.state {
                State::Expiring { task, .. } => {
                    task.uncancel();
                }
                State::Entered { task, .. } if fired => {
                    task.uncancel();
                }
                _ => {}
            }
            if let Some(handle) = this.handle.get() {
                handle.exit();
            }
        }
    }
}

impl<F> Timeout<F> {
    fn new(deadline: Deadline, body: F) -> Self {
        Timeout {
            body: Some(body),
            timer: None,
            expiry: None,
            state: State::Created(deadline),
            handle: OnceLock::new(),
        }
    }

    /// A handle to this `Timeout`: asyncio's `cm` in `async with asyncio.timeout(d) as cm:`,
    /// to read or move the deadline and ask whether it expired, before, during or after the
    /// block. Every call gives the same handle. See [`timeout_with`] to reach it from inside
    /// the block.
    ///
    /// Before the block first runs, [`when`](TimeoutHandle::when) is `None` for a deadline
    /// given as a duration (the clock starts at the first poll).
    pub fn handle(&self) -> TimeoutHandle {
        let deadline = match &self.state {
            State::Created(deadline) => deadline,
            _ => &Deadline::Never,
        };
        let handle = self.handle.get_or_init(|| {
            let handle = TimeoutHandle::new(deadline);
            match &self.state {
                State::Created(_) => {}
                State::Entered { deadline, .. } => {
                    handle.enter(*deadline);
                    if let Some((expiry, _)) = &self.expiry
                        && expiry.attach(&handle)
                    {
                        handle.expire();
                    }
                }
                State::Expiring { .. } => {
                    handle.enter(None);
                    handle.expire();
                }
                State::Exited => handle.exit(),
            }
            handle
        });
        handle.clone()
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Created(_) => "created",
            State::Entered { .. } => "active",
            State::Expiring { .. } => "expiring",
            State::Exited => "finished",
        };
        let deadline = match &self.state {
            State::Created(Deadline::At(at)) | State::Entered { deadline: Some(at), .. } => Some(*at),
            _ => None,
        };
        f.debug_struct("Timeout").field("state", &state).field("deadline", &deadline).finish_non_exhaustive()
    }
}

impl<F, T, E> Future for Timeout<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut entering = false;
        match this.state {
            State::Created(deadline) => {
                entering = true;
                let Some(task) = current_task() else {
                    panic!(
                        "timeout(), timeout_at() and wait_for() must be awaited inside a taskloop task: \
                         there is no task to cancel when the time runs out"
                    );
                };
                let mut deadline = match deadline {
                    Deadline::After(duration) => Some(deadline_after(*duration)),
                    Deadline::At(at) => Some(*at),
                    Deadline::Never => None,
                };
                if let Some(handle) = this.handle.get() {
                    deadline = handle.enter(deadline);
                }
                let cancelling = task.cancelling();
                *this.state = State::Entered { task, cancelling, deadline };
            }
            State::Entered { .. } | State::Expiring { .. } => {}
            State::Exited => panic!("`Timeout` polled after it completed"),
        }

        if let Some(handle) = this.handle.get() {
            handle.sync(this.state, this.timer.as_mut(), cx);
        }
        // Polled again after the deadline: it expires before the block runs, if its timer has
        // not already (the block's first run is never cut short). An expired deadline's
        // request moves into the block.
        if let State::Entered { task, deadline, .. } = this.state {
            if !entering && deadline.is_some_and(|at| Instant::now() >= at) {
                expiry(this.expiry, task, this.handle.get()).0.fire();
            }
            if let Some((expiry, _)) = this.expiry.as_ref()
                && expiry.fired()
            {
                begin_expiring(this.state, expiry);
            }
        }
        let Some(body) = this.body.as_mut().as_pin_mut() else {
            panic!("`Timeout` polled after it completed");
        };
        let polled = match this.state {
            // After the deadline the block runs under a scope of its own, which hands it the
            // deadline's cancellation; a wrapper outside this `Timeout` (a `shield`, a
            // `cancellable`) never sees that request, so it cannot take it first.
            State::Expiring { scope, .. } => {
                let armed = scope.is_pending();
                let polled = scope.poll_within(|| body.poll(cx));
                if polled.is_pending()
                    && armed
                    && let Some(cancelled) = scope.take_own()
                {
                    // No cancellation point in the block took the deadline's request during a
                    // whole poll: the block awaits foreign futures only, and ends there.
                    this.body.set(None);
                    let ended = Err(TaskError::Cancelled(cancelled));
                    return Poll::Ready(exit(this.state, this.expiry.as_ref(), this.handle.get(), ended));
                }
                polled
            }
            _ => body.poll(cx),
        };
        if let Poll::Ready(result) = polled {
            this.body.set(None);
            let result = result.map_err(|e| TaskError::from_body_error(e.into()));
            return Poll::Ready(exit(this.state, this.expiry.as_ref(), this.handle.get(), result));
        }

        // The block may have moved the deadline (`reschedule`) during this poll.
        if let Some(handle) = this.handle.get() {
            handle.sync(this.state, this.timer.as_mut(), cx);
        }
        if let State::Entered { task, deadline, .. } = this.state {
            let passed = match deadline {
                Some(at) => {
                    let (expiry, waker) = expiry(this.expiry, task, this.handle.get());
                    poll_deadline(this.timer, *at, expiry, waker, cx) && expiry.fire()
                }
                None => false,
            };
            // The deadline passed during this poll, or the timer fired during it (another
            // thread): the request goes to the block, which is polled again to deliver it.
            if let Some((expiry, _)) = this.expiry.as_ref()
                && (passed || expiry.fired())
            {
                begin_expiring(this.state, expiry);
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}

/// Whether `deadline` has passed; if not, the timer is armed to fire `expiry` when it does.
fn poll_deadline(
    mut timer: Pin<&mut Option<Sleep>>,
    deadline: Instant,
    expiry: &Expiry,
    expiry_waker: &Waker,
    cx: &Context<'_>,
) -> bool {
    loop {
        if Instant::now() >= deadline {
            return true;
        }
        let Some(mut sleep) = timer.as_mut().as_pin_mut() else {
            timer.set(Some(tokio::time::sleep_until(sleep_target(deadline))));
            continue;
        };
        expiry.arm(deadline, cx.waker());
        if sleep.as_mut().poll(&mut Context::from_waker(expiry_waker)).is_pending() {
            return false;
        }
        if sleep.deadline() >= deadline {
            return true;
        }
        // The sleep was capped at the far future and has run out: arm it again.
        sleep.reset(sleep_target(deadline));
    }
}

/// The timeout's [`Expiry`], made on first use, and the waker its timer is polled with.
fn expiry<'a>(
    slot: &'a mut Option<(Arc<Expiry>, Waker)>,
    task: &TaskRef,
    handle: Option<&TimeoutHandle>,
) -> &'a (Arc<Expiry>, Waker) {
    slot.get_or_insert_with(|| {
        let state = ExpiryState {
            task: task.clone(),
            handle: handle.cloned(),
            fired: false,
            own: None,
            disarmed: false,
            armed: None,
        };
        let expiry = Arc::new(Expiry { state: Mutex::new(state) });
        let waker = Waker::from(expiry.clone());
        (expiry, waker)
    })
}

/// Step 2, as seen from the block: the deadline's request (made by [`Expiry::fire`]) goes
/// into the block's own scope: only the block's cancellation points may deliver it. A request
/// passed on to the task the block awaits is not the block's: the scope starts empty and the
/// awaited task ends the way it ends.
fn begin_expiring(state: &mut State, expiry: &Expiry) {
    if let State::Entered { task, cancelling, .. } = std::mem::replace(state, State::Exited) {
        let scope = BlockScope::new(expiry.take_own());
        *state = State::Expiring { task, cancelling, scope };
    }
}

/// Step 3: the block ended with `result`; decides what the `Timeout` resolves to.
fn exit<T>(
    state: &mut State,
    expiry: Option<&(Arc<Expiry>, Waker)>,
    handle: Option<&TimeoutHandle>,
    result: Result<T, TaskError>,
) -> Result<T, TaskError> {
    let fired = expiry.is_some_and(|(expiry, _)| expiry.disarm());
    if let Some(handle) = handle {
        handle.exit();
    }
    let (task, cancelling) = match std::mem::replace(state, State::Exited) {
        State::Expiring { task, cancelling, .. } => (task, cancelling),
        // The timer fired, but the block ended before it saw the request: withdraw it.
        State::Entered { task, cancelling, .. } if fired => (task, cancelling),
        _ => return result,
    };
    let remaining = task.uncancel();
    match result {
        // No request arrived from elsewhere: this cancellation is ours.
        Err(TaskError::Cancelled(_)) if remaining <= cancelling => Err(TaskError::Timeout),
        other => other,
    }
}

/// The deadline timer's waker: asyncio's `_on_timeout`, run as the timer fires.
///
/// Running it in the waker rather than at the task's next poll is what gives asyncio's order:
/// every timer due at an instant runs before any task step it causes, so a sleep due at the
/// same instant in the task the block awaits sees the request (`cancel()` passes it on at
/// once), as it does in asyncio.
struct Expiry {
    state: Mutex<ExpiryState>,
}

struct ExpiryState {
    /// The task that entered the block.
    task: TaskRef,
    handle: Option<TimeoutHandle>,
    /// The task was cancelled for the deadline (and owes an `uncancel`).
    fired: bool,
    /// The deadline's request, for the block to deliver (unless it was passed on).
    own: Option<Cancelled>,
    /// The block ended or the `Timeout` was dropped: a late timer does nothing.
    disarmed: bool,
    /// The deadline the timer is armed for, and the task's waker. A wake-up before the
    /// deadline (a timer capped at the far future, or tokio's cooperative budget making the
    /// sleep yield) only wakes the task, for the `Timeout` to poll the timer again.
    armed: Option<(Instant, Waker)>,
}

impl Expiry {
    fn lock(&self) -> MutexGuard<'_, ExpiryState> {
        // Nothing of the user's runs under this lock.
        crate::timer::lock(&self.state)
    }

    /// Cancels the task for the deadline, unless done before or disarmed. Returns whether the
    /// deadline has fired. The lock is held across `cancel()`, so a `Timeout` that ends or is
    /// dropped meanwhile (on another thread) sees the request it must withdraw.
    fn fire(&self) -> bool {
        let mut st = self.lock();
        if !st.fired && !st.disarmed {
            st.fired = true;
            if let Some(handle) = &st.handle {
                handle.expire();
            }
            match st.task.cancel_block() {
                BlockCancel::Refused => st.fired = false,
                BlockCancel::Forwarded => {}
                BlockCancel::Own(cancelled) => st.own = Some(cancelled),
            }
        }
        st.fired
    }

    fn fired(&self) -> bool {
        self.lock().fired
    }

    fn take_own(&self) -> Option<Cancelled> {
        self.lock().own.take()
    }

    fn arm(&self, deadline: Instant, waker: &Waker) {
        let mut st = self.lock();
        match &mut st.armed {
            Some((at, armed)) if armed.will_wake(waker) => *at = deadline,
            armed => {
                let replaced = armed.replace((deadline, waker.clone()));
                drop(st);
                drop(replaced);
            }
        }
    }

    /// A handle made after the timer was armed: it hears of the expiry too. Returns whether the
    /// deadline has already fired.
    fn attach(&self, handle: &TimeoutHandle) -> bool {
        let mut st = self.lock();
        st.handle = Some(handle.clone());
        st.fired
    }

    /// The block ended or the `Timeout` is dropped: a later firing does nothing. Returns
    /// whether the deadline fired (the task owes an `uncancel`).
    fn disarm(&self) -> bool {
        let mut st = self.lock();
        st.disarmed = true;
        st.fired
    }
}

impl Wake for Expiry {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let early = match &self.lock().armed {
            Some((deadline, waker)) if Instant::now() < *deadline => Some(waker.clone()),
            _ => None,
        };
        match early {
            Some(task) => task.wake(),
            None => {
                self.fire();
            }
        }
    }
}

/// A handle to a [`Timeout`]: asyncio's `Timeout` object, the `cm` of
/// `async with asyncio.timeout(d) as cm:`. Get one from [`timeout_with`] (inside the block)
/// or [`Timeout::handle`]. Clones share the same timeout; it is `Send + Sync`, so another
/// task may move the deadline too.
#[derive(Clone)]
pub struct TimeoutHandle {
    shared: Arc<Mutex<HandleState>>,
}

/// asyncio's `_State`, as the handle sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    Entered,
    Expiring,
    Expired,
    Exited,
}

struct HandleState {
    phase: Phase,
    /// The deadline: `when()`.
    when: Option<Instant>,
    /// `reschedule` moved `when` since the `Timeout` last looked.
    moved: bool,
    /// The `Timeout`'s task, woken when another task moves the deadline.
    waker: Option<Waker>,
}

impl TimeoutHandle {
    fn new(deadline: &Deadline) -> Self {
        let when = match deadline {
            Deadline::At(at) => Some(*at),
            Deadline::After(_) | Deadline::Never => None,
        };
        let state = HandleState { phase: Phase::Created, when, moved: false, waker: None };
        TimeoutHandle { shared: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> MutexGuard<'_, HandleState> {
        // Nothing of the user's runs under this lock.
        crate::timer::lock(&self.shared)
    }

    /// The current deadline: asyncio's `Timeout.when()`. `None` when there is none
    /// (`timeout(None)`, or `reschedule(None)`), and before the block first runs for a
    /// deadline given as a duration.
    pub fn when(&self) -> Option<Instant> {
        self.lock().when
    }

    /// Moves the deadline: asyncio's `Timeout.reschedule()`. `None` removes it; an instant
    /// already past expires the timeout as soon as the block next suspends (at once if it
    /// is suspended now).
    ///
    /// # Panics
    ///
    /// Once the timeout has expired or its block has ended (asyncio raises `RuntimeError:
    /// Cannot change state of expiring Timeout`). Before the block first runs it just sets
    /// the deadline (asyncio raises there; a handle can exist earlier here).
    pub fn reschedule(&self, deadline: Option<Instant>) {
        let mut st = self.lock();
        match st.phase {
            Phase::Created | Phase::Entered => {}
            Phase::Expiring => panic!("TimeoutHandle::reschedule: cannot change the deadline of an expiring Timeout"),
            Phase::Expired => panic!("TimeoutHandle::reschedule: cannot change the deadline of an expired Timeout"),
            Phase::Exited => panic!("TimeoutHandle::reschedule: cannot change the deadline of a finished Timeout"),
        }
        st.when = deadline;
        st.moved = true;
        let waker = st.waker.take();
        drop(st);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the deadline passed while the block ran (it was cancelled for it): asyncio's
    /// `Timeout.expired()`. Stays `true` after the block ends.
    pub fn expired(&self) -> bool {
        matches!(self.lock().phase, Phase::Expiring | Phase::Expired)
    }

    /// The block starts with `deadline`, unless `reschedule` set one first: returns the one
    /// that stands.
    fn enter(&self, deadline: Option<Instant>) -> Option<Instant> {
        let mut st = self.lock();
        st.phase = Phase::Entered;
        if !std::mem::take(&mut st.moved) {
            st.when = deadline;
        }
        st.when
    }

    /// Takes a deadline `reschedule` set into `state` (re-arming the timer), and keeps the
    /// task's waker for a `reschedule` from elsewhere.
    fn sync(&self, state: &mut State, mut timer: Pin<&mut Option<Sleep>>, cx: &Context<'_>) {
        let mut st = self.lock();
        if let State::Entered { deadline, .. } = state {
            if std::mem::take(&mut st.moved) {
                *deadline = st.when;
                timer.set(None);
            }
            if !st.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                st.waker = Some(cx.waker().clone());
            }
        } else {
            st.waker = None;
        }
    }

    fn expire(&self) {
        self.lock().phase = Phase::Expiring;
    }

    fn exit(&self) {
        let mut st = self.lock();
        st.phase = match st.phase {
            Phase::Expiring | Phase::Expired => Phase::Expired,
            _ => Phase::Exited,
        };
        st.waker = None;
    }
}

impl fmt::Debug for TimeoutHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("TimeoutHandle").field("state", &st.phase).field("when", &st.when).finish()
    }
}
