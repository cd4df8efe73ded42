//! The taskloop event loop on tokio and asyncio's `Task`: cancel with a message, many
//! awaiters, `result()` that says "not done yet", done callbacks, and a loop that cancels
//! what is left when main ends.
//!
//! This crate is usable on its own; most users depend on the `taskloop` facade, which
//! re-exports it with the timing and offload crates. See the facade's documentation for the
//! guided tour, and `ARCHITECTURE.md` for how the pieces fit.
//!
//! # Examples
//!
//! The seed's first question, "how to stop a task?":
//!
//! ```
//! use std::time::Duration;
//! use taskloop_core::{create_task, run, sleep};
//!
//! # fn main() -> Result<(), taskloop_core::TaskError> {
//! run(async {
//!     let task = create_task(async {
//!         sleep(Duration::from_secs(1)).await?;
//!         anyhow::Ok(())
//!     });
//!     sleep(Duration::from_millis(10)).await?;
//!     assert!(task.cancel(), "was canceled");
//!     sleep(Duration::from_millis(10)).await?;
//!     assert!(task.cancelled());
//!     anyhow::Ok(())
//! })
//! # }
//! ```
//!
//! # Cancellation
//!
//! A cancel request ([`Task::cancel`], [`Task::cancel_with`]) is delivered once, at the
//! task's current await. At a cancellation point — [`sleep`], [`yield_now`], awaiting a
//! [`Task`] or [`TaskRef`], [`wait`], [`gather`], [`gather_settled`], [`as_completed`],
//! [`TaskGroup::join`], [`shield`], [`cancellable`] — the await resolves to `Err(Cancelled)`
//! carrying the message, and the body may catch it. Where the body is suspended only in other
//! futures (a tokio channel, lock or socket, a raw `JoinHandle`), the body is dropped there:
//! its `Drop` guards run and the task ends cancelled with the message, as if the
//! `Err(Cancelled)` had propagated out of it. The same holds wherever the loop cancels —
//! [`TaskGroup`] siblings after a failure, the children of a cancelled [`gather`], and the
//! tasks [`run`] cancels when main ends — so none of them hangs on a foreign await.
//! [`Task::abort`] drops the body without a message and without waiting for an await.

#![doc(test(attr(deny(warnings))))]

mod context;
mod ctrl_c;
mod dump;
mod embed;
mod error;
mod event_loop;
mod executor;
mod gather;
mod group;
mod group_error;
mod group_scope;
mod runner;
mod runtime;
mod spawn;
mod sync;
mod task;
mod threadsafe;
mod time;
mod wait;

pub use context::{all_tasks, current_task};
pub use dump::{TaskDump, TaskInfo, dump};
pub use embed::run_embedded;
pub use error::TaskError;
pub use event_loop::Handle;
pub use executor::{Executor, Job, JobId, Refused};
pub use gather::{AsCompleted, Gather, GatherSettled, as_completed, gather, gather_settled};
pub use group::{GroupJoin, TaskGroup};
pub use group_error::TaskGroupError;
pub use group_scope::task_group;
pub use runner::Runner;
pub use runtime::{
    Builder, ExceptionContext, Runtime, call_soon, run, set_default_executor, set_exception_handler, tokio_handle,
};
pub use spawn::{SpawnError, TaskBuilder, create_eager_task, create_task, try_create_task};
pub use task::{Join, Task, TaskId, TaskRef, TaskState};
pub use taskloop_callbacks::CallbackId;
pub use taskloop_cancel::{Cancelled, cancellable, shield};
pub use threadsafe::{ConcurrentFuture, LoopHandle};
pub use time::{Sleep, YieldNow, sleep, yield_now};
pub use wait::{ReturnWhen, wait};

/// What the crates built on the loop (`taskloop-timing`, `taskloop-offload`) need of it and a
/// program never calls: per-loop state, services that run with the loop, and the lazily made
/// default executor. Hidden from the documentation; not part of the API users rely on.
#[doc(hidden)]
pub mod rt {
    pub use crate::embed::spawn_loop_service;
    pub use crate::runtime::{default_executor_or_init, loop_state};
}
