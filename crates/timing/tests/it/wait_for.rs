//! `wait_for`: asyncio 3.12's rules, after CPython's `Lib/test/test_asyncio/test_waitfor.py`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use taskloop::{
    Instant, ReturnWhen, TaskError, cancellable, create_task, current_task, shield, sleep, wait, wait_for, yield_now,
};

use tokio::sync::oneshot;

use crate::on_both_flavours;
use crate::support::{Log, MS, SEC, ms_since, paused};

/// A task body that logs how it ends: `sleeps` long, re-raising a cancellation after logging it.
async fn logged_sleeper(log: Log, sleeps: Duration) -> anyhow::Result<&'static str> {
    match sleep(sleeps).await {
        Ok(()) => Ok("slept"),
        Err(c) => {
            log.push(format!("inner saw {c}"));
            Err(c.into())
        }
    }
}

#[test]
fn wait_for_returns_the_value_that_comes_in_time() {
    paused(async {
        let start = Instant::now();
        let task = create_task(async {
            sleep(100 * MS).await?;
            anyhow::Ok("done")
        });
        assert_eq!(wait_for(&task, SEC).await?, "done");
        assert_eq!(ms_since(start), 100, "it returned as soon as the task was done");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn wait_for_timing_out_cancels_the_inner_task_and_returns_timeout() {
    paused(async {
        let log = Log::default();
        let start = Instant::now();
        let inner = create_task(logged_sleeper(log.clone(), 10 * SEC));
        let outcome = wait_for(&inner, 100 * MS).await;
        assert!(matches!(outcome, Err(TaskError::Timeout)), "{outcome:?}");
        assert_eq!(ms_since(start), 100);
        assert!(inner.done() && inner.cancelled(), "it was cancelled and waited for");
        log.check(&["inner saw cancelled"]);
        let me = current_task().unwrap();
        assert_eq!(me.cancelling(), 0, "the waiter is not left cancelling");
        sleep(MS).await?; // and no request is left pending either
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn wait_for_waits_for_the_cancelled_task_to_finish_before_timing_out() {
    paused(async {
        let start = Instant::now();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let inner = create_task(async move {
            let outcome = sleep(10 * SEC).await;
            if let Err(cancelled) = outcome {
                // Clean-up that takes a while, then re-raise.
                let _ = shield(sleep(SEC)).await;
                flag.store(true, Ordering::SeqCst);
                return Err(cancelled.into());
            }
            anyhow::Ok(())
        });
        let outcome = wait_for(&inner, 100 * MS).await;
        assert!(outcome.unwrap_err().is_timeout());
        assert!(finished.load(Ordering::SeqCst), "the clean-up finished before wait_for returned");
        assert_eq!(ms_since(start), 1100);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn wait_for_returns_the_value_of_a_task_that_absorbs_the_cancellation() {
    paused(async {
        let inner = create_task(async {
            match sleep(10 * SEC).await {
                Err(_) => anyhow::Ok(42),
                Ok(()) => anyhow::Ok(0),
            }
        });
        assert_eq!(wait_for(&inner, 100 * MS).await?, 42);
        assert!(!inner.cancelled());
        assert_eq!(current_task().unwrap().cancelling(), 0);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn wait_for_returns_the_value_of_a_future_that_absorbs_the_cancellation() {
    paused(async {
        // CPython's test_wait_for_cancellation_race_condition and test_wait_for_cancel_suppressed.
        let value = wait_for(
            async {
                assert!(sleep(SEC).await.is_err(), "the time-out reaches the future");
                anyhow::Ok(1)
            },
            10 * MS,
        )
        .await?;
        assert_eq!(value, 1);
        sleep(MS).await?; // the request was delivered and withdrawn: nothing left pending
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn wait_for_passes_on_a_failure_raised_during_the_cancellation() {
    paused(async {
        // CPython's test_wait_for_reraises_exception_during_cancellation.
        let inner = create_task(async {
            if sleep(SEC).await.is_err() {
                anyhow::bail!("FooException");
            }
            anyhow::Ok(())
        });
        match wait_for(&inner, MS).await {
            Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "FooException"),
            other => panic!("unexpected {other:?}"),
        }
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn wait_for_an_already_finished_task_gives_its_outcome_even_with_a_zero_timeout() {
    paused(async {
        let ok = create_task(async { anyhow::Ok("done") });
        let failed = create_task(async { anyhow::bail!("broken") as anyhow::Result<&str> });
        wait([ok.clone(), failed.clone()], ReturnWhen::AllCompleted, None).await?;
        assert_eq!(wait_for(&ok, Duration::ZERO).await?, "done");
        assert_eq!(wait_for(ok.clone(), SEC).await?, "done");
        assert_eq!(wait_for(ok.as_task_ref(), Duration::ZERO).await?, ());
        assert!(wait_for(&failed, Duration::ZERO).await.unwrap_err().is_failed());
        assert!(!ok.cancelled() && !failed.cancelled());
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn wait_for_with_a_zero_timeout_cancels_a_pending_task_at_once() {
    paused(async {
        // CPython's test_wait_for_timeout_less_then_0_or_0.
        let log = Log::default();
        let start = Instant::now();
        let inner = create_task(logged_sleeper(log.clone(), 10 * SEC));
        yield_now().await?; // started, now sleeping
        assert!(wait_for(&inner, Duration::ZERO).await.unwrap_err().is_timeout());
        assert!(inner.cancelled());
        assert_eq!(ms_since(start), 0);
        log.check(&["inner saw cancelled"]);
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn cancelling_the_waiter_cancels_the_inner_task() {
        // CPython's test_cancel_wait_for (Python issue #23219).
        let inner = create_task(async {
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok(())
        });
        let watched = inner.clone();
        let (started_tx, started_rx) = oneshot::channel();
        let waiter = create_task(async move {
            let _ = started_tx.send(());
            anyhow::Ok(wait_for(&watched, Duration::from_secs(60)).await?)
        });
        cancellable(started_rx).await??;
        waiter.cancel_with("give up");
        let outcome = (&waiter).await;
        assert_eq!(outcome.unwrap_err().cancel_message(), Some("give up"), "a cancellation, not a time-out");
        assert!(inner.cancelled());
        assert_eq!(inner.exception().unwrap_err().cancel_message(), Some("give up"));
        anyhow::Ok(())
    }
}

#[test]
fn cancelling_the_waiter_cancels_the_inner_future() {
    paused(async {
        // CPython's test_asyncio_wait_for_cancelled: the future ignores the cancellation
        // until it is done; the waiter waits for it.
        let log = Log::default();
        let sink = log.clone();
        let start = Instant::now();
        let waiter = create_task(async move {
            let outcome = wait_for(
                async move {
                    while ms_since(start) < 200 {
                        if let Err(c) = sleep(200 * MS - start.elapsed()).await {
                            sink.push(format!("ignored {c} at {}ms", ms_since(start)));
                        }
                    }
                    sink.push("exited");
                    anyhow::Ok("finished")
                },
                SEC,
            )
            .await;
            anyhow::Ok(outcome)
        });
        sleep(50 * MS).await?;
        waiter.cancel();
        let outcome = waiter.await?;
        assert_eq!(outcome?, "finished");
        log.check(&["ignored cancelled at 50ms", "exited"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_waiter_cancelled_before_it_starts_leaves_the_inner_task_alone() {
    paused(async {
        // CPython's test_wait_for_self_cancellation.
        let inner = create_task(async {
            let _ = sleep(300 * MS).await;
            anyhow::Ok(42)
        });
        let watched = inner.clone();
        let waiter = create_task(async move { anyhow::Ok(wait_for(&watched, 100 * MS).await?) });
        waiter.cancel();
        assert!((&waiter).await.unwrap_err().is_cancelled());
        assert_eq!(inner.await?, 42);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancellation_right_after_wait_for_completes_is_not_lost() {
    paused(async {
        // CPython's test_wait_for_issue86296.
        let reached_end = Arc::new(AtomicBool::new(false));
        let flag = reached_end.clone();
        let task = create_task(async move {
            wait_for(async { anyhow::Ok(()) }, Duration::from_secs(100)).await?;
            sleep(SEC).await?;
            flag.store(true, Ordering::SeqCst);
            anyhow::Ok(())
        });
        yield_now().await?;
        assert!(!task.done());
        task.cancel();
        assert!((&task).await.unwrap_err().is_cancelled());
        assert!(!reached_end.load(Ordering::SeqCst));
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn wait_for_a_plain_future_that_times_out_cancels_it_at_its_cancellation_point() {
    paused(async {
        let log = Log::default();
        let outcome = wait_for(logged_sleeper(log.clone(), 10 * SEC), 100 * MS).await;
        assert!(outcome.unwrap_err().is_timeout());
        log.check(&["inner saw cancelled"]);
        // A foreign future only stops where it is made a cancellation point.
        let foreign = wait_for(cancellable(std::future::pending::<()>()), 100 * MS).await;
        assert!(foreign.unwrap_err().is_timeout());
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn wait_for_with_duration_max_waits_as_long_as_it_takes() {
    paused(async {
        let task = create_task(async {
            sleep(Duration::from_secs(86_400 * 365)).await?;
            anyhow::Ok("a year later")
        });
        assert_eq!(wait_for(&task, Duration::MAX).await?, "a year later");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn wait_for_takes_join_for_a_value_that_is_not_clone() {
    paused(async {
        struct NotClone(u8);
        let task = create_task(async { anyhow::Ok(NotClone(9)) });
        assert_eq!(wait_for(task.join(), SEC).await?.0, 9);
        anyhow::Ok(())
    })
    .unwrap();
}
