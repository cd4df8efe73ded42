//! The task: one shared allocation that tokio's task drives and every handle reads.
//!
//! # Handles
//!
//! A task is one `Arc<Shared<T>>`: a non-generic [`Header`] (state, wakers, callbacks, name)
//! followed by the typed value slot. Four kinds of owner hold it:
//!
//! - [`Task<T>`] — the user's typed handle (`Clone`; every clone is the same task). Each handle
//!   that is being awaited owns one waiter slot in the header, which its `Drop` frees.
//! - [`TaskRef`] — the type-erased handle (`Arc<dyn AnyTask>`), used by `all_tasks()`,
//!   `current_task()`, `wait` and the loop's registry.
//! - the harness (`harness.rs`) — the future tokio actually spawns. It owns the *body*
//!   future, so the body lives in tokio's task cell, never in the `Shared`: a handle kept
//!   after completion keeps only the outcome alive.
//! - queued done callbacks, which capture a `Task<T>` until they run.
//!
//! # States
//!
//! | state     | in the code | meaning                                   | left by                       | to        |
//! |-----------|-------------|-------------------------------------------|-------------------------------|-----------|
//! | Gated     | `GATED` flag (harness: `Stage::Scheduled`) | created inside a task on a multi-thread loop, whose poll has not returned | the creator's harness, after its poll ([`Header::transition_to_ungated`], from `gate.rs`) | Scheduled |
//! | Scheduled | `Stage::Scheduled` | spawned, body never polled         | harness, first poll ([`Header::transition_to_running`]) | Running, Done |
//! | Running   | `Stage::Running`, then `Stage::Suspended` once tokio's waker is registered ([`Header::transition_to_suspended`]) | body polled at least once, not finished | harness, body ends or abort | Done |
//! | Done      | `DONE` flag; the harness holds no body (`live` is `None`) | `outcome` set; never changes again | —                   | —         |
//!
//! `Stage` is the harness's (`harness.rs`), kept in the header's `stage` byte so that it takes
//! no room in tokio's task cell (only the harness reads or writes it); the flags are the
//! header's, readable by anyone.
//! Every change of state or of a request goes through one `Header::transition_to_*` method,
//! which returns what its caller must do next (`#[must_use]`: a [`Start`], a [`Suspend`], a
//! [`Suspended`], a [`CancelRequest`], a [`Completion`], a [`WakeTask`], a taken request).
//!
//! Orthogonal to these: a *pending cancel request* (`CancelState`, made by `cancel()`,
//! delivered at the body's current await: taken by a cancellation point there, or else
//! by the harness ending the body, invariant 7) and an *abort request* (made by `abort()`,
//! acted on by the harness at its next poll).
//!
//! # Fields
//!
//! | field | written by | read by |
//! |-------|------------|---------|
//! | `flags` (atomic) | only inside transitions, under the `state` lock (except `RETRIEVED`, set by readers, `ARMED`, set by the harness with one CAS, and `BLOCK_DELIVERED`, cleared by the harness as a poll begins) | anyone, lock-free |
//! | `state.cancel` | `cancel()`, `uncancel()`, cancellation points (take), completion (close) | same, under lock |
//! | `state.task_waker` | harness, when its body first returns `Pending`; taken at completion | `cancel()`/`abort()` (cloned under lock, woken after) |
//! | `state.waiters` | awaiters (register/remove) and the collectors of `wait`/`gather`/`as_completed` (`register_report`) while not Done; the inline one taken at completion, the others with `rare` | completion (wakes the wakers, tells the collectors, in registration order) |
//! | `state.rare.callbacks` | `add/remove_done_callback` (`rare` is allocated by the first add); taken out with the whole `rare` at completion (an add after completion finds no `rare`, makes one with a closed list, and is refused) | completion, after unlocking |
//! | `state.rare.points` | cancellation points polled with a waker other than the task's (`register_point`/`forget_point`, through `taskloop_cancel::PointWaker`) | `cancel()` (cloned under lock, woken after) |
//! | `state.rare.waking_points` | `cancel()`, around waking `rare.points` outside the lock (mirrored by `WAKING`) | `arm_cancel` through `WAKING` |
//! | `state.forward` | awaits that pass requests on (`forward_to`/`end_forward`), completion (cleared) | `cancel()`, the harness (cloned under lock, called after) |
//! | `state.outcome` | completion, once | readers after `DONE` |
//! | `Shared::value` | completion, once (under `state` lock: lock order is state → value) | readers after `DONE`; `join` takes it |
//! | `stage` (atomic, `Relaxed`) | the harness alone (`harness::Stage`) | the harness |
//! | `registry_shard`, `registry_key` (atomic, `Relaxed`) | `create_task`, once, before tokio first polls the task | the completing harness |
//! | `state.rare.span` | `create_task`, when a subscriber wants the task's span (`HAS_SPAN`, never cleared); taken out with `rare` at completion, and closed last by the completing harness | the harness, cloned under lock and entered around each poll |
//!
//! # Invariants
//!
//! 1. `outcome` is written once, in [`Header::transition_to_done`], in the same critical section
//!    that closes `cancel`, takes the inline waiter and the whole `rare` part (callbacks,
//!    further waiters, points' wakers, span) out of `state` and sets `DONE`. Hence after
//!    `DONE` no cancel request is accepted, no callback is stored (a `rare` made afterwards
//!    starts with a closed list) and no waiter registers.
//! 2. The `DONE`, `CANCELLED`, `CANCEL_PENDING`, `WAKING` and `ABORT` flags are only written
//!    under the `state` lock and mirror `state`; lock-free readers use them as hints and
//!    re-check under the lock before acting (except `DONE`, which never goes back). `ARMED`
//!    is set lock-free by the harness, only while `CANCEL_PENDING` is set, and cleared with it
//!    under the lock (invariant 7).
//! 3. No user code runs while the `state` lock is held: wakers, done callbacks, the exception
//!    handler and the `Drop` of anything user-supplied (a replaced waker, a removed callback,
//!    a value discarded by a late cancel) are taken out and run or dropped after unlocking.
//!    The only user code run under any lock of ours is `T::clone` under the value lock, which
//!    is a leaf lock that no other of our locks is taken under.
//! 4. A waiter key is valid from its registration until completion drains the waiters or its
//!    owner removes it; no waiter registers after `DONE` (1), so a key is never reused for
//!    another waiter while its owner still holds it.
//! 5. The harness is the only one to poll or drop the body, and it drops the body *before*
//!    the completing transition: a body's `Drop` guards have run when an awaiter sees the outcome.
//! 6. The harness is polled only by tokio (after an eager task's first step, which `create_task`
//!    polls inline with a forwarding waker that is never registered), whose waker for a task is the same on every poll,
//!    so registering it once (when the body first suspends) is enough for `cancel()`/`abort()`
//!    to reach the task. A request made before that finds no waker; the registration
//!    re-checks for one under the lock and has the harness poll again.
//! 7. A pending request never outlives a poll of the body that visited no cancellation point
//!    taking it. Before each poll the harness *arms* a pending request (`ARMED`); if the poll
//!    returns `Pending` and the armed request is still pending, no cancellation point saw it,
//!    so the body awaits only futures that are not cancellation points: the harness drops the
//!    body there and the task ends cancelled with that request's message
//!    ([`Header::transition_to_ended_at_await`]). Taking or withdrawing a request clears
//!    `ARMED` with `CANCEL_PENDING`, so a request that arrives during a poll is never armed by
//!    it: it is decided at the next poll. Cancellation points deliver only an armed request
//!    (asyncio's `_must_cancel`: a task that cancels itself is cancelled at an await after it
//!    has suspended once; a poll that begins with none armed tells its points not to ask,
//!    `Header::is_armed`), and a poll that suspends with a request pending hands it to the
//!    await (`CancelState::hand`: first message kept, not withdrawn by `uncancel`) and wakes
//!    the task, so that next poll comes: `cancel()` does not wake a task cancelling itself
//!    (asyncio schedules nothing), whose request may instead go on to an awaited task
//!    (invariant 8) as it suspends. A request is not armed while `cancel()` is waking
//!    the cancellation points that asked for it (`WAKING`), so a point inside a combinator
//!    that re-polls only woken children (`FuturesUnordered`) is polled, and delivers, before
//!    the harness may end the body under it.
//! 8. A request made while the task is suspended at an await that passes requests on (awaiting
//!    a task, a `gather`: `state.forward`, registered by that await when it first suspends and
//!    cleared when it ends) is passed to that target inside `cancel()` and never becomes
//!    pending here (asyncio's `_fut_waiter.cancel()`): the request is counted, the target's
//!    `cancel()` runs outside the lock. If the target has finished it refuses, and the request
//!    becomes pending as any other (`transition_to_forward_refused`). A request pending when the
//!    task suspends at such an await is forwarded then, by the harness. A task that is running,
//!    has never suspended, or is at a bare yield (`AT_YIELD`) forwards nothing. A request that
//!    comes back to a task it is being forwarded through (a cycle of awaits) is refused there
//!    (`forwarding`), and an await whose forwarded request came back delivers it.
//!
//! # Races
//!
//! Transitions are serialised by the `state` lock, so each race has a winner:
//!
//! - `cancel()` × completion: if `cancel()` locks first, its request is pending when the body
//!   finishes: an `Ok` body ends cancelled (asyncio's cancel-at-end), an `Err` body keeps its
//!   error. If completion locks first, `cancel()` finds the state closed and returns `false`.
//! - `abort()` × completion: the first to lock wins; a late `abort()` is a no-op.
//! - `add_done_callback()` × completion: before, the callback is stored and scheduled by the
//!   completion; after, it finds no `rare` (the completion took it), makes one whose list is
//!   closed, is refused, and is scheduled at once by the adder. Either way exactly once.
//! - `remove_done_callback()` × completion: before, it removes it (`true`); after, the
//!   callback is already scheduled (`false`).
//! - awaiter registration × completion: an awaiter re-checks `outcome` under the lock before
//!   registering, so it is either drained and woken, or sees `Done` and returns.
//! - cancel before first poll: the harness's first transition takes the request and the task
//!   ends cancelled without polling the body.
//! - cancel × a poll in progress (another thread): the request is not armed by that poll; the
//!   wake-up it sends makes tokio poll again, and that poll decides (invariant 7).
//! - a second `cancel()` × the end at a foreign await: accepted before the harness took the
//!   request, it merges into it; accepted after the take but before completion, it merges
//!   into the cancellation under way (the first message stands); after, it is refused.
//! - `cancel()` × the step after a block's own cancellation (`BLOCK_DELIVERED`): a request
//!   that finds the flag set merges into the delivery (counted only); one that finds it
//!   cleared (the step has begun) is pending as any other. Either way it is counted once and
//!   the block's cancellation is delivered once.
//! - a block's own cancellation × a request pending before it (not yet delivered): the block
//!   takes the request under the lock and delivers both as one cancellation, with the
//!   request's message (both counted); a request delivered first is not pending any more,
//!   and the block's cancellation is delivered on its own.
//! - `uncancel()` to zero × an armed request: it withdraws the request (clearing `ARMED`) and
//!   the body goes on, or it comes after the harness took it and the task ends cancelled.
//! - `abort()` × the end at a foreign await: the harness looks at `ABORT` first; either way
//!   the body is dropped once and the task ends cancelled once.
//! - a point's waker registration × `cancel()`: a point registered before the request is
//!   woken by it; one registering after it takes the request on that same poll.
//! - `cancel()` waking points × completion: the completion may take `rare` away while the
//!   request's points are being woken; `transition_to_points_woken` then finds none and just
//!   clears `WAKING` (the request was closed by the completion, or was already taken).
//! - `cancel()` forwarding × the awaited task finishing: the target's `cancel()` either comes
//!   first (it ends cancelled, or absorbs the request) or finds it done and refuses, and the
//!   request is pending on the awaiter, whose wake-up that completion already sent.
//! - `cancel()` forwarding × the await ending (a `select` dropping it): a target cleared first
//!   is not used; one taken first is cancelled, as a request that raced the end of the await.
//! - eager first step × wake-ups: a waker the body registered during the step forwards to
//!   the task's tokio waker once registered; a wake before that sets `EAGER_WOKEN`, and the
//!   harness's first tokio poll (which spawning schedules anyway) re-polls. None is lost.
//! - first poll × creator still running (multi-thread loop): the task is Gated; its harness
//!   parks with its waker registered, and `transition_to_ungated` (called by the creator's harness when the
//!   creator's poll returns) clears the gate under the lock and wakes it. A harness that polls
//!   after the gate opened sees no gate.

#[cfg(feature = "tokio-util")]
mod done;
pub(crate) mod eager;
pub(crate) mod gate;
mod handle;
mod harness;
#[cfg(all(test, taskloop_loom))]
mod loom_models;
mod task_ref;
mod waiters;

#[cfg(feature = "tokio-util")]
pub(crate) use done::Done;
pub use handle::{Join, Task};
pub(crate) use harness::Harness;
pub use task_ref::{TaskId, TaskRef, TaskState};

use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use slab::Slab;
use taskloop_callbacks::{CallbackId, CallbackList};
use taskloop_cancel::{BlockCancel, CancelScope, CancelState, Cancelled, Forward, PointWaker};

use crate::error::TaskError;
use crate::event_loop::{Callback, LoopShared, RegistryKey, Report};
use crate::sync::{AtomicU8, AtomicU16, AtomicU32, Mutex, Ordering, lock};
pub(crate) use waiters::{Collector, WaiterKey};
use waiters::{Waiter, Waiters, WakeList};

/// The body has finished; `state.outcome` is set (invariant 1).
const DONE: u16 = 1;
/// The outcome is a cancellation.
const CANCELLED: u16 = 1 << 1;
/// A cancel request waits for delivery (mirrors `state.cancel.is_pending()`).
const CANCEL_PENDING: u16 = 1 << 2;
/// `abort()` was called before the task finished.
const ABORT: u16 = 1 << 3;
/// Someone read the outcome; a failure is then not reported as never retrieved.
const RETRIEVED: u16 = 1 << 4;
/// The outcome is a failure or a panic (not a cancellation): readers of an `Ok` outcome need
/// no lock.
const FAILED: u16 = 1 << 5;
/// Created inside another task on a multi-thread loop, whose poll has not returned yet: the
/// harness must not poll the body (see `gate.rs`).
const GATED: u16 = 1 << 6;
/// The pending request was pending when the current poll of the body began (invariant 7):
/// set by the harness, cleared with `CANCEL_PENDING`.
const ARMED: u16 = 1 << 7;
/// A `cancel()` is waking cancellation points outside the lock (`rare.waking_points > 0`):
/// no request is armed until it is done.
const WAKING: u16 = 1 << 8;
/// `run`'s main task: its completion stops the loop (`LoopShared::schedule_stop`). Set at
/// creation, never changed.
pub(crate) const MAIN: u16 = 1 << 9;
/// The body is suspended at a bare yield (`sleep(0)`, `yield_now`): it waits on nothing, so a
/// request is neither handed nor forwarded, as when it runs (asyncio's `_fut_waiter` is
/// `None`). Written by the harness after each poll, lock-free with one read-modify-write.
const AT_YIELD: u16 = 1 << 10;
/// An eager task was woken through its forwarding waker before tokio's waker was registered:
/// the harness must poll again (see `transition_to_eager_woken`). Under the lock.
const EAGER_WOKEN: u16 = 1 << 11;
/// A block's own cancellation (a deadline, `cancel_block`) was delivered to the suspended
/// task's block and its next step has not begun: asyncio's awaited future is already
/// cancelled, so a `cancel()` now merges into that delivery (counted, nothing pending), as
/// `_must_cancel` does. Set under the lock; cleared lock-free as the next poll begins.
const BLOCK_DELIVERED: u16 = 1 << 12;
/// The task has a `tracing` span (`rare.span`), entered around each poll of its body. Set once,
/// when the span is made, before the task is spawned.
const HAS_SPAN: u16 = 1 << 13;
/// Created inside another task on a multi-thread loop (see `GATED`): `Shared::new`'s `flags`.
pub(crate) const START_GATED: u16 = GATED;

/// A done callback as stored: the user's closure, already bound to its task handle; queued on
/// the loop as any [`Callback`] once the task is done.
pub(crate) type DoneCallback = Callback;

/// The loop a task runs on, as this module knows it: the loop's shared state (`event_loop`,
/// below this module), keeping [`TaskRef`]s in its registry.
pub(crate) type Loop = LoopShared<TaskRef>;

/// What a task shares between its handles; see the module docs.
///
/// `repr(C)` with the header first, so a pointer to the `Shared` is a pointer to its header
/// (`Header::is_current` and the forward targets of `poll_await` compare them).
#[repr(C)]
pub(crate) struct Shared<T> {
    pub(crate) header: Header,
    /// The body's value once it succeeded; `None` before, and after `join()` took it.
    pub(crate) value: Mutex<Option<T>>,
}

/// The non-generic part of a task.
pub(crate) struct Header {
    id: TaskId,
    flags: AtomicU16,
    /// Where the task is in its loop's registry (`RegistryKey`), set once when it is
    /// registered, read once at completion, and the harness's stage (`harness::Stage`), read
    /// and written by the harness alone: in the 6 bytes of padding after `flags`, where the
    /// harness would need 16 more bytes of tokio's task cell.
    registry_shard: AtomicU8,
    stage: AtomicU8,
    registry_key: AtomicU32,
    state: Mutex<State>,
    /// The loop the task runs on: where its callbacks are scheduled and failures reported.
    pub(crate) loop_: Arc<Loop>,
}

struct State {
    cancel: CancelState,
    task_waker: Option<Waker>,
    waiters: Waiters,
    /// Where requests go while the body is suspended at an await that passes them on
    /// (asyncio's `_fut_waiter`): the task it awaits, a `gather`'s children. Replaced by the
    /// next such await, cleared when one is dropped unfinished and at completion; a target left
    /// from an await that finished is done, and refuses (invariant 8).
    forward: Option<Arc<dyn Forward>>,
    /// Allocated by the first done callback, foreign-woken cancellation point or second
    /// concurrent waiter: most tasks never have any.
    rare: Option<Box<Rare>>,
    name: Option<Arc<str>>,
    outcome: Option<Result<(), TaskError>>,
}

/// What few tasks need, boxed so that the others do not pay for it.
#[derive(Default)]
pub(crate) struct Rare {
    callbacks: CallbackList<DoneCallback>,
    /// Wakers of cancellation points suspended in the body with a waker other than the
    /// task's (inside a `FuturesUnordered`, say), woken by a cancel request; see
    /// `taskloop_cancel::PointWaker`.
    points: Slab<Waker>,
    /// How many `cancel()` calls are waking `points` right now (`WAKING`).
    waking_points: u16,
    /// The waiters after the first (`Waiters` keeps that one inline).
    waiters: Slab<Waiter>,
    /// The task's tracing span (`HAS_SPAN`), made only when a subscriber wants it, and dropped
    /// when the task completes (with the whole `Rare`, which the completion takes). Here rather than in the harness, whose every byte counts
    /// towards tokio's task cell.
    span: Option<Box<tracing::Span>>,
}

/// The type-erased view of a `Shared<T>`, behind every [`TaskRef`].
pub(crate) trait AnyTask: CancelScope + Forward + Send + Sync + 'static {
    fn header(&self) -> &Header;
}

impl<T: Send + 'static> AnyTask for Shared<T> {
    fn header(&self) -> &Header {
        &self.header
    }
}

impl<T: Send + 'static> CancelScope for Shared<T> {
    fn take_cancel(&self) -> Option<Cancelled> {
        self.header.take_cancel()
    }

    fn take_request(&self) -> Option<Cancelled> {
        self.header.transition_to_request_taken()
    }

    fn owner(self: Arc<Self>) -> Option<Box<dyn std::any::Any + Send>> {
        Some(Box::new(TaskRef::from_arc(self)))
    }

    fn forward_to(&self, target: Arc<dyn Forward>) {
        let replaced = lock(&self.header.state).forward.replace(target);
        drop(replaced);
    }

    fn end_forward(&self, target: *const u8) {
        let mut st = lock(&self.header.state);
        let ended = match &st.forward {
            Some(current) if std::ptr::eq(Arc::as_ptr(current).cast::<u8>(), target) => st.forward.take(),
            _ => None,
        };
        drop(st);
        drop(ended);
    }

    fn register_point(&self, waker: &Waker, key: Option<usize>) -> Option<usize> {
        Some(self.header.register_point(waker, key))
    }

    fn forget_point(&self, key: usize) {
        self.header.forget_point(key);
    }
}

/// Awaiting this task passes the awaiting task's cancel requests on to it.
impl<T: Send + 'static> Forward for Shared<T> {
    fn forward(&self, message: Option<Arc<str>>) -> bool {
        self.header.cancel(message)
    }

    fn task_id(&self) -> Option<u64> {
        Some(self.header.id.as_u64())
    }
}

/// The waker an eager task's body sees during its first step, before the task has a tokio
/// waker: it forwards to that waker once the harness registers it.
impl<T: Send + 'static> std::task::Wake for Shared<T> {
    fn wake(self: Arc<Self>) {
        self.header.transition_to_eager_woken().wake();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.header.transition_to_eager_woken().wake();
    }
}

impl<T> Shared<T> {
    /// `flags`: `START_GATED` and `MAIN`, or 0.
    pub(crate) fn new(loop_: Arc<Loop>, name: Option<Arc<str>>, flags: u16) -> Self {
        Shared { header: Header::new(loop_, name, flags), value: Mutex::new(None) }
    }
}

/// Where a block's own request goes ([`Header::cancel_block`]).
#[must_use = "a block's request must be forwarded or delivered"]
enum BlockRequest {
    /// The task had finished.
    Refused,
    /// Counted; pass it to the await the suspended task forwards to.
    Forward(Arc<dyn Forward>),
    /// Counted; the block delivers it once these wake it, merged with the request that was
    /// pending, if any (its message is the block's cancellation's).
    Deliver { points: Vec<Waker>, waker: Option<Waker>, merged: Option<Cancelled> },
}

/// The wakers of the cancellation points polled with wakers of their own (`rare.points`).
fn point_wakers(st: &State) -> Vec<Waker> {
    st.rare.as_deref().map_or_else(Vec::new, |rare| rare.points.iter().map(|(_, w)| w.clone()).collect())
}

/// What the caller of [`Header::transition_to_cancel_requested`] must do next.
#[must_use = "an accepted request must wake the task"]
pub(crate) enum CancelRequest {
    /// The task is done (or finishing): nothing to do, `cancel()` returns `false`.
    Refused,
    /// Recorded: wake the task (if it has been polled) so that its next poll delivers the
    /// request at its current await.
    Accepted(Option<Waker>),
    /// Recorded, and cancellation points asked to be woken with these: wake them, then call
    /// [`Header::transition_to_points_woken`] (until then the request is not armed), then
    /// wake the task.
    WakePoints(Vec<Waker>),
    /// Counted, and to be passed on to what the suspended task awaits (invariant 8); if that
    /// refuses, [`Header::transition_to_forward_refused`] makes it pending.
    Forward(Arc<dyn Forward>),
}

/// What the harness must do after a poll of the body that suspended with a request pending.
#[must_use = "a request must be delivered, handed or forwarded"]
pub(crate) enum Suspended {
    /// No cancellation point took the armed request: end the body, cancelled (invariant 7).
    End(Cancelled),
    /// Kept for the next poll: nothing pending any more, or the task is at a bare yield
    /// (already queued; the request is not even handed).
    Kept,
    /// Handed to the await, for the next poll to deliver: the task must be polled again. The
    /// harness wakes it (a task that cancelled itself was not woken by its `cancel()`).
    Handed,
    /// Taken, to pass on to what the task now awaits (invariant 8); if that refuses,
    /// [`Header::transition_to_forward_refused`] makes it pending again.
    Forward(Arc<dyn Forward>, Option<Arc<str>>),
}

/// What the harness must do on its first poll.
#[must_use = "the harness must not poll a body that was cancelled before it started"]
pub(crate) enum Start {
    /// Poll the body.
    Poll,
    /// End cancelled without polling the body.
    Cancelled(Cancelled),
    /// The creator has not suspended yet: return `Pending`; `transition_to_ungated` wakes the
    /// task.
    Gated,
}

/// What the harness must do after its body returned `Pending` for the first time.
#[must_use = "a request that arrived during the poll must not be lost"]
pub(crate) enum Suspend {
    /// Parked: `cancel()`/`abort()` will wake the task through the registered waker.
    Park,
    /// A cancel or abort request arrived during the poll, before the waker was registered:
    /// poll again.
    Repoll,
}

/// The wake-up a transition decided on, sent after the state lock is released (invariant 3).
#[must_use = "the task must be woken once the lock is released"]
pub(crate) struct WakeTask(Option<Waker>);

impl WakeTask {
    pub(crate) fn wake(self) {
        if let Some(w) = self.0 {
            taskloop_cancel::note_wake();
            w.wake();
        }
    }
}

/// What the completing harness must do once the state lock is released: the waiters and
/// callbacks taken out of the state, in as few bytes as possible (it is returned through the
/// lock's critical section and moved on): the inline waiter, and the task's whole rare part.
#[must_use = "the completion must wake the waiters and schedule the callbacks"]
pub(crate) struct Completion {
    first: Option<Waiter>,
    rare: Option<Box<Rare>>,
    task_waker: Option<Waker>,
    forward: Option<Arc<dyn Forward>>,
    /// The task failed (an error or a panic; not cancelled): what `wait(FIRST_EXCEPTION)`'s
    /// collector hears.
    failed: bool,
}

impl Completion {
    /// Schedules the done callbacks on the loop, then wakes the awaiters (invariant 3: called
    /// with no lock held). Callbacks first: asyncio runs a future's callbacks, awaiters'
    /// wake-ups included, in the order they were added, and a task's done callbacks (a
    /// `TaskGroup`'s, a progress tracker's) are nearly always added before anyone awaits it.
    /// They are queued before any awaiter is woken, so an awaiter that sees the task done and
    /// then drains the queue (`run` ending) finds them there.
    ///
    /// Returns what is left of the task's rare part (its span, among others), for the caller
    /// to drop last: a task's span closes once its completion is done.
    #[inline]
    pub(crate) fn notify(self, loop_: &Loop) -> Option<Box<Rare>> {
        drop(self.task_waker);
        drop(self.forward);
        let Some(mut rare) = self.rare else {
            WakeList::wake_first(self.first, loop_, self.failed);
            return None;
        };
        let callbacks = rare.callbacks.close();
        if !callbacks.is_empty() {
            loop_.callbacks.schedule(callbacks);
        }
        WakeList::new(self.first, &mut rare.waiters).wake_all(loop_, self.failed);
        Some(rare)
    }
}

impl Header {
    fn new(loop_: Arc<Loop>, name: Option<Arc<str>>, flags: u16) -> Self {
        Header {
            id: TaskId::next(),
            flags: AtomicU16::new(flags & (GATED | MAIN)),
            registry_shard: AtomicU8::new(RegistryKey::NONE.shard),
            stage: AtomicU8::new(0),
            registry_key: AtomicU32::new(RegistryKey::NONE.key),
            state: Mutex::new(State {
                cancel: CancelState::new(),
                task_waker: None,
                waiters: Waiters::new(),
                forward: None,
                rare: None,
                name,
                outcome: None,
            }),
            loop_,
        }
    }

    pub(crate) fn id(&self) -> TaskId {
        self.id
    }

    #[inline]
    fn flags(&self) -> u16 {
        self.flags.load(Ordering::Acquire)
    }

    /// Records where the task was registered (once, before tokio first polls it: spawning it
    /// orders this before the completion that reads it, so `Relaxed` is enough).
    #[inline]
    pub(crate) fn set_registry_key(&self, key: RegistryKey) {
        self.registry_shard.store(key.shard, Ordering::Relaxed);
        self.registry_key.store(key.key, Ordering::Relaxed);
    }

    /// Where the task is registered; `RegistryKey::NONE` if it is not (an eager task that
    /// finished in its first step).
    #[inline]
    pub(crate) fn registry_key(&self) -> RegistryKey {
        RegistryKey {
            shard: self.registry_shard.load(Ordering::Relaxed),
            key: self.registry_key.load(Ordering::Relaxed),
        }
    }

    /// The harness's stage (`harness::Stage` as a number, 0 when spawned). Only the harness
    /// reads and writes it, and tokio orders its polls, so `Relaxed` is enough.
    #[inline]
    pub(crate) fn harness_stage(&self) -> u8 {
        self.stage.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn set_harness_stage(&self, stage: u8) {
        self.stage.store(stage, Ordering::Relaxed);
    }

    /// Gives the task its tracing span (before it is spawned).
    #[cold]
    pub(crate) fn set_span(&self, span: tracing::Span) {
        let mut st = lock(&self.state);
        st.rare.get_or_insert_with(Box::default).span = Some(Box::new(span));
        self.set_flags(HAS_SPAN, 0);
    }

    /// The task's tracing span, if it has one, to enter around a poll of its body.
    #[inline]
    pub(crate) fn span(&self) -> Option<tracing::Span> {
        if self.flags() & HAS_SPAN == 0 {
            return None;
        }
        self.span_slow()
    }

    #[cold]
    #[inline(never)]
    fn span_slow(&self) -> Option<tracing::Span> {
        lock(&self.state).rare.as_ref().and_then(|rare| rare.span.as_deref().cloned())
    }

    /// Lock-free: `DONE` never goes back, and it is set after `outcome` under the lock whose
    /// release publishes `outcome` (Acquire pairs with the Release in `transition_to_done`).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.flags() & DONE != 0
    }

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.flags() & CANCELLED != 0
    }

    /// Whether this is `run`'s main task.
    #[inline]
    pub(crate) fn is_main(&self) -> bool {
        self.flags() & MAIN != 0
    }

    #[inline]
    pub(crate) fn is_abort_requested(&self) -> bool {
        self.flags() & ABORT != 0
    }

    /// Sets and clears flags; only called with the state lock held (invariant 2). One atomic
    /// read-modify-write, because `RETRIEVED` is set lock-free and must not be lost.
    /// Only setting or only clearing (the common cases, decided at compile time once inlined)
    /// is a single `fetch_or`/`fetch_and`.
    #[inline]
    fn set_flags(&self, set: u16, clear: u16) {
        if clear == 0 {
            self.flags.fetch_or(set, Ordering::AcqRel);
        } else if set == 0 {
            self.flags.fetch_and(!clear, Ordering::AcqRel);
        } else {
            let update = |f: u16| Some((f | set) & !clear);
            let _ = self.flags.fetch_update(Ordering::AcqRel, Ordering::Relaxed, update);
        }
    }

    pub(crate) fn name(&self) -> Arc<str> {
        let mut st = lock(&self.state);
        st.name.get_or_insert_with(|| format!("Task-{}", self.id).into()).clone()
    }

    pub(crate) fn set_name(&self, name: Arc<str>) {
        let old = lock(&self.state).name.replace(name);
        drop(old);
    }

    /// `cancel()`/`cancel_with()`: records a request unless the task is done. `running`: the
    /// task is running or at a bare yield; like a task that has not started, it awaits
    /// nothing a request could go to, and a later request replaces the message (asyncio's
    /// `_must_cancel` with `_fut_waiter` `None`).
    pub(crate) fn transition_to_cancel_requested(&self, message: Option<Arc<str>>, running: bool) -> CancelRequest {
        let mut st = lock(&self.state);
        // Never suspended yet (no waker): it has not started, or runs its first poll.
        let running = running || st.task_waker.is_none();
        if !running && self.flags() & BLOCK_DELIVERED != 0 {
            // Merged into the block's cancellation on its way to the task's next step.
            return if st.cancel.count() { CancelRequest::Accepted(None) } else { CancelRequest::Refused };
        }
        if !running && let Some(target) = st.forward.clone() {
            if !st.cancel.count() {
                return CancelRequest::Refused;
            }
            return CancelRequest::Forward(target);
        }
        if !st.cancel.request(message, running) {
            return CancelRequest::Refused;
        }
        if st.rare.as_deref().is_some_and(|rare| !rare.points.is_empty()) {
            return self.start_waking_points(&mut st);
        }
        self.set_flags(CANCEL_PENDING, 0);
        CancelRequest::Accepted(st.task_waker.clone())
    }

    /// The rare half of [`transition_to_cancel_requested`](Self::transition_to_cancel_requested):
    /// cancellation points asked to be woken by a request.
    #[cold]
    #[inline(never)]
    fn start_waking_points(&self, st: &mut State) -> CancelRequest {
        let points = point_wakers(st);
        if let Some(rare) = st.rare.as_deref_mut() {
            rare.waking_points += 1;
        }
        self.set_flags(CANCEL_PENDING | WAKING, 0);
        CancelRequest::WakePoints(points)
    }

    /// A request was counted for forwarding, and what the task awaits has already finished:
    /// the request waits for the task's next poll (asyncio's `_must_cancel`, set when
    /// `_fut_waiter.cancel()` refuses): not handed, so a later request still replaces its
    /// message. Returns the task's waker, to wake after unlocking.
    #[must_use = "the task must be woken once the lock is released"]
    pub(crate) fn transition_to_forward_refused(&self, message: Option<Arc<str>>) -> Option<Waker> {
        let mut st = lock(&self.state);
        if !st.cancel.pend(message, true) {
            return None;
        }
        self.set_flags(CANCEL_PENDING, 0);
        st.task_waker.clone()
    }

    /// After each poll of the body that suspended: notes whether it suspended at a bare yield
    /// (`AT_YIELD`). One load, and a read-modify-write only when that changes.
    #[inline]
    pub(crate) fn note_suspended_at_yield(&self, at_yield: bool) {
        if (self.flags() & AT_YIELD != 0) != at_yield {
            if at_yield {
                self.flags.fetch_or(AT_YIELD, Ordering::AcqRel);
            } else {
                self.flags.fetch_and(!AT_YIELD, Ordering::AcqRel);
            }
        }
    }

    /// The cancellation points a request woke have been woken: the request may be armed now.
    /// Returns the task's waker, to wake after unlocking.
    #[must_use = "the task must be woken once the lock is released"]
    pub(crate) fn transition_to_points_woken(&self) -> Option<Waker> {
        let mut st = lock(&self.state);
        match st.rare.as_deref_mut() {
            Some(rare) => {
                rare.waking_points -= 1;
                if rare.waking_points == 0 {
                    self.set_flags(0, WAKING);
                }
            }
            // Completed meanwhile, taking `rare` with it: no request is armed any more.
            None => self.set_flags(0, WAKING),
        }
        st.task_waker.clone()
    }

    /// `cancel()`: returns whether the request was accepted, and wakes the task if so.
    pub(crate) fn cancel(&self, message: Option<Arc<str>>) -> bool {
        tracing::debug!(target: "taskloop::task", task_id = %self.id, "cancel requested ({:?})", message.as_deref());
        if forwarding::reached(self.id) {
            // A cycle of awaits (this task awaits, through others, a task awaiting it): the
            // request came back around. Refused here, it stays pending on the task that
            // forwarded it, which delivers it at its await.
            return false;
        }
        let current = self.is_current();
        let running = self.flags() & AT_YIELD != 0 || current;
        let waker = match self.transition_to_cancel_requested(message.clone(), running) {
            CancelRequest::Refused => return false,
            CancelRequest::Accepted(waker) => waker,
            CancelRequest::WakePoints(points) => {
                points.into_iter().for_each(Waker::wake);
                self.transition_to_points_woken()
            }
            CancelRequest::Forward(target) => {
                if forwarding::through(self.id, || target.forward(message.clone())) {
                    return true;
                }
                self.transition_to_forward_refused(message)
            }
        };
        // A task cancelling itself is not woken: asyncio's `cancel()` of the running task
        // schedules nothing. Where the task then suspends decides: an await that forwards
        // takes the request and the task waits for it as before; otherwise the harness wakes
        // the task once it has suspended (`Suspended::Handed`).
        if let Some(w) = waker
            && !current
        {
            taskloop_cancel::note_wake();
            w.wake();
        }
        true
    }

    /// A block's own cancellation (a `Timeout`'s deadline): asyncio's `task.cancel()` made by
    /// the block's timer. Counted as any request, and passed on at once if the task is
    /// suspended at an await that forwards (invariant 8). Otherwise, or if the target refuses,
    /// it is not made pending here, where a wrapper outside the block (a `shield`, a
    /// `cancellable`) could take it, but returned for the block's own scope to deliver, and the
    /// task is woken to poll the block.
    pub(crate) fn cancel_block(&self) -> BlockCancel {
        tracing::debug!(target: "taskloop::task", task_id = %self.id, "cancel requested by a block");
        let current = self.is_current();
        let running = current || self.flags() & AT_YIELD != 0;
        let (points, waker, merged) = match self.transition_to_block_cancel_requested(running, current) {
            BlockRequest::Refused => return BlockCancel::Refused,
            BlockRequest::Forward(target) => {
                if !forwarding::reached(self.id) && forwarding::through(self.id, || target.forward(None)) {
                    return BlockCancel::Forwarded;
                }
                // Refused (what the task awaits has finished): the block delivers it.
                let (points, waker) = self.block_request_wakers(current);
                (points, waker, None)
            }
            BlockRequest::Deliver { points, waker, merged } => (points, waker, merged),
        };
        points.into_iter().for_each(Waker::wake);
        if let Some(w) = waker {
            taskloop_cancel::note_wake();
            w.wake();
        }
        BlockCancel::Own(merged.unwrap_or_else(Cancelled::new))
    }

    /// [`cancel_block`](Self::cancel_block): counts the request unless the task is done, and
    /// says where it goes: to the await the suspended task forwards to, or to the block, with
    /// the wakers that make the block's next poll reach it (the task's, unless it is the one
    /// asking, and those of cancellation points polled with wakers of their own).
    fn transition_to_block_cancel_requested(&self, running: bool, current: bool) -> BlockRequest {
        let mut st = lock(&self.state);
        let running = running || st.task_waker.is_none();
        if !st.cancel.count() {
            return BlockRequest::Refused;
        }
        if !running && let Some(target) = st.forward.clone() {
            return BlockRequest::Forward(target);
        }
        // A request pending and not yet delivered merges into the block's: asyncio's second
        // `cancel()` finds the awaited future already cancelled (or `_must_cancel` set), and
        // one `CancelledError`, the first request's, is thrown. The block delivers it.
        let merged = if self.flags() & CANCEL_PENDING != 0 {
            self.set_flags(0, CANCEL_PENDING | ARMED);
            st.cancel.take()
        } else {
            None
        };
        if !running {
            self.set_flags(BLOCK_DELIVERED, 0);
        }
        let waker = if current { None } else { st.task_waker.clone() };
        BlockRequest::Deliver { points: point_wakers(&st), waker, merged }
    }

    /// The wakers a block's request must wake, read after its forwarding was refused.
    fn block_request_wakers(&self, current: bool) -> (Vec<Waker>, Option<Waker>) {
        let st = lock(&self.state);
        if !current {
            self.set_flags(BLOCK_DELIVERED, 0);
        }
        (point_wakers(&st), if current { None } else { st.task_waker.clone() })
    }

    /// Keeps the waker of a cancellation point that is polled with a waker other than the
    /// task's, so that `cancel()` wakes it; see `taskloop_cancel::PointWaker`.
    fn register_point(&self, waker: &Waker, key: Option<usize>) -> usize {
        let mut st = lock(&self.state);
        let points = &mut st.rare.get_or_insert_with(Box::default).points;
        let replaced = match key.and_then(|k| points.get_mut(k).map(|slot| (k, slot))) {
            Some((k, slot)) if slot.will_wake(waker) => (k, None),
            Some((k, slot)) => (k, Some(std::mem::replace(slot, waker.clone()))),
            None => (points.insert(waker.clone()), None),
        };
        drop(st);
        replaced.0
    }

    fn forget_point(&self, key: usize) {
        let removed = lock(&self.state).rare.as_mut().and_then(|rare| rare.points.try_remove(key));
        drop(removed);
    }

    /// Before a poll of the body: arms a pending request (invariant 7), so the body's
    /// cancellation points may deliver it. Returns whether the body may be ended at its await
    /// if none does: not while cancellation points are still being woken for it (`WAKING`).
    /// One atomic load when no request is pending.
    #[inline]
    pub(crate) fn arm_cancel(&self) -> bool {
        let flags = self.flags();
        if flags & (CANCEL_PENDING | BLOCK_DELIVERED) == 0 {
            return false;
        }
        if flags & BLOCK_DELIVERED != 0 {
            // This step receives the block's cancellation: later requests no longer merge.
            self.set_flags(0, BLOCK_DELIVERED);
            if flags & CANCEL_PENDING == 0 {
                return false;
            }
        }
        // Lock-free: `CANCEL_PENDING` and `ARMED` are cleared together (under the lock) by
        // whoever takes or withdraws the request, so `ARMED` is only ever set on a request
        // that is pending at this instant.
        let arm = |f: u16| (f & CANCEL_PENDING != 0).then_some(f | ARMED);
        match self.flags.fetch_update(Ordering::AcqRel, Ordering::Acquire, arm) {
            Ok(before) => before & WAKING == 0,
            Err(_) => false,
        }
    }

    /// After a poll of the body that returned `Pending` with a request pending. If it was
    /// armed before the poll (and `endable`, see [`arm_cancel`](Self::arm_cancel)) and no
    /// cancellation point took it, the body awaits only futures that are not cancellation
    /// points: returns the request, for the harness to end the body there (invariant 7).
    /// Otherwise the task suspends, and the request is handed to its await (asyncio's
    /// `_fut_waiter.cancel()`): its message is fixed and `uncancel` no longer withdraws it.
    pub(crate) fn transition_to_suspended_with_request(&self, endable: bool) -> Suspended {
        let mut st = lock(&self.state);
        let flags = self.flags();
        if endable && flags & ARMED != 0 {
            self.set_flags(0, CANCEL_PENDING | ARMED);
            return st.cancel.take().map_or(Suspended::Kept, Suspended::End);
        }
        if flags & AT_YIELD != 0 {
            // Waiting on nothing: the request stays as a running task's (asyncio's
            // `_must_cancel`), and a later request may still replace its message.
            return Suspended::Kept;
        }
        if let Some(target) = st.forward.clone() {
            // asyncio's `__step`, suspending with `_must_cancel` set: `_fut_waiter.cancel(msg)`.
            self.set_flags(0, CANCEL_PENDING | ARMED);
            if let Some(taken) = st.cancel.take() {
                return Suspended::Forward(target, taken.message_arc().cloned());
            }
            return Suspended::Kept;
        }
        st.cancel.hand();
        Suspended::Handed
    }

    /// Whether a request is armed (invariant 7): asked by the harness after
    /// [`arm_cancel`](Self::arm_cancel), before the poll. Only `arm_cancel` sets `ARMED`, so
    /// if it is clear now, [`take_cancel`](Self::take_cancel) returns `None` until the next
    /// poll, and the poll's cancellation points are told not to ask
    /// (`taskloop_cancel::ScopeSlot::for_poll`).
    #[inline]
    pub(crate) fn is_armed(&self) -> bool {
        self.flags() & ARMED != 0
    }

    /// Whether a request is pending: what the harness checks after a poll that suspended.
    #[inline]
    pub(crate) fn is_cancel_pending(&self) -> bool {
        self.flags() & CANCEL_PENDING != 0
    }

    /// Delivers a pending request that was made before the current poll of the body began
    /// (`ARMED`): what a cancellation point in this task's body calls. A request made during
    /// the poll (the task cancelling itself) waits until the task has suspended once, as in
    /// asyncio, where `_must_cancel` is acted on when the task next yields.
    #[inline]
    pub(crate) fn take_cancel(&self) -> Option<Cancelled> {
        if self.flags() & ARMED == 0 {
            return None;
        }
        self.transition_to_request_taken()
    }

    /// Takes a pending request, armed or not (`CancelScope::take_request`: for the runtime's
    /// own scopes, a `Timeout` moving its deadline's request into its block), and what a
    /// cancellation point delivers through [`take_cancel`](Self::take_cancel).
    #[must_use = "a taken request must be delivered"]
    pub(crate) fn transition_to_request_taken(&self) -> Option<Cancelled> {
        if self.flags() & CANCEL_PENDING == 0 {
            return None;
        }
        let mut st = lock(&self.state);
        let taken = st.cancel.take();
        self.set_flags(0, CANCEL_PENDING | ARMED);
        taken
    }

    /// Whether this task's body is being polled on this thread (it is cancelling itself, or a
    /// `Timeout` in it is expiring).
    fn is_current(&self) -> bool {
        taskloop_cancel::with_current_scope(|scope| scope.is_some_and(|s| s.is_task(std::ptr::from_ref(self).cast())))
    }

    pub(crate) fn cancelling(&self) -> usize {
        lock(&self.state).cancel.cancelling()
    }

    /// `uncancel()`: withdraws one request; reaching 0 also withdraws a pending request not
    /// yet handed to an await. Returns how many remain.
    #[must_use = "uncancel() returns how many requests remain"]
    pub(crate) fn transition_to_uncancelled(&self) -> usize {
        let mut st = lock(&self.state);
        let left = st.cancel.uncancel();
        if !st.cancel.is_pending() {
            self.set_flags(0, CANCEL_PENDING | ARMED);
        }
        left
    }

    /// `abort()`: asks the harness to drop the body at its next poll; a no-op once done.
    pub(crate) fn abort(&self) {
        self.transition_to_abort_requested().wake();
    }

    /// Records an abort request (`ABORT`) unless the task is done; the task is to be woken so
    /// that its harness acts on it.
    fn transition_to_abort_requested(&self) -> WakeTask {
        let st = lock(&self.state);
        if st.cancel.is_closed() {
            return WakeTask(None);
        }
        self.set_flags(ABORT, 0);
        WakeTask(st.task_waker.clone())
    }

    /// The harness's first poll: ends the task before its body runs if it was cancelled or
    /// aborted first. Lock-free unless a request is pending (or the task is gated): inlined
    /// into the harness, the common first poll is one flag test.
    #[inline]
    pub(crate) fn transition_to_running(&self, waker: &Waker) -> Start {
        if self.flags() & (CANCEL_PENDING | ABORT | GATED) == 0 {
            return Start::Poll;
        }
        self.start_held(waker)
    }

    /// [`transition_to_running`](Self::transition_to_running) with a request pending or the
    /// gate closed.
    #[cold]
    #[inline(never)]
    fn start_held(&self, waker: &Waker) -> Start {
        let mut st = lock(&self.state);
        if self.flags() & GATED != 0 {
            st.task_waker = Some(waker.clone());
            return Start::Gated;
        }
        if self.flags() & ABORT != 0 {
            return Start::Cancelled(st.cancel.take().unwrap_or_default());
        }
        match st.cancel.take() {
            Some(cancelled) => {
                self.set_flags(0, CANCEL_PENDING | ARMED);
                Start::Cancelled(cancelled)
            }
            None => Start::Poll,
        }
    }

    /// Gated → Scheduled: the creator of a gated task has suspended, so the task may start;
    /// to be woken if its harness already found the gate closed (and registered its waker).
    pub(crate) fn transition_to_ungated(&self) -> WakeTask {
        let st = lock(&self.state);
        self.set_flags(0, GATED);
        WakeTask(st.task_waker.clone())
    }

    /// The body returned `Pending` for the first time: registers the harness's waker so
    /// `cancel()`/`abort()` can wake the task (invariant 6). A body that finishes on its first
    /// poll never pays for this. A request that arrived while the body was being polled found
    /// no waker; it is caught here, under the lock, and the harness polls again.
    pub(crate) fn transition_to_suspended(&self, waker: &Waker) -> Suspend {
        let mut st = lock(&self.state);
        st.task_waker = Some(waker.clone());
        let woken_early = self.flags() & EAGER_WOKEN != 0;
        if woken_early {
            self.set_flags(0, EAGER_WOKEN);
        }
        if woken_early || self.flags() & (CANCEL_PENDING | ABORT) != 0 { Suspend::Repoll } else { Suspend::Park }
    }

    /// A waker handed to an eager task's body during its first step fired: wake the task
    /// through tokio's waker if it is registered, else remember it (`EAGER_WOKEN`) for the
    /// harness's first tokio poll (which also happens anyway, since spawning schedules the task).
    fn transition_to_eager_woken(&self) -> WakeTask {
        let st = lock(&self.state);
        if st.task_waker.is_none() {
            self.set_flags(EAGER_WOKEN, 0);
        }
        WakeTask(st.task_waker.clone())
    }

    /// Completion: decides the final outcome (a request never delivered turns an `Ok` into a
    /// cancellation), stores it, and takes the waiters and callbacks out (the inline waiter and
    /// the whole `rare` part), all in one critical section (invariant 1). Returns what to do after unlocking, and a value that a
    /// late cancellation discarded, for the caller to drop outside the lock (invariant 3).
    pub(crate) fn transition_to_done<T>(
        &self,
        result: Result<T, TaskError>,
        value: &Mutex<Option<T>>,
    ) -> (Completion, Option<T>) {
        let mut st = lock(&self.state);
        let undelivered = st.cancel.close();
        let mut discarded = None;
        let outcome = match result {
            Ok(v) => match undelivered {
                Some(cancelled) => {
                    discarded = Some(v);
                    Err(TaskError::Cancelled(cancelled))
                }
                None => {
                    *lock(value) = Some(v);
                    Ok(())
                }
            },
            Err(e) => Err(e),
        };
        let outcome_flag = match &outcome {
            Ok(()) => 0,
            Err(TaskError::Cancelled(_)) => CANCELLED,
            Err(_) => FAILED,
        };
        st.outcome = Some(outcome);
        // The whole rare part goes with the completion (its callbacks, its further waiters):
        // with `outcome` set, whatever comes later finds no `rare` and acts as on a closed one
        // (`add_done_callback` schedules at once, `remove_done_callback` finds nothing).
        let completion = Completion {
            first: st.waiters.take_first(),
            rare: st.rare.take(),
            task_waker: st.task_waker.take(),
            forward: st.forward.take(),
            failed: outcome_flag == FAILED,
        };
        self.set_flags(DONE | outcome_flag, CANCEL_PENDING | ARMED | ABORT);
        drop(st);
        (completion, discarded)
    }

    /// The outcome without its value; `None` while not done. Marks it retrieved if asked.
    ///
    /// `#[inline]` with the error half out of line: the handles' generic code (instantiated in
    /// the user's crate) reads an `Ok` outcome with two flag tests instead of a call.
    #[inline]
    pub(crate) fn outcome(&self, retrieve: bool) -> Option<Result<(), TaskError>> {
        let flags = self.flags();
        if flags & DONE == 0 {
            return None;
        }
        if flags & (CANCELLED | FAILED) == 0 {
            // Invariant 1: DONE without an error flag is an `Ok` outcome, forever.
            return Some(Ok(()));
        }
        self.failed_outcome(flags, retrieve)
    }

    #[cold]
    #[inline(never)]
    fn failed_outcome(&self, flags: u16, retrieve: bool) -> Option<Result<(), TaskError>> {
        if retrieve && flags & RETRIEVED == 0 {
            self.flags.fetch_or(RETRIEVED, Ordering::AcqRel);
        }
        lock(&self.state).outcome.clone()
    }

    /// The outcome without its value, marked retrieved: what awaiting the task resolves to,
    /// and the first half of `result()`. `InvalidState` while not done.
    #[inline]
    pub(crate) fn retrieve(&self) -> Result<(), TaskError> {
        self.outcome(true).unwrap_or(Err(TaskError::InvalidState))
    }

    /// `exception()`: the failure the task ended with (`None` if it succeeded), marked
    /// retrieved; `InvalidState` while not done, and the cancellation if it was cancelled (as
    /// asyncio raises `CancelledError`).
    pub(crate) fn exception(&self) -> Result<Option<TaskError>, TaskError> {
        match self.outcome(true) {
            None => Err(TaskError::InvalidState),
            Some(Ok(())) => Ok(None),
            Some(Err(e @ TaskError::Cancelled(_))) => Err(e),
            Some(Err(e)) => Ok(Some(e)),
        }
    }

    /// Whether the task is done with a failure or panic (not a cancellation), without
    /// retrieving it: what `wait(.., FirstException, ..)` looks for.
    pub(crate) fn failed(&self) -> bool {
        self.is_done() && !self.is_cancelled() && matches!(lock(&self.state).outcome, Some(Err(_)))
    }

    /// Waits for `DONE`, registering `cx`'s waker in the slot `key` (invariant 4).
    pub(crate) fn poll_done(&self, key: &mut WaiterKey, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_done() {
            *key = None;
            return Poll::Ready(());
        }
        let mut st = lock(&self.state);
        if st.outcome.is_some() {
            *key = None;
            return Poll::Ready(());
        }
        if key.is_none() {
            // The first poll of this wait: a new slot, nothing replaced.
            let state = &mut *st;
            state.waiters.add(&mut state.rare, key, Waiter::Wake(cx.waker().clone()));
            return Poll::Pending;
        }
        let state = &mut *st;
        let replaced = state.waiters.register(&mut state.rare, key, cx.waker());
        drop(st);
        drop(replaced);
        Poll::Pending
    }

    /// Waits for `DONE` on behalf of a call waiting for many tasks: unless the task is done,
    /// takes a new waiter slot `key` (invariant 4) telling `collector` "child `position`
    /// finished" at completion, in its turn among the waiters. Called once per child: the
    /// collector hears of it only at completion, so a child it was told about is done.
    pub(crate) fn register_report(&self, key: &mut WaiterKey, collector: &Arc<Collector>, position: usize) -> Poll<()> {
        if self.is_done() {
            *key = None;
            return Poll::Ready(());
        }
        let mut st = lock(&self.state);
        if st.outcome.is_some() {
            *key = None;
            return Poll::Ready(());
        }
        debug_assert!(key.is_none(), "a child registers its collector once");
        let state = &mut *st;
        state.waiters.add(&mut state.rare, key, Waiter::Report(collector.clone(), position));
        Poll::Pending
    }

    /// Frees the waiter slot `key`, when an awaiter is dropped before the task is done.
    pub(crate) fn forget_waiter(&self, key: &mut WaiterKey) {
        let Some(k) = key.take() else { return };
        if self.is_done() {
            return;
        }
        let mut st = lock(&self.state);
        let state = &mut *st;
        let removed = state.waiters.remove(&mut state.rare, k);
        drop(st);
        drop(removed);
    }

    /// An await of this task is dropped: frees its waiter slot and, if it was waiting,
    /// requests of the awaiting task no longer come here (`this` is this task, as the
    /// awaiting task's forward target).
    pub(crate) fn forget_await(&self, key: &mut WaiterKey, this: *const u8) {
        if key.is_some() && !self.is_done() {
            // Abandoned before this task finished (a select, a timeout): the awaiting task, if
            // it is the one polling, no longer waits on this one.
            taskloop_cancel::end_forward(this);
        }
        self.forget_waiter(key);
    }

    /// Awaiting this task from a cancellation point: the *awaiting* task's cancel requests are
    /// passed on to this one, as asyncio's `Task.cancel()` cancels the future its task waits
    /// on (invariant 8: at once while the awaiting task is suspended here, `this()` being the
    /// target; a request pending when the await is polled, here); the awaiter then keeps
    /// waiting and sees whatever this task ends with. Resolves to the outcome without its
    /// value.
    ///
    /// `#[inline]`: since core's loop layer was split out (40fc2e1) the compiler no longer
    /// inlined it into `Task::poll` on its own, which cost spawn+await 87 instructions (2%).
    #[inline]
    pub(crate) fn poll_await(
        &self,
        key: &mut WaiterKey,
        point: &mut PointWaker,
        cx: &mut Context<'_>,
        this: impl FnOnce() -> Arc<dyn Forward>,
    ) -> Poll<Result<(), TaskError>> {
        if key.is_none() && self.is_done() {
            // Never suspended on it: awaiting a finished task does not suspend, so, as in
            // asyncio, it delivers no cancellation.
            return Poll::Ready(self.retrieve());
        }
        if let Some(cancelled) = point.poll_cancel(cx)
            && (!self.cancel(cancelled.message_arc().cloned()) || came_back())
        {
            // This task is already done (or the request came back round a cycle of awaits):
            // the cancellation is delivered here, as the awaited task's own cancellation if it
            // ended cancelled (asyncio's `__wakeup` hands `__step` the awaited future's
            // `CancelledError`, which `_must_cancel` keeps). `Shared` is `repr(C)` with the
            // header first, so this header's address is the forward target's.
            self.forget_await(key, std::ptr::from_ref(self).cast());
            return Poll::Ready(match self.outcome(true) {
                Some(Err(TaskError::Cancelled(own))) => Err(TaskError::Cancelled(own)),
                _ => Err(TaskError::Cancelled(cancelled)),
            });
        }
        let waited = key.is_some();
        if !waited && !self.is_done() {
            // About to wait: refuse a self-await, and make this task where the awaiting task's
            // requests go (invariant 8; `dump()` shows it as what the task awaits).
            if !taskloop_cancel::forward_to(std::ptr::from_ref(self).cast(), this) {
                panic!("{} cannot await itself: it would wait forever", self.name());
            }
        }
        match self.poll_done(key, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                if waited {
                    // Done waiting: requests no longer come here, and this task's memory is not
                    // kept alive by the awaiting one (`Shared` is `repr(C)` with the header
                    // first, so this header's address is the target's).
                    taskloop_cancel::end_forward(std::ptr::from_ref(self).cast());
                }
                Poll::Ready(self.retrieve())
            }
        }
    }

    /// `add_done_callback`: stores `callback`, or schedules it at once if the task is done.
    pub(crate) fn add_done_callback(&self, callback: DoneCallback) -> CallbackId {
        let refused = {
            let mut st = lock(&self.state);
            let done = st.outcome.is_some();
            let list = &mut st.rare.get_or_insert_with(Box::default).callbacks;
            if done && !list.is_closed() {
                // Allocated after completion: it starts closed, like one completion closed.
                list.close();
            }
            list.add(callback)
        };
        match refused {
            Ok(id) => id,
            Err((id, callback)) => {
                self.loop_.callbacks.schedule(vec![callback]);
                id
            }
        }
    }

    pub(crate) fn remove_done_callback(&self, id: CallbackId) -> bool {
        let removed = lock(&self.state).rare.as_mut().and_then(|rare| rare.callbacks.remove(id));
        removed.is_some()
    }

    /// A snapshot for `dump()`: pending cancel requests and what the task awaits.
    pub(crate) fn diagnostics(&self) -> (usize, Option<u64>) {
        let st = lock(&self.state);
        (st.cancel.cancelling(), st.forward.as_ref().and_then(|target| target.task_id()))
    }

    /// What `dump()` and the handles' `Debug` show, from one read of the flags.
    pub(crate) fn state(&self) -> TaskState {
        let flags = self.flags();
        if flags & CANCELLED != 0 {
            TaskState::Cancelled
        } else if flags & DONE != 0 {
            TaskState::Done
        } else if flags & CANCEL_PENDING != 0 {
            TaskState::Cancelling
        } else {
            TaskState::Pending
        }
    }
}

/// After passing a request on to the awaited task: whether it came back to the awaiting task
/// (a cycle of awaits, through tasks that forward it on), which then delivers it here.
#[cold]
fn came_back() -> bool {
    taskloop_cancel::with_current_scope(|scope| scope.is_some_and(|s| s.take_request().is_some()))
}

/// The tasks a `cancel()` on this thread is passing a request through (invariant 8): a
/// request that comes back to one of them is refused instead of going round a cycle of awaits
/// forever.
mod forwarding {
    use std::cell::RefCell;

    use super::TaskId;

    thread_local! {
        static CHAIN: RefCell<Vec<TaskId>> = const { RefCell::new(Vec::new()) };
    }

    /// Whether a request being forwarded on this thread already went through `task`.
    #[inline]
    pub(super) fn reached(task: TaskId) -> bool {
        CHAIN.with(|chain| {
            let chain = chain.borrow();
            !chain.is_empty() && chain.contains(&task)
        })
    }

    /// Runs `forward` with `task` on the chain.
    pub(super) fn through(task: TaskId, forward: impl FnOnce() -> bool) -> bool {
        CHAIN.with(|chain| chain.borrow_mut().push(task));
        struct Pop;
        impl Drop for Pop {
            fn drop(&mut self) {
                CHAIN.with(|chain| chain.borrow_mut().pop());
            }
        }
        let _pop = Pop;
        forward()
    }
}

impl Drop for Header {
    /// asyncio's "Task exception was never retrieved": a failure nobody read is reported to
    /// the loop's exception handler when the last handle goes.
    fn drop(&mut self) {
        // Only a failure (`FAILED`: an `Err` outcome that is not a cancellation) nobody read is
        // reported; every other task (most of them) goes without touching its state.
        if self.flags() & (FAILED | RETRIEVED) != FAILED {
            return;
        }
        let st = crate::sync::get_mut(&mut self.state);
        if let Some(Err(error)) = st.outcome.take() {
            let name = st.name.clone().unwrap_or_else(|| format!("Task-{}", self.id).into());
            self.loop_.report(Report::new(
                format!("Task exception was never retrieved (task {name}, id {})", self.id),
                Some(error),
                None,
            ));
        }
    }
}
