//! Task names where tools can see them: `taskloop::dump()` prints the live tasks, and under
//! tokio's unstable instrumentation each tokio task carries the taskloop task's name, so
//! tokio-console lists `fetch-user`, not an anonymous future.
//!
//! To watch it in tokio-console, add `console-subscriber` to your program, call
//! `console_subscriber::init()` first thing in main, and build with
//! `RUSTFLAGS="--cfg tokio_unstable" cargo run --example console`; then run `tokio-console`.

use std::time::Duration;

use taskloop::{TaskBuilder, create_task, dump, sleep, yield_now};

#[taskloop::main]
async fn main() -> anyhow::Result<()> {
    let fetch = TaskBuilder::new().name("fetch-user").spawn(async {
        sleep(Duration::from_secs(60)).await?;
        anyhow::Ok(())
    });
    let cache = TaskBuilder::new().name("refresh-cache").spawn(fetch.clone());
    let _unnamed = create_task(async {
        sleep(Duration::from_secs(60)).await?;
        anyhow::Ok(())
    });
    yield_now().await?;
    println!("{}", dump());
    cache.cancel_with("demo over");
    let _ = cache.await;
    println!("\nafter cancelling refresh-cache (which passed the cancel on to fetch-user):");
    println!("{}", dump());
    Ok(())
}
