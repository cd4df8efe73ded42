//! `dump()`: a readable table of the loop's live tasks, for hunting leaks and hangs.

use std::fmt;
use std::sync::Arc;

use crate::context;
use crate::task::{TaskId, TaskState};

/// One live task in a [`TaskDump`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// The task's name.
    pub name: Arc<str>,
    /// [`TaskState::Pending`], or [`TaskState::Cancelling`] while a cancel request waits for
    /// delivery.
    pub state: TaskState,
    /// `cancelling()`: cancel requests not withdrawn.
    pub cancel_requests: usize,
    /// How long ago it was created, on the loop's clock (millisecond resolution; paused time
    /// applies), if the loop tracks ages (`Builder::track_task_ages`).
    pub age: Option<std::time::Duration>,
    /// The task it is suspended awaiting, when it awaits a task (`Task`/`TaskRef`);
    /// `None` when it waits on anything else (a timer, a channel, ...), or runs.
    pub awaiting: Option<TaskId>,
}

/// The live tasks of a loop, as [`dump`] saw them: print it for a table.
#[derive(Debug, Clone)]
pub struct TaskDump {
    /// The tasks, by id.
    pub tasks: Vec<TaskInfo>,
}

/// A snapshot of the running loop's live tasks: id, name, state, cancel requests, age and the
/// task each one awaits, as tokio users ask of their runtime (tokio-rs/tokio#5180) and
/// asyncio users get from `asyncio.all_tasks()` plus `Task.print_stack()`.
///
/// "Awaits" is known when a task awaits another task; ages when the loop was built with
/// [`Builder::track_task_ages`](crate::Builder::track_task_ages) (`-` otherwise).
///
/// # Panics
///
/// Outside a running loop.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{TaskBuilder, dump, sleep, yield_now};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let sleeper = TaskBuilder::new().name("sleeper").spawn(async {
///         sleep(Duration::from_secs(60)).await?;
///         anyhow::Ok(())
///     });
///     let waiter = TaskBuilder::new().name("waiter").spawn(sleeper.clone());
///     yield_now().await?;
///     let snapshot = dump();
///     let waiter_row = snapshot.tasks.iter().find(|t| &*t.name == "waiter").unwrap();
///     assert_eq!(waiter_row.awaiting, Some(sleeper.id()));
///     println!("{snapshot}");
///     waiter.cancel();
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn dump() -> TaskDump {
    let loop_ = context::current_loop().expect("dump() needs a running taskloop loop on this thread");
    let mut live = loop_.registry.snapshot_with_ages();
    // Eager tasks in their first step, created just now.
    let age = loop_.registry.tracks_ages().then_some(std::time::Duration::ZERO);
    live.extend(crate::task::eager::in_first_step(&loop_).into_iter().map(|t| (t, age)));
    let live_ids: std::collections::HashSet<TaskId> = live.iter().map(|(t, _)| t.id()).collect();
    let mut tasks: Vec<TaskInfo> = live
        .into_iter()
        .map(|(task, age)| {
            let header = task.header();
            let (cancel_requests, awaiting) = header.diagnostics();
            TaskInfo {
                id: task.id(),
                name: task.name(),
                state: header.state(),
                cancel_requests,
                age,
                // Recorded when an await suspended; true while the awaited task is live.
                awaiting: awaiting.map(TaskId::from_u64).filter(|id| live_ids.contains(id)),
            }
        })
        .collect();
    tasks.sort_by_key(|t| t.id);
    TaskDump { tasks }
}

impl fmt::Display for TaskDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.tasks.iter().map(|t| t.name.len()).max().unwrap_or(0).max(4);
        writeln!(f, "{:>6}  {:<width$}  {:<10}  {:>6}  {:>9}  awaiting", "id", "name", "state", "cancel", "age")?;
        for t in &self.tasks {
            let awaiting = t.awaiting.map_or_else(|| "-".to_owned(), |id| format!("task {id}"));
            let age = t.age.map_or_else(|| "-".to_owned(), |age| format!("{:.3}s", age.as_secs_f64()));
            writeln!(
                f,
                "{:>6}  {:<width$}  {:<10}  {:>6}  {age:>9}  {awaiting}",
                t.id, t.name, t.state, t.cancel_requests
            )?;
        }
        write!(f, "{} live task(s)", self.tasks.len())
    }
}
