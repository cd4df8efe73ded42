//! `Done`: waiting for a task to be done without reading its outcome.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{TaskRef, WaiterKey};

/// Resolves when the task is done, without reading (retrieving) its outcome or passing a
/// cancellation on to it: what `Task::cancel_on` waits with. (`wait`, `gather` and
/// `as_completed` wait for many tasks with `wait::DoneSet`.)
pub(crate) struct Done {
    task: TaskRef,
    key: WaiterKey,
}

impl Done {
    pub(crate) fn new(task: TaskRef) -> Self {
        Done { task, key: None }
    }
}

impl Future for Done {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.task.header().poll_done(&mut this.key, cx)
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        self.task.header().forget_waiter(&mut self.key);
    }
}
