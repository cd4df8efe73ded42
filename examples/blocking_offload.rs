//! Seed 24.10 "How to execute a blocking I/O or CPU-bound function in asyncio?": the same
//! blocking call through `to_thread` (high level, the default executor) and through
//! `run_in_executor` on an executor we manage, then CPU-bound work on a rayon pool.

use std::thread;
use std::time::Duration;

use rayon::prelude::*;
use taskloop::{CpuPool, ThreadPool, run_in_executor, to_thread};

/// The blocking call: reports, blocks its thread for a moment, reports again.
fn task(how: &str) {
    println!("{how}: blocking task running in a separate thread");
    thread::sleep(Duration::from_millis(100));
    println!("{how}: blocking task done");
}

fn main() -> anyhow::Result<()> {
    taskloop::run(async {
        println!("main coroutine started");

        // asyncio.to_thread(task): lazy, nothing runs until it is awaited.
        to_thread(|| task("to_thread")).await?;

        // loop.run_in_executor(None, task): the default executor, submitted at once.
        run_in_executor(None, || task("run_in_executor(None)")).await?;

        // An executor we create and manage ourselves: `with ThreadPoolExecutor() as exe:`.
        {
            let exe = ThreadPool::new(4);
            run_in_executor(Some(&exe), || task("run_in_executor(exe)")).await?;
            // Dropping the pool shuts it down; its work is done, so this does not wait.
        }
        println!("thread pool is shut down automatically");

        // CPU-bound work: asyncio would use a ProcessPoolExecutor; rayon threads do here.
        let cpu = CpuPool::new(0);
        let total = run_in_executor(Some(&cpu), || (0..100_000_000u64).into_par_iter().sum::<u64>()).await?;
        println!("cpu-bound: sum of 0..10^8 = {total}");

        println!("main coroutine done");
        anyhow::Ok(())
    })?;
    Ok(())
}
