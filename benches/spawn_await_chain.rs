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

use common::{batches, bench_flavors, taskloop_run, tokio_run};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;

/// The deepest chain.
const DEPTH: u64 = 1_000;

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

/// `iters` tasks in chains of up to `DEPTH`, from a taskloop main task.
fn taskloop_chain(workers: Option<usize>, iters: u64) -> Duration {
    taskloop_run(workers, async move {
        let start = Instant::now();
        for depth in batches(iters, DEPTH) {
            let ran = taskloop::create_task(taskloop_link(depth)).await?;
            assert_eq!(ran, depth);
        }
        anyhow::Ok(start.elapsed())
    })
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
    tokio_run(workers, async move {
        let start = Instant::now();
        for depth in batches(iters, DEPTH) {
            let ran = tokio::spawn(tokio_link(depth)).await.expect("chain");
            assert_eq!(ran, depth);
        }
        start.elapsed()
    })
}

fn spawn_await_chain(c: &mut Criterion) {
    bench_flavors(c, "spawn_await_chain", &[("taskloop", &taskloop_chain), ("tokio", &tokio_chain)]);
}

criterion_group!(benches, spawn_await_chain);
criterion_main!(benches);
