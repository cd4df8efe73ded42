//! The task programs of the differential test, as JSON: written by `cargo xtask difftest`'s
//! generator, read by both interpreters (this crate's binary and `asyncio_interp.py`).

use serde::{Deserialize, Serialize};

/// One program: the ops of each task; task 0 is main, the others start when an op spawns them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// The body of each task, by index.
    pub tasks: Vec<Vec<Op>>,
}

/// One statement of a task body. `task` fields name a task by index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[allow(missing_docs, reason = "each variant's doc says what its fields are, in asyncio's words")]
pub enum Op {
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Catch {
    /// `except asyncio.CancelledError`.
    Cancelled,
    /// `except Exception`: everything but a cancellation.
    Error,
    /// `except BaseException`.
    Any,
}

impl Op {
    /// The one task this op names, if it names one (`spawn`, `await`, `cancel`, …): for the
    /// minimiser, which renumbers tasks, and the interpreter, which looks the task up.
    pub fn task_mut(&mut self) -> Option<&mut usize> {
        match self {
            Op::Spawn { task }
            | Op::Await { task }
            | Op::Cancel { task, .. }
            | Op::Uncancel { task }
            | Op::Cancelling { task }
            | Op::Result { task }
            | Op::Exception { task }
            | Op::Shield { task }
            | Op::WaitFor { task, .. }
            | Op::DoneCallback { task, .. } => Some(task),
            _ => None,
        }
    }
}
