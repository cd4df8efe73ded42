//! What does a done callback cost over watching a tokio task by hand? One iteration is one
//! empty task with one done callback; tasks are created in batches of up to 100,000 that are
//! all alive at once, and a batch ends when its last callback has run. Raw tokio does the same
//! with a watcher task per task that awaits the `JoinHandle` and then calls the callback.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::sync::Notify;

/// Tasks alive at once.
const BATCH: u64 = 100_000;

/// Counts callbacks; the one that reaches `target` wakes the waiter.
struct Countdown {
    seen: AtomicU64,
    target: u64,
    all_done: Notify,
}

impl Countdown {
    fn new(target: u64) -> Arc<Self> {
        Arc::new(Countdown { seen: AtomicU64::new(0), target, all_done: Notify::new() })
    }

    fn hit(&self) {
        if self.seen.fetch_add(1, Ordering::AcqRel) + 1 == self.target {
            self.all_done.notify_one();
        }
    }
}

fn batches(iters: u64) -> impl Iterator<Item = u64> {
    (0..iters.div_ceil(BATCH)).map(move |b| BATCH.min(iters - b * BATCH))
}

fn taskloop_done_callbacks(workers: Option<usize>, iters: u64) -> Duration {
    let mut builder = taskloop::Runtime::builder();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .build()
        .expect("runtime")
        .run(async move {
            let start = Instant::now();
            for n in batches(iters) {
                let countdown = Countdown::new(n);
                for _ in 0..n {
                    let countdown = countdown.clone();
                    let task = taskloop::create_task(async { anyhow::Ok(()) });
                    task.add_done_callback(move |_| countdown.hit());
                }
                countdown.all_done.notified().await;
            }
            anyhow::Ok(start.elapsed())
        })
        .expect("bench main")
}

fn tokio_done_callbacks(workers: Option<usize>, iters: u64) -> Duration {
    let rt = match workers {
        None => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .expect("runtime");
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for n in batches(iters) {
                let countdown = Countdown::new(n);
                for _ in 0..n {
                    let countdown = countdown.clone();
                    let task = tokio::spawn(async {});
                    tokio::spawn(async move {
                        let _ = task.await;
                        countdown.hit();
                    });
                }
                countdown.all_done.notified().await;
            }
            start.elapsed()
        })
        .await
        .expect("bench main")
    })
}

fn done_callbacks(c: &mut Criterion) {
    for (flavor, workers) in [("current_thread", None), ("multi_thread", Some(2))] {
        let mut group = c.benchmark_group(format!("done_callbacks/{flavor}"));
        group.bench_function("taskloop", |b| b.iter_custom(|iters| taskloop_done_callbacks(workers, iters)));
        group.bench_function("tokio", |b| b.iter_custom(|iters| tokio_done_callbacks(workers, iters)));
        group.finish();
    }
}

criterion_group!(benches, done_callbacks);
criterion_main!(benches);
