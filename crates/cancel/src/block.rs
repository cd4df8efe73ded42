//! [`BlockScope`]: the cancel scope of a block inside a task that received a cancellation of
//! its own (a `Timeout` whose deadline passed, a scoped `TaskGroup` whose child failed).

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use crate::{CancelScope, Cancelled, ScopeSlot};

/// What became of a block's own cancellation of its task (`taskloop_core::TaskRef::cancel_block`):
/// runtime plumbing for `taskloop-timing`'s `Timeout`.
#[doc(hidden)]
#[derive(Debug)]
pub enum BlockCancel {
    /// The task had finished: nothing was counted.
    Refused,
    /// Counted, and passed on to the task the body awaits (asyncio's `_fut_waiter.cancel()`).
    Forwarded,
    /// Counted; the request is the block's to deliver, through a [`BlockScope`].
    Own(Cancelled),
}

/// The cancel scope a block runs under once something cancelled *the block*: it delivers that
/// request once, to the block's cancellation points alone, and otherwise passes requests
/// through from the scope around the block (unless a `shield` there masks them), so nested
/// blocks chain and cancellations of the task still arrive.
///
/// The runtime's blocks follow asyncio: they `cancel()` their own task (so `cancelling()`
/// counts the request), then move the request at once out of the task into a `BlockScope`
/// with [`CancelScope::take_request`], so that no wrapper outside the block (a `shield`, a
/// `cancellable`) can take it first. A poll of the block that leaves the request untaken
/// ([`is_pending`](Self::is_pending) before, [`take_own`](Self::take_own) after) visited no
/// cancellation point: the block awaits only foreign futures and its owner drops it there.
pub struct BlockScope {
    /// The block's own cancellation, until a cancellation point in the block takes it.
    own: Mutex<Option<Cancelled>>,
    /// The scope around the block for the current poll, and whether it was masked.
    enclosing: Mutex<Option<(Arc<dyn CancelScope>, bool)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing of the user's runs under these locks: a poisoned one is still consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BlockScope {
    /// A scope delivering `own` (if any) to the block.
    pub fn new(own: Option<Cancelled>) -> Arc<Self> {
        Arc::new(BlockScope { own: Mutex::new(own), enclosing: Mutex::new(None) })
    }

    /// Moves the current task's request (made by the caller during this poll, or pending from
    /// before) into a new scope for the block. `None` outside a task.
    pub fn take_from_current() -> Arc<Self> {
        BlockScope::new(crate::with_current_scope(|scope| scope.and_then(|s| s.take_request())))
    }

    /// Polls the block with this scope installed, and the scope around it restored after,
    /// even if the block panics.
    pub fn poll_within<R>(self: &Arc<Self>, poll: impl FnOnce() -> R) -> R {
        let enclosing = crate::with_current_scope(|s| s.cloned());
        *lock(&self.enclosing) = enclosing.map(|s| (s, crate::is_masked()));
        let mut slot = ScopeSlot::new(self.clone());
        crate::swap(&mut slot);
        struct Restore<'a>(&'a mut ScopeSlot);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                crate::swap(self.0);
            }
        }
        let _restore = Restore(&mut slot);
        poll()
    }

    /// Whether the block's own cancellation still waits for a cancellation point.
    pub fn is_pending(&self) -> bool {
        lock(&self.own).is_some()
    }

    /// Takes the block's own cancellation, if no cancellation point did.
    pub fn take_own(&self) -> Option<Cancelled> {
        lock(&self.own).take()
    }

    fn enclosing(&self) -> Option<Arc<dyn CancelScope>> {
        lock(&self.enclosing).as_ref().map(|(s, _)| s.clone())
    }
}

impl fmt::Debug for BlockScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockScope").field("pending", &self.is_pending()).finish()
    }
}

impl CancelScope for BlockScope {
    fn take_cancel(&self) -> Option<Cancelled> {
        if let Some(cancelled) = self.take_own() {
            return Some(cancelled);
        }
        let enclosing = lock(&self.enclosing).clone();
        match enclosing {
            Some((scope, false)) => scope.take_cancel(),
            _ => None,
        }
    }

    /// A nested block cancelling takes its request back from the task, through this block.
    fn take_request(&self) -> Option<Cancelled> {
        self.enclosing()?.take_request()
    }

    /// The block still runs in the same task: the current task inside it is that task.
    fn owner(self: Arc<Self>) -> Option<Box<dyn Any + Send>> {
        self.enclosing()?.owner()
    }

    /// Requests of the task go to what the block awaits, as asyncio's `Task.cancel()` does
    /// whatever `async with` block the task is in (unless a `shield` around the block masks
    /// them).
    fn forward_to(&self, target: Arc<dyn crate::Forward>) {
        if let Some((scope, false)) = lock(&self.enclosing).clone() {
            scope.forward_to(target);
        }
    }

    fn end_forward(&self, target: *const u8) {
        if let Some(scope) = self.enclosing() {
            scope.end_forward(target);
        }
    }

    /// The block runs in its task: a cancel of that task from inside the block is the task
    /// cancelling itself.
    fn is_task(&self, task: *const u8) -> bool {
        self.enclosing().is_some_and(|scope| scope.is_task(task))
    }

    /// The task keeps the wakers of the block's cancellation points: its `cancel()` (which the
    /// block's owner calls too) wakes them.
    fn register_point(&self, waker: &Waker, key: Option<usize>) -> Option<usize> {
        self.enclosing()?.register_point(waker, key)
    }

    fn forget_point(&self, key: usize) {
        if let Some(scope) = self.enclosing() {
            scope.forget_point(key);
        }
    }
}
