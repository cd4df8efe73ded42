//! Seed 24.3 "How to get a return value from a task?": await it (as often as you like), or
//! call `result()` once it is done.

use std::time::Duration;

use taskloop::prelude::*;

/// A coroutine that returns a value.
async fn other_coro() -> anyhow::Result<u32> {
    sleep(Duration::from_millis(100)).await?;
    Ok(100)
}

#[taskloop::main]
async fn main() -> anyhow::Result<()> {
    let task = create_task(other_coro());
    // result() before the task is done is an error, not a wait
    if let Err(e) = task.result() {
        println!("result() before done: {e}");
    }
    let value = (&task).await?;
    println!("awaited: {value}");
    // unlike a coroutine, a task can be awaited again
    let value = (&task).await?;
    println!("awaited again: {value}");
    println!("result(): {}", task.result()?);

    let cancelled = create_task(other_coro());
    sleep(Duration::ZERO).await?;
    cancelled.cancel();
    let _ = (&cancelled).await;
    if let Err(e) = cancelled.result() {
        println!("result() of a cancelled task: {e} (is_cancelled: {})", e.is_cancelled());
    }
    Ok(())
}
