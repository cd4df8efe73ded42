//! What does `gather` cost over joining tokio `JoinHandle`s by hand? One iteration creates
//! 10,000 tasks that return a number and collects every value in input order, on both runtime
//! flavours, taskloop beside raw tokio in the same group.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

/// Tasks per gather.
const TASKS: u64 = 10_000;

fn taskloop_gather(workers: Option<usize>, iters: u64) -> Duration {
    let mut builder = taskloop::Runtime::builder();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .build()
        .expect("runtime")
        .run(async move {
            let start = Instant::now();
            for _ in 0..iters {
                let tasks: Vec<_> = (0..TASKS).map(|i| taskloop::create_task(async move { anyhow::Ok(i) })).collect();
                let values = taskloop::gather(tasks).await?;
                assert_eq!(values.len() as u64, TASKS);
            }
            anyhow::Ok(start.elapsed())
        })
        .expect("bench main")
}

/// The same with raw tokio: spawn, keep the `JoinHandle`s, await them in order. The loop runs
/// in a spawned task, as taskloop's main does.
fn tokio_gather(workers: Option<usize>, iters: u64) -> Duration {
    let rt = match workers {
        None => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .expect("runtime");
    rt.block_on(async move {
        tokio::spawn(async move {
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
        .await
        .expect("bench main")
    })
}

fn gather(c: &mut Criterion) {
    for (flavor, workers) in [("current_thread", None), ("multi_thread", Some(2))] {
        let mut group = c.benchmark_group(format!("gather/{flavor}"));
        group.bench_function("taskloop", |b| b.iter_custom(|iters| taskloop_gather(workers, iters)));
        group.bench_function("tokio", |b| b.iter_custom(|iters| tokio_gather(workers, iters)));
        group.finish();
    }
}

criterion_group!(benches, gather);
criterion_main!(benches);
