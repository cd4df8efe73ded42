//! The asyncio docs' `Timeout.reschedule` example: the deadline is not known when the block
//! starts, so the block is entered with none and sets it from inside.
//!
//! The Python original (`Doc/library/asyncio-task.rst`, with a `long_running_task` and a
//! deadline of 0.1 s so it runs quickly), whose output this prints:
//!
//! ```python
//! async def long_running_task():
//!     print("long_running_task: started")
//!     await asyncio.sleep(3600)
//!     print("long_running_task: done")
//!
//! async def main():
//!     try:
//!         # We do not know the timeout when starting, so we pass ``None``.
//!         async with asyncio.timeout(None) as cm:
//!             print(f"deadline at first: {cm.when()}")
//!             # We know the timeout now, so we reschedule it.
//!             new_deadline = get_running_loop().time() + 0.1
//!             cm.reschedule(new_deadline)
//!             print("deadline set" if cm.when() is not None else "no deadline")
//!
//!             await long_running_task()
//!     except TimeoutError:
//!         print("TimeoutError")
//!
//!     if cm.expired():
//!         print("Looks like we haven't finished on time.")
//! ```

use std::time::Duration;

use taskloop::prelude::*;
use taskloop::{Instant, TaskError, timeout_with};

async fn long_running_task() -> anyhow::Result<()> {
    println!("long_running_task: started");
    sleep(Duration::from_secs(3600)).await?;
    println!("long_running_task: done");
    Ok(())
}

#[taskloop::main]
async fn main() -> anyhow::Result<()> {
    // We do not know the timeout when starting, so we pass `None`.
    let block = timeout_with(None, |cm| async move {
        println!("deadline at first: {:?}", cm.when().map(|_| "set"));
        // We know the timeout now, so we reschedule it.
        let new_deadline = Instant::now() + Duration::from_millis(100);
        cm.reschedule(Some(new_deadline));
        println!("{}", if cm.when().is_some() { "deadline set" } else { "no deadline" });

        long_running_task().await
    });
    let cm = block.handle();
    match block.await {
        Err(TaskError::Timeout) => println!("TimeoutError"),
        other => other?,
    }

    if cm.expired() {
        println!("Looks like we haven't finished on time.");
    }
    Ok(())
}
