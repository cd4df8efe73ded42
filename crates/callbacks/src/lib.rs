//! The done-callback registry behind `Task::add_done_callback`: ordered, each callback handed
//! out exactly once, removable by [`CallbackId`]; and [`ProgressTracker`], done / total over a
//! set of tasks for progress displays.
//!
//! asyncio keeps a task's done callbacks in a list, calls them in the order they were added
//! once the task is done, and schedules a callback added to a finished task at once.
//! [`CallbackList`] is that list as plain data, with the "finished" step built in:
//! [`close`](CallbackList::close) hands every callback out once, in order, and from then on
//! [`add`](CallbackList::add) refuses and gives the callback back, so the owner schedules it
//! at once instead. The owner (the task header in taskloop-core) keeps the list behind the
//! same lock as the task's state, which is what makes adding from one thread while the task
//! completes on another safe: the add either lands before the close and is handed out by it,
//! or comes after and is refused.
//!
//! This crate never names tokio and runs no callback itself (a [`ProgressTracker`] calls its
//! hook from whoever completes an item: in taskloop, a done callback on the loop).
//!
//! # Examples
//!
//! ```
//! use taskloop::{create_task, yield_now};
//! use std::sync::{Arc, Mutex};
//!
//! # fn main() -> Result<(), taskloop::TaskError> {
//! taskloop::run(async {
//!     let log = Arc::new(Mutex::new(Vec::new()));
//!     let task = create_task(async { anyhow::Ok(1) });
//!     for name in ["first", "second", "third"] {
//!         let log = log.clone();
//!         task.add_done_callback(move |_| log.lock().unwrap().push(name));
//!     }
//!     let second = {
//!         let log = log.clone();
//!         task.add_done_callback(move |_| log.lock().unwrap().push("removed"))
//!     };
//!     assert!(task.remove_done_callback(second));
//!     (&task).await?;
//!     yield_now().await?; // callbacks run on the loop, after the task is done
//!     assert_eq!(*log.lock().unwrap(), ["first", "second", "third"]);
//!     anyhow::Ok(())
//! })
//! # }
//! ```

#![doc(test(attr(deny(warnings))))]

use std::fmt;

mod progress;

pub use progress::{Progress, ProgressTracker};

/// Names one added callback, so it can be removed: returned by `add_done_callback`.
///
/// Ids are unique within one task's list.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallbackId(u64);

impl CallbackId {
    /// The id as a number (unique within one task).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for CallbackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallbackId({})", self.0)
    }
}

/// An ordered list of callbacks that is closed once; see the [crate docs](crate).
///
/// Allocates nothing until the first callback is added.
pub struct CallbackList<F> {
    entries: Vec<(CallbackId, F)>,
    next_id: u64,
    closed: bool,
}

impl<F> CallbackList<F> {
    /// An empty, open list.
    pub const fn new() -> Self {
        Self { entries: Vec::new(), next_id: 0, closed: false }
    }

    /// Appends `callback`; once the list is closed, refuses it and hands it back (with the id
    /// it would have had) for the caller to schedule at once.
    pub fn add(&mut self, callback: F) -> Result<CallbackId, (CallbackId, F)> {
        let id = CallbackId(self.next_id);
        self.next_id += 1;
        if self.closed {
            return Err((id, callback));
        }
        self.entries.push((id, callback));
        Ok(id)
    }

    /// Removes the callback `id` and hands it back (for the caller to drop outside any lock);
    /// `None` if it was never added, already removed, or already handed out by `close`.
    pub fn remove(&mut self, id: CallbackId) -> Option<F> {
        let at = self.entries.iter().position(|(i, _)| *i == id)?;
        Some(self.entries.remove(at).1)
    }

    /// Closes the list and hands out every callback, in the order added, exactly once.
    ///
    /// Later calls hand out nothing.
    pub fn close(&mut self) -> Vec<F> {
        self.closed = true;
        if self.entries.is_empty() {
            // The common case (a task nobody added a callback to) costs nothing.
            return Vec::new();
        }
        std::mem::take(&mut self.entries).into_iter().map(|(_, f)| f).collect()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// How many callbacks are waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no callback is waiting.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<F> Default for CallbackList<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F> fmt::Debug for CallbackList<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackList").field("len", &self.entries.len()).field("closed", &self.closed).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_hands_out_callbacks_in_order_exactly_once() {
        let mut list = CallbackList::new();
        for n in 0..5 {
            list.add(n).unwrap();
        }
        assert_eq!(list.close(), vec![0, 1, 2, 3, 4]);
        assert!(list.close().is_empty());
    }

    #[test]
    fn add_after_close_is_refused_and_handed_back() {
        let mut list = CallbackList::new();
        let first = list.add("a").unwrap();
        list.close();
        let (id, back) = list.add("b").unwrap_err();
        assert_eq!(back, "b");
        assert_ne!(id, first, "ids stay unique after close");
    }

    #[test]
    fn removed_callback_is_not_handed_out_and_cannot_be_removed_twice() {
        let mut list = CallbackList::new();
        let a = list.add('a').unwrap();
        let b = list.add('b').unwrap();
        list.add('c').unwrap();
        assert_eq!(list.remove(b), Some('b'));
        assert_eq!(list.remove(b), None);
        assert_eq!(list.close(), vec!['a', 'c']);
        assert_eq!(list.remove(a), None, "handed out by close");
    }
}
