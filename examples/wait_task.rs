//! Seed 24.2 "How to wait for a task to finish?": await the task, or create and await it in
//! one line.

use std::time::Duration;

use taskloop::prelude::*;

async fn custom_coro(name: &'static str) -> anyhow::Result<()> {
    println!("{name}: running");
    sleep(Duration::from_millis(100)).await?;
    println!("{name}: done");
    Ok(())
}

#[taskloop::main]
async fn main() -> anyhow::Result<()> {
    println!("main coroutine started");
    // wait for the task to finish
    let task = create_task(custom_coro("first task"));
    task.await?;
    println!("main: the first task is finished");
    // create and wait for the task to finish, in one line
    create_task(custom_coro("second task")).await?;
    println!("main coroutine done");
    Ok(())
}
