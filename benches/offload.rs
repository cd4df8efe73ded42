//! What does offloading cost over tokio and rayon? A `to_thread` round trip beside
//! `tokio::task::spawn_blocking`, on both loop flavours, and a `CpuPool` round trip beside raw
//! `rayon::spawn` + a oneshot channel.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use common::{bench_flavors, taskloop_run, tokio_run};
use criterion::{Criterion, criterion_group, criterion_main};
use taskloop::{CpuPool, run_in_executor, to_thread};

mod common;

/// `iters` sequential `to_thread` round trips inside a taskloop main task. One warm-up call
/// first, so the pool's worker exists (tokio's blocking pool keeps its threads too).
fn taskloop_to_thread(workers: Option<usize>, iters: u64) -> Duration {
    taskloop_run(workers, async move {
        to_thread(|| ()).await?;
        let start = Instant::now();
        for i in 0..iters {
            std::hint::black_box(to_thread(move || i).await?);
        }
        anyhow::Ok(start.elapsed())
    })
}

/// The same with `spawn_blocking`, from a spawned task as taskloop's main is.
fn tokio_spawn_blocking(workers: Option<usize>, iters: u64) -> Duration {
    tokio_run(workers, async move {
        tokio::task::spawn_blocking(|| ()).await.expect("warm-up");
        let start = Instant::now();
        for i in 0..iters {
            std::hint::black_box(tokio::task::spawn_blocking(move || i).await.expect("blocking call"));
        }
        start.elapsed()
    })
}

/// `iters` sequential `CpuPool` round trips from a taskloop main task.
fn taskloop_cpu_pool(pool: &'static CpuPool, workers: Option<usize>, iters: u64) -> Duration {
    taskloop_run(workers, async move {
        let start = Instant::now();
        for i in 0..iters {
            std::hint::black_box(run_in_executor(Some(pool), move || i).await?);
        }
        anyhow::Ok(start.elapsed())
    })
}

/// The raw baseline: `ThreadPool::spawn` on the same kind of rayon pool, answering through a
/// tokio oneshot, from a tokio task.
fn rayon_oneshot(pool: &'static rayon::ThreadPool, workers: Option<usize>, iters: u64) -> Duration {
    tokio_run(workers, async move {
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
}

fn offload(c: &mut Criterion) {
    bench_flavors(c, "to_thread", &[("taskloop", &taskloop_to_thread), ("tokio", &tokio_spawn_blocking)]);
    // Two pools of two threads each, built once: the measurement is the round trip, not the
    // pool's start.
    let cpu_pool: &'static CpuPool = Box::leak(Box::new(CpuPool::new(2)));
    let rayon_pool: &'static rayon::ThreadPool =
        Box::leak(Box::new(rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("rayon pool")));
    bench_flavors(
        c,
        "cpu_offload",
        &[
            ("taskloop", &|workers, iters| taskloop_cpu_pool(cpu_pool, workers, iters)),
            ("tokio", &|workers, iters| rayon_oneshot(rayon_pool, workers, iters)),
        ],
    );
}

criterion_group!(benches, offload);
criterion_main!(benches);
