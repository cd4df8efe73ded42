//! What does a task cost over `tokio::spawn`? Create one task and await it (a body that returns
//! at once, and one that suspends once), and a cache-hit fan-out, on both runtime flavours:
//! taskloop, eager taskloop (asyncio 3.12's eager tasks) and raw tokio in the same group.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use common::{FLAVORS, batches, bench_group, taskloop_run, tokio_run};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;

/// How a benchmark body behaves: returns at once, or suspends once first.
#[derive(Clone, Copy)]
enum Body {
    Immediate,
    YieldOnce,
}

/// Runs `iters` iterations of create + await inside a taskloop main task; `eager` creates
/// eager tasks (asyncio 3.12's eager_start).
fn taskloop_spawn_await(workers: Option<usize>, iters: u64, eager: bool, body: Body) -> Duration {
    taskloop_run(workers, async move {
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
}

/// The same with raw tokio; the loop also runs in a spawned task, as taskloop's main does.
fn tokio_spawn_await(workers: Option<usize>, iters: u64, body: Body) -> Duration {
    tokio_run(workers, async move {
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
}

/// Tasks per fan-out.
const FANOUT: u64 = 10_000;

/// A cache-hit fan-out: 10,000 tasks of which 90% finish at once and 10% suspend once, all
/// awaited; one iteration is one task.
fn fanout_taskloop(workers: Option<usize>, iters: u64, eager: bool) -> Duration {
    taskloop_run(workers, async move {
        let start = Instant::now();
        for n in batches(iters, FANOUT) {
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
}

fn fanout_tokio(workers: Option<usize>, iters: u64) -> Duration {
    tokio_run(workers, async move {
        let start = Instant::now();
        for n in batches(iters, FANOUT) {
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
}

fn spawn_await(c: &mut Criterion) {
    for flavor in FLAVORS {
        for (workload, body) in [("spawn_await", Body::Immediate), ("spawn_yield_await", Body::YieldOnce)] {
            bench_group(
                c,
                workload,
                flavor,
                &[
                    ("taskloop", &|workers, iters| taskloop_spawn_await(workers, iters, false, body)),
                    ("taskloop_eager", &|workers, iters| taskloop_spawn_await(workers, iters, true, body)),
                    ("tokio", &|workers, iters| tokio_spawn_await(workers, iters, body)),
                ],
            );
        }
        bench_group(
            c,
            "cache_fanout",
            flavor,
            &[
                ("taskloop", &|workers, iters| fanout_taskloop(workers, iters, false)),
                ("taskloop_eager", &|workers, iters| fanout_taskloop(workers, iters, true)),
                ("tokio", &|workers, iters| fanout_tokio(workers, iters)),
            ],
        );
    }
}

criterion_group!(benches, spawn_await);
criterion_main!(benches);
