//! `ThreadPool`: concurrent.futures' `ThreadPoolExecutor` on `std::thread`.
//!
//! One `Mutex<State>` guards the queue and the worker bookkeeping; workers wait on the
//! `work` condvar. The protocol follows tokio's blocking pool:
//!
//! - A submitter pushes its job, then, if a worker is idle and unclaimed (`idle > 0`), claims
//!   it (`idle -= 1`, `notified += 1`) and notifies `work`; else, below `max_workers`, it
//!   starts a worker; else a busy worker will find the job when it looks at the queue again.
//! - A worker runs jobs until the queue is empty, then counts itself idle and waits at most
//!   `idle_timeout`. Woken with `notified > 0`, it takes one notification and looks at the
//!   queue again; on shutdown it exits; timed out unclaimed, it uncounts itself and exits
//!   (the pool regrows on demand).
//!
//! Jobs waiting for room (the queue is at `queue_capacity`) are not in the pool: their
//! futures hold them and registered a waker in `room`, woken whenever a place frees up.
//!
//! **Invariant:** no job runs or is dropped, and no waker is woken, while `state` is locked.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Duration;

use taskloop_core::{Executor, Job, JobId, Refused, TaskError};

/// How many jobs may wait in a pool's queue by default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 4096;

/// How long an idle worker waits for work before it exits, by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A pool of `std::thread` workers for blocking calls: concurrent.futures'
/// `ThreadPoolExecutor`.
///
/// Workers start on demand, up to `max_workers`, and exit after `idle_timeout` without work;
/// the pool grows again when work comes. Work waits in a bounded FIFO queue; when it is full,
/// submitters wait (asynchronously) for room instead of piling work up. Give it to
/// [`run_in_executor`](crate::run_in_executor), or make it the loop's default executor with
/// `Builder::default_executor` or [`set_default_executor`](crate::set_default_executor).
///
/// Unlike `ThreadPoolExecutor`, it has no `submit`/`map` returning `concurrent.futures`
/// futures: `run_in_executor` is the way in, and gives a future to await.
///
/// # Cancellation
///
/// Work whose awaiting task is cancelled leaves the queue if it has not started; running work
/// always finishes (a thread cannot be interrupted).
///
/// # Panics
///
/// A panic in a job is caught on the worker and returned to its awaiter as
/// `TaskError::Panicked`; the worker lives on.
///
/// # Examples
///
/// The seed's "create an executor and pass it to `run_in_executor`":
///
/// ```
/// use taskloop::{ThreadPool, run_in_executor};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let pool = ThreadPool::new(4);
///     let read = run_in_executor(Some(&pool), || std::fs::read_to_string("/definitely/missing").is_err());
///     assert!(read.await?);
///     pool.shutdown(true, false); // or let `Drop` do it
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub struct ThreadPool {
    inner: Arc<Inner>,
}

thread_local! {
    /// The address of the pool whose worker this thread is (0 if none): a job that shuts down
    /// its own pool must not wait for its own thread to exit.
    static POOL_OF_THIS_THREAD: Cell<usize> = const { Cell::new(0) };
}

struct Inner {
    /// The `Arc` this lives in, to start workers and hand out `to_shared` from `&self`.
    me: Weak<Inner>,
    state: Mutex<State>,
    /// Workers wait here for work or shutdown.
    work: Condvar,
    /// Signalled whenever a worker exits: `shutdown(wait = true)` waits here until none is
    /// left, however many callers wait (the first one joins the handles).
    exited: Condvar,
    config: Config,
}

struct Config {
    max_workers: usize,
    thread_name_prefix: String,
    initializer: Option<Arc<dyn Fn() + Send + Sync>>,
    idle_timeout: Duration,
    queue_capacity: usize,
}

struct State {
    queue: VecDeque<Job>,
    /// Live worker threads.
    workers: usize,
    /// Workers waiting for work and not yet claimed by a submitter.
    idle: usize,
    /// Claims not yet taken by a woken worker.
    notified: usize,
    /// Numbers the threads for their names.
    spawned_total: usize,
    /// The pool accepts no more work.
    shutdown: bool,
    /// Futures waiting for room in the queue.
    room: Vec<Waker>,
    /// Handles of the workers, joined by `shutdown(wait = true)`. A worker that exits on its
    /// own (idle) removes its handle.
    threads: HashMap<ThreadId, JoinHandle<()>>,
}

impl ThreadPool {
    /// A pool of at most `max_workers` threads, with the other options at their defaults:
    /// `ThreadPoolExecutor(max_workers)`.
    ///
    /// # Panics
    ///
    /// If `max_workers` is 0: "max_workers must be greater than 0" (CPython raises
    /// `ValueError`). Use [`ThreadPool::builder`] for an `Err` instead.
    ///
    /// For CPython's `ThreadPoolExecutor()` with no count (`min(32, cpus + 4)` workers), use
    /// [`ThreadPool::default()`](#impl-Default-for-ThreadPool).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = taskloop::ThreadPool::new(8);
    /// assert_eq!(pool.max_workers(), 8);
    /// assert_eq!(pool.num_workers(), 0, "threads start on demand");
    /// ```
    pub fn new(max_workers: usize) -> ThreadPool {
        match ThreadPool::builder().max_workers(max_workers).build() {
            Ok(pool) => pool,
            Err(e) => panic!("{e}"),
        }
    }

    /// A [`ThreadPoolBuilder`] to set the pool's options.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    /// The most threads this pool runs at once.
    pub fn max_workers(&self) -> usize {
        self.inner.config.max_workers
    }

    /// How many worker threads are alive now.
    pub fn num_workers(&self) -> usize {
        self.inner.lock().workers
    }

    /// How many jobs wait in the queue (not counting running ones).
    pub fn queued(&self) -> usize {
        self.inner.lock().queue.len()
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.inner.lock().shutdown
    }

    /// Stops accepting work: `ThreadPoolExecutor.shutdown(wait, cancel_futures)`.
    ///
    /// Work submitted afterwards fails with `TaskError::Shutdown`. With `cancel_futures`,
    /// queued work that has not started is dropped and its awaiters get
    /// `TaskError::Cancelled`; otherwise it still runs. Running work always finishes. With
    /// `wait`, blocks until every worker has finished and exited — from a task, that blocks
    /// the loop's thread, so prefer `wait = false` there (or call it in
    /// [`to_thread`](crate::to_thread)). Calling it again is harmless.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::{ThreadPool, run_in_executor};
    ///
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     let pool = ThreadPool::new(1);
    ///     pool.shutdown(false, true);
    ///     assert!(run_in_executor(Some(&pool), || ()).await.unwrap_err().is_shutdown());
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.inner.shutdown(wait, cancel_futures);
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        crate::lock(&self.state)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let (cancelled, room, threads) = {
            let mut state = self.lock();
            state.shutdown = true;
            // Without workers (none could be started) queued work would wait forever: cancel it too.
            let cancelled =
                if cancel_futures || state.workers == 0 { std::mem::take(&mut state.queue) } else { VecDeque::new() };
            let threads: Vec<_> = if wait { state.threads.drain().map(|(_, t)| t).collect() } else { Vec::new() };
            (cancelled, std::mem::take(&mut state.room), threads)
        };
        self.work.notify_all();
        // Dropping a job unrun tells its awaiter it was cancelled.
        drop(cancelled);
        for waker in room {
            waker.wake();
        }
        let current = thread::current().id();
        for thread in threads {
            if thread.thread().id() == current {
                // A job shutting down its own pool: it cannot wait for itself.
                continue;
            }
            // A worker never panics (jobs are caught), so a join error carries nothing.
            let _ = thread.join();
        }
        if wait {
            // The first caller joined the handles; every caller (a second `shutdown(true)`
            // included, as CPython's) returns only once no worker is left but, for a job
            // shutting down its own pool, its own.
            let own = usize::from(POOL_OF_THIS_THREAD.with(Cell::get) == std::ptr::from_ref(self).addr());
            let mut state = self.lock();
            while state.workers > own {
                state = self.exited.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    /// Starts a worker thread; called with the state locked, which the new thread waits for.
    fn spawn_worker(self: &Arc<Self>, state: &mut State) -> std::io::Result<()> {
        let inner = self.clone();
        let name = format!("{}_{}", self.config.thread_name_prefix, state.spawned_total);
        let handle = thread::Builder::new().name(name).spawn(move || inner.work_loop())?;
        state.spawned_total += 1;
        state.workers += 1;
        state.threads.insert(handle.thread().id(), handle);
        Ok(())
    }

    fn work_loop(self: Arc<Self>) {
        POOL_OF_THIS_THREAD.with(|p| p.set(std::ptr::from_ref(&*self).addr()));
        if let Some(init) = &self.config.initializer
            && let Err(payload) = catch_unwind(AssertUnwindSafe(|| init()))
        {
            // CPython marks the pool broken; here it stops taking work and drops what waits.
            tracing::error!(
                target: "taskloop",
                "the initializer of thread pool {:?} panicked ({}); the pool is shut down",
                self.config.thread_name_prefix,
                TaskError::from_panic(&*payload)
            );
            let (cancelled, room) = {
                let mut state = self.lock();
                state.shutdown = true;
                state.workers -= 1;
                self.exited.notify_all();
                state.threads.remove(&thread::current().id());
                (std::mem::take(&mut state.queue), std::mem::take(&mut state.room))
            };
            self.work.notify_all();
            drop(cancelled);
            room.into_iter().for_each(Waker::wake);
            return;
        }
        let mut state = self.lock();
        'work: loop {
            while let Some(job) = state.queue.pop_front() {
                let room = std::mem::take(&mut state.room);
                drop(state);
                room.into_iter().for_each(Waker::wake);
                // Jobs built by this crate catch their own panics; a foreign one may not.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job.run())) {
                    tracing::error!(target: "taskloop", "a job panicked on a thread pool worker: {}", TaskError::from_panic(&*payload));
                }
                state = self.lock();
            }
            if state.shutdown {
                break 'work;
            }
            state.idle += 1;
            loop {
                let (next, timeout) =
                    self.work.wait_timeout(state, self.config.idle_timeout).unwrap_or_else(PoisonError::into_inner);
                state = next;
                if state.notified > 0 {
                    state.notified -= 1;
                    continue 'work;
                }
                if state.shutdown {
                    state.idle -= 1;
                    break 'work;
                }
                if timeout.timed_out() {
                    state.idle -= 1;
                    // Exiting on its own: nobody will join this thread, so drop (detach) its handle.
                    let own = state.threads.remove(&thread::current().id());
                    state.workers -= 1;
                    self.exited.notify_all();
                    drop(state);
                    drop(own);
                    return;
                }
                // A spurious wake-up: wait again.
            }
        }
        state.workers -= 1;
        self.exited.notify_all();
    }
}

impl Executor for ThreadPool {
    fn try_submit(&self, job: Job) -> Result<(), Refused> {
        self.inner.try_submit(job)
    }
    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }
    fn withdraw(&self, id: JobId) -> bool {
        self.inner.withdraw(id)
    }
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.inner.shutdown(wait, cancel_futures);
    }
    fn to_shared(&self) -> Arc<dyn Executor> {
        self.inner.clone()
    }
}

/// The pool's state is the executor; `ThreadPool` adds only the shutdown on drop. Futures
/// hold this (through `to_shared`), so a dropped pool refuses their later submissions rather
/// than living on.
impl Executor for Inner {
    fn try_submit(&self, job: Job) -> Result<(), Refused> {
        let mut state = self.lock();
        if state.shutdown {
            drop(state);
            return Err(Refused::Shutdown(job));
        }
        if state.queue.len() >= self.config.queue_capacity {
            drop(state);
            return Err(Refused::Full(job));
        }
        state.queue.push_back(job);
        if state.idle > 0 {
            state.idle -= 1;
            state.notified += 1;
            drop(state);
            self.work.notify_one();
        } else if state.workers < self.config.max_workers {
            let me = self.me.upgrade().expect("a pool's state is only reached through its Arc");
            if let Err(e) = me.spawn_worker(&mut state) {
                // The job stays queued for the workers there are; with none, it waits until
                // a later submission manages to start one.
                tracing::error!(
                    target: "taskloop",
                    "thread pool {:?} could not start a worker ({e}); {} running",
                    self.config.thread_name_prefix,
                    state.workers
                );
            }
        }
        Ok(())
    }

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.shutdown || state.queue.len() < self.config.queue_capacity {
            return Poll::Ready(());
        }
        // One waker per waiting task, however often it is polled (a submitter in a `select!`
        // loop would otherwise pile copies up until a place frees).
        if !state.room.iter().any(|w| w.will_wake(cx.waker())) {
            state.room.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn withdraw(&self, id: JobId) -> bool {
        let (job, room) = {
            let mut state = self.lock();
            match state.queue.iter().position(|job| job.id() == id) {
                Some(at) => (state.queue.remove(at), std::mem::take(&mut state.room)),
                None => return false,
            }
        };
        drop(job);
        room.into_iter().for_each(Waker::wake);
        true
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        Inner::shutdown(self, wait, cancel_futures);
    }

    fn to_shared(&self) -> Arc<dyn Executor> {
        self.me.upgrade().expect("a pool's state is only reached through its Arc")
    }
}

/// `ThreadPoolExecutor()`: a pool of `min(32, cpus + 4)` workers, the other options at
/// their defaults.
///
/// ```
/// let pool = taskloop::ThreadPool::default();
/// assert!(pool.max_workers() >= 5 && pool.max_workers() <= 32);
/// ```
impl Default for ThreadPool {
    fn default() -> Self {
        match ThreadPool::builder().build() {
            Ok(pool) => pool,
            // Unreachable: the defaults are a worker count and a queue capacity above 0.
            Err(e) => panic!("{e}"),
        }
    }
}

impl Drop for ThreadPool {
    /// Shuts the pool down and joins its workers: `with ThreadPoolExecutor() as pool:` ends
    /// with `shutdown(wait=True)`. Queued work still runs first.
    fn drop(&mut self) {
        self.inner.shutdown(true, false);
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("ThreadPool")
            .field("thread_name_prefix", &self.inner.config.thread_name_prefix)
            .field("max_workers", &self.inner.config.max_workers)
            .field("workers", &state.workers)
            .field("queued", &state.queue.len())
            .field("shutdown", &state.shutdown)
            .finish()
    }
}

/// Why a [`ThreadPoolBuilder`] could not build a pool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `max_workers(0)`.
    #[error("max_workers must be greater than 0")]
    ZeroMaxWorkers,
    /// `queue_capacity(0)`.
    #[error("queue_capacity must be greater than 0")]
    ZeroQueueCapacity,
}

/// Options of a [`ThreadPool`]: the arguments of `ThreadPoolExecutor(...)`, plus the idle
/// timeout and the queue's bound.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::ThreadPool;
///
/// # fn main() -> anyhow::Result<()> {
/// let pool = ThreadPool::builder()
///     .max_workers(4)
///     .thread_name_prefix("disk")
///     .initializer(|| println!("worker {:?} starts", std::thread::current().name()))
///     .idle_timeout(Duration::from_secs(10))
///     .queue_capacity(100)
///     .build()?;
/// assert_eq!(pool.max_workers(), 4);
/// assert!(ThreadPool::builder().max_workers(0).build().is_err());
/// # Ok(())
/// # }
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    thread_name_prefix: Option<String>,
    initializer: Option<Arc<dyn Fn() + Send + Sync>>,
    idle_timeout: Duration,
    queue_capacity: usize,
}

impl ThreadPoolBuilder {
    /// The default options.
    pub fn new() -> Self {
        ThreadPoolBuilder {
            max_workers: None,
            thread_name_prefix: None,
            initializer: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// The most threads the pool runs at once. Defaults to `min(32, cpus + 4)`, as CPython.
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Names the workers `{prefix}_{n}` (CPython's `thread_name_prefix`). Defaults to
    /// `ThreadPool-{k}`, numbering the pools of the process.
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// Runs `f` at the start of each worker thread (CPython's `initializer`). If it panics,
    /// the pool shuts down and drops its queued work, as CPython's pool becomes "broken".
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// How long a worker waits without work before it exits (the pool starts a new one when
    /// work comes). Defaults to 60 seconds. CPython keeps its threads until shutdown.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How many jobs may wait in the queue; when it is full, submitters wait for room.
    /// Defaults to [`DEFAULT_QUEUE_CAPACITY`]. CPython's queue is unbounded.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Builds the pool. No thread starts until work is submitted.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroMaxWorkers`] for `max_workers(0)`, [`BuildError::ZeroQueueCapacity`]
    /// for `queue_capacity(0)`.
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        static POOLS: AtomicUsize = AtomicUsize::new(0);
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        if max_workers == 0 {
            return Err(BuildError::ZeroMaxWorkers);
        }
        if self.queue_capacity == 0 {
            return Err(BuildError::ZeroQueueCapacity);
        }
        let thread_name_prefix = self
            .thread_name_prefix
            // Only a distinct number is needed; no other memory depends on this counter.
            .unwrap_or_else(|| format!("ThreadPool-{}", POOLS.fetch_add(1, Ordering::Relaxed)));
        let config = Config {
            max_workers,
            thread_name_prefix,
            initializer: self.initializer,
            idle_timeout: self.idle_timeout,
            queue_capacity: self.queue_capacity,
        };
        let inner = Arc::new_cyclic(|me| Inner {
            me: me.clone(),
            state: Mutex::new(State {
                queue: VecDeque::new(),
                workers: 0,
                idle: 0,
                notified: 0,
                spawned_total: 0,
                shutdown: false,
                room: Vec::new(),
                threads: HashMap::new(),
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            config,
        });
        Ok(ThreadPool { inner })
    }
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        ThreadPoolBuilder::new()
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("initializer", &self.initializer.as_ref().map(|_| "Fn()"))
            .field("idle_timeout", &self.idle_timeout)
            .field("queue_capacity", &self.queue_capacity)
            .finish()
    }
}

/// CPython's default: `min(32, os.cpu_count() + 4)`.
fn default_max_workers() -> usize {
    let cpus = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    (cpus + 4).min(32)
}
