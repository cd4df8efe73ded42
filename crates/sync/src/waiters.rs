//! The waiter list every primitive keeps under its lock: asyncio's deque of waiter futures.
//!
//! A waiter is an entry a waiting future owns from the moment it first has to wait until it
//! is polled to completion, cancelled or dropped; only its owner removes it, so a key is
//! never reused under a future that still holds it. An entry is either *waiting* (linked into
//! the FIFO, holding its waker) or *notified* (unlinked, its waker taken to be woken): the
//! asyncio future that is `done()` but whose task has not run yet.
//!
//! **Invariants**
//! 1. Entries are linked in the order they were pushed; notifying takes them from the front,
//!    so waiters are served FIFO, as asyncio's `_wakeup_next` pops its deque.
//! 2. A notified entry is never linked, and a linked entry is never notified.
//! 3. `notified` counts the notified entries, `linked` the linked ones; together they are
//!    every live entry.
//! 4. The owner of a notified entry that does not take what it was woken for (it is
//!    cancelled, or dropped) passes the wake-up on, through its primitive's rule: this list
//!    only tells it whether it was notified ([`WaitList::remove`]).

use std::task::Waker;

use slab::Slab;

/// No entry: the end of the list.
const NIL: usize = usize::MAX;

/// One waiter.
#[derive(Debug)]
struct Entry {
    /// The waker to wake when the entry is notified; taken then.
    waker: Option<Waker>,
    /// Notified and unlinked (invariant 2).
    notified: bool,
    prev: usize,
    next: usize,
}

/// A FIFO of waiters with O(1) removal from anywhere, for the waiters that are cancelled.
#[derive(Debug)]
pub(crate) struct WaitList {
    entries: Slab<Entry>,
    head: usize,
    tail: usize,
    linked: usize,
    notified: usize,
}

impl WaitList {
    /// An empty list.
    pub(crate) fn new() -> Self {
        WaitList { entries: Slab::new(), head: NIL, tail: NIL, linked: 0, notified: 0 }
    }

    /// Entries still waiting to be notified.
    pub(crate) fn waiting(&self) -> usize {
        self.linked
    }

    /// Live entries: waiting, or notified and not yet polled (asyncio's waiters that are not
    /// cancelled).
    pub(crate) fn len(&self) -> usize {
        self.linked + self.notified
    }

    /// Entries notified whose owners have not been polled since.
    pub(crate) fn notified(&self) -> usize {
        self.notified
    }

    /// Adds a waiting entry at the back; returns its key.
    pub(crate) fn push(&mut self, waker: &Waker) -> usize {
        let key =
            self.entries.insert(Entry { waker: Some(waker.clone()), notified: false, prev: self.tail, next: NIL });
        if self.tail == NIL {
            self.head = key;
        } else {
            self.entries[self.tail].next = key;
        }
        self.tail = key;
        self.linked += 1;
        key
    }

    /// What the owner of `key` calls when it is polled again: `true` (and the entry is
    /// removed) if it was notified; else keeps `waker` as the entry's and returns `false`.
    pub(crate) fn poll_entry(&mut self, key: usize, waker: &Waker) -> bool {
        let entry = &mut self.entries[key];
        if entry.notified {
            self.entries.remove(key);
            self.notified -= 1;
            return true;
        }
        match &mut entry.waker {
            Some(kept) if kept.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
        false
    }

    /// Removes the entry `key` (its owner was cancelled or dropped); `true` if it had been
    /// notified, in which case the owner passes the wake-up on (invariant 4).
    pub(crate) fn remove(&mut self, key: usize) -> bool {
        let entry = self.entries.remove(key);
        if entry.notified {
            self.notified -= 1;
            return true;
        }
        self.unlink(entry.prev, entry.next);
        false
    }

    /// Notifies the first waiting entry, if any; returns its waker, to be woken once the lock
    /// is released.
    pub(crate) fn notify_one(&mut self) -> Option<Waker> {
        let key = self.head;
        if key == NIL {
            return None;
        }
        let entry = &mut self.entries[key];
        entry.notified = true;
        let (prev, next) = (entry.prev, entry.next);
        // The entry is the head, so `prev` is NIL; the waker is always kept while linked.
        let waker = entry.waker.take();
        self.unlink(prev, next);
        self.notified += 1;
        waker
    }

    /// Notifies up to `n` waiting entries from the front, adding their wakers to `wakers`.
    pub(crate) fn notify(&mut self, n: usize, wakers: &mut Vec<Waker>) {
        for _ in 0..n {
            match self.notify_one() {
                Some(waker) => wakers.push(waker),
                None => break,
            }
        }
    }

    /// Notifies every waiting entry, adding their wakers to `wakers`.
    pub(crate) fn notify_all(&mut self, wakers: &mut Vec<Waker>) {
        self.notify(self.waiting(), wakers);
    }

    fn unlink(&mut self, prev: usize, next: usize) {
        if prev == NIL {
            self.head = next;
        } else {
            self.entries[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.entries[next].prev = prev;
        }
        self.linked -= 1;
    }
}

#[cfg(all(test, not(taskloop_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn waiters_are_notified_in_order_and_removed_from_anywhere() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut list = WaitList::new();
        let a = list.push(&waker);
        let b = list.push(&waker);
        let c = list.push(&waker);
        assert!(!list.remove(b), "b was only waiting");
        assert_eq!((list.waiting(), list.len()), (2, 2));
        list.notify_one().unwrap().wake();
        assert_eq!((list.waiting(), list.notified()), (1, 1));
        assert!(list.poll_entry(a, &waker), "a was first");
        assert!(!list.poll_entry(c, &waker), "c still waits");
        let d = list.push(&waker);
        let mut wakers = Vec::new();
        list.notify_all(&mut wakers);
        assert_eq!(wakers.len(), 2);
        assert!(list.remove(c), "c was notified: it must pass the wake-up on");
        assert!(list.poll_entry(d, &waker));
        assert_eq!(list.len(), 0);
        assert!(list.notify_one().is_none());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
}
