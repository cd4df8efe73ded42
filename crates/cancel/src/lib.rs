//! asyncio-style cancellation as plain Rust: the [`Cancelled`] error, the per-task
//! [`CancelState`], and the [`cancellable`] and [`shield`] building blocks.
//!
//! In asyncio, `task.cancel()` throws `CancelledError` into the coroutine at its next `await`.
//! Rust futures cannot have errors thrown into them, so taskloop delivers a cancellation at
//! *cancellation points*: futures that, when polled inside a task with an undelivered cancel
//! request, take the request and resolve to `Err(Cancelled)`. This crate holds the pieces of
//! that protocol that need no runtime:
//!
//! - [`Cancelled`], the error a cancellation point resolves to. It converts into
//!   `anyhow::Error` and back (`err.downcast_ref::<Cancelled>()`), so `?` carries it out of any
//!   task body.
//! - [`CancelState`], the bookkeeping asyncio keeps per task (`cancelling()`, `uncancel()`,
//!   the message of the latest request, delivered-once), with the rule that a finished task
//!   accepts no more requests.
//! - The *current scope*: the task whose body is being polled on this thread, installed by the
//!   runtime with [`swap`], and read by [`take_current`], [`cancellable`] and [`shield`].
//!
//! It never names tokio; `taskloop-core` builds tasks on top of it.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use taskloop::{create_task, sleep, cancellable};
//!
//! # fn main() -> Result<(), taskloop::TaskError> {
//! taskloop::run(async {
//!     // Any future becomes a cancellation point with `cancellable`.
//!     let task = create_task(async {
//!         cancellable(std::future::pending::<()>()).await?;
//!         anyhow::Ok(())
//!     });
//!     sleep(Duration::from_millis(1)).await?;
//!     task.cancel_with("enough");
//!     let outcome = (&task).await;
//!     assert_eq!(outcome.unwrap_err().cancel_message(), Some("enough"));
//!     anyhow::Ok(())
//! })
//! # }
//! ```

#![doc(test(attr(deny(warnings))))]

mod error;
mod scope;
mod state;

pub use error::Cancelled;
pub use scope::{
    CancelScope, Cancellable, Masked, PointWaker, ScopeSlot, Shield, cancellable, is_masked, mask, shield, swap,
    swap_in, take_current, with_current_scope,
};
pub use state::CancelState;
