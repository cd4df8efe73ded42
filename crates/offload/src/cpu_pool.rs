//! `CpuPool`: CPU-bound work on a rayon pool.
//!
//! Rayon cannot take a spawned job back, so the pool counts its jobs in flight itself (for
//! `shutdown(wait = true)`) and each job checks at its start whether a `cancel_futures`
//! shutdown came first.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::thread;

use taskloop_core::{Executor, Job, Refused, TaskError};

/// A rayon thread pool for CPU-bound work: what asyncio programs use a
/// `ProcessPoolExecutor` for (without a GIL, threads suffice).
///
/// Jobs run inside the rayon pool, so rayon's parallel iterators called from a job use this
/// pool's threads. Give it to [`run_in_executor`](crate::run_in_executor); keep blocking I/O on
/// a [`ThreadPool`](crate::ThreadPool), since a blocked rayon thread stalls the parallel work.
///
/// # Cancellation
///
/// A job whose awaiting task is cancelled before it starts never runs (rayon cannot take it
/// out of its queue, so it is skipped when its turn comes); running jobs finish.
///
/// # Panics
///
/// A panic in a job is caught and returned to its awaiter as `TaskError::Panicked`; the rayon
/// thread lives on.
///
/// # Examples
///
/// ```
/// use rayon::prelude::*;
/// use taskloop::{CpuPool, run_in_executor};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let pool = CpuPool::new(2);
///     let sum = run_in_executor(Some(&pool), || (0..1_000_000u64).into_par_iter().sum::<u64>()).await?;
///     assert_eq!(sum, 499_999_500_000);
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub struct CpuPool {
    inner: Arc<Inner>,
}

struct Inner {
    /// The `Arc` this lives in, for `to_shared`.
    me: Weak<Inner>,
    /// `None` for rayon's global pool.
    pool: Option<rayon::ThreadPool>,
    /// Shared with the jobs in the rayon queue.
    jobs: Arc<Jobs>,
}

/// The pool's bookkeeping, shared with its jobs.
struct Jobs {
    /// Jobs accepted and not yet finished or skipped.
    in_flight: AtomicUsize,
    /// Refuse new work.
    shutdown: AtomicBool,
    /// Skip jobs that have not started.
    cancel_queued: AtomicBool,
    /// Someone waits in `shutdown(wait = true)` for `in_flight` to reach 0.
    waiting: AtomicBool,
    lock: Mutex<()>,
    drained: Condvar,
}

impl CpuPool {
    /// A new rayon pool of `num_threads` threads. `0` means rayon's default: the
    /// `RAYON_NUM_THREADS` environment variable if set, else the number of CPUs.
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start the threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = taskloop::CpuPool::new(3);
    /// assert_eq!(pool.num_threads(), 3);
    /// assert!(taskloop::CpuPool::new(0).num_threads() >= 1);
    /// ```
    pub fn new(num_threads: usize) -> CpuPool {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(num_threads)
            .thread_name(|i| format!("taskloop-cpu-{i}"))
            .build()
            .unwrap_or_else(|e| panic!("CpuPool::new({num_threads}) could not start its threads: {e}"));
        CpuPool::from_rayon(pool)
    }

    /// Wraps a rayon pool you configured yourself.
    pub fn from_rayon(pool: rayon::ThreadPool) -> CpuPool {
        CpuPool::with_pool(Some(pool))
    }

    /// The pool on rayon's global thread pool, shared by the whole process (and by plain
    /// `par_iter` calls made outside any pool).
    ///
    /// Its [`shutdown`](CpuPool::shutdown) only waits for its work (with `wait`): the global
    /// pool always accepts work, so a loop that owned it as its default executor does not
    /// break it for the next one.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::{CpuPool, run_in_executor};
    ///
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     let threads = run_in_executor(Some(CpuPool::global()), rayon::current_num_threads).await?;
    ///     assert_eq!(threads, CpuPool::global().num_threads());
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    pub fn global() -> &'static CpuPool {
        static GLOBAL: OnceLock<CpuPool> = OnceLock::new();
        GLOBAL.get_or_init(|| CpuPool::with_pool(None))
    }

    fn with_pool(pool: Option<rayon::ThreadPool>) -> CpuPool {
        CpuPool { inner: Arc::new_cyclic(|me| Inner { me: me.clone(), pool, jobs: Arc::new(Jobs::new()) }) }
    }

    /// How many threads the pool has.
    pub fn num_threads(&self) -> usize {
        match &self.inner.pool {
            Some(pool) => pool.current_num_threads(),
            // Inside a rayon pool, rayon answers for that pool; a fresh thread sees the global one.
            None if rayon::current_thread_index().is_some() => {
                thread::scope(|s| s.spawn(rayon::current_num_threads).join().unwrap_or(1))
            }
            None => rayon::current_num_threads(),
        }
    }

    /// Stops accepting work, as [`ThreadPool::shutdown`](crate::ThreadPool::shutdown): with
    /// `cancel_futures`, jobs that have not started are skipped (their awaiters get
    /// `TaskError::Cancelled`); with `wait`, blocks until every accepted job has finished or
    /// been skipped. The [global](CpuPool::global) pool keeps accepting work.
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.inner.shutdown(wait, cancel_futures);
    }
}

impl Inner {
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        if self.pool.is_some() {
            self.jobs.shutdown.store(true, Ordering::SeqCst);
            if cancel_futures {
                self.jobs.cancel_queued.store(true, Ordering::SeqCst);
            }
        }
        if wait {
            self.jobs.wait_drained();
        }
    }
}

impl Jobs {
    fn new() -> Jobs {
        Jobs {
            in_flight: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            cancel_queued: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            lock: Mutex::new(()),
            drained: Condvar::new(),
        }
    }

    fn run(&self, job: Job) {
        if self.cancel_queued.load(Ordering::SeqCst) {
            // Dropping it unrun tells its awaiter it was cancelled.
            drop(job);
        } else if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job.run())) {
            // Jobs built by this crate catch their own panics; a foreign one may not, and a
            // panic escaping a rayon spawn would abort the process.
            tracing::error!(target: "taskloop", "a job panicked on a CpuPool thread: {}", TaskError::from_panic(&*payload));
        }
        // SeqCst pairs with `wait_drained`: either it sees the count reach 0, or this sees
        // `waiting` and notifies it (the two stores and loads are ordered one way or the other).
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 && self.waiting.load(Ordering::SeqCst) {
            let _guard = crate::lock(&self.lock);
            self.drained.notify_all();
        }
    }

    fn wait_drained(&self) {
        let mut guard = crate::lock(&self.lock);
        self.waiting.store(true, Ordering::SeqCst);
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            guard = self.drained.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Executor for CpuPool {
    fn try_submit(&self, job: Job) -> Result<(), Refused> {
        self.inner.try_submit(job)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.inner.shutdown(wait, cancel_futures);
    }

    fn to_shared(&self) -> Arc<dyn Executor> {
        self.inner.clone()
    }
}

/// What futures hold (through `to_shared`): the same pool, without a handle's allocation.
impl Executor for Inner {
    fn try_submit(&self, job: Job) -> Result<(), Refused> {
        if self.jobs.shutdown.load(Ordering::SeqCst) {
            return Err(Refused::Shutdown(job));
        }
        self.jobs.in_flight.fetch_add(1, Ordering::SeqCst);
        let jobs = self.jobs.clone();
        let work = move || jobs.run(job);
        match &self.pool {
            Some(pool) => pool.spawn(work),
            None => rayon::spawn(work),
        }
        Ok(())
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        Inner::shutdown(self, wait, cancel_futures);
    }

    fn to_shared(&self) -> Arc<dyn Executor> {
        self.me.upgrade().expect("a CpuPool's state is only reached through its Arc")
    }
}

impl fmt::Debug for CpuPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuPool")
            .field("global", &self.inner.pool.is_none())
            .field("num_threads", &self.num_threads())
            .field("in_flight", &self.inner.jobs.in_flight.load(Ordering::Relaxed))
            .field("shutdown", &self.inner.jobs.shutdown.load(Ordering::Relaxed))
            .finish()
    }
}
