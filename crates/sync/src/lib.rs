//! asyncio's queues and synchronization primitives for taskloop, every wait a cancellation
//! point: [`Queue`] (and [`LifoQueue`], [`PriorityQueue`]), [`Event`], [`Lock`],
//! [`Semaphore`], [`BoundedSemaphore`], [`Condition`], [`Barrier`].
//!
//! Each mirrors the asyncio class of the same name (CPython 3.13's `asyncio/queues.py` and
//! `asyncio/locks.py`), behaving as it does:
//!
//! - **Waits are cancellation points.** A task cancelled while it waits in `get`, `put`,
//!   `join`, `acquire`, `wait` … sees `Err` carrying its `Cancelled` (catchable; `?` ends the
//!   task cancelled), and nothing is lost: no item is taken, no permit or lock kept, a `put`
//!   gives its item back. A wait that can complete at once does not suspend and delivers no
//!   cancellation, as in asyncio.
//! - **Fair.** Waiters are served in the order they started waiting. A waiter that was woken
//!   (for an item, a slot, a permit, the lock, a notification) and is cancelled — or whose
//!   future is dropped — before it takes what it was woken for passes the wake-up on to the
//!   next waiter: asyncio's `_wakeup_next` / `_wake_up_first` hand-off.
//! - **Handles.** Every type is a cheap `Clone` handle (`Send + Sync`), usable from any task
//!   of the loop, on both loop flavours, and from other threads. Methods that never wait
//!   (`put_nowait`, `get_nowait`, `task_done`, `set`, `release`, `notify` …) are plain
//!   functions.
//! - **Guards.** Where asyncio pairs `acquire()` with `release()` (`async with`), taskloop
//!   returns a guard that releases when dropped: [`LockGuard`], [`SemaphorePermit`].
//!
//! # How a wait is built
//!
//! Every primitive keeps its state and a FIFO of waiters under one `std::sync::Mutex`, held
//! only for a few instructions and never while a waker or other user code runs (the one
//! exception, `Ord::cmp` inside a [`PriorityQueue`], is documented there). The waiter list is
//! written by hand (`waiters.rs`) rather than taken from `tokio::sync`: asyncio's rules need
//! to know whether a waiter that leaves had been *woken*, to pass the wake-up on, and
//! `Queue` wakes waiters without handing them an item (a woken getter re-checks the queue, as
//! asyncio's does), which no tokio primitive offers. A waiting future carries
//! `taskloop_cancel`'s `PointWaker` like every other cancellation point, so it delivers a
//! request also inside `select!` or a `FuturesUnordered`, and only a request that the cancel
//! protocol lets a point deliver. This crate never names tokio.
//!
//! # Examples
//!
//! Bounded fetches with a semaphore, and a queue of results:
//!
//! ```
//! use std::time::Duration;
//! use taskloop::sync::{Queue, Semaphore};
//! use taskloop::{create_task, gather, sleep};
//!
//! # fn main() -> Result<(), taskloop::TaskError> {
//! taskloop::run(async {
//!     let sem = Semaphore::new(3);
//!     let results = Queue::new(0);
//!     let fetches: Vec<_> = (0..10)
//!         .map(|url| {
//!             let (sem, results) = (sem.clone(), results.clone());
//!             create_task(async move {
//!                 let _permit = sem.acquire().await?;
//!                 sleep(Duration::from_millis(10)).await?; // the request
//!                 results.put(url * 10).await?;
//!                 anyhow::Ok(())
//!             })
//!         })
//!         .collect();
//!     gather(fetches).await?;
//!     assert_eq!(results.qsize(), 10);
//!     anyhow::Ok(())
//! })
//! # }
//! ```

#![doc(test(attr(deny(warnings))))]

mod barrier;
mod condition;
mod event;
mod lock;
mod mutex;
mod queue;
mod semaphore;
mod waiters;

#[cfg(all(test, taskloop_loom))]
mod loom_models;

pub use barrier::{Barrier, BarrierError, BarrierWait};
pub use condition::{CondWait, Condition};
pub use event::{Event, EventWait};
pub use lock::{Acquire, Lock, LockGuard, NotLocked};
pub use queue::{
    Fifo, Get, GetError, Lifo, LifoQueue, Order, Priority, PriorityQueue, Put, PutError, Queue, QueueJoin,
    TaskDoneError,
};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreAcquire, SemaphorePermit, TooManyReleases};
pub use taskloop_cancel::Cancelled;
