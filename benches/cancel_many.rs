//! What does cancelling a task cost over `JoinHandle::abort`? One iteration is one task that
//! goes to sleep for an hour and is cancelled there: tasks are created in batches of up to
//! 100,000, the batch waits until every one of them is asleep, then cancels them all and
//! awaits each (each must end cancelled). Raw tokio does the same with `abort`, on both
//! runtime flavours, taskloop beside tokio in the same group. Only the cancel and the awaits
//! are timed (spawning is what `spawn_await` and `sleep_many` measure), as in the Python bench
//! and the reference figures.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use common::{
    batches, bench_flavors, taskloop_cancel_all, taskloop_run, taskloop_sleepers, tokio_abort_all, tokio_run,
    tokio_sleepers,
};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;

/// Tasks asleep at once.
const BATCH: u64 = 100_000;

/// Longer than any run: the tasks only end by cancellation.
const NAP: Duration = Duration::from_secs(3600);

/// `iters` sleeping tasks, in batches, cancelled from a taskloop main task; only the cancel and
/// the awaits are timed.
fn taskloop_cancel_many(workers: Option<usize>, iters: u64) -> Duration {
    taskloop_run(workers, async move {
        let mut timed = Duration::ZERO;
        for n in batches(iters, BATCH) {
            let tasks = taskloop_sleepers(n, NAP).await?;
            let start = Instant::now();
            taskloop_cancel_all(tasks).await;
            timed += start.elapsed();
        }
        anyhow::Ok(timed)
    })
}

/// The same with raw tokio and `abort`; the loop runs in a spawned task, as taskloop's main
/// does.
fn tokio_cancel_many(workers: Option<usize>, iters: u64) -> Duration {
    tokio_run(workers, async move {
        let mut timed = Duration::ZERO;
        for n in batches(iters, BATCH) {
            let handles = tokio_sleepers(n, NAP).await;
            let start = Instant::now();
            tokio_abort_all(handles).await;
            timed += start.elapsed();
        }
        timed
    })
}

fn cancel_many(c: &mut Criterion) {
    bench_flavors(c, "cancel_many", &[("taskloop", &taskloop_cancel_many), ("tokio", &tokio_cancel_many)]);
}

criterion_group!(benches, cancel_many);
criterion_main!(benches);
