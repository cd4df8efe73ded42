//! asyncio-style cancellation as plain Rust: the [`Cancelled`] error, the per-task
//! [`CancelState`], the [`PointWaker`] every cancellation point carries, and the
//! [`cancellable`] and [`shield`] building blocks.
//!
//! In asyncio, `task.cancel()` throws `CancelledError` into the coroutine at the `await` it is
//! suspended in. taskloop keeps the rule — **a cancel request is delivered at the task's
//! current await** — though Rust futures cannot have errors thrown into them:
//!
//! - If the body is awaiting a *cancellation point* (a future that, polled inside a task with
//!   an undelivered request, takes the request: `sleep`, awaiting a task, `gather`,
//!   [`cancellable`], [`shield`], …), the point resolves to `Err(Cancelled)` carrying the
//!   message. The body may let `?` carry it out, or catch it, `uncancel`, and go on.
//! - If the body is suspended only in futures that are not cancellation points (a tokio
//!   channel, lock or socket, `std::future::pending()`: a poll of the body returned `Pending`
//!   with the request pending and no point took it), the runtime drops the body right there.
//!   Its `Drop` guards run, as asyncio's `finally:` blocks do, and the task ends cancelled
//!   with the message, as if `Err(Cancelled)` had propagated out of the body.
//!
//! This crate holds the pieces of that protocol that need no runtime (ending a body at a
//! foreign await is `taskloop-core`'s part):
//!
//! - [`Cancelled`], the error a cancellation point resolves to and a cancelled task ends with.
//!   It converts into `anyhow::Error` and back (`err.downcast_ref::<Cancelled>()`), so `?`
//!   carries it out of any task body.
//! - [`CancelState`], the bookkeeping asyncio keeps per task (`cancelling()`, `uncancel()`,
//!   the pending request's message, delivered-once, handed to the await once the task
//!   suspends), with the rule that a finished task accepts no more requests.
//! - The *current scope*: the task whose body is being polled on this thread, installed by the
//!   runtime (`taskloop-core`) for each poll of the body, and read by the points.
//! - [`PointWaker`], what every cancellation point keeps between polls: it takes a pending
//!   request at each poll, and when the point is polled inside a combinator that re-polls only
//!   woken children (`FuturesUnordered`, `select` over streams, `join_all`), it has the task
//!   keep that waker so that `cancel()` wakes the point itself. Such a point therefore still
//!   delivers a catchable `Err(Cancelled)`, rather than the body being dropped around it.
//! - [`cancellable`], which makes any future a cancellation point: how a body chooses to
//!   *catch* a cancellation at a foreign await instead of being dropped there.
//! - [`shield`], which stops a request from going down into the future it protects (the
//!   `Shield` itself resolves to `Err(Cancelled)` for the awaiting task).
//! - [`BlockScope`], the scope a block inside a task runs under once something cancelled the
//!   block itself (a `Timeout`'s deadline, a scoped `TaskGroup`'s failing child).
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
//!     // A foreign await made a cancellation point: the body catches the request there.
//!     let task = create_task(async {
//!         match cancellable(std::future::pending::<()>()).await {
//!             Ok(()) => anyhow::Ok("finished".to_owned()),
//!             Err(cancelled) => anyhow::Ok(format!("caught: {cancelled}")),
//!         }
//!     });
//!     sleep(Duration::from_millis(1)).await?;
//!     task.cancel_with("enough");
//!     assert_eq!((&task).await?, "caught: cancelled: enough", "caught, so the task completes");
//!
//!     // The same await without `cancellable`: the body is dropped there, and the task ends
//!     // cancelled with the message.
//!     let task = create_task(async {
//!         std::future::pending::<()>().await;
//!         anyhow::Ok("finished")
//!     });
//!     sleep(Duration::from_millis(1)).await?;
//!     task.cancel_with("enough");
//!     assert_eq!((&task).await.unwrap_err().cancel_message(), Some("enough"));
//!     anyhow::Ok(())
//! })
//! # }
//! ```

#![doc(test(attr(deny(warnings))))]

mod block;
mod error;
mod scope;
mod state;

pub use block::{BlockCancel, BlockScope};
pub use error::Cancelled;
pub use scope::{Cancellable, PointWaker, Shield, cancellable, shield};
pub(crate) use scope::{is_masked, swap};

/// The runtime's side of the protocol, for `taskloop-core` (and the crates built on it): how a
/// task is installed as the current scope around each poll of its body, read back, and how a
/// request is passed on to what the task awaits. A program never calls these; they are hidden
/// from the documentation.
#[doc(hidden)]
pub use scope::{
    CancelScope, Forward, ScopeSlot, end_forward, forward_to, note_bare_yield, note_wake, step_mark, swap_in, swap_out,
    take_current, wake_mark, with_current_scope,
};
pub use state::CancelState;
