//! Time for taskloop tasks: running work after a delay, timer callbacks, limiting how long
//! something may take, and follow-up tasks.
//!
//! - [`delay`] — the seed's `delay(coro, seconds)` (question 24.8): sleep, then await.
//! - [`call_later`], [`call_at`] → [`TimerHandle`] — asyncio's `loop.call_later()` and
//!   `loop.call_at()`: callbacks run on the loop at a time, in the order scheduled.
//! - [`wait_for`], [`timeout`], [`timeout_at`] — asyncio's `wait_for()`, `timeout()` and
//!   `timeout_at()` with Python 3.12's rules: the work is cancelled and awaited when the time
//!   runs out, and ends in `TaskError::Timeout` only if it ended cancelled. [`timeout_with`]
//!   hands the block a [`TimeoutHandle`] (`when`, `reschedule`, `expired`).
//! - [`FollowUp`] — `task.then(f)` and `task.and_then(f)`: a follow-up task started with the
//!   first one's outcome (question 24.9).
//!
//! Everything here is built from `taskloop-core`'s public API: timers are one queue per loop
//! (kept with `loop_state`) feeding the loop's `call_soon` queue, and timeouts cancel the
//! current task as asyncio's do. Time is tokio's ([`Instant`] is `tokio::time::Instant`), so a
//! loop started with paused time (`Builder::start_paused`) runs all of this instantly and
//! deterministically. Most programs use these through the `taskloop` facade.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use taskloop::prelude::*;
//! use taskloop::{delay, wait_for, Runtime, TaskError};
//!
//! # fn main() -> anyhow::Result<()> {
//! Runtime::builder().start_paused(true).build()?.run(async {
//!     // Run work after a delay, as its own task, and follow it up.
//!     let fetch = create_task(delay(async { anyhow::Ok(3) }, Duration::from_secs(2)));
//!     let doubled = fetch.and_then(|n| async move { anyhow::Ok(n * 2) });
//!
//!     // Give it one second: too little. The task is cancelled and `wait_for` times out.
//!     let outcome = wait_for(&fetch, Duration::from_secs(1)).await;
//!     assert!(matches!(outcome, Err(TaskError::Timeout)));
//!     assert!(fetch.cancelled());
//!     assert!(doubled.await.unwrap_err().is_cancelled(), "and_then passes the cancellation on");
//!     anyhow::Ok(())
//! })?;
//! # Ok(())
//! # }
//! ```

#![doc(test(attr(deny(warnings))))]

mod delay;
mod follow_up;
mod timeout;
mod timer;

pub use delay::{Delay, delay};
pub use follow_up::FollowUp;
pub use timeout::{Timeout, TimeoutHandle, timeout, timeout_at, timeout_with, wait_for};
pub use timer::{TimerHandle, call_at, call_later};
pub use tokio::time::Instant;
