//! The waiters of one task: the wakers of the handles awaiting it, and the *collectors* of
//! calls that wait for many tasks at once (`wait`, `gather`, `as_completed`).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::Waker;

use slab::Slab;

use super::{Loop, Rare};
use crate::sync::{Mutex, lock};

/// Which waiter slot a handle holds, if any: kept in every handle, so it is four bytes.
/// 1 is the inline slot, `k + 2` is slab entry `k`.
pub(crate) type WaiterKey = Option<NonZeroU32>;

fn key_of(slot: usize) -> NonZeroU32 {
    // At most one slot per live handle: far fewer than 2^32 - 2.
    NonZeroU32::new(u32::try_from(slot + 1).expect("fewer than 2^32 awaiters")).expect("slot + 1 is not zero")
}

/// One waiter of a task, told once when the task completes.
pub(super) enum Waiter {
    /// An awaiting handle's waker: woken.
    Wake(Waker),
    /// A call waiting for many tasks, which knows this task as its child `position`: the
    /// collector is told "child `position` finished". No waker (and no allocation) per child.
    Report(Arc<Collector>, usize),
}

impl Waiter {
    #[inline]
    fn notify(self, loop_: &Loop, failed: bool) {
        match self {
            Waiter::Wake(waker) => {
                taskloop_cancel::note_wake();
                waker.wake();
            }
            Waiter::Report(collector, position) => collector.report(Arrival { position, failed }, loop_),
        }
    }
}

/// A child's completion as its collector hears it.
#[derive(Clone, Copy)]
pub(crate) struct Arrival {
    position: usize,
    /// It failed (not cancelled): see [`Threshold::AllOrFailure`].
    failed: bool,
}

/// When a collector wakes its caller.
#[derive(Clone, Copy)]
enum Threshold {
    /// At the first arrival since the caller last looked: `gather`, `as_completed`,
    /// `wait(FIRST_COMPLETED)`.
    EachBatch,
    /// Only once the call is decided: when the last of the `left` children the caller still
    /// waits for arrives (`wait(ALL_COMPLETED)`), or one that failed, if `on_failure`
    /// (`wait(FIRST_EXCEPTION)`): asyncio's `_on_completion` wakes the caller then only, so
    /// an earlier arrival must not queue a step of the caller's ahead of where that is.
    AllOrFailure { left: usize, on_failure: bool, woken: bool },
}

/// What a call waiting for many tasks (`wait::DoneSet`) hears from them: the positions of the
/// children that finished, in the order they finished, and the caller's waker. The first
/// child to finish since the caller last looked wakes it; the others of that batch join, so
/// the caller is woken once per batch.
pub(crate) struct Collector {
    state: Mutex<Collected>,
}

struct Collected {
    finished: Vec<usize>,
    caller: Option<Waker>,
    /// This batch's wake-up of the caller is queued and the caller has not looked yet: the
    /// `wake_mark` just after it was queued.
    queued: Option<u32>,
    /// This batch's wake-up came from a deferred arrival (see [`Collector::report`]).
    deferred: bool,
    /// Every arrival is deferred (see [`Collector::defer_arrivals`]).
    always_defer: bool,
    threshold: Threshold,
}

impl Collector {
    pub(crate) fn new() -> Arc<Collector> {
        Arc::new(Collector {
            state: Mutex::new(Collected {
                finished: Vec::new(),
                caller: None,
                queued: None,
                deferred: false,
                always_defer: false,
                threshold: Threshold::EachBatch,
            }),
        })
    }

    /// Child `position` finished (called by its completion, with no task lock held).
    ///
    /// The first child of a batch wakes the caller, where asyncio's done callback for it (which
    /// would complete the call's future) is queued; the next ones join that wake-up. On the
    /// current-thread loop, a child that finishes after something else was queued behind that
    /// wake-up (another task woken, spawned, a callback scheduled) would be seen too early
    /// there: its arrival is deferred to a callback of its own, queued now, where asyncio's
    /// done callback for it is, and that callback wakes the caller (every arrival is, with
    /// [`defer_arrivals`](Self::defer_arrivals)).
    fn report(self: Arc<Self>, arrival: Arrival, loop_: &Loop) {
        let caller = {
            let mut st = lock(&self.state);
            let behind = st.always_defer || st.queued.is_some_and(|mark| mark != taskloop_cancel::wake_mark());
            if behind && !loop_.multi_thread {
                drop(st);
                let arrival = Deferred(Some((self, arrival)));
                loop_.callbacks.schedule(vec![Box::new(move || arrival.run())]);
                return;
            }
            st.push(arrival, false)
        };
        if let Some(caller) = caller {
            caller.wake();
        }
    }

    /// A deferred arrival (see [`report`](Self::report)), run as a callback.
    fn arrive(&self, arrival: Arrival, deferred: bool) {
        let caller = lock(&self.state).push(arrival, deferred);
        if let Some(caller) = caller {
            caller.wake();
        }
    }

    /// The caller looks: keeps `waker` as the caller's (unless the one kept already wakes the
    /// same task) and swaps the children reported since the last look into `into` (which
    /// must be empty; its buffer is reused for the next batch). Returns whether the batch's
    /// wake-up came from a deferred arrival. `outstanding`: with a threshold set by
    /// [`wake_when_decided`](Self::wake_when_decided), how many children the caller has
    /// registered and not yet seen arrive (those swapped out now included).
    pub(crate) fn take_finished(&self, waker: &Waker, into: &mut Vec<usize>, outstanding: usize) -> bool {
        let mut st = lock(&self.state);
        if !st.caller.as_ref().is_some_and(|w| w.will_wake(waker)) {
            st.caller = Some(waker.clone());
        }
        std::mem::swap(&mut st.finished, into);
        if let Threshold::AllOrFailure { left, woken, .. } = &mut st.threshold {
            *left = outstanding.saturating_sub(into.len());
            *woken = false;
        }
        st.queued = None;
        std::mem::take(&mut st.deferred)
    }

    /// On the current-thread loop, every child arrives through a callback of its own, queued
    /// at its completion: for `wait` and `as_completed`, whose caller asyncio wakes from a
    /// done callback (`_on_completion`, `_handle_completion`) and which a `cancel()` made
    /// before that callback ran wakes itself, where it was made. (A `gather`'s request made
    /// then waits for the done callback's wake-up, which its collector's wake-up stands for.)
    pub(crate) fn defer_arrivals(&self) {
        lock(&self.state).always_defer = true;
    }

    /// Wakes the caller only when its call is decided (see [`Threshold::AllOrFailure`]).
    pub(crate) fn wake_when_decided(&self, on_failure: bool) {
        lock(&self.state).threshold = Threshold::AllOrFailure { left: usize::MAX, on_failure, woken: false };
    }
}

/// A deferred arrival, queued as a callback. If the queue drops it unrun (the loop has ended),
/// the child still arrives, so no caller waits for it forever.
struct Deferred(Option<(Arc<Collector>, Arrival)>);

impl Deferred {
    fn run(mut self) {
        if let Some((collector, arrival)) = self.0.take() {
            collector.arrive(arrival, true);
        }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if let Some((collector, arrival)) = self.0.take() {
            collector.arrive(arrival, false);
        }
    }
}

impl Collected {
    /// Adds a finished child to the batch; the one that reaches the threshold (the first of
    /// a batch, by default) returns the caller's waker to wake (after unlocking).
    fn push(&mut self, arrival: Arrival, deferred: bool) -> Option<Waker> {
        self.finished.push(arrival.position);
        let wake = match &mut self.threshold {
            Threshold::EachBatch => self.finished.len() == 1,
            Threshold::AllOrFailure { left, on_failure, woken } => {
                *left = left.saturating_sub(1);
                let decided = *left == 0 || (arrival.failed && *on_failure);
                !std::mem::replace(woken, *woken || decided) && decided
            }
        };
        if !wake {
            return None;
        }
        let caller = self.caller.clone();
        if caller.is_some() {
            self.queued = Some(taskloop_cancel::note_wake());
            self.deferred = deferred;
        }
        caller
    }
}

/// One slot per waiter. The first waiter is stored inline, so the common case of a single
/// awaiter (or a single collector) allocates nothing; further waiters go to a slab in the
/// task's `Rare` part, allocated only for a second concurrent waiter. (Inline, the slab would
/// make every task's header 8 bytes larger, which costs more in glibc's reuse of freed task
/// memory than the slab's indirection does.)
#[derive(Default)]
pub(super) struct Waiters {
    first: Option<Waiter>,
}

/// Waiters taken out at completion, told after the lock is released, in registration order
/// (the inline slot first, then the slab's).
pub(super) struct WakeList {
    first: Option<Waiter>,
    rest: Slab<Waiter>,
}

impl Waiters {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Registers `waker` in slot `key` (allocating a slot if `key` is `None`), and returns the
    /// waiter it replaced, for the caller to drop after unlocking. `rare`: the task's, where
    /// the slab of further waiters is.
    pub(super) fn register(
        &mut self,
        rare: &mut Option<Box<Rare>>,
        key: &mut WaiterKey,
        waker: &Waker,
    ) -> Option<Waiter> {
        match *key {
            Some(k) => {
                let slot = match k.get() {
                    1 => self.first.as_mut(),
                    n => rare.as_deref_mut().and_then(|rare| rare.waiters.get_mut(n as usize - 2)),
                };
                match slot {
                    Some(Waiter::Wake(old)) if old.will_wake(waker) => None,
                    Some(old) => Some(std::mem::replace(old, Waiter::Wake(waker.clone()))),
                    None => {
                        // The slot was freed (invariant 4 makes this unreachable); take a new one.
                        *key = None;
                        self.register(rare, key, waker)
                    }
                }
            }
            None => {
                self.add(rare, key, Waiter::Wake(waker.clone()));
                None
            }
        }
    }

    /// Registers a new waiter in a new slot, whose key goes to `key`.
    #[inline]
    pub(super) fn add(&mut self, rare: &mut Option<Box<Rare>>, key: &mut WaiterKey, waiter: Waiter) {
        if self.first.is_none() {
            self.first = Some(waiter);
            *key = Some(key_of(0));
        } else {
            *key = Some(key_of(add_to_rest(rare, waiter) + 1));
        }
    }

    /// Frees slot `key` and returns its waiter, for the caller to drop after unlocking.
    pub(super) fn remove(&mut self, rare: &mut Option<Box<Rare>>, key: NonZeroU32) -> Option<Waiter> {
        match key.get() {
            1 => self.first.take(),
            n => rare.as_deref_mut()?.waiters.try_remove(n as usize - 2),
        }
    }

    /// Takes the inline waiter, at completion (the others are in the task's rare part, which
    /// the completion takes whole).
    #[inline]
    pub(super) fn take_first(&mut self) -> Option<Waiter> {
        self.first.take()
    }
}

/// A second concurrent waiter (or more): into the slab, allocating `rare` if need be.
#[cold]
fn add_to_rest(rare: &mut Option<Box<Rare>>, waiter: Waiter) -> usize {
    rare.get_or_insert_with(Box::default).waiters.insert(waiter)
}

impl WakeList {
    /// The inline waiter and the further ones, taken out of `rest` (the task's rare part).
    pub(super) fn new(first: Option<Waiter>, rest: &mut Slab<Waiter>) -> Self {
        WakeList { first, rest: std::mem::take(rest) }
    }

    /// Tells the only waiter of a task that has no rare part.
    #[inline]
    pub(super) fn wake_first(first: Option<Waiter>, loop_: &Loop, failed: bool) {
        if let Some(w) = first {
            w.notify(loop_, failed);
        }
    }

    pub(super) fn wake_all(self, loop_: &Loop, failed: bool) {
        let WakeList { first, rest } = self;
        Self::wake_first(first, loop_, failed);
        rest.into_iter().for_each(|(_, w)| w.notify(loop_, failed));
    }
}
