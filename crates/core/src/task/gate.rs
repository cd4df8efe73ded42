//! The start gate: on a multi-thread loop, a task created inside another is held back until
//! its creator's poll returns.

use std::cell::RefCell;

use super::TaskRef;

thread_local! {
    /// Tasks created by the task being polled on this thread (multi-thread loops only), held
    /// back until that poll returns.
    static BORN: RefCell<Vec<TaskRef>> = const { RefCell::new(Vec::new()) };
}

/// Whether a task is being polled on this thread.
pub(crate) fn in_task() -> bool {
    taskloop_cancel::with_current_scope(|s| s.is_some())
}

/// Holds `task` back until the task being polled on this thread suspends; see
/// [`release_born_since`].
pub(crate) fn hold_until_creator_suspends(task: TaskRef) {
    BORN.with(|b| b.borrow_mut().push(task));
}

/// How many held-back tasks this thread has now: taken by a harness before it polls its body,
/// so that afterwards it releases only the tasks that body created (an eager task's first step
/// runs inside its creator's poll, so polls nest).
pub(crate) fn born_mark() -> usize {
    BORN.with(|b| b.borrow().len())
}

/// Called by a harness when its body's poll returns: opens the gates of the tasks the body
/// created, so they may start now that their creator has suspended (asyncio: "a task does not
/// start before its creator next suspends", which a multi-thread runtime would otherwise break
/// by running a new task on another worker at once).
pub(crate) fn release_born_since(mark: usize) {
    let born: Vec<TaskRef> = BORN.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() > mark { b.drain(mark..).collect() } else { Vec::new() }
    });
    for task in born {
        task.header().transition_to_ungated().wake();
    }
}
