//! `delay`: the seed's 24.8 wrapper, awaited directly and run as its own task.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use taskloop::{Cancelled, Instant, TaskError, create_task, delay, sleep, yield_now};

use crate::support::{DropProbe, Log, MS, SEC, ms_since, paused};

#[test]
fn delay_awaited_directly_runs_the_future_after_the_delay() {
    paused(async {
        let log = Log::default();
        let start = Instant::now();
        let sink = log.clone();
        let value = delay(
            async move {
                sink.push(format!("work started at {}ms", ms_since(start)));
                anyhow::Ok(42)
            },
            250 * MS,
        )
        .await?;
        log.push(format!("delay returned {value} at {}ms", ms_since(start)));
        log.check(&["work started at 250ms", "delay returned 42 at 250ms"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn delay_as_its_own_task_lets_the_caller_go_on() {
    paused(async {
        let log = Log::default();
        let start = Instant::now();
        let sink = log.clone();
        let task = create_task(delay(
            async move {
                sink.push(format!("work at {}ms", ms_since(start)));
                anyhow::Ok("done")
            },
            SEC,
        ));
        log.push("main goes on");
        sleep(500 * MS).await?;
        log.push(format!("main still free at {}ms", ms_since(start)));
        assert_eq!(task.await?, "done");
        log.check(&["main goes on", "main still free at 500ms", "work at 1000ms"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn cancelling_a_delay_during_its_sleep_never_starts_the_future() {
    paused(async {
        let started = Arc::new(AtomicBool::new(false));
        let probe = DropProbe::default();
        let (flag, guard) = (started.clone(), probe.guard());
        let task = create_task(delay(
            async move {
                let _guard = guard;
                flag.store(true, Ordering::SeqCst);
                anyhow::Ok(())
            },
            10 * SEC,
        ));
        sleep(SEC).await?;
        assert!(task.cancel_with("not now"));
        let outcome = (&task).await;
        assert_eq!(outcome.unwrap_err().cancel_message(), Some("not now"));
        assert!(task.cancelled());
        assert!(!started.load(Ordering::SeqCst), "the future never started");
        assert_eq!(probe.drops(), 1, "it was dropped with the delay");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn delay_resolves_to_cancelled_when_awaited_directly_by_a_cancelled_task() {
    paused(async {
        let waiter = create_task(async {
            let outcome = delay(async { anyhow::Ok(()) }, 10 * SEC).await;
            anyhow::Ok(matches!(outcome, Err(TaskError::Cancelled(_))))
        });
        sleep(SEC).await?;
        waiter.cancel();
        assert!(waiter.await?, "the delay resolved to Err(Cancelled); the body caught it");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancellation_after_the_delay_reaches_the_future_itself() {
    paused(async {
        let log = Log::default();
        let sink = log.clone();
        let task = create_task(delay(
            async move {
                sink.push("started");
                match sleep(10 * SEC).await {
                    Err(c) => sink.push(format!("work saw {c}")),
                    Ok(()) => sink.push("work slept"),
                }
                anyhow::Ok("cleaned up")
            },
            SEC,
        ));
        sleep(2 * SEC).await?;
        task.cancel_with("stop");
        assert_eq!(task.await?, "cleaned up", "the work caught the cancellation and finished");
        log.check(&["started", "work saw cancelled: stop"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn delay_passes_on_the_failure_of_the_future() {
    paused(async {
        let outcome = delay(async { anyhow::bail!("disk full") as anyhow::Result<()> }, SEC).await;
        match outcome {
            Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "disk full"),
            other => panic!("unexpected {other:?}"),
        }
        let cancelled = delay(async { Err::<(), _>(Cancelled::with_message("inner")) }, SEC).await;
        assert_eq!(cancelled.unwrap_err().cancel_message(), Some("inner"));
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn delay_of_a_running_task_postpones_awaiting_it() {
    paused(async {
        let start = Instant::now();
        let task = create_task(async move { anyhow::Ok(ms_since(start)) });
        let finished_at = delay(&task, SEC).await?;
        assert_eq!(finished_at, 0, "the task ran at once; only the awaiting was delayed");
        assert_eq!(ms_since(start), 1000);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn delay_of_duration_max_sleeps_until_cancelled_without_overflowing() {
    paused(async {
        let task = create_task(delay(async { anyhow::Ok(()) }, Duration::MAX));
        sleep(Duration::from_secs(86_400)).await?;
        assert!(!task.done());
        task.cancel();
        assert!((&task).await.unwrap_err().is_cancelled());
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn delay_of_zero_only_yields() {
    paused(async {
        let log = Log::default();
        let sink = log.clone();
        let other = create_task(async move {
            sink.push("other task");
            anyhow::Ok(())
        });
        let sink = log.clone();
        delay(
            async move {
                sink.push("delayed work");
                anyhow::Ok(())
            },
            Duration::ZERO,
        )
        .await?;
        yield_now().await?;
        log.check(&["other task", "delayed work"]);
        other.await?;
        anyhow::Ok(())
    })
    .unwrap();
}
