//! Bounded concurrency with asyncio's `Semaphore`: at most 3 fetches in flight, one fetch
//! cancelled while it waits for a permit (it loses nothing, holds nothing).
//!
//! The asyncio program it mirrors:
//!
//! ```python
//! sem = asyncio.Semaphore(3)
//! async def fetch(i):
//!     async with sem:                      # waits here while 3 fetches are in flight
//!         await asyncio.sleep(0.02)        # the request
//!         return f"page {i}"
//! tasks = [asyncio.create_task(fetch(i)) for i in range(8)]
//! await asyncio.sleep(0); tasks[7].cancel()
//! results = await asyncio.gather(*tasks, return_exceptions=True)
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskloop::prelude::*;
use taskloop::sync::Semaphore;

fn main() -> anyhow::Result<()> {
    taskloop::run(async {
        let sem = Semaphore::new(3);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let fetches: Vec<_> = (0..8)
            .map(|i| {
                let (sem, in_flight, most) = (sem.clone(), in_flight.clone(), most.clone());
                create_task(async move {
                    let _permit = sem.acquire().await?; // async with sem:
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    sleep(Duration::from_millis(20)).await?;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    anyhow::Ok(format!("page {i}"))
                })
            })
            .collect();
        yield_now().await?; // every fetch has started: 3 hold a permit, 5 wait
        println!("in flight: {}, semaphore locked: {}", in_flight.load(Ordering::SeqCst), sem.locked());
        fetches[7].cancel_with("not needed any more");

        for (i, outcome) in gather_settled(fetches).await?.into_iter().enumerate() {
            match outcome {
                Ok(page) => println!("fetch {i}: {page}"),
                Err(err) => println!("fetch {i}: {err}"),
            }
        }
        println!("most in flight at once: {}", most.load(Ordering::SeqCst));
        println!("permits free at the end: {} of 3", sem.value());
        anyhow::Ok(())
    })?;
    Ok(())
}
