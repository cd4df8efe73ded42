//! What does a sleeping task cost over `tokio::time::sleep` in `tokio::spawn`? One iteration
//! is one task that sleeps 1 ms; tasks are created in batches of up to 100,000 that all sleep
//! at once, then every one is awaited, on both runtime flavours.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

/// Tasks asleep at once.
const BATCH: u64 = 100_000;

const NAP: Duration = Duration::from_millis(1);

fn batches(iters: u64) -> impl Iterator<Item = u64> {
    (0..iters.div_ceil(BATCH)).map(move |b| BATCH.min(iters - b * BATCH))
}

fn taskloop_sleep_many(workers: Option<usize>, iters: u64) -> Duration {
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
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        taskloop::create_task(async {
                            taskloop::sleep(NAP).await?;
                            anyhow::Ok(())
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await?;
                }
            }
            anyhow::Ok(start.elapsed())
        })
        .expect("bench main")
}

fn tokio_sleep_many(workers: Option<usize>, iters: u64) -> Duration {
    let rt = match workers {
        None => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    }
    .expect("runtime");
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for n in batches(iters) {
                let handles: Vec<_> = (0..n).map(|_| tokio::spawn(tokio::time::sleep(NAP))).collect();
                for handle in handles {
                    handle.await.expect("sleeper");
                }
            }
            start.elapsed()
        })
        .await
        .expect("bench main")
    })
}

fn sleep_many(c: &mut Criterion) {
    for (flavor, workers) in [("current_thread", None), ("multi_thread", Some(2))] {
        let mut group = c.benchmark_group(format!("sleep_many/{flavor}"));
        group.bench_function("taskloop", |b| b.iter_custom(|iters| taskloop_sleep_many(workers, iters)));
        group.bench_function("tokio", |b| b.iter_custom(|iters| tokio_sleep_many(workers, iters)));
        group.finish();
    }
}

criterion_group!(benches, sleep_many);
criterion_main!(benches);
