//! The one lock every primitive keeps its state under, swapped for loom's under
//! `cfg(taskloop_loom)` so the model tests explore every interleaving (as core's `sync.rs`).

#[cfg(taskloop_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(taskloop_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning.
///
/// No user code runs under these locks except `Ord::cmp` inside a `PriorityQueue` (see
/// `queue.rs`), and every state change is made after anything that can panic, so a poisoned
/// lock still guards consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Wakes every waker of `wakers`: called after the lock they were collected under is released.
pub(crate) fn wake_all(wakers: Vec<std::task::Waker>) {
    for waker in wakers {
        waker.wake();
    }
}
