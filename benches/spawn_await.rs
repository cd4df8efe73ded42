//! What does a task cost over `tokio::spawn`? Create one empty task and await it, on both
//! runtime flavours, taskloop beside raw tokio in the same group.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

/// Runs `iters` iterations of create + await inside a taskloop main task.
fn taskloop_spawn_await(workers: Option<usize>, iters: u64) -> Duration {
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
                taskloop::create_task(async { anyhow::Ok(()) }).await?;
            }
            anyhow::Ok(start.elapsed())
        })
        .expect("bench main")
}

/// The same with raw tokio; the loop also runs in a spawned task, as taskloop's main does.
fn tokio_spawn_await(workers: Option<usize>, iters: u64) -> Duration {
    let rt = match workers {
        None => tokio::runtime::Builder::new_current_thread().enable_time().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_time().build(),
    }
    .expect("runtime");
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..iters {
                tokio::spawn(async {}).await.expect("empty task");
            }
            start.elapsed()
        })
        .await
        .expect("bench main")
    })
}

fn spawn_await(c: &mut Criterion) {
    for (flavor, workers) in [("current_thread", None), ("multi_thread", Some(2))] {
        let mut group = c.benchmark_group(format!("spawn_await/{flavor}"));
        group.bench_function("taskloop", |b| b.iter_custom(|iters| taskloop_spawn_await(workers, iters)));
        group.bench_function("tokio", |b| b.iter_custom(|iters| tokio_spawn_await(workers, iters)));
        group.finish();
    }
}

criterion_group!(benches, spawn_await);
criterion_main!(benches);
