//! Eager tasks in their first step: registered with the loop only if that step suspends.
//!
//! An eager task's first step runs inside `create_task`, on the creating thread. A task that
//! finishes there never enters the loop's registry (no shard lock, no handle kept and
//! dropped). While the step runs, `all_tasks()` and `dump()` on this thread find it here
//! instead, as asyncio's `all_tasks()` includes an eager task during its first step: it is
//! the current task (its scope is current while its body is polled). Steps nest (an eager
//! task creating another in its first step): the creator, no longer current during the inner
//! step, is kept on a stack for its length. The common, unnested step costs a counter.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use super::{Loop, TaskRef};

thread_local! {
    /// How many eager first steps are running on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The eager tasks whose first step encloses a nested one, outermost first.
    static OUTER: RefCell<Vec<TaskRef>> = const { RefCell::new(Vec::new()) };
}

/// Runs `step`, an eager task's first step, with that task findable by [`in_first_step`].
#[inline]
pub(crate) fn first_step<R>(step: impl FnOnce() -> R) -> R {
    let nested = DEPTH.with(|d| {
        let depth = d.get();
        d.set(depth + 1);
        depth > 0
    });
    if nested {
        // The current task is the enclosing eager task, in its own first step.
        if let Some(outer) = TaskRef::current() {
            OUTER.with(|o| o.borrow_mut().push(outer));
        }
    }
    // Undone even if `step` unwinds (it does not: the harness catches the body's panics).
    struct Leave(bool);
    impl Drop for Leave {
        #[inline]
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get() - 1));
            if self.0 {
                let popped = OUTER.with(|o| o.borrow_mut().pop());
                drop(popped);
            }
        }
    }
    let _leave = Leave(nested);
    step()
}

/// The tasks of `loop_` in their eager first step on this thread, outermost first.
pub(crate) fn in_first_step(loop_: &Arc<Loop>) -> Vec<TaskRef> {
    if DEPTH.with(Cell::get) == 0 {
        return Vec::new();
    }
    let mut steps = OUTER.with(|o| o.borrow().clone());
    steps.extend(TaskRef::current());
    steps.retain(|t| Arc::ptr_eq(&t.header().loop_, loop_) && !t.done());
    steps
}
