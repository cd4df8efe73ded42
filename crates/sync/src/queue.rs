//! `Queue`, `LifoQueue`, `PriorityQueue`: asyncio's `asyncio.Queue` family (3.13, with
//! `shutdown`).
//!
//! One generic [`Queue<T, O>`]; the order `O` decides which item `get` takes ([`Fifo`],
//! [`Lifo`], [`Priority`]), as asyncio's subclasses override `_init`, `_put` and `_get`.
//! Waiting putters and getters are woken, never handed an item: a woken task re-checks the
//! queue and, if another task was faster, waits again at the back, exactly as asyncio's
//! `while self.full():` / `while self.empty():` loops do. So an item is only ever in the
//! queue or with the task that took it: a cancelled or dropped `get` cannot lose one.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use taskloop_cancel::{Cancelled, PointWaker};

use crate::mutex::{Mutex, MutexGuard, lock, wake_all};
use crate::waiters::WaitList;

mod sealed {
    pub trait Sealed {}
}

/// The order in which a [`Queue`] hands out its items: [`Fifo`], [`Lifo`] or [`Priority`].
///
/// Sealed: the three asyncio orders are all there is.
pub trait Order<T>: sealed::Sealed + 'static {
    /// Where the items are kept.
    #[doc(hidden)]
    type Store: Default;
    /// Adds an item.
    #[doc(hidden)]
    fn push(store: &mut Self::Store, item: T);
    /// Takes the next item.
    #[doc(hidden)]
    fn pop(store: &mut Self::Store) -> Option<T>;
    /// The number of items.
    #[doc(hidden)]
    fn len(store: &Self::Store) -> usize;
}

/// First in, first out: asyncio's `Queue`.
#[derive(Debug)]
pub enum Fifo {}

/// Last in, first out: asyncio's `LifoQueue`.
#[derive(Debug)]
pub enum Lifo {}

/// Smallest first (by `Ord`): asyncio's `PriorityQueue`, a min-heap like `heapq`. Items
/// that compare equal come out in no particular order.
#[derive(Debug)]
pub enum Priority {}

impl sealed::Sealed for Fifo {}
impl sealed::Sealed for Lifo {}
impl sealed::Sealed for Priority {}

impl<T> Order<T> for Fifo {
    type Store = VecDeque<T>;
    fn push(store: &mut VecDeque<T>, item: T) {
        store.push_back(item);
    }
    fn pop(store: &mut VecDeque<T>) -> Option<T> {
        store.pop_front()
    }
    fn len(store: &VecDeque<T>) -> usize {
        store.len()
    }
}

impl<T> Order<T> for Lifo {
    type Store = Vec<T>;
    fn push(store: &mut Vec<T>, item: T) {
        store.push(item);
    }
    fn pop(store: &mut Vec<T>) -> Option<T> {
        store.pop()
    }
    fn len(store: &Vec<T>) -> usize {
        store.len()
    }
}

/// The heap compares items under the queue's lock: `Ord::cmp` is the one piece of user code
/// any primitive runs with a lock held. A panic there leaves the heap valid (std's
/// `BinaryHeap` guarantees it) and the queue usable.
impl<T: Ord> Order<T> for Priority {
    type Store = BinaryHeap<Reverse<T>>;
    fn push(store: &mut BinaryHeap<Reverse<T>>, item: T) {
        store.push(Reverse(item));
    }
    fn pop(store: &mut BinaryHeap<Reverse<T>>) -> Option<T> {
        store.pop().map(|Reverse(item)| item)
    }
    fn len(store: &BinaryHeap<Reverse<T>>) -> usize {
        store.len()
    }
}

/// The queue behind every kind: one handle, generic over the order.
struct Core<T, O: Order<T>> {
    inner: Arc<Mutex<State<T, O>>>,
}

struct State<T, O: Order<T>> {
    items: O::Store,
    maxsize: usize,
    getters: WaitList,
    putters: WaitList,
    /// Items put and not yet marked done (asyncio's `_unfinished_tasks`).
    unfinished: usize,
    /// Waiting in `join`: woken when `unfinished` reaches 0 (asyncio's `_finished` event).
    joiners: WaitList,
    shutdown: bool,
}

impl<T, O: Order<T>> State<T, O> {
    fn len(&self) -> usize {
        O::len(&self.items)
    }

    fn full(&self) -> bool {
        self.maxsize > 0 && self.len() >= self.maxsize
    }

    /// asyncio's `put_nowait`; the waker is the getter to wake once unlocked.
    fn put_nowait(&mut self, item: T) -> Result<Option<Waker>, PutError<T>> {
        if self.shutdown {
            return Err(PutError::ShutDown(item));
        }
        if self.full() {
            return Err(PutError::Full(item));
        }
        O::push(&mut self.items, item);
        self.unfinished += 1;
        Ok(self.getters.notify_one())
    }

    /// asyncio's `get_nowait`; the waker is the putter to wake once unlocked.
    fn get_nowait(&mut self) -> Result<(T, Option<Waker>), GetError> {
        match O::pop(&mut self.items) {
            Some(item) => Ok((item, self.putters.notify_one())),
            None if self.shutdown => Err(GetError::ShutDown),
            None => Err(GetError::Empty),
        }
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl<T, O: Order<T>> Core<T, O> {
    /// A queue holding at most `maxsize` items; 0 means no bound (asyncio's default).
    fn new(maxsize: usize) -> Self {
        Core {
            inner: Arc::new(Mutex::new(State {
                items: O::Store::default(),
                maxsize,
                getters: WaitList::new(),
                putters: WaitList::new(),
                unfinished: 0,
                joiners: WaitList::new(),
                shutdown: false,
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<T, O>> {
        lock(&self.inner)
    }

    fn maxsize(&self) -> usize {
        self.state().maxsize
    }

    fn qsize(&self) -> usize {
        self.state().len()
    }

    fn empty(&self) -> bool {
        self.state().len() == 0
    }

    fn full(&self) -> bool {
        self.state().full()
    }

    fn is_shut_down(&self) -> bool {
        self.state().shutdown
    }

    fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        let waker = self.state().put_nowait(item)?;
        wake(waker);
        Ok(())
    }

    fn get_nowait(&self) -> Result<T, GetError> {
        let (item, waker) = self.state().get_nowait()?;
        wake(waker);
        Ok(item)
    }

    fn put(&self, item: T) -> Put<'_, T, O> {
        Put { queue: self, item: Some(item), key: None, point: PointWaker::new() }
    }

    fn get(&self) -> Get<'_, T, O> {
        Get { queue: self, key: None, point: PointWaker::new() }
    }

    fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut wakers = Vec::new();
        {
            let mut state = self.state();
            if state.unfinished == 0 {
                return Err(TaskDoneError);
            }
            state.unfinished -= 1;
            if state.unfinished == 0 {
                state.joiners.notify_all(&mut wakers);
            }
        }
        wake_all(wakers);
        Ok(())
    }

    fn join(&self) -> QueueJoin<'_, T, O> {
        QueueJoin { queue: self, key: None, point: PointWaker::new() }
    }

    fn shutdown(&self, immediate: bool) {
        let mut wakers = Vec::new();
        let dropped = {
            let mut state = self.state();
            state.shutdown = true;
            let dropped = if immediate {
                let items = std::mem::take(&mut state.items);
                state.unfinished = state.unfinished.saturating_sub(O::len(&items));
                if state.unfinished == 0 {
                    state.joiners.notify_all(&mut wakers);
                }
                Some(items)
            } else {
                None
            };
            state.getters.notify_all(&mut wakers);
            state.putters.notify_all(&mut wakers);
            dropped
        };
        drop(dropped);
        wake_all(wakers);
    }
}

impl<T, O: Order<T>> Clone for Core<T, O> {
    fn clone(&self) -> Self {
        Core { inner: self.inner.clone() }
    }
}

impl<T, O: Order<T>> Core<T, O> {
    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct(name)
            .field("maxsize", &state.maxsize)
            .field("qsize", &state.len())
            .field("getters", &state.getters.len())
            .field("putters", &state.putters.len())
            .field("unfinished", &state.unfinished)
            .field("joiners", &state.joiners.len())
            .field("shutdown", &state.shutdown)
            .finish()
    }
}

/// Defines one public queue type over `Core<T, $order>`: the methods, documented once here.
macro_rules! queue_type {
    ($(#[$doc:meta])* $name:ident, $order:ty, [$($bound:tt)*]) => {
        $(#[$doc])*
        pub struct $name<T: $($bound)*> {
            core: Core<T, $order>,
        }

        impl<T: $($bound)*> $name<T> {
            /// A queue holding at most `maxsize` items; 0 means no bound (asyncio's default).
            pub fn new(maxsize: usize) -> Self {
                $name { core: Core::new(maxsize) }
            }

            /// The bound given to `new`: asyncio's `Queue.maxsize`.
            pub fn maxsize(&self) -> usize {
                self.core.maxsize()
            }

            /// The number of items in the queue: asyncio's `Queue.qsize()`.
            pub fn qsize(&self) -> usize {
                self.core.qsize()
            }

            /// Whether the queue holds no item: asyncio's `Queue.empty()`.
            pub fn empty(&self) -> bool {
                self.core.empty()
            }

            /// Whether the queue holds `maxsize` items (never, when unbounded): asyncio's
            /// `Queue.full()`.
            pub fn full(&self) -> bool {
                self.core.full()
            }

            /// Whether [`shutdown`](Self::shutdown) was called.
            pub fn is_shut_down(&self) -> bool {
                self.core.is_shut_down()
            }

            /// Puts `item` if there is room, waking the first waiting getter: asyncio's
            /// `Queue.put_nowait()`.
            ///
            /// # Errors
            ///
            /// [`PutError::Full`] if the queue is full (asyncio's `QueueFull`),
            /// [`PutError::ShutDown`] if it was shut down (`QueueShutDown`); either gives the
            /// item back.
            pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
                self.core.put_nowait(item)
            }

            /// Takes an item if there is one, waking the first waiting putter: asyncio's
            /// `Queue.get_nowait()`.
            ///
            /// # Errors
            ///
            /// [`GetError::Empty`] if the queue is empty (asyncio's `QueueEmpty`),
            /// [`GetError::ShutDown`] if it is empty and shut down (`QueueShutDown`).
            pub fn get_nowait(&self) -> Result<T, GetError> {
                self.core.get_nowait()
            }

            /// Puts `item`, waiting while the queue is full: asyncio's `await queue.put(item)`.
            ///
            /// # Errors
            ///
            /// [`PutError::ShutDown`] if the queue is or becomes shut down while it waits.
            ///
            /// # Cancellation
            ///
            /// A cancellation point while it waits: resolves to [`PutError::Cancelled`],
            /// which gives the item back; the queue is unchanged, and if this putter had been
            /// woken for a free slot, the next putter is woken instead. A put that does not
            /// have to suspend delivers nothing, as in asyncio.
            pub fn put(&self, item: T) -> Put<'_, T, $order> {
                self.core.put(item)
            }

            /// Takes an item, waiting while the queue is empty: asyncio's `await queue.get()`.
            ///
            /// # Errors
            ///
            /// [`GetError::ShutDown`] once the queue is shut down and empty.
            ///
            /// # Cancellation
            ///
            /// A cancellation point while it waits: resolves to [`GetError::Cancelled`] and
            /// takes nothing; if this getter had been woken for an item, the next getter is
            /// woken instead. A get that does not have to suspend delivers nothing, as in
            /// asyncio.
            pub fn get(&self) -> Get<'_, T, $order> {
                self.core.get()
            }

            /// Marks one item taken with `get` as processed: asyncio's `Queue.task_done()`.
            /// When every item put has been marked, [`join`](Self::join) returns.
            ///
            /// # Errors
            ///
            /// [`TaskDoneError`] if called more times than items were put (asyncio's
            /// `ValueError`).
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.core.task_done()
            }

            /// Waits until every item put has been marked done with
            /// [`task_done`](Self::task_done): asyncio's `await queue.join()`. Returns at once
            /// if none is unfinished.
            ///
            /// # Cancellation
            ///
            /// A cancellation point while it waits; the count of unfinished items is
            /// unaffected.
            pub fn join(&self) -> QueueJoin<'_, T, $order> {
                self.core.join()
            }

            /// Shuts the queue down: asyncio 3.13's `Queue.shutdown(immediate)`.
            ///
            /// Puts fail with [`PutError::ShutDown`] from now on, and the waiting putters are
            /// woken to fail. With `immediate` false, gets go on taking the items left and fail
            /// with [`GetError::ShutDown`] once the queue is empty; with `immediate` true the
            /// items are dropped (after the queue's lock is released), each counted as done —
            /// which releases `join` if nothing else is unfinished — and gets fail at once.
            /// Waiting getters are woken either way.
            pub fn shutdown(&self, immediate: bool) {
                self.core.shutdown(immediate)
            }
        }

        impl<T: $($bound)*> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { core: self.core.clone() }
            }
        }

        impl<T: $($bound)*> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.core.debug(stringify!($name), f)
            }
        }
    };
}

queue_type! {
    /// A first-in, first-out queue for producer and consumer tasks: asyncio's `asyncio.Queue`.
    ///
    /// - `maxsize` bounds it (0: unbounded); [`put`](Self::put) waits while it is full,
    ///   [`get`](Self::get) while it is empty; [`put_nowait`](Self::put_nowait) and
    ///   [`get_nowait`](Self::get_nowait) fail instead (asyncio's `QueueFull`, `QueueEmpty`).
    /// - [`task_done`](Self::task_done) and [`join`](Self::join): each item put counts as
    ///   unfinished until a consumer calls `task_done` for it; `join` waits until none is.
    /// - [`shutdown`](Self::shutdown) (3.13): puts fail at once with `ShutDown` (asyncio's
    ///   `QueueShutDown`) and getters drain what is left, then fail; `shutdown(true)` drops the
    ///   items too, counts them done (which may release `join`), and gets fail at once.
    ///
    /// Waiting putters and getters are served first come, first served. A waiter woken for an
    /// item (or a free slot) that is cancelled before it takes it wakes the next waiter in its
    /// place, as asyncio's does.
    ///
    /// A handle: clones are the same queue, usable from any task of the loop and any thread.
    /// [`LifoQueue`] and [`PriorityQueue`] are the same with another order.
    ///
    /// # Examples
    ///
    /// A pool of workers, and `join` to wait until every item has been processed:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use taskloop::create_task;
    /// use taskloop::sync::Queue;
    ///
    /// async fn worker(queue: Queue<u64>, total: Arc<AtomicU64>) -> anyhow::Result<()> {
    ///     loop {
    ///         let job = queue.get().await?;
    ///         total.fetch_add(job, Ordering::SeqCst);
    ///         queue.task_done()?;
    ///     }
    /// }
    ///
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     let queue = Queue::new(0);
    ///     for job in 1..=10 {
    ///         queue.put_nowait(job)?;
    ///     }
    ///     let total = Arc::new(AtomicU64::new(0));
    ///     let workers: Vec<_> = (0..3).map(|_| create_task(worker(queue.clone(), total.clone()))).collect();
    ///     queue.join().await?; // every item taken and marked done
    ///     for worker in &workers {
    ///         worker.cancel();
    ///     }
    ///     assert_eq!(total.load(Ordering::SeqCst), 55);
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    Queue, Fifo, []
}

queue_type! {
    /// A last-in, first-out queue: asyncio's `asyncio.LifoQueue`, a [`Queue`] whose `get`
    /// takes the item put last.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::sync::LifoQueue;
    ///
    /// let stack = LifoQueue::new(0);
    /// for n in 1..=3 {
    ///     stack.put_nowait(n).unwrap();
    /// }
    /// assert_eq!(stack.get_nowait().unwrap(), 3);
    /// ```
    LifoQueue, Lifo, []
}

queue_type! {
    /// A queue that hands out its smallest item first: asyncio's `asyncio.PriorityQueue`, a
    /// [`Queue`] kept as a min-heap (like `heapq`). Items that compare equal come out in no
    /// particular order; use `(priority, sequence, item)` tuples for a stable order.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::sync::PriorityQueue;
    ///
    /// let jobs = PriorityQueue::new(0);
    /// jobs.put_nowait((2, "later")).unwrap();
    /// jobs.put_nowait((1, "first")).unwrap();
    /// assert_eq!(jobs.get_nowait().unwrap(), (1, "first"));
    /// ```
    PriorityQueue, Priority, [Ord]
}

/// Why a put failed; every variant gives the item back ([`into_inner`](Self::into_inner)).
#[non_exhaustive]
pub enum PutError<T> {
    /// [`Queue::put_nowait`] on a full queue: asyncio's `QueueFull`.
    Full(T),
    /// The queue is shut down: asyncio's `QueueShutDown`.
    ShutDown(T),
    /// The task waiting in [`Queue::put`] was cancelled; the item was not put.
    Cancelled(T, Cancelled),
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(item) | PutError::ShutDown(item) | PutError::Cancelled(item, _) => item,
        }
    }

    /// Whether the queue was full (asyncio's `QueueFull`).
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }

    /// Whether the queue was shut down (asyncio's `QueueShutDown`).
    pub fn is_shut_down(&self) -> bool {
        matches!(self, PutError::ShutDown(_))
    }

    /// Whether the waiting task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, PutError::Cancelled(..))
    }
}

/// Does not show the item, so that `T` need not be `Debug` (as tokio's `SendError`).
impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::ShutDown(_) => f.write_str("ShutDown(..)"),
            PutError::Cancelled(_, cancelled) => write!(f, "Cancelled(.., {cancelled:?})"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("QueueFull: the queue is full"),
            PutError::ShutDown(_) => f.write_str("QueueShutDown: the queue is shut down"),
            PutError::Cancelled(..) => f.write_str("queue put cancelled"),
        }
    }
}

/// Its source is the `Cancelled` of a cancelled put, so `?` in a task body ends the task
/// cancelled.
impl<T> Error for PutError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PutError::Cancelled(_, cancelled) => Some(cancelled),
            _ => None,
        }
    }
}

/// Why a get failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GetError {
    /// [`Queue::get_nowait`] on an empty queue: asyncio's `QueueEmpty`.
    Empty,
    /// The queue is shut down and empty (or was shut down immediately): asyncio's
    /// `QueueShutDown`.
    ShutDown,
    /// The task waiting in [`Queue::get`] was cancelled; nothing was taken.
    Cancelled(Cancelled),
}

impl GetError {
    /// Whether the queue was empty (asyncio's `QueueEmpty`).
    pub fn is_empty(&self) -> bool {
        matches!(self, GetError::Empty)
    }

    /// Whether the queue was shut down (asyncio's `QueueShutDown`).
    pub fn is_shut_down(&self) -> bool {
        matches!(self, GetError::ShutDown)
    }

    /// Whether the waiting task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, GetError::Cancelled(_))
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("QueueEmpty: the queue is empty"),
            GetError::ShutDown => f.write_str("QueueShutDown: the queue is shut down"),
            GetError::Cancelled(_) => f.write_str("queue get cancelled"),
        }
    }
}

/// Its source is the `Cancelled` of a cancelled get, so `?` in a task body ends the task
/// cancelled.
impl Error for GetError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            GetError::Cancelled(cancelled) => Some(cancelled),
            _ => None,
        }
    }
}

/// [`Queue::task_done`] called more times than items were put: asyncio's `ValueError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl Error for TaskDoneError {}

/// The future returned by [`Queue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, O: Order<T> = Fifo> {
    queue: &'a Core<T, O>,
    item: Option<T>,
    key: Option<usize>,
    point: PointWaker,
}

/// The item is never pinned: it is moved into the queue.
impl<T, O: Order<T>> Unpin for Put<'_, T, O> {}

impl<T, O: Order<T>> Put<'_, T, O> {
    /// Leaves the putters; a putter woken for a free slot that is still free wakes the next
    /// (asyncio's `if not self.full() and not putter.cancelled(): self._wakeup_next(...)`).
    fn leave(&mut self, key: usize) {
        let waker = {
            let mut state = self.queue.state();
            if state.putters.remove(key) && !state.full() { state.putters.notify_one() } else { None }
        };
        wake(waker);
    }
}

impl<T, O: Order<T>> Future for Put<'_, T, O> {
    type Output = Result<(), PutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut cancel_checked = false;
        if let Some(key) = this.key {
            if let Some(cancelled) = this.point.poll_cancel(cx) {
                this.key = None;
                this.leave(key);
                let item = this.item.take().expect("Put polled after it resolved");
                return Poll::Ready(Err(PutError::Cancelled(item, cancelled)));
            }
            if !this.queue.state().putters.poll_entry(key, cx.waker()) {
                return Poll::Pending;
            }
            this.key = None;
            cancel_checked = true;
        }
        loop {
            let mut state = this.queue.state();
            if !state.full() || state.shutdown {
                let item = this.item.take().expect("Put polled after it resolved");
                let waker = state.put_nowait(item)?;
                drop(state);
                wake(waker);
                return Poll::Ready(Ok(()));
            }
            if cancel_checked {
                this.key = Some(state.putters.push(cx.waker()));
                return Poll::Pending;
            }
            drop(state);
            cancel_checked = true;
            if let Some(cancelled) = this.point.poll_cancel(cx) {
                let item = this.item.take().expect("Put polled after it resolved");
                return Poll::Ready(Err(PutError::Cancelled(item, cancelled)));
            }
        }
    }
}

impl<T, O: Order<T>> Drop for Put<'_, T, O> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.leave(key);
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for Put<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put").field("waiting", &self.key.is_some()).finish()
    }
}

/// The future returned by [`Queue::get`].
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T, O: Order<T> = Fifo> {
    queue: &'a Core<T, O>,
    key: Option<usize>,
    point: PointWaker,
}

impl<T, O: Order<T>> Get<'_, T, O> {
    /// Leaves the getters; a getter woken for an item that is still there wakes the next
    /// (asyncio's `if not self.empty() and not getter.cancelled(): self._wakeup_next(...)`).
    fn leave(&mut self, key: usize) {
        let waker = {
            let mut state = self.queue.state();
            if state.getters.remove(key) && state.len() > 0 { state.getters.notify_one() } else { None }
        };
        wake(waker);
    }
}

impl<T, O: Order<T>> Future for Get<'_, T, O> {
    type Output = Result<T, GetError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut cancel_checked = false;
        if let Some(key) = this.key {
            if let Some(cancelled) = this.point.poll_cancel(cx) {
                this.key = None;
                this.leave(key);
                return Poll::Ready(Err(GetError::Cancelled(cancelled)));
            }
            if !this.queue.state().getters.poll_entry(key, cx.waker()) {
                return Poll::Pending;
            }
            this.key = None;
            cancel_checked = true;
        }
        loop {
            let mut state = this.queue.state();
            if state.len() > 0 || state.shutdown {
                let (item, waker) = state.get_nowait()?;
                drop(state);
                wake(waker);
                return Poll::Ready(Ok(item));
            }
            if cancel_checked {
                this.key = Some(state.getters.push(cx.waker()));
                return Poll::Pending;
            }
            drop(state);
            cancel_checked = true;
            if let Some(cancelled) = this.point.poll_cancel(cx) {
                return Poll::Ready(Err(GetError::Cancelled(cancelled)));
            }
        }
    }
}

impl<T, O: Order<T>> Drop for Get<'_, T, O> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.leave(key);
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for Get<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get").field("waiting", &self.key.is_some()).finish()
    }
}

/// The future returned by [`Queue::join`].
#[must_use = "futures do nothing unless awaited"]
pub struct QueueJoin<'a, T, O: Order<T> = Fifo> {
    queue: &'a Core<T, O>,
    key: Option<usize>,
    point: PointWaker,
}

impl<T, O: Order<T>> Future for QueueJoin<'_, T, O> {
    type Output = Result<(), Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(key) = this.key {
            if let Some(cancelled) = this.point.poll_cancel(cx) {
                this.key = None;
                this.queue.state().joiners.remove(key);
                return Poll::Ready(Err(cancelled));
            }
            if this.queue.state().joiners.poll_entry(key, cx.waker()) {
                this.key = None;
                return Poll::Ready(Ok(()));
            }
            return Poll::Pending;
        }
        if this.queue.state().unfinished == 0 {
            return Poll::Ready(Ok(()));
        }
        if let Some(cancelled) = this.point.poll_cancel(cx) {
            return Poll::Ready(Err(cancelled));
        }
        let mut state = this.queue.state();
        if state.unfinished == 0 {
            return Poll::Ready(Ok(()));
        }
        this.key = Some(state.joiners.push(cx.waker()));
        Poll::Pending
    }
}

impl<T, O: Order<T>> Drop for QueueJoin<'_, T, O> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.queue.state().joiners.remove(key);
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for QueueJoin<'_, T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueJoin").field("waiting", &self.key.is_some()).finish()
    }
}
