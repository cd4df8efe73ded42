//! What does `gather` cost over joining tokio `JoinHandle`s by hand? One iteration creates
//! 10,000 tasks that return a number and collects every value in input order, on both runtime
//! flavours, taskloop beside raw tokio in the same group.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use common::{bench_flavors, taskloop_run, tokio_run};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;

/// Tasks per gather.
const TASKS: u64 = 10_000;

/// `iters` gathers of `TASKS` tasks each, from a taskloop main task.
fn taskloop_gather(workers: Option<usize>, iters: u64) -> Duration {
    taskloop_run(workers, async move {
        let start = Instant::now();
        for _ in 0..iters {
            let tasks: Vec<_> = (0..TASKS).map(|i| taskloop::create_task(async move { anyhow::Ok(i) })).collect();
            let values = taskloop::gather(tasks).await?;
            assert_eq!(values.len() as u64, TASKS);
        }
        anyhow::Ok(start.elapsed())
    })
}

/// The same with raw tokio: spawn, keep the `JoinHandle`s, await them in order. The loop runs
/// in a spawned task, as taskloop's main does.
fn tokio_gather(workers: Option<usize>, iters: u64) -> Duration {
    tokio_run(workers, async move {
        let start = Instant::now();
        for _ in 0..iters {
            let handles: Vec<_> = (0..TASKS).map(|i| tokio::spawn(async move { i })).collect();
            let mut values = Vec::with_capacity(handles.len());
            for handle in handles {
                values.push(handle.await.expect("task"));
            }
            assert_eq!(values.len() as u64, TASKS);
        }
        start.elapsed()
    })
}

fn gather(c: &mut Criterion) {
    bench_flavors(c, "gather", &[("taskloop", &taskloop_gather), ("tokio", &tokio_gather)]);
}

criterion_group!(benches, gather);
criterion_main!(benches);
