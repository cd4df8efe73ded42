//! What does a task cost over `tokio::spawn`? Create one task and await it (a body that returns
//! at once, and one that suspends once), and a cache-hit fan-out, on both runtime flavours:
//! taskloop, eager taskloop (asyncio 3.12's eager tasks) and raw tokio in the same group.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

/// How a benchmark body behaves: returns at once, or suspends once first.
#[derive(Clone, Copy)]
enum Body {
    Immediate,
    YieldOnce,
}

/// Runs `iters` iterations of create + await inside a taskloop main task; `eager` creates
/// eager tasks (asyncio 3.12's eager_start).
fn taskloop_spawn_await(workers: Option<usize>, iters: u64, eager: bool, body: Body) -> Duration {
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
                let builder = taskloop::TaskBuilder::new().eager(eager);
                builder
                    .spawn(async move {
                        if let Body::YieldOnce = body {
                            taskloop::yield_now().await?;
                        }
                        anyhow::Ok(())
                    })
                    .await?;
            }
            anyhow::Ok(start.elapsed())
        })
        .expect("bench main")
}

/// The same with raw tokio; the loop also runs in a spawned task, as taskloop's main does.
fn tokio_spawn_await(workers: Option<usize>, iters: u64, body: Body) -> Duration {
    let rt = match workers {
        None => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .expect("runtime");
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..iters {
                tokio::spawn(async move {
                    if let Body::YieldOnce = body {
                        tokio::task::yield_now().await;
                    }
                })
                .await
                .expect("empty task");
            }
            start.elapsed()
        })
        .await
        .expect("bench main")
    })
}

/// A cache-hit fan-out: 10,000 tasks of which 90% finish at once and 10% suspend once, all
/// awaited; one iteration is one task.
fn fanout_taskloop(workers: Option<usize>, iters: u64, eager: bool) -> Duration {
    let mut builder = taskloop::Runtime::builder();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .build()
        .expect("runtime")
        .run(async move {
            let start = Instant::now();
            let mut left = iters;
            while left > 0 {
                let n = left.min(10_000);
                left -= n;
                let tasks: Vec<_> = (0..n)
                    .map(|i| {
                        taskloop::TaskBuilder::new().eager(eager).spawn(async move {
                            if i % 10 == 0 {
                                taskloop::yield_now().await?; // a cache miss
                            }
                            anyhow::Ok(i)
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await?;
                }
            }
            anyhow::Ok(start.elapsed())
        })
        .expect("bench main")
}

fn fanout_tokio(workers: Option<usize>, iters: u64) -> Duration {
    let rt = match workers {
        None => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .expect("runtime");
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            let mut left = iters;
            while left > 0 {
                let n = left.min(10_000);
                left -= n;
                let tasks: Vec<_> = (0..n)
                    .map(|i| {
                        tokio::spawn(async move {
                            if i % 10 == 0 {
                                tokio::task::yield_now().await;
                            }
                            i
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
            }
            start.elapsed()
        })
        .await
        .expect("bench main")
    })
}

fn spawn_await(c: &mut Criterion) {
    for (flavor, workers) in [("current_thread", None), ("multi_thread", Some(2))] {
        for (workload, body) in [("spawn_await", Body::Immediate), ("spawn_yield_await", Body::YieldOnce)] {
            let mut group = c.benchmark_group(format!("{workload}/{flavor}"));
            group.bench_function("taskloop", |b| {
                b.iter_custom(|iters| taskloop_spawn_await(workers, iters, false, body))
            });
            group.bench_function("taskloop_eager", |b| {
                b.iter_custom(|iters| taskloop_spawn_await(workers, iters, true, body))
            });
            group.bench_function("tokio", |b| b.iter_custom(|iters| tokio_spawn_await(workers, iters, body)));
            group.finish();
        }
        let mut group = c.benchmark_group(format!("cache_fanout/{flavor}"));
        group.bench_function("taskloop", |b| b.iter_custom(|iters| fanout_taskloop(workers, iters, false)));
        group.bench_function("taskloop_eager", |b| b.iter_custom(|iters| fanout_taskloop(workers, iters, true)));
        group.bench_function("tokio", |b| b.iter_custom(|iters| fanout_tokio(workers, iters)));
        group.finish();
    }
}

criterion_group!(benches, spawn_await);
criterion_main!(benches);
