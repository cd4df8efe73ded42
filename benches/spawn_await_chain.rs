//! What does a task cost when tasks nest? Each task creates the next one and awaits it, down
//! to a depth of 1,000, then the results come back up the chain. One iteration is one task of
//! a chain; chains are up to 1,000 deep. Raw tokio does the same with `tokio::spawn`, on both
//! runtime flavours, taskloop beside tokio in the same group.
//!
//! The task bodies are boxed (a future cannot hold its own type): both sides pay the same
//! one allocation per task for that.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

/// The deepest chain.
const DEPTH: u64 = 1_000;

/// The chain lengths that make `iters` tasks in all.
fn chains(iters: u64) -> impl Iterator<Item = u64> {
    (0..iters.div_ceil(DEPTH)).map(move |c| DEPTH.min(iters - c * DEPTH))
}

type TaskloopBody = Pin<Box<dyn Future<Output = anyhow::Result<u64>> + Send>>;

/// A task body that creates the rest of a chain of `depth` tasks (itself included) and
/// returns how many tasks ran.
fn taskloop_link(depth: u64) -> TaskloopBody {
    Box::pin(async move {
        if depth <= 1 {
            return Ok(1);
        }
        Ok(taskloop::create_task(taskloop_link(depth - 1)).await? + 1)
    })
}

fn taskloop_chain(workers: Option<usize>, iters: u64) -> Duration {
    let mut builder = taskloop::Runtime::builder();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .build()
        .expect("runtime")
        .run(async move {
            let start = Instant::now();
            for depth in chains(iters) {
                let ran = taskloop::create_task(taskloop_link(depth)).await?;
                assert_eq!(ran, depth);
            }
            anyhow::Ok(start.elapsed())
        })
        .expect("bench main")
}

type TokioBody = Pin<Box<dyn Future<Output = u64> + Send>>;

/// The same link with `tokio::spawn`.
fn tokio_link(depth: u64) -> TokioBody {
    Box::pin(async move {
        if depth <= 1 {
            return 1;
        }
        tokio::spawn(tokio_link(depth - 1)).await.expect("link") + 1
    })
}

/// The same with raw tokio; the loop runs in a spawned task, as taskloop's main does.
fn tokio_chain(workers: Option<usize>, iters: u64) -> Duration {
    let rt = match workers {
        None => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .expect("runtime");
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for depth in chains(iters) {
                let ran = tokio::spawn(tokio_link(depth)).await.expect("chain");
                assert_eq!(ran, depth);
            }
            start.elapsed()
        })
        .await
        .expect("bench main")
    })
}

fn spawn_await_chain(c: &mut Criterion) {
    for (flavor, workers) in [("current_thread", None), ("multi_thread", Some(2))] {
        let mut group = c.benchmark_group(format!("spawn_await_chain/{flavor}"));
        group.bench_function("taskloop", |b| b.iter_custom(|iters| taskloop_chain(workers, iters)));
        group.bench_function("tokio", |b| b.iter_custom(|iters| tokio_chain(workers, iters)));
        group.finish();
    }
}

criterion_group!(benches, spawn_await_chain);
criterion_main!(benches);
