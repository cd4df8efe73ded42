//! The queue under load with random cancellation: 8 producers and 8 consumers over a bounded
//! `Queue`, a ninth task cancelling one of them at random between its own steps (fixed
//! seed). Producers and consumers catch every cancellation and go on (a producer puts the
//! item its cancelled `put` gave back). Every item must be consumed exactly once, and
//! `join` must return.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Instant;

use taskloop::sync::{GetError, PutError, Queue};
use taskloop::{Runtime, Task, create_task, yield_now};

use crate::support::within;

/// A deterministic pseudo-random sequence (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PRODUCERS: u64 = 8;
const CONSUMERS: usize = 8;
const MAXSIZE: usize = 64;

/// What one run saw, printed by the tests (`--nocapture`).
#[derive(Debug)]
#[allow(dead_code)]
struct Report {
    items: u64,
    cancels_sent: u64,
    cancels_caught: u64,
    secs: f64,
}

/// Runs the scenario with `items` items on the given loop.
fn run_stress(items: u64, workers: Option<usize>, seed: u64) -> Report {
    let mut builder = Runtime::builder();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    let started = Instant::now();
    let mut report = builder.build().expect("runtime").run(stress(items, seed)).expect("stress main");
    report.secs = started.elapsed().as_secs_f64();
    report
}

async fn stress(items: u64, seed: u64) -> anyhow::Result<Report> {
    let q = Queue::<u64>::new(MAXSIZE);
    let seen: Arc<Vec<AtomicU8>> = Arc::new((0..items).map(|_| AtomicU8::new(0)).collect());
    let caught = Arc::new(AtomicU64::new(0));
    // The canceller starts once every body has: a task cancelled before its first poll never
    // runs its body at all, and a producer that never ran would leave `join` waiting.
    let started = Arc::new(AtomicU64::new(0));

    let producers: Vec<Task<()>> = (0..PRODUCERS)
        .map(|p| {
            let (q, caught, started) = (q.clone(), caught.clone(), started.clone());
            create_task(async move {
                started.fetch_add(1, Ordering::SeqCst);
                let mut next = p;
                while next < items {
                    match q.put(next).await {
                        Ok(()) => next += PRODUCERS,
                        Err(PutError::Cancelled(item, _)) => {
                            assert_eq!(item, next, "a cancelled put gives its item back");
                            caught.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(other) => anyhow::bail!("producer {p}: {other}"),
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();

    let consumers: Vec<Task<()>> = (0..CONSUMERS)
        .map(|_| {
            let (q, seen, caught, started) = (q.clone(), seen.clone(), caught.clone(), started.clone());
            create_task(async move {
                started.fetch_add(1, Ordering::SeqCst);
                loop {
                    match q.get().await {
                        Ok(item) => {
                            let before = seen[item as usize].fetch_add(1, Ordering::Relaxed);
                            assert_eq!(before, 0, "item {item} consumed twice");
                            q.task_done()?;
                        }
                        Err(GetError::Cancelled(_)) => {
                            caught.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(GetError::ShutDown) => return anyhow::Ok(()),
                        Err(other) => anyhow::bail!("consumer: {other}"),
                    }
                }
            })
        })
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let canceller = create_task({
        let victims: Vec<_> =
            producers.iter().map(Task::as_task_ref).chain(consumers.iter().map(Task::as_task_ref)).collect();
        let (stop, started) = (stop.clone(), started.clone());
        async move {
            while started.load(Ordering::SeqCst) < PRODUCERS + CONSUMERS as u64 {
                yield_now().await?;
            }
            let mut rng = Rng(seed);
            let mut sent = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                let victim = &victims[rng.below(victims.len() as u64) as usize];
                if victim.cancel() {
                    sent += 1;
                }
                for _ in 0..=rng.below(4) {
                    yield_now().await?;
                }
            }
            anyhow::Ok(sent)
        }
    });

    for producer in producers {
        // A producer whose last `put` did not suspend may end cancelled by a request it had
        // not seen yet; its body had put every item by then.
        if let Err(err) = producer.await {
            assert!(err.is_cancelled(), "producer failed: {err}");
        }
    }
    q.join().await?;
    stop.store(true, Ordering::Relaxed);
    let cancels_sent = canceller.await?;
    assert_eq!(q.qsize(), 0);
    q.shutdown(false);
    for consumer in consumers {
        // A consumer may end cancelled: a request it had not yet seen when the queue shut
        // down is still pending when its body returns.
        if let Err(err) = consumer.await {
            assert!(err.is_cancelled(), "consumer failed: {err}");
        }
    }
    let lost: Vec<u64> = (0..items).filter(|&i| seen[i as usize].load(Ordering::Relaxed) != 1).take(10).collect();
    assert!(lost.is_empty(), "items not consumed exactly once: {lost:?}");
    let cancels_caught = caught.load(Ordering::Relaxed);
    assert!(cancels_caught > 0, "no cancellation landed in a wait");
    Ok(Report { items, cancels_sent, cancels_caught, secs: 0.0 })
}

/// The item count: 100,000 under `cargo test`, 1,000,000 (the figure) under
/// `cargo xtask stress`; `TASKLOOP_SYNC_STRESS_ITEMS` overrides both.
fn items() -> u64 {
    let default = taskloop_test_support::stress_size(100_000, 1_000_000);
    std::env::var("TASKLOOP_SYNC_STRESS_ITEMS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn stress_queue_with_random_cancellation_multi_thread() {
    let report = within(600, || run_stress(items(), Some(2), 0x5EED_0001));
    eprintln!("{report:?}");
}

#[test]
fn stress_queue_with_random_cancellation_current_thread() {
    let report = within(600, || run_stress(items(), None, 0x5EED_0002));
    eprintln!("{report:?}");
}

/// 16 tasks taking turns on a `Semaphore(3)` and a `Lock`, one task cancelling them at random:
/// never more than 3 permit holders or one lock holder at once, and at the end every permit
/// is free and the lock unlocked (none lost to a cancelled waiter, none made up).
fn run_semaphore_stress(rounds: u64, workers: Option<usize>, seed: u64) {
    let mut builder = Runtime::builder();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    builder
        .build()
        .expect("runtime")
        .run(async move {
            let sem = taskloop::sync::Semaphore::new(3);
            let lock = taskloop::sync::Lock::new();
            let holders = Arc::new(AtomicU64::new(0));
            let done = Arc::new(AtomicU64::new(0));
            let started = Arc::new(AtomicU64::new(0));
            let tasks: Vec<Task<()>> = (0..16)
                .map(|_| {
                    let (sem, lock, holders, done, started) =
                        (sem.clone(), lock.clone(), holders.clone(), done.clone(), started.clone());
                    create_task(async move {
                        started.fetch_add(1, Ordering::SeqCst);
                        let mut left = rounds;
                        while left > 0 {
                            let Ok(_permit) = sem.acquire().await else { continue };
                            assert!(holders.fetch_add(1, Ordering::SeqCst) < 3, "a fourth permit holder");
                            let held = lock.acquire().await;
                            if held.is_ok() {
                                assert!(lock.locked());
                            }
                            let _ = yield_now().await;
                            drop(held);
                            holders.fetch_sub(1, Ordering::SeqCst);
                            left -= 1;
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                        anyhow::Ok(())
                    })
                })
                .collect();
            let victims: Vec<_> = tasks.iter().map(Task::as_task_ref).collect();
            let mut rng = Rng(seed);
            // Not before every body has started: a task cancelled before its first poll never
            // runs its body.
            while started.load(Ordering::SeqCst) < 16 {
                yield_now().await?;
            }
            while done.load(Ordering::SeqCst) < 16 {
                victims[rng.below(16) as usize].cancel();
                yield_now().await?;
            }
            for task in tasks {
                let _ = task.await; // a request left pending at the end makes it cancelled
            }
            assert_eq!(sem.value(), 3, "permits lost or made up");
            assert!(!sem.locked() && !lock.locked());
            anyhow::Ok(())
        })
        .expect("semaphore stress main");
}

#[test]
fn stress_semaphore_and_lock_with_random_cancellation() {
    within(300, || {
        run_semaphore_stress(2_000, Some(2), 0x5EED_0003);
        run_semaphore_stress(2_000, None, 0x5EED_0004);
    });
}
