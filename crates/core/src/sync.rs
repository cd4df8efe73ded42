//! The bottom of the crate: the synchronisation primitives of the task state, swapped for
//! loom's under `cfg(taskloop_loom)` so the model tests explore every interleaving (as tokio's
//! `loom` shim does; our own cfg name, because tokio gives `cfg(loom)` a meaning of its own),
//! and [`lock`], the crate's one way to take a lock.
//!
//! The mutex is `parking_lot`'s: it does not poison, which we ignore anyway (see [`lock`]),
//! and std's poison bookkeeping (a read of the global panic count when locking and again when
//! unlocking, and the flag) was about half of the ~20 instructions of an uncontended
//! lock/unlock. A spawn and await of a task takes eight such locks (registry in and out, the
//! awaiter's forward target set and cleared, the waiter slot, completion and its value, the
//! value read): 132 instructions of 3,731 (`examples/icount.rs`, `spawn_await`).

#[cfg(taskloop_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(taskloop_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, Ordering};

#[cfg(not(taskloop_loom))]
pub(crate) use parking_lot::Mutex;
#[cfg(not(taskloop_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, Ordering};

/// Locks `mutex` (ours, or a plain `std::sync::Mutex` of the loop's), ignoring poisoning
/// where the mutex has it.
///
/// Our locks are never held while user code runs (the one exception, `T::clone` under a
/// task's value lock, leaves the value intact if it panics), so a poisoned lock still guards
/// consistent data.
#[inline]
pub(crate) fn lock<M: Lock + ?Sized>(mutex: &M) -> M::Guard<'_> {
    mutex.lock_ignoring_poison()
}

/// The value inside a mutex held exclusively (no locking: the `&mut` proves no one else can).
#[cfg(not(taskloop_loom))]
#[inline]
pub(crate) fn get_mut<T: ?Sized>(mutex: &mut Mutex<T>) -> &mut T {
    mutex.get_mut()
}

/// The value inside a mutex held exclusively, ignoring poisoning as [`lock`] does.
#[cfg(taskloop_loom)]
pub(crate) fn get_mut<T: ?Sized>(mutex: &mut Mutex<T>) -> &mut T {
    mutex.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A mutex [`lock`] can take: `std`'s, and loom's in the model tests.
pub(crate) trait Lock {
    type Guard<'a>
    where
        Self: 'a;
    fn lock_ignoring_poison(&self) -> Self::Guard<'_>;
}

impl<T: ?Sized> Lock for std::sync::Mutex<T> {
    type Guard<'a>
        = std::sync::MutexGuard<'a, T>
    where
        Self: 'a;

    #[inline]
    fn lock_ignoring_poison(&self) -> Self::Guard<'_> {
        self.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(taskloop_loom)]
impl<T: ?Sized> Lock for loom::sync::Mutex<T> {
    type Guard<'a>
        = loom::sync::MutexGuard<'a, T>
    where
        Self: 'a;

    fn lock_ignoring_poison(&self) -> Self::Guard<'_> {
        self.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<T: ?Sized> Lock for parking_lot::Mutex<T> {
    type Guard<'a>
        = parking_lot::MutexGuard<'a, T>
    where
        Self: 'a;

    #[inline]
    fn lock_ignoring_poison(&self) -> Self::Guard<'_> {
        self.lock()
    }
}

/// A shared mutex locks as the mutex.
impl<M: Lock + ?Sized> Lock for std::sync::Arc<M> {
    type Guard<'a>
        = M::Guard<'a>
    where
        Self: 'a;

    #[inline]
    fn lock_ignoring_poison(&self) -> Self::Guard<'_> {
        (**self).lock_ignoring_poison()
    }
}
