//! Behaviour tests of taskloop-callbacks: `ProgressTracker` fed by taskloop's done callbacks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskloop::{ProgressTracker, Runtime, create_task, gather, sleep, yield_now};

/// Counts of what the hook saw.
#[derive(Default)]
struct Seen {
    calls: AtomicUsize,
    complete: AtomicUsize,
    max_done: AtomicUsize,
}

fn tracked(total: usize) -> (ProgressTracker, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let sink = seen.clone();
    let tracker = ProgressTracker::new(total).on_progress(move |p| {
        sink.calls.fetch_add(1, Ordering::SeqCst);
        sink.max_done.fetch_max(p.done, Ordering::SeqCst);
        if p.is_complete() {
            sink.complete.fetch_add(1, Ordering::SeqCst);
        }
    });
    (tracker, seen)
}

#[test]
fn progress_counts_are_exact_under_ten_thousand_tasks_on_a_multi_thread_loop() {
    const N: usize = 10_000;
    Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap()
        .run(async {
            let (tracker, seen) = tracked(N);
            let tasks: Vec<_> = (0..N)
                .map(|i| {
                    create_task(async move {
                        yield_now().await?;
                        anyhow::Ok(i)
                    })
                })
                .collect();
            for task in &tasks {
                task.add_done_callback(tracker.done_callback());
            }
            gather(&tasks).await?;
            // The callbacks run on the loop after their tasks; wait for the last one.
            while !tracker.is_complete() {
                yield_now().await?;
            }
            assert_eq!(tracker.done(), N);
            assert_eq!(seen.calls.load(Ordering::SeqCst), N, "one hook call per task");
            assert_eq!(seen.max_done.load(Ordering::SeqCst), N);
            assert_eq!(seen.complete.load(Ordering::SeqCst), 1, "exactly one call saw the end");
            anyhow::Ok(())
        })
        .unwrap();
}

#[test]
fn completions_from_many_threads_at_once_are_all_counted() {
    const THREADS: usize = 8;
    const EACH: usize = 10_000;
    let (tracker, seen) = tracked(THREADS * EACH);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let tracker = tracker.clone();
            s.spawn(move || {
                for _ in 0..EACH {
                    tracker.complete_one();
                }
            });
        }
    });
    assert_eq!(tracker.progress().to_string(), "80000/80000");
    assert_eq!(seen.calls.load(Ordering::SeqCst), THREADS * EACH);
    assert_eq!(seen.complete.load(Ordering::SeqCst), 1);
}

#[test]
fn callbacks_count_failed_and_cancelled_tasks_too_and_total_can_grow() {
    Runtime::builder()
        .start_paused(true)
        .build()
        .unwrap()
        .run(async {
            let (tracker, seen) = tracked(2);
            let failing = create_task(async { anyhow::bail!("boom") as anyhow::Result<()> });
            let sleeping = create_task(async {
                sleep(Duration::from_secs(60)).await?;
                anyhow::Ok(())
            });
            failing.add_done_callback(tracker.done_callback());
            sleeping.add_done_callback(tracker.done_callback());
            yield_now().await?;
            sleeping.cancel();
            tracker.add_total(1);
            let late = create_task(async { anyhow::Ok(()) });
            late.add_done_callback(tracker.done_callback());
            while tracker.done() < 3 {
                yield_now().await?;
            }
            assert_eq!(tracker.progress().to_string(), "3/3");
            assert!(failing.exception()?.is_some());
            assert!(sleeping.cancelled());
            assert_eq!(seen.complete.load(Ordering::SeqCst), 1);
            anyhow::Ok(())
        })
        .unwrap();
}
