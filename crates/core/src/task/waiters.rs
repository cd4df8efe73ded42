//! The wakers of the handles awaiting one task.

use std::num::NonZeroU32;
use std::task::Waker;

use slab::Slab;

/// Which waiter slot a handle holds, if any: kept in every handle, so it is four bytes.
/// 1 is the inline slot, `k + 2` is slab entry `k`.
pub(crate) type WaiterKey = Option<NonZeroU32>;

fn key_of(slot: usize) -> NonZeroU32 {
    // At most one slot per live handle: far fewer than 2^32 - 2.
    NonZeroU32::new(u32::try_from(slot + 1).expect("fewer than 2^32 awaiters")).expect("slot + 1 is not zero")
}

/// One slot per awaiting handle. The first awaiter is stored inline, so the common case of a
/// single awaiter allocates nothing; further awaiters go to a slab.
/// The slab is boxed and allocated only for a second concurrent awaiter, so a task costs
/// 24 bytes here.
#[derive(Default)]
pub(super) struct Waiters {
    first: Option<Waker>,
    rest: Option<Box<Slab<Waker>>>,
}

/// Wakers taken out at completion, woken after the lock is released.
pub(super) struct WakeList {
    first: Option<Waker>,
    rest: Option<Box<Slab<Waker>>>,
}

impl Waiters {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Registers `waker` in slot `key` (allocating a slot if `key` is `None`), and returns the
    /// waker it replaced, for the caller to drop after unlocking.
    pub(super) fn register(&mut self, key: &mut WaiterKey, waker: &Waker) -> Option<Waker> {
        match *key {
            Some(k) => {
                let slot = match k.get() {
                    1 => self.first.as_mut(),
                    n => self.rest.as_mut().and_then(|rest| rest.get_mut(n as usize - 2)),
                };
                match slot {
                    Some(old) if old.will_wake(waker) => None,
                    Some(old) => Some(std::mem::replace(old, waker.clone())),
                    None => {
                        // The slot was freed (invariant 4 makes this unreachable); take a new one.
                        *key = None;
                        self.register(key, waker)
                    }
                }
            }
            None => {
                if self.first.is_none() {
                    self.first = Some(waker.clone());
                    *key = Some(key_of(0));
                } else {
                    let rest = self.rest.get_or_insert_with(Box::default);
                    *key = Some(key_of(rest.insert(waker.clone()) + 1));
                }
                None
            }
        }
    }

    /// Frees slot `key` and returns its waker, for the caller to drop after unlocking.
    pub(super) fn remove(&mut self, key: NonZeroU32) -> Option<Waker> {
        match key.get() {
            1 => self.first.take(),
            n => self.rest.as_mut()?.try_remove(n as usize - 2),
        }
    }

    pub(super) fn take_all(&mut self) -> WakeList {
        WakeList { first: self.first.take(), rest: std::mem::take(&mut self.rest) }
    }
}

impl WakeList {
    pub(super) fn wake_all(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        for w in self.rest.into_iter().flat_map(|rest| rest.into_iter()).map(|(_, w)| w) {
            w.wake();
        }
    }
}
