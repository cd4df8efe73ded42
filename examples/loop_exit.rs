//! Seed 24.6 "Does a running task stop the event loop from exiting?" No: when main ends, the
//! loop cancels what is still running (and waits for it to handle the cancellation).

use std::time::Duration;

use taskloop::prelude::*;

async fn background() -> anyhow::Result<()> {
    println!("background task started");
    match sleep(Duration::from_secs(5)).await {
        Ok(()) => println!("background task done"),
        Err(cancelled) => {
            println!("background task cancelled: the loop is exiting");
            return Err(cancelled.into());
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    taskloop::run(async {
        println!("main started");
        let _task = create_task(background());
        sleep(Duration::from_millis(100)).await?;
        println!("main done");
        anyhow::Ok(())
    })?;
    println!("loop exited (without waiting 5 seconds: {})", started.elapsed() < Duration::from_secs(5));
    Ok(())
}
