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
//! # Where things are
//!
//! - **Tasks** — [`create_task`], [`TaskBuilder`], [`Task`], [`TaskRef`], [`current_task`],
//!   [`all_tasks`], [`TaskError`], [`Cancelled`].
//! - **Cancellation** — [`Task::cancel`], [`cancellable`], [`shield`], [`Task::abort`].
//! - **The loop** — [`run`], [`Runtime`], [`Builder`], [`sleep`], [`yield_now`],
//!   [`call_soon`], [`set_exception_handler`].
//! - **Waiting for many** — [`wait`], [`ReturnWhen`], [`gather`], [`gather_settled`],
//!   [`as_completed`], [`TaskGroup`].
//! - **Done callbacks** — [`Task::add_done_callback`], [`CallbackId`], [`ProgressTracker`].
//! - **Time** — [`delay`], [`call_later`], [`call_at`], [`TimerHandle`], [`wait_for`],
//!   [`timeout`], [`timeout_at`], [`Instant`], and follow-up tasks with [`FollowUp`]
//!   (`then`, `and_then`).
//! - **Offload** (blocking and CPU work) — [`to_thread`], [`run_in_executor`], [`ThreadPool`],
//!   [`ThreadPoolBuilder`], [`CpuPool`], [`Executor`], [`set_default_executor`],
//!   [`Builder::default_executor`], [`Builder::shutdown_timeout`].

#[doc(inline)]
pub use taskloop_core::{
    Builder, CallbackId, Cancelled, ExceptionContext, Handle, Join, ReturnWhen, Runtime, Sleep, SpawnError, Task,
    TaskBuilder, TaskError, TaskId, TaskRef, YieldNow, all_tasks, call_soon, cancellable, create_eager_task,
    create_task, current_task, run, set_exception_handler, shield, sleep, try_create_task, wait, yield_now,
};

#[doc(inline)]
pub use taskloop_core::{
    AsCompleted, Gather, GatherSettled, GroupJoin, TaskGroup, as_completed, gather, gather_settled,
};

#[doc(inline)]
pub use taskloop_callbacks::{Progress, ProgressTracker};

#[doc(inline)]
pub use taskloop_timing::{
    Delay, FollowUp, Instant, Timeout, TimerHandle, call_at, call_later, delay, timeout, timeout_at, wait_for,
};

#[doc(inline)]
pub use taskloop_offload::{
    BuildError, CpuPool, Executor, Job, JobId, Refused, RunInExecutor, ThreadPool, ThreadPoolBuilder, ToThread,
    run_in_executor, set_default_executor, to_thread,
};

/// The `indicatif` crate, for styling the bar a [`ProgressTracker`] feeds (feature `indicatif`).
#[cfg(feature = "indicatif")]
pub use indicatif;

/// The names most programs use, in one import: `use taskloop::prelude::*;`.
pub mod prelude {
    #[doc(no_inline)]
    pub use crate::FollowUp;
    #[doc(no_inline)]
    pub use crate::to_thread;
    #[doc(no_inline)]
    pub use crate::{
        Cancelled, ReturnWhen, Task, TaskError, TaskRef, all_tasks, cancellable, create_task, current_task, run,
        shield, sleep, wait, yield_now,
    };
    #[doc(no_inline)]
    pub use crate::{TaskGroup, as_completed, gather, gather_settled};
}
