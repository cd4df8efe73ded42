//! The asyncio docs' "Terminating a Task Group" recipe: a task that fails on purpose stops
//! the group, and the caller ignores that one failure (`except* TerminateTaskGroup`).
//!
//! The Python original (`Doc/library/asyncio-task.rst`), whose output this prints:
//!
//! ```python
//! class TerminateTaskGroup(Exception):
//!     """Exception raised to terminate a task group."""
//!
//! async def force_terminate_task_group():
//!     """Used to force termination of a task group."""
//!     raise TerminateTaskGroup()
//!
//! async def job(task_id, sleep_time):
//!     print(f'Task {task_id}: start')
//!     await asyncio.sleep(sleep_time)
//!     print(f'Task {task_id}: done')
//!
//! async def main():
//!     try:
//!         async with TaskGroup() as group:
//!             # spawn some tasks
//!             group.create_task(job(1, 0.5))
//!             group.create_task(job(2, 1.5))
//!             # sleep for 1 second
//!             await asyncio.sleep(1)
//!             # add an exception-raising task to force the group to terminate
//!             group.create_task(force_terminate_task_group())
//!     except* TerminateTaskGroup:
//!         pass
//!
//! asyncio.run(main())
//! ```

use std::time::Duration;

use taskloop::prelude::*;

/// Exception raised to terminate a task group.
#[derive(Debug, thiserror::Error)]
#[error("terminate the task group")]
struct TerminateTaskGroup;

/// Used to force termination of a task group.
async fn force_terminate_task_group() -> anyhow::Result<()> {
    Err(TerminateTaskGroup.into())
}

async fn job(task_id: u32, sleep_time: Duration) -> anyhow::Result<()> {
    println!("Task {task_id}: start");
    sleep(sleep_time).await?;
    println!("Task {task_id}: done");
    Ok(())
}

#[taskloop::main]
async fn main() -> anyhow::Result<()> {
    let outcome = task_group(|group| async move {
        // spawn some tasks
        group.create_task(job(1, Duration::from_millis(500)));
        group.create_task(job(2, Duration::from_millis(1500)));
        // sleep for 1 second
        sleep(Duration::from_secs(1)).await?;
        // add an exception-raising task to force the group to terminate
        group.create_task(force_terminate_task_group());
        anyhow::Ok(())
    })
    .await;
    // except* TerminateTaskGroup: pass — any other failure goes on up.
    if let Err(error) = outcome
        && (error.find::<TerminateTaskGroup>().is_none() || error.len() > 1 || error.is_cancelled())
    {
        return Err(error.into());
    }
    Ok(())
}
