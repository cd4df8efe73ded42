//! What does a wait on a taskloop primitive cost over tokio's? `Queue` put + get against
//! `tokio::sync::mpsc`, one task alone (nothing waits) and handing items one at a time to a
//! consumer task (every item a wake-up); `Semaphore` acquire + release against
//! `tokio::sync::Semaphore`. Both runtime flavours; taskloop and raw tokio in the same group.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use common::{FLAVORS, bench_group, taskloop_run, tokio_run};
use criterion::{Criterion, criterion_group, criterion_main};
use taskloop::sync::{Queue, Semaphore};

mod common;

/// The bound of the queues and channels in `queue_put_get`.
const CAPACITY: usize = 1024;

/// One task: `put` then `get` per iteration, so neither ever waits.
fn queue_put_get_taskloop(workers: Option<usize>, iters: u64) -> Duration {
    taskloop_run(workers, async move {
        let q = Queue::new(CAPACITY);
        let start = Instant::now();
        for i in 0..iters {
            q.put(i).await?;
            assert_eq!(q.get().await?, i);
        }
        anyhow::Ok(start.elapsed())
    })
}

fn queue_put_get_tokio(workers: Option<usize>, iters: u64) -> Duration {
    tokio_run(workers, async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(CAPACITY);
        let start = Instant::now();
        for i in 0..iters {
            tx.send(i).await.expect("receiver alive");
            assert_eq!(rx.recv().await, Some(i));
        }
        start.elapsed()
    })
}

/// A producer task and a consumer task over a queue of one: every item wakes the other side.
fn queue_handoff_taskloop(workers: Option<usize>, iters: u64) -> Duration {
    taskloop_run(workers, async move {
        let q = Queue::new(1);
        let start = Instant::now();
        let consumer = taskloop::create_task({
            let q = q.clone();
            async move {
                for i in 0..iters {
                    assert_eq!(q.get().await?, i);
                }
                anyhow::Ok(())
            }
        });
        for i in 0..iters {
            q.put(i).await?;
        }
        consumer.await?;
        anyhow::Ok(start.elapsed())
    })
}

fn queue_handoff_tokio(workers: Option<usize>, iters: u64) -> Duration {
    tokio_run(workers, async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let start = Instant::now();
        let consumer = tokio::spawn(async move {
            for i in 0..iters {
                assert_eq!(rx.recv().await, Some(i));
            }
        });
        for i in 0..iters {
            tx.send(i).await.expect("receiver alive");
        }
        consumer.await.expect("consumer");
        start.elapsed()
    })
}

/// One task: acquire a permit and give it back, per iteration.
fn semaphore_taskloop(workers: Option<usize>, iters: u64) -> Duration {
    taskloop_run(workers, async move {
        let sem = Semaphore::new(1);
        let start = Instant::now();
        for _ in 0..iters {
            drop(sem.acquire().await?);
        }
        anyhow::Ok(start.elapsed())
    })
}

fn semaphore_tokio(workers: Option<usize>, iters: u64) -> Duration {
    tokio_run(workers, async move {
        let sem = tokio::sync::Semaphore::new(1);
        let start = Instant::now();
        for _ in 0..iters {
            drop(sem.acquire().await.expect("open"));
        }
        start.elapsed()
    })
}

fn sync(c: &mut Criterion) {
    for flavor in FLAVORS {
        bench_group(
            c,
            "queue_put_get",
            flavor,
            &[("taskloop", &queue_put_get_taskloop), ("tokio", &queue_put_get_tokio)],
        );
        bench_group(
            c,
            "queue_handoff",
            flavor,
            &[("taskloop", &queue_handoff_taskloop), ("tokio", &queue_handoff_tokio)],
        );
        bench_group(c, "semaphore", flavor, &[("taskloop", &semaphore_taskloop), ("tokio", &semaphore_tokio)]);
    }
}

criterion_group!(benches, sync);
criterion_main!(benches);
