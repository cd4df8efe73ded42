//! The wakers of the handles awaiting one task.

use std::task::Waker;

use slab::Slab;

/// One slot per awaiting handle. The first awaiter is stored inline, so the common case of a
/// single awaiter allocates nothing; further awaiters go to a slab. Key 0 is the inline slot,
/// key `k + 1` is slab entry `k`.
#[derive(Default)]
pub(super) struct Waiters {
    first: Option<Waker>,
    rest: Slab<Waker>,
}

/// Wakers taken out at completion, woken after the lock is released.
pub(super) struct WakeList {
    first: Option<Waker>,
    rest: Slab<Waker>,
}

impl Waiters {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Registers `waker` in slot `key` (allocating a slot if `key` is `None`), and returns the
    /// waker it replaced, for the caller to drop after unlocking.
    pub(super) fn register(&mut self, key: &mut Option<usize>, waker: &Waker) -> Option<Waker> {
        match *key {
            Some(k) => {
                let slot = if k == 0 { self.first.as_mut() } else { self.rest.get_mut(k - 1) };
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
                    *key = Some(0);
                } else {
                    *key = Some(self.rest.insert(waker.clone()) + 1);
                }
                None
            }
        }
    }

    /// Frees slot `key` and returns its waker, for the caller to drop after unlocking.
    pub(super) fn remove(&mut self, key: usize) -> Option<Waker> {
        if key == 0 { self.first.take() } else { self.rest.try_remove(key - 1) }
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
        for w in self.rest.into_iter().map(|(_, w)| w) {
            w.wake();
        }
    }
}
