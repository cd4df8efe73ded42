//! Seed 24.8 "How to run a task after a delay?": `delay(coro, seconds)` sleeps, then awaits
//! the work. Used both ways the seed shows: awaited directly, and run independently as a task.

use std::time::Duration;

use taskloop::delay;
use taskloop::prelude::*;

/// The work to run after the delay.
async fn work(name: &'static str) -> anyhow::Result<&'static str> {
    println!(">{name} running");
    sleep(Duration::from_millis(10)).await?;
    println!(">{name} done");
    Ok(name)
}

fn main() -> anyhow::Result<()> {
    taskloop::run(async {
        println!("main coroutine started");

        // await delay(coro, 0.1): the caller suspends until the delayed work is done.
        println!("awaiting delay(work(), 0.1) directly");
        let value = delay(work("direct"), Duration::from_millis(100)).await?;
        println!("delay returned {value:?}");

        // _ = asyncio.create_task(delay(coro, 0.1)): the caller goes on at once.
        println!("scheduling delay(work(), 0.1) as its own task");
        let task = create_task(delay(work("independent"), Duration::from_millis(100)));
        println!("main is free while the task waits: done={}", task.done());
        let value = task.await?;
        println!("the task returned {value:?}");

        // Cancelled during its sleep, the delayed work never starts.
        let cancelled = create_task(delay(work("never"), Duration::from_secs(10)));
        sleep(Duration::from_millis(10)).await?;
        cancelled.cancel();
        let outcome = (&cancelled).await;
        println!("cancelled during the delay: {}", outcome.is_err() && cancelled.cancelled());

        println!("main coroutine done");
        anyhow::Ok(())
    })?;
    Ok(())
}
