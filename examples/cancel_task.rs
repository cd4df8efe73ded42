//! Seed 24.1 "How to stop a task?": cancel a running task and check that it ended cancelled.

use std::time::Duration;

use taskloop::prelude::*;

/// The task: reports a message, then blocks for a moment.
async fn task_coroutine() -> anyhow::Result<()> {
    println!("executing the task");
    sleep(Duration::from_secs(1)).await?;
    Ok(())
}

#[taskloop::main]
async fn main() -> anyhow::Result<()> {
    println!("main coroutine started");
    let task = create_task(task_coroutine());
    sleep(Duration::from_millis(100)).await?;
    let was_cancelled = task.cancel();
    println!("was canceled: {was_cancelled}");
    sleep(Duration::from_millis(100)).await?;
    println!("canceled: {}", task.cancelled());
    println!("main coroutine done");
    Ok(())
}
