//! What does a done callback cost over watching a tokio task by hand? One iteration is one
//! empty task with one done callback; tasks are created in batches of up to 100,000 that are
//! all alive at once, and a batch ends when its last callback has run. Raw tokio does the same
//! with a watcher task per task that awaits the `JoinHandle` and then calls the callback.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{batches, bench_flavors, taskloop_run, tokio_run};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::sync::Notify;

mod common;

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

/// `iters` empty tasks with a done callback each, in batches, from a taskloop main task.
fn taskloop_done_callbacks(workers: Option<usize>, iters: u64) -> Duration {
    taskloop_run(workers, async move {
        let start = Instant::now();
        for n in batches(iters, BATCH) {
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
}

/// The same with raw tokio and a watcher task per task; the loop runs in a spawned task, as
/// taskloop's main does.
fn tokio_done_callbacks(workers: Option<usize>, iters: u64) -> Duration {
    tokio_run(workers, async move {
        let start = Instant::now();
        for n in batches(iters, BATCH) {
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
}

fn done_callbacks(c: &mut Criterion) {
    bench_flavors(c, "done_callbacks", &[("taskloop", &taskloop_done_callbacks), ("tokio", &tokio_done_callbacks)]);
}

criterion_group!(benches, done_callbacks);
criterion_main!(benches);
