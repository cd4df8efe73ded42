//! Seed 24.7 "How to show progress of running tasks?": a done callback on every task reports
//! progress — one `.` per finished task, as the seed's `progress(task)` prints. The callbacks
//! feed a `ProgressTracker`, which counts done / total; run with `--bar` to draw a terminal
//! progress bar (the `indicatif` crate, on stderr) from the same tracker instead of dots.

use std::io::Write;
use std::time::Duration;

use taskloop::ProgressTracker;
use taskloop::indicatif::{ProgressBar, ProgressStyle};
use taskloop::prelude::*;

/// How many tasks to run.
const TASKS: u64 = 20;

/// The work: sleeps for a while (a fixed, scrambled duration per task, so runs are
/// reproducible), then returns its value.
async fn work(value: u64) -> anyhow::Result<u64> {
    let millis = 50 + (value * 7_919) % 450;
    sleep(Duration::from_millis(millis)).await?;
    Ok(value)
}

/// The seed's `progress(task)` callback: reports the progress of the task.
fn dots(tracker: ProgressTracker) -> ProgressTracker {
    tracker.on_progress(|progress| {
        print!(".");
        if progress.is_complete() {
            println!();
        }
        // A dot must appear as soon as its task is done, not when the line ends.
        let _ = std::io::stdout().flush();
    })
}

/// The same tracker drawing a real progress bar.
fn bar(tracker: ProgressTracker) -> ProgressTracker {
    let bar = ProgressBar::new(tracker.total() as u64);
    let style = ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} tasks ({elapsed})")
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    tracker.with_progress_bar(bar)
}

fn main() -> anyhow::Result<()> {
    let draw_bar = std::env::args().skip(1).any(|arg| arg == "--bar");
    taskloop::run(async move {
        println!("main coroutine started");
        let tasks: Vec<_> = (0..TASKS).map(|i| create_task(work(i))).collect();
        let tracker = ProgressTracker::new(tasks.len());
        let tracker = if draw_bar { bar(tracker) } else { dots(tracker) };
        // Add the done callback to every task.
        for task in &tasks {
            task.add_done_callback(tracker.done_callback());
        }
        // Wait for all tasks to complete, then for the last callbacks, which run on the loop
        // just after their task is done.
        let values = gather(&tasks).await?;
        while !tracker.is_complete() {
            yield_now().await?;
        }
        println!("{} tasks done, values summing to {}", tracker.progress(), values.iter().sum::<u64>());
        println!("main coroutine done");
        anyhow::Ok(())
    })?;
    Ok(())
}
