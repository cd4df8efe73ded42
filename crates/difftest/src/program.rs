//! The task programs both interpreters run, as read from JSON, and the exceptions they raise.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use taskloop::{Cancelled, TaskError};

/// One program: the ops of each task; task 0 is main, the others start when an op spawns them.
#[derive(Debug, Deserialize)]
pub(crate) struct Program {
    /// The body of each task, by index.
    pub(crate) tasks: Vec<Vec<Op>>,
}

/// One statement of a task body. `task` fields name a task by index.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Op {
    /// `create_task(body(task))`.
    Spawn { task: usize },
    /// `await asyncio.sleep(ms / 1000)`; 0 yields.
    Sleep { ms: u64 },
    /// `await task`.
    Await { task: usize },
    /// `task.cancel(msg)`, logging what it returned.
    Cancel { task: usize, msg: Option<String> },
    /// `try: body` / `except <catch>: log; raise if reraise`.
    Try { body: Vec<Op>, catch: Catch, reraise: bool },
    /// `task.uncancel()`, logging the count it returned.
    Uncancel { task: usize },
    /// `task.cancelling()`, logged.
    Cancelling { task: usize },
    /// `task.result()`, logged (never raises).
    Result { task: usize },
    /// `task.exception()`, logged (never raises).
    Exception { task: usize },
    /// `raise ValueError(error)`.
    Raise { error: String },
    /// `return value`.
    Return { value: i64 },
    /// `await asyncio.shield(task)`.
    Shield { task: usize },
    /// `await asyncio.wait_for(task, ms / 1000)`.
    WaitFor { task: usize, ms: u64 },
    /// `async with asyncio.timeout(ms / 1000): body`.
    Timeout { ms: u64, body: Vec<Op> },
    /// `await asyncio.gather(*tasks)`.
    Gather { tasks: Vec<usize> },
    /// `await asyncio.gather(*tasks, return_exceptions=True)`.
    GatherSettled { tasks: Vec<usize> },
    /// `await asyncio.wait(tasks, return_when=FIRST_COMPLETED if first else ALL_COMPLETED,
    /// timeout=timeout_ms / 1000)`.
    Wait { tasks: Vec<usize>, first: bool, timeout_ms: Option<u64> },
    /// `async with asyncio.TaskGroup() as tg:` creating `tasks` in it.
    TaskGroup { tasks: Vec<usize> },
    /// `for f in asyncio.as_completed(tasks): await f`, each outcome logged.
    AsCompleted { tasks: Vec<usize> },
    /// `task.add_done_callback(cb)`: `cb` logs, as `cb<id>`, the task's state.
    DoneCallback { task: usize, id: u32 },
    /// `loop.call_soon(cb)`: `cb` logs `ran` as `cb<id>`.
    CallSoon { id: u32 },
    /// `loop.call_later(ms / 1000, cb)`: `cb` logs `ran` as `cb<id>`.
    CallLater { ms: u64, id: u32 },
}

/// What a `try` op catches.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Catch {
    /// `except asyncio.CancelledError`.
    Cancelled,
    /// `except Exception`: everything but a cancellation.
    Error,
    /// `except BaseException`.
    Any,
}

impl Catch {
    /// Whether `except` of this kind catches `exc`.
    pub(crate) fn catches(self, exc: &Exc) -> bool {
        match self {
            Catch::Cancelled => matches!(exc, Exc::Cancelled(_)),
            Catch::Error => !matches!(exc, Exc::Cancelled(_)),
            Catch::Any => true,
        }
    }
}

/// An exception travelling through an interpreted body, written as the Python side writes it.
#[derive(Debug, Clone)]
pub(crate) enum Exc {
    /// `CancelledError(message)`.
    Cancelled(Option<Arc<str>>),
    /// `ValueError(name)`, from a `raise` op.
    Error(String),
    /// `TimeoutError`.
    Timeout,
    /// `InvalidStateError`.
    InvalidState,
    /// A `TaskGroup`'s exception group.
    Group(Vec<Exc>),
    /// Anything else (a panic, an error of taskloop's own), by its message.
    Other(String),
}

impl Exc {
    /// How a `TaskError` reads as an exception.
    pub(crate) fn from_task_error(error: &TaskError) -> Exc {
        match error {
            TaskError::Cancelled(cancelled) => Exc::from(cancelled),
            TaskError::Timeout => Exc::Timeout,
            TaskError::InvalidState => Exc::InvalidState,
            TaskError::Failed(error) => match error.downcast_ref::<Raised>() {
                Some(Raised(exc)) => exc.clone(),
                None => Exc::Other(error.to_string()),
            },
            other => Exc::Other(other.to_string()),
        }
    }

    /// The error a body returns to raise this: a cancellation stays a `Cancelled` and a time-out
    /// a `TaskError::Timeout`, so that taskloop classifies them as it would a user's.
    pub(crate) fn into_anyhow(self) -> anyhow::Error {
        match self {
            Exc::Cancelled(message) => Cancelled::from_message(message).into(),
            Exc::Timeout => TaskError::Timeout.into(),
            other => Raised(other).into(),
        }
    }
}

impl From<&Cancelled> for Exc {
    fn from(cancelled: &Cancelled) -> Exc {
        Exc::Cancelled(cancelled.message_arc().cloned())
    }
}

impl fmt::Display for Exc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exc::Cancelled(message) => write!(f, "Cancelled({})", message.as_deref().unwrap_or("")),
            Exc::Error(name) => write!(f, "Error({name})"),
            Exc::Timeout => f.write_str("Timeout"),
            Exc::InvalidState => f.write_str("InvalidState"),
            Exc::Group(errors) => {
                f.write_str("Group(")?;
                for (i, error) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{error}")?;
                }
                f.write_str(")")
            }
            Exc::Other(message) => write!(f, "Other({message})"),
        }
    }
}

/// An exception raised by a body, carried through taskloop as the body's error.
#[derive(Debug)]
struct Raised(Exc);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Raised {}
