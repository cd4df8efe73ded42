//! Blocking and CPU-bound work for taskloop: a `std::thread` pool, a rayon pool, and the
//! asyncio ways in, `to_thread` and `run_in_executor` (seed 24.10).
//!
//! - [`to_thread(f)`](to_thread) is `asyncio.to_thread`: lazy, on the loop's default executor
//!   (a [`ThreadPool`] created on first use unless the loop was given one).
//! - [`run_in_executor(executor, f)`](run_in_executor) is `loop.run_in_executor`: submitted at
//!   the call, on the executor given (`None`: the default one).
//! - [`ThreadPool`] is `concurrent.futures.ThreadPoolExecutor` on `std::thread`, with a bounded
//!   queue and workers that come and go on demand; [`CpuPool`] wraps a rayon pool for
//!   CPU-bound work (asyncio's `ProcessPoolExecutor`, without the GIL that made processes
//!   necessary).
//! - [`Executor`] (from `taskloop-core`, so that the loop can shut its default executor down)
//!   is what both implement; [`set_default_executor`] replaces the loop's default.
//!
//! Both futures are cancellation points: cancelling the awaiting task takes work that has not
//! started out of the queue (it never runs) and ends the await at once; work already running
//! finishes on its thread, and its result is dropped.
//!
//! Feature `cpu-pool` (on by default) brings [`CpuPool`] and with it the rayon dependency.
//!
//! # Examples
//!
//! ```
//! use rayon::prelude::*;
//! use taskloop::{CpuPool, ThreadPool, run_in_executor, to_thread};
//!
//! fn blocking_io() -> String {
//!     std::thread::sleep(std::time::Duration::from_millis(10));
//!     "done".to_owned()
//! }
//!
//! # fn main() -> Result<(), taskloop::TaskError> {
//! taskloop::run(async {
//!     // The high-level way: the default executor.
//!     assert_eq!(to_thread(blocking_io).await?, "done");
//!
//!     // The low-level way, on an executor we manage.
//!     let pool = ThreadPool::new(4);
//!     assert_eq!(run_in_executor(Some(&pool), blocking_io).await?, "done");
//!
//!     // CPU-bound work on rayon; `par_iter` inside uses the same pool.
//!     let cpus = CpuPool::new(2);
//!     let sum = run_in_executor(Some(&cpus), || (1..=1000u64).into_par_iter().sum::<u64>()).await?;
//!     assert_eq!(sum, 500_500);
//!     anyhow::Ok(())
//! })
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

mod call;
#[cfg(feature = "cpu-pool")]
mod cpu_pool;
mod thread_pool;

pub use call::{RunInExecutor, ToThread, run_in_executor, to_thread};
#[cfg(feature = "cpu-pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "cpu-pool")))]
pub use cpu_pool::CpuPool;
pub use taskloop_core::{Executor, Job, JobId, Refused, set_default_executor};
pub use thread_pool::{BuildError, DEFAULT_IDLE_TIMEOUT, DEFAULT_QUEUE_CAPACITY, ThreadPool, ThreadPoolBuilder};

use std::sync::Arc;

/// The pool a loop gets when `to_thread` finds no default executor: asyncio's lazily created
/// `ThreadPoolExecutor(thread_name_prefix="asyncio")`.
fn default_thread_pool() -> Arc<dyn Executor> {
    let pool = ThreadPool::builder().thread_name_prefix("taskloop-default").build();
    // The default options are valid: `max_workers` is at least 5 and the capacity positive.
    Arc::new(pool.expect("the default thread pool options are valid"))
}

/// Locks `mutex`, ignoring poisoning: no user code runs under the crate's locks (a job runs
/// after its pool's lock is released), so a poisoned lock still guards consistent data. The
/// crate's one lock helper.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
