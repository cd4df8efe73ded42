//! `Done`: waiting for a task to be done without reading its outcome.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{TaskRef, WaiterKey};

/// Resolves to its `index` when the task is done, without reading (retrieving) its outcome
/// or passing a cancellation on to it: how `wait`, `gather` and `as_completed` wait for many
/// tasks with one waiter slot each.
pub(crate) struct Done {
    task: TaskRef,
    key: WaiterKey,
    pub(crate) index: usize,
}

impl Done {
    pub(crate) fn new(task: TaskRef, index: usize) -> Self {
        Done { task, key: None, index }
    }

    pub(crate) fn task(&self) -> &TaskRef {
        &self.task
    }
}

impl Future for Done {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = &mut *self;
        this.task.header().poll_done(&mut this.key, cx).map(|()| this.index)
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        self.task.header().forget_waiter(&mut self.key);
    }
}
