//! Python asyncio's task model for Rust, on tokio.
//!
//! Tasks that can be cancelled with a message and may catch that cancellation; handles that
//! many can await, many times; `result()` that says "not done yet" instead of blocking; done
//! callbacks; and an `asyncio.run`-style loop that cancels what is left when main ends. Every
//! name is the asyncio name, behaving as asyncio does, unless the docs say otherwise.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use taskloop::prelude::*;
//!
//! # fn main() -> Result<(), taskloop::TaskError> {
//! taskloop::run(async {
//!     let task = create_task(async {
//!         sleep(Duration::from_secs(1)).await?;
//!         anyhow::Ok("finished")
//!     });
//!     sleep(Duration::from_millis(100)).await?;
//!     task.cancel_with("no time left");
//!     let outcome = (&task).await;
//!     assert_eq!(outcome.unwrap_err().cancel_message(), Some("no time left"));
//!     assert!(task.cancelled());
//!     anyhow::Ok(())
//! })
//! # }
//! ```
//!
//! # Writing task bodies
//!
//! A body returns `Result<T, E>` (`E: Into<anyhow::Error>`), usually `anyhow::Result<T>`, and
//! `?` carries failures and cancellations out of it. A block ending in a plain `Ok(5)` gives
//! the compiler no error type: rustc says `error[E0283]: type annotations needed … cannot
//! infer type of the type parameter `E` declared on the function `create_task`` and suggests
//! `create_task::<_, i32, E>(…)`, which is not valid code.
//!
//! ```compile_fail,E0283
//! # taskloop::run(async {
//! let task = taskloop::create_task(async { Ok(5) }); // error[E0283]: type annotations needed
//! # anyhow::Ok(())
//! # }).unwrap();
//! ```
//!
//! Write `anyhow::Ok(5)` (or `Ok::<_, anyhow::Error>(5)`, or use an `async fn` returning
//! `anyhow::Result<i32>`):
//!
//! ```
//! # taskloop::run(async {
//! let task = taskloop::create_task(async { anyhow::Ok(5) });
//! assert_eq!(task.await?, 5);
//! # anyhow::Ok(())
//! # }).unwrap();
//! ```
//!
//! # Ctrl-C and unseen failures
//!
//! [`run`] handles Ctrl-C as `asyncio.run` does (feature `ctrl-c`, Unix): the first cancels
//! the main task with the message `"interrupted"` and the loop shuts down cleanly; a second
//! exits at once ([`Builder::handle_ctrl_c`]). A failure nobody retrieved is written to
//! stderr (asyncio's "Task exception was never retrieved") unless a `tracing` subscriber is
//! installed, which then receives it, with the rest of taskloop's logs.
//!
//! # Cancellation
//!
//! [`Task::cancel`] and [`Task::cancel_with`] ask a task to stop. The request is delivered
//! once, **at the task's current await**, as asyncio throws `CancelledError` into a coroutine
//! at the `await` it is suspended in:
//!
//! - If the body is awaiting a *cancellation point* — [`sleep`], [`yield_now`], awaiting a
//!   [`Task`] or [`TaskRef`], [`wait`], [`gather`], [`gather_settled`], [`as_completed`],
//!   [`TaskGroup::join`], [`shield`], [`cancellable`], [`to_thread`], [`run_in_executor`],
//!   [`delay`], and [`wait_for`] / [`timeout`] through what they wrap — that await resolves to
//!   `Err(Cancelled)` carrying the message. `?` carries it out and the task ends cancelled;
//!   or the body catches it, may [`uncancel`](Task::uncancel), and goes on.
//! - If the body is suspended only in futures that are not cancellation points — a tokio
//!   channel, lock or socket, a raw tokio `JoinHandle`, an HTTP client's request,
//!   `std::future::pending()` — the body is dropped right there: its `Drop` guards run, as
//!   asyncio's `finally:` blocks do, before any awaiter sees the outcome, and the task ends
//!   cancelled with the message, exactly as if `Err(Cancelled)` had propagated out of it.
//!   Wrap such an await in [`cancellable`] to catch the request there instead.
//!
//! A request that arrives while the body is being polled (from another thread) is decided at
//! the next poll. A cancellation point inside a combinator that re-polls only the children
//! it was woken for (`FuturesUnordered`, `select` over streams, `join_all`) still gets the
//! request, as a catchable `Err(Cancelled)`. The same rule holds wherever taskloop cancels:
//! at the deadline of [`timeout`] or [`wait_for`] the block is cancelled at its current await
//! (dropped there if that is a foreign one, and the call returns `Err(TaskError::Timeout)`,
//! the task's `cancelling()` back where it was), and [`TaskGroup`] siblings, the children of
//! a cancelled [`gather`], `Task::cancel_on` and the tasks [`run`] cancels when main ends
//! all end promptly, whatever they await. A body that never suspends (a loop without an
//! await, a blocking call) cannot be reached until it does, as in asyncio: give such work to
//! [`to_thread`].
//!
//! [`shield`] keeps a request from going down into the future it protects.
//! [`Task::abort`] is the stop asyncio lacks: it drops the body at once, with no message and
//! without waiting for an await.
//!
//! A task with no pending request pays one atomic load per poll for all this. A cost that
//! is easy to miss: with `RUST_BACKTRACE=1`, anyhow captures a backtrace at every `?` that
//! carries a `Cancelled` out of a body, which makes cancelling a sleeping task about four
//! times as expensive; set `RUST_LIB_BACKTRACE=0` to keep panic backtraces without those. (A
//! body dropped at a foreign await makes no `anyhow::Error`, so it pays nothing of the kind.)
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::time::Duration;
//! use taskloop::prelude::*;
//!
//! /// Records that the worker cleaned up: its `finally:` block.
//! struct Cleanup(Arc<AtomicBool>);
//!
//! impl Drop for Cleanup {
//!     fn drop(&mut self) {
//!         self.0.store(true, Ordering::SeqCst);
//!     }
//! }
//!
//! # fn main() -> Result<(), taskloop::TaskError> {
//! taskloop::run(async {
//!     let (jobs, mut queue) = tokio::sync::mpsc::channel::<String>(8);
//!     let cleaned_up = Arc::new(AtomicBool::new(false));
//!     let cleanup = Cleanup(cleaned_up.clone());
//!     let worker = create_task(async move {
//!         let _cleanup = cleanup;
//!         // tokio's `recv()`: not a cancellation point, and no `cancellable` around it.
//!         while let Some(job) = queue.recv().await {
//!             println!("working on {job}");
//!         }
//!         anyhow::Ok(())
//!     });
//!     jobs.send("report".to_owned()).await?;
//!     sleep(Duration::from_millis(10)).await?; // the worker is back in `recv()`
//!
//!     assert!(worker.cancel_with("shutting down"));
//!     let outcome = (&worker).await;
//!     assert_eq!(outcome.unwrap_err().cancel_message(), Some("shutting down"));
//!     assert!(worker.cancelled());
//!     assert!(cleaned_up.load(Ordering::SeqCst), "the guard ran before the await saw the outcome");
//!     assert!(jobs.is_closed(), "the body was dropped, and the receiver with it");
//!     anyhow::Ok(())
//! })
//! # }
//! ```
//!
//! # Queues and synchronization
//!
//! [`sync`] has asyncio's `Queue` (with `LifoQueue`, `PriorityQueue`), `Event`, `Lock`,
//! `Semaphore`, `BoundedSemaphore`, `Condition` and `Barrier` (feature `sync`, on by
//! default). Every wait is a cancellation point that loses nothing when cancelled — no item
//! taken, no permit or lock kept — and a waiter woken and then cancelled passes the wake-up on
//! to the next, as asyncio's do. A worker pool, as in asyncio:
//!
//! ```
//! use taskloop::prelude::*;
//! use taskloop::sync::{Queue, Semaphore};
//!
//! async fn worker(jobs: Queue<u32>, limit: Semaphore) -> anyhow::Result<()> {
//!     loop {
//!         let _job = jobs.get().await?; // the pool is cancelled here at the end
//!         let _permit = limit.acquire().await?;
//!         yield_now().await?; // the work
//!         jobs.task_done()?;
//!     }
//! }
//!
//! # fn main() -> Result<(), taskloop::TaskError> {
//! taskloop::run(async {
//!     let jobs = Queue::new(0);
//!     let limit = Semaphore::new(2); // at most two jobs at a time
//!     for job in 0..6 {
//!         jobs.put_nowait(job)?;
//!     }
//!     let workers: Vec<_> = (0..3).map(|_| create_task(worker(jobs.clone(), limit.clone()))).collect();
//!     jobs.join().await?; // every job taken and marked done
//!     for worker in &workers {
//!         worker.cancel();
//!     }
//!     for worker in workers {
//!         assert!(worker.await.unwrap_err().is_cancelled());
//!     }
//!     anyhow::Ok(())
//! })
//! # }
//! ```
//!
//! # Where things are
//!
//! - **Tasks** — [`create_task`], [`create_eager_task`], [`TaskBuilder`], [`dump`], [`Task`], [`TaskRef`], [`current_task`],
//!   [`all_tasks`], [`TaskError`], [`Cancelled`].
//! - **Cancellation** (see [above](#cancellation)) — [`Task::cancel`], [`Task::cancel_with`],
//!   [`Task::uncancel`], [`cancellable`], [`shield`], [`Task::abort`].
//! - **The loop** — [`run`], [`Runtime`], [`Builder`], [`sleep`], [`yield_now`],
//!   [`call_soon`], [`set_exception_handler`].
//! - **Inside an existing tokio application, and from other threads** — [`run_embedded`]
//!   (a loop on the runtime you already have), [`Runner`] (several mains on one loop),
//!   [`LoopHandle`] (`call_soon_threadsafe`, `spawn_threadsafe` / `run_coroutine_threadsafe`,
//!   `all_tasks`) and the [`ConcurrentFuture`] a thread waits on; [`tokio_handle`] for tokio
//!   APIs that want the runtime underneath.
//! - **Waiting for many** — [`wait`], [`ReturnWhen`], [`gather`], [`gather_settled`],
//!   [`as_completed`], [`TaskGroup`], [`task_group`], [`TaskGroupError`].
//! - **Done callbacks** — [`Task::add_done_callback`], [`CallbackId`], [`ProgressTracker`].
//! - **Time** — [`delay`], [`call_later`], [`call_at`], [`TimerHandle`], [`wait_for`],
//!   [`timeout`], [`timeout_at`], [`timeout_with`], [`TimeoutHandle`], [`Instant`], and follow-up tasks with [`FollowUp`]
//!   (`then`, `and_then`).
//! - **Offload** (blocking and CPU work) — [`to_thread`], [`run_in_executor`], [`ThreadPool`],
//!   [`ThreadPoolBuilder`], [`CpuPool`], [`Executor`], [`set_default_executor`],
//!   [`Builder::default_executor`], [`Builder::shutdown_timeout`].
//! - **Queues and synchronization** ([`sync`]) — asyncio's [`Queue`](sync::Queue),
//!   [`LifoQueue`](sync::LifoQueue), [`PriorityQueue`](sync::PriorityQueue),
//!   [`Event`](sync::Event), [`Lock`](sync::Lock), [`Semaphore`](sync::Semaphore),
//!   [`BoundedSemaphore`](sync::BoundedSemaphore), [`Condition`](sync::Condition) and
//!   [`Barrier`](sync::Barrier); every wait is a cancellation point that loses nothing when
//!   cancelled and passes a wake-up on to the next waiter.
//! - **Attributes** — [`#[taskloop::main]`](macro@main) runs an `async fn main` as the main
//!   task; [`#[taskloop::test]`](macro@test) does the same for a test, and fails it if a task
//!   failed and nobody retrieved the failure.
//!
//! # Features
//!
//! Each is additive. On by default: `timing`, `sync`, `offload`, `cpu-pool`, `macros`, `io`,
//! `ctrl-c`; off by default: `tokio-util`, `test-util`, `indicatif`.
//!
//! | feature | default | brings |
//! |---|---|---|
//! | `timing` | on | delays, timers, `wait_for`, `timeout`, `FollowUp` (`taskloop-timing`) |
//! | `sync` | on | `taskloop::sync`: queues, locks, events, semaphores, conditions, barriers (`taskloop-sync`) |
//! | `offload` | on | `to_thread`, `run_in_executor`, `ThreadPool` (`taskloop-offload`) |
//! | `cpu-pool` | on | `CpuPool`, the rayon pool (implies `offload`) |
//! | `macros` | on | `#[taskloop::main]`, `#[taskloop::test]` |
//! | `io` | on | tokio's I/O driver in the loop, so `tokio::net`, `tokio::fs` and the like work inside tasks |
//! | `ctrl-c` | on | Ctrl-C cancels [`run`]'s main task, as `asyncio.run` (Unix; `signal-hook`) |
//! | `tokio-util` | off | `Task::cancel_on`: a `tokio_util::sync::CancellationToken` cancels a task |
//! | `test-util` | off | tokio's paused clock: `Builder::start_paused`, `#[taskloop::test(start_paused = true)]` |
//! | `indicatif` | off | `ProgressTracker::with_progress_bar` and the `indicatif` re-export |
//!
//! Tests that use paused time enable `test-util` in the dev-dependencies:
//! `taskloop = { version = "…", features = ["test-util"] }`.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(warnings))))]

#[doc(inline)]
pub use taskloop_core::{
    Builder, CallbackId, Cancelled, ExceptionContext, Handle, Join, ReturnWhen, Runtime, Sleep, SpawnError, Task,
    TaskBuilder, TaskDump, TaskError, TaskId, TaskInfo, TaskRef, TaskState, YieldNow, all_tasks, call_soon,
    cancellable, create_eager_task, create_task, current_task, dump, run, set_exception_handler, shield, sleep,
    try_create_task, wait, yield_now,
};

#[doc(inline)]
pub use taskloop_core::{
    AsCompleted, Gather, GatherSettled, GroupJoin, TaskGroup, TaskGroupError, as_completed, gather, gather_settled,
    task_group,
};

#[doc(inline)]
pub use taskloop_core::{ConcurrentFuture, LoopHandle, Runner, run_embedded, tokio_handle};

#[doc(inline)]
pub use taskloop_callbacks::{Progress, ProgressTracker};

#[doc(inline)]
pub use taskloop_core::{Executor, Job, JobId, Refused, set_default_executor};

#[cfg(feature = "timing")]
#[cfg_attr(docsrs, doc(cfg(feature = "timing")))]
#[doc(inline)]
pub use taskloop_timing::{
    Delay, FollowUp, Instant, Timeout, TimeoutHandle, TimerHandle, call_at, call_later, delay, timeout, timeout_at,
    timeout_with, wait_for,
};

/// asyncio's queues and synchronization primitives, every wait a cancellation point (feature
/// `sync`, on by default): the `taskloop-sync` crate.
#[cfg(feature = "sync")]
#[cfg_attr(docsrs, doc(cfg(feature = "sync")))]
#[doc(inline)]
pub use taskloop_sync as sync;

#[cfg(feature = "offload")]
#[cfg_attr(docsrs, doc(cfg(feature = "offload")))]
#[doc(inline)]
pub use taskloop_offload::{
    BuildError, RunInExecutor, ThreadPool, ThreadPoolBuilder, ToThread, run_in_executor, to_thread,
};

#[cfg(feature = "cpu-pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "cpu-pool")))]
#[doc(inline)]
pub use taskloop_offload::CpuPool;

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
pub use taskloop_macros::{main, test};

#[cfg(feature = "macros")]
#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __macro_support;

/// The `indicatif` crate, for styling the bar a [`ProgressTracker`] feeds (feature `indicatif`).
#[cfg(feature = "indicatif")]
#[cfg_attr(docsrs, doc(cfg(feature = "indicatif")))]
pub use indicatif;

/// The names most programs use, in one import: `use taskloop::prelude::*;`.
///
/// The attributes stay out of it and are written in full, `#[taskloop::main]` and
/// `#[taskloop::test]`: a glob import of a `test` attribute would make every plain `#[test]`
/// in the importing module ambiguous.
pub mod prelude {
    #[cfg(feature = "timing")]
    #[doc(no_inline)]
    pub use crate::FollowUp;
    #[cfg(feature = "offload")]
    #[doc(no_inline)]
    pub use crate::to_thread;
    #[doc(no_inline)]
    pub use crate::{
        Cancelled, ReturnWhen, Task, TaskError, TaskRef, all_tasks, cancellable, create_task, current_task, run,
        shield, sleep, wait, yield_now,
    };
    #[doc(no_inline)]
    pub use crate::{TaskGroup, TaskGroupError, as_completed, gather, gather_settled, task_group};
}
