//! What does a sleeping task cost over `tokio::time::sleep` in `tokio::spawn`? One iteration
//! is one task that sleeps 1 ms; tasks are created in batches of up to 100,000 that all sleep
//! at once, then every one is awaited, on both runtime flavours.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use common::{batches, bench_flavors, taskloop_run, tokio_run};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;

/// Tasks asleep at once.
const BATCH: u64 = 100_000;

const NAP: Duration = Duration::from_millis(1);

/// `iters` sleeping tasks, in batches, from a taskloop main task.
fn taskloop_sleep_many(workers: Option<usize>, iters: u64) -> Duration {
    taskloop_run(workers, async move {
        let start = Instant::now();
        for n in batches(iters, BATCH) {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    taskloop::create_task(async {
                        taskloop::sleep(NAP).await?;
                        anyhow::Ok(())
                    })
                })
                .collect();
            for task in tasks {
                task.await?;
            }
        }
        anyhow::Ok(start.elapsed())
    })
}

/// The same with raw tokio; the loop runs in a spawned task, as taskloop's main does.
fn tokio_sleep_many(workers: Option<usize>, iters: u64) -> Duration {
    tokio_run(workers, async move {
        let start = Instant::now();
        for n in batches(iters, BATCH) {
            let handles: Vec<_> = (0..n).map(|_| tokio::spawn(tokio::time::sleep(NAP))).collect();
            for handle in handles {
                handle.await.expect("sleeper");
            }
        }
        start.elapsed()
    })
}

fn sleep_many(c: &mut Criterion) {
    bench_flavors(c, "sleep_many", &[("taskloop", &taskloop_sleep_many), ("tokio", &tokio_sleep_many)]);
}

criterion_group!(benches, sleep_many);
criterion_main!(benches);
