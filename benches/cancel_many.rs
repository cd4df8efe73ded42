//! What does cancelling a task cost over `JoinHandle::abort`? One iteration is one task that
//! goes to sleep for an hour and is cancelled there: tasks are created in batches of up to
//! 100,000, the batch waits until every one of them is asleep, then cancels them all and
//! awaits each (each must end cancelled). Raw tokio does the same with `abort`, on both
//! runtime flavours, taskloop beside tokio in the same group. Only the cancel and the awaits
//! are timed (spawning is what `spawn_await` and `sleep_many` measure), as in the Python bench
//! and the reference figures.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

/// Tasks asleep at once.
const BATCH: u64 = 100_000;

/// Longer than any run: the tasks only end by cancellation.
const NAP: Duration = Duration::from_secs(3600);

/// Tasks that have gone to sleep, over the whole process.
static ASLEEP: AtomicU64 = AtomicU64::new(0);

fn batches(iters: u64) -> impl Iterator<Item = u64> {
    (0..iters.div_ceil(BATCH)).map(move |b| BATCH.min(iters - b * BATCH))
}

fn taskloop_cancel_many(workers: Option<usize>, iters: u64) -> Duration {
    let mut builder = taskloop::Runtime::builder();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .build()
        .expect("runtime")
        .run(async move {
            let mut timed = Duration::ZERO;
            for n in batches(iters) {
                let asleep = ASLEEP.load(Ordering::Acquire) + n;
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        taskloop::create_task(async {
                            ASLEEP.fetch_add(1, Ordering::AcqRel);
                            taskloop::sleep(NAP).await?;
                            anyhow::Ok(())
                        })
                    })
                    .collect();
                while ASLEEP.load(Ordering::Acquire) < asleep {
                    taskloop::yield_now().await?;
                }
                let start = Instant::now();
                for task in &tasks {
                    task.cancel();
                }
                for task in tasks {
                    assert!(task.await.is_err_and(|err| err.is_cancelled()));
                }
                timed += start.elapsed();
            }
            anyhow::Ok(timed)
        })
        .expect("bench main")
}

/// The same with raw tokio and `abort`; the loop runs in a spawned task, as taskloop's main
/// does.
fn tokio_cancel_many(workers: Option<usize>, iters: u64) -> Duration {
    let rt = match workers {
        None => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .expect("runtime");
    rt.block_on(async move {
        tokio::spawn(async move {
            let mut timed = Duration::ZERO;
            for n in batches(iters) {
                let asleep = ASLEEP.load(Ordering::Acquire) + n;
                let handles: Vec<_> = (0..n)
                    .map(|_| {
                        tokio::spawn(async {
                            ASLEEP.fetch_add(1, Ordering::AcqRel);
                            tokio::time::sleep(NAP).await;
                        })
                    })
                    .collect();
                while ASLEEP.load(Ordering::Acquire) < asleep {
                    tokio::task::yield_now().await;
                }
                let start = Instant::now();
                for handle in &handles {
                    handle.abort();
                }
                for handle in handles {
                    assert!(handle.await.is_err_and(|err| err.is_cancelled()));
                }
                timed += start.elapsed();
            }
            timed
        })
        .await
        .expect("bench main")
    })
}

fn cancel_many(c: &mut Criterion) {
    for (flavor, workers) in [("current_thread", None), ("multi_thread", Some(2))] {
        let mut group = c.benchmark_group(format!("cancel_many/{flavor}"));
        group.bench_function("taskloop", |b| b.iter_custom(|iters| taskloop_cancel_many(workers, iters)));
        group.bench_function("tokio", |b| b.iter_custom(|iters| tokio_cancel_many(workers, iters)));
        group.finish();
    }
}

criterion_group!(benches, cancel_many);
criterion_main!(benches);
