//! Seed 24.4 "How to run a task in the background?": create it, let it start by sleeping for
//! zero seconds, carry on, and await it when there is nothing left to do.

use std::time::Duration;

use taskloop::prelude::*;

async fn other_coroutine() -> anyhow::Result<()> {
    println!("background: started");
    sleep(Duration::from_millis(100)).await?;
    println!("background: finished");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    taskloop::run(async {
        println!("main: scheduling the task");
        let task = create_task(other_coroutine());
        println!("main: the task has not started yet (done: {})", task.done());
        // suspend for a moment to allow the task to start running
        sleep(Duration::ZERO).await?;
        println!("main: doing other things while the task runs");
        // wait for the task to complete
        task.await?;
        println!("main: done");
        anyhow::Ok(())
    })?;
    Ok(())
}
