//! The synchronisation primitives of the task state, swapped for loom's under
//! `cfg(taskloop_loom)` so the model tests explore every interleaving (as tokio's `loom` shim
//! does). Our own cfg name, because tokio gives `cfg(loom)` a meaning of its own.

#[cfg(taskloop_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(taskloop_loom)]
pub(crate) use loom::sync::atomic::{AtomicU16, Ordering};

#[cfg(not(taskloop_loom))]
pub(crate) use std::sync::Mutex;
#[cfg(not(taskloop_loom))]
pub(crate) use std::sync::atomic::{AtomicU16, Ordering};

/// Locks `mutex`, ignoring poisoning.
///
/// Our locks are never held while user code runs (the one exception, `T::clone` under a
/// task's value lock, leaves the value intact if it panics), so a poisoned lock still guards
/// consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(taskloop_loom)]
pub(crate) use loom::sync::MutexGuard;
#[cfg(not(taskloop_loom))]
pub(crate) use std::sync::MutexGuard;
