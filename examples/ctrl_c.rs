//! Ctrl-C, as `asyncio.run` handles it: the first Ctrl-C cancels the main task, which may
//! clean up; the tasks left are cancelled (their `Drop` guards run, asyncio's `finally:`), the
//! loop shuts down, and `run` returns the cancellation `interrupted` (asyncio raises
//! `KeyboardInterrupt`). A second Ctrl-C exits at once.
//!
//! Run it and press Ctrl-C, or pass `--self-interrupt` to have it send itself SIGINT after
//! 0.2 s (that is how `cargo xtask examples` runs it). The asyncio original, which prints the
//! same lines:
//!
//! ```python
//! async def worker():
//!     try:
//!         await asyncio.sleep(3600)
//!     finally:
//!         print("worker: cleaned up")
//!
//! async def main():
//!     asyncio.create_task(worker())
//!     print("main: working; press Ctrl-C")
//!     try:
//!         await asyncio.sleep(3600)
//!     except asyncio.CancelledError:
//!         print("main: cancelled, cleaning up")
//!         await asyncio.sleep(0.1)
//!         print("main: clean-up done")
//!         raise
//!
//! try:
//!     asyncio.run(main())
//! except KeyboardInterrupt:
//!     print("run: interrupted")
//! ```

use std::process::ExitCode;
use std::time::Duration;

use taskloop::prelude::*;

/// Prints its message when dropped: the worker's `finally:`.
struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("{}", self.0);
    }
}

async fn worker() -> anyhow::Result<()> {
    let _cleanup = Cleanup("worker: cleaned up");
    sleep(Duration::from_secs(3600)).await?;
    Ok(())
}

async fn main_task(self_interrupt: bool) -> anyhow::Result<()> {
    let _worker = create_task(worker());
    println!("main: working; press Ctrl-C");
    if self_interrupt {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            let pid = std::process::id().to_string();
            // As if Ctrl-C were pressed: SIGINT to this process.
            let _ = std::process::Command::new("kill").args(["-INT", &pid]).status();
        });
    }
    if let Err(cancelled) = sleep(Duration::from_secs(3600)).await {
        println!("main: cancelled, cleaning up");
        // The clean-up may await: the cancellation was delivered once, here.
        sleep(Duration::from_millis(100)).await?;
        println!("main: clean-up done");
        return Err(cancelled.into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let self_interrupt = std::env::args().any(|a| a == "--self-interrupt");
    match taskloop::run(main_task(self_interrupt)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.cancel_message() == Some("interrupted") => {
            println!("run: interrupted");
            // A shell reports a Ctrl-C'd program with status 130; the self-interrupting demo
            // succeeds, so that the example checker can compare its output.
            if self_interrupt { ExitCode::SUCCESS } else { ExitCode::from(130) }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
