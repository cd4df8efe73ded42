//! What does offloading cost over tokio and rayon? A `to_thread` round trip beside
//! `tokio::task::spawn_blocking`, on both loop flavours, and a `CpuPool` round trip beside raw
//! `rayon::spawn` + a oneshot channel.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use taskloop::{CpuPool, run_in_executor, to_thread};

fn taskloop_builder(workers: Option<usize>) -> taskloop::Builder {
    let mut builder = taskloop::Runtime::builder();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
}

fn tokio_runtime(workers: Option<usize>) -> tokio::runtime::Runtime {
    match workers {
        None => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .expect("runtime")
}

/// `iters` sequential `to_thread` round trips inside a taskloop main task. One warm-up call
/// first, so the pool's worker exists (tokio's blocking pool keeps its threads too).
fn taskloop_to_thread(workers: Option<usize>, iters: u64) -> Duration {
    taskloop_builder(workers)
        .build()
        .expect("runtime")
        .run(async move {
            to_thread(|| ()).await?;
            let start = Instant::now();
            for i in 0..iters {
                std::hint::black_box(to_thread(move || i).await?);
            }
            anyhow::Ok(start.elapsed())
        })
        .expect("bench main")
}

/// The same with `spawn_blocking`, from a spawned task as taskloop's main is.
fn tokio_spawn_blocking(workers: Option<usize>, iters: u64) -> Duration {
    tokio_runtime(workers).block_on(async move {
        tokio::spawn(async move {
            tokio::task::spawn_blocking(|| ()).await.expect("warm-up");
            let start = Instant::now();
            for i in 0..iters {
                std::hint::black_box(tokio::task::spawn_blocking(move || i).await.expect("blocking call"));
            }
            start.elapsed()
        })
        .await
        .expect("bench main")
    })
}

/// `iters` sequential `CpuPool` round trips from a taskloop main task.
fn taskloop_cpu_pool(pool: &'static CpuPool, workers: Option<usize>, iters: u64) -> Duration {
    taskloop_builder(workers)
        .build()
        .expect("runtime")
        .run(async move {
            let start = Instant::now();
            for i in 0..iters {
                std::hint::black_box(run_in_executor(Some(pool), move || i).await?);
            }
            anyhow::Ok(start.elapsed())
        })
        .expect("bench main")
}

/// The raw baseline: `ThreadPool::spawn` on the same kind of rayon pool, answering through a
/// tokio oneshot, from a tokio task.
fn rayon_oneshot(pool: &'static rayon::ThreadPool, workers: Option<usize>, iters: u64) -> Duration {
    tokio_runtime(workers).block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..iters {
                let (tx, rx) = tokio::sync::oneshot::channel();
                pool.spawn(move || {
                    let _ = tx.send(i);
                });
                std::hint::black_box(rx.await.expect("rayon job"));
            }
            start.elapsed()
        })
        .await
        .expect("bench main")
    })
}

fn offload(c: &mut Criterion) {
    for (flavor, workers) in [("current_thread", None), ("multi_thread", Some(2))] {
        let mut group = c.benchmark_group(format!("to_thread/{flavor}"));
        group.bench_function("taskloop", |b| b.iter_custom(|iters| taskloop_to_thread(workers, iters)));
        group.bench_function("tokio", |b| b.iter_custom(|iters| tokio_spawn_blocking(workers, iters)));
        group.finish();
    }
    // Two pools of two threads each, built once: the measurement is the round trip, not the
    // pool's start.
    let cpu_pool: &'static CpuPool = Box::leak(Box::new(CpuPool::new(2)));
    let rayon_pool: &'static rayon::ThreadPool =
        Box::leak(Box::new(rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("rayon pool")));
    for (flavor, workers) in [("current_thread", None), ("multi_thread", Some(2))] {
        let mut group = c.benchmark_group(format!("cpu_offload/{flavor}"));
        group.bench_function("taskloop", |b| b.iter_custom(|iters| taskloop_cpu_pool(cpu_pool, workers, iters)));
        group.bench_function("tokio", |b| b.iter_custom(|iters| rayon_oneshot(rayon_pool, workers, iters)));
        group.finish();
    }
}

criterion_group!(benches, offload);
criterion_main!(benches);
