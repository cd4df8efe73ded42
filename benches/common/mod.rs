//! Scaffolding shared by the benches: the runtime flavours, building and running a taskloop or
//! a raw tokio runtime for one, the criterion groups `<workload>/<flavor>`, and the batching
//! and sleeper helpers. Each bench includes it with `mod common;`.

// Every bench compiles its own copy of this module and uses only part of it; the rest would
// be reported as dead code in that bench.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::Criterion;

/// The runtime flavours, with their worker count: current-thread, and multi-thread with 2.
pub(crate) const FLAVORS: [(&str, Option<usize>); 2] = [("current_thread", None), ("multi_thread", Some(2))];

/// One side of a comparison: its function id and its timed run (worker count, iterations).
pub(crate) type Contender<'a> = (&'a str, &'a dyn Fn(Option<usize>, u64) -> Duration);

/// Benchmarks the group `<workload>/<flavor>`: one function per contender, timed by the run.
pub(crate) fn bench_group(
    c: &mut Criterion,
    workload: &str,
    (flavor, workers): (&str, Option<usize>),
    contenders: &[Contender<'_>],
) {
    let mut group = c.benchmark_group(format!("{workload}/{flavor}"));
    for &(id, run) in contenders {
        group.bench_function(id, |b| b.iter_custom(|iters| run(workers, iters)));
    }
    group.finish();
}

/// Benchmarks `workload` on every flavour in turn (see [`bench_group`]).
pub(crate) fn bench_flavors(c: &mut Criterion, workload: &str, contenders: &[Contender<'_>]) {
    for flavor in FLAVORS {
        bench_group(c, workload, flavor, contenders);
    }
}

/// A taskloop runtime builder for a flavour: `worker_threads(n)` when `workers` is `Some(n)`.
pub(crate) fn taskloop_builder(workers: Option<usize>) -> taskloop::Builder {
    let mut builder = taskloop::Runtime::builder();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
}

/// Runs `body` as the main task of a new taskloop runtime for a flavour; panics on an error.
pub(crate) fn taskloop_run<F, T>(workers: Option<usize>, body: F) -> T
where
    F: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    taskloop_builder(workers).build().expect("runtime").run(body).expect("bench main")
}

/// A raw tokio runtime for a flavour, with every driver enabled (`enable_all()`).
pub(crate) fn tokio_runtime(workers: Option<usize>) -> io::Result<tokio::runtime::Runtime> {
    match workers {
        None => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
}

/// Runs `body` as a spawned task of a new tokio runtime for a flavour, as taskloop's main runs.
pub(crate) fn tokio_run<F, T>(workers: Option<usize>, body: F) -> T
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    tokio_runtime(workers).expect("runtime").block_on(async move { tokio::spawn(body).await.expect("bench main") })
}

/// The sizes of the batches of at most `size` that make `iters` in all.
pub(crate) fn batches(iters: u64, size: u64) -> impl Iterator<Item = u64> {
    (0..iters.div_ceil(size)).map(move |b| size.min(iters - b * size))
}

/// Tasks that have gone to sleep, over the whole process.
static ASLEEP: AtomicU64 = AtomicU64::new(0);

/// Creates `n` taskloop tasks that each sleep for `nap`; returns once every one is asleep.
pub(crate) async fn taskloop_sleepers(n: u64, nap: Duration) -> anyhow::Result<Vec<taskloop::Task<()>>> {
    let asleep = ASLEEP.load(Ordering::Acquire) + n;
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            taskloop::create_task(async move {
                ASLEEP.fetch_add(1, Ordering::AcqRel);
                taskloop::sleep(nap).await?;
                anyhow::Ok(())
            })
        })
        .collect();
    while ASLEEP.load(Ordering::Acquire) < asleep {
        taskloop::yield_now().await?;
    }
    Ok(tasks)
}

/// Cancels every task, then awaits each; each must end cancelled.
pub(crate) async fn taskloop_cancel_all(tasks: Vec<taskloop::Task<()>>) {
    for task in &tasks {
        task.cancel();
    }
    for task in tasks {
        assert!(task.await.is_err_and(|err| err.is_cancelled()), "a task did not end cancelled");
    }
}

/// The same as [`taskloop_sleepers`] with `tokio::spawn` and `tokio::time::sleep`.
pub(crate) async fn tokio_sleepers(n: u64, nap: Duration) -> Vec<tokio::task::JoinHandle<()>> {
    let asleep = ASLEEP.load(Ordering::Acquire) + n;
    let handles: Vec<_> = (0..n)
        .map(|_| {
            tokio::spawn(async move {
                ASLEEP.fetch_add(1, Ordering::AcqRel);
                tokio::time::sleep(nap).await;
            })
        })
        .collect();
    while ASLEEP.load(Ordering::Acquire) < asleep {
        tokio::task::yield_now().await;
    }
    handles
}

/// The same as [`taskloop_cancel_all`] with `abort`.
pub(crate) async fn tokio_abort_all(handles: Vec<tokio::task::JoinHandle<()>>) {
    for handle in &handles {
        handle.abort();
    }
    for handle in handles {
        assert!(handle.await.is_err_and(|err| err.is_cancelled()), "a task did not end cancelled");
    }
}
