//! Cancellation: asyncio's rules (CPython test_tasks.py: test_cancel*, test_uncancel*), plus
//! abort.

use std::sync::Arc;
use std::time::Duration;

use taskloop::{Cancelled, TaskError, cancellable, create_task, current_task, shield, sleep, yield_now};
use tokio::sync::Notify;

use crate::on_both_flavours;
use crate::support::{Log, Probe, paused};

on_both_flavours! {
    fn cancel_returns_true_every_time_until_done_then_false() {
        let task = create_task(async { sleep(Duration::from_secs(10)).await?; anyhow::Ok(()) });
        assert!(task.cancel());
        assert!(task.cancel(), "a second request is accepted too");
        assert_eq!(task.cancelling(), 2);
        assert!((&task).await.unwrap_err().is_cancelled());
        assert!(!task.cancel(), "a done task cannot be cancelled");
        assert!(task.cancelled());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn cancel_of_a_finished_task_returns_false_and_it_stays_not_cancelled() {
        let task = create_task(async { anyhow::Ok(5) });
        assert_eq!((&task).await?, 5);
        assert!(!task.cancel());
        assert!(!task.cancelled());
        assert_eq!(task.result()?, 5);
        anyhow::Ok(())
    }
}

/// asyncio 3.13 (`t` sleeping; `t.cancel("first"); t.cancel("second")`): the first request
/// cancels the future `t` awaits, the second only counts, so `t` catches `('first',)`.
#[test]
fn two_requests_to_a_suspended_task_are_delivered_once_with_the_first_message() {
    paused(async {
        let log = Log::default();
        let body_log = log.clone();
        let task = create_task(async move {
            match sleep(Duration::from_secs(10)).await {
                Err(c) => body_log.push(format!("caught {:?}", c.message())),
                Ok(()) => body_log.push("slept"),
            }
            // Delivered once: the next cancellation point does not see it again.
            sleep(Duration::from_millis(1)).await?;
            body_log.push("finished");
            anyhow::Ok(())
        });
        yield_now().await?;
        task.cancel_with("first");
        task.cancel_with("second");
        (&task).await?;
        log.check(&["caught Some(\"first\")", "finished"]);
        assert!(!task.cancelled(), "the body caught the cancellation and finished normally");
        assert_eq!(task.cancelling(), 2, "cancelling() counts requests, not deliveries");
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn the_cancel_message_reaches_the_body_and_every_reader() {
        let task = create_task(async {
            let err = sleep(Duration::from_secs(10)).await.unwrap_err();
            assert_eq!(err.message(), Some("stop now"));
            Err::<(), _>(err)
        });
        yield_now().await?;
        task.cancel_with("stop now");
        for _ in 0..3 {
            assert_eq!((&task).await.unwrap_err().cancel_message(), Some("stop now"));
        }
        assert_eq!(task.result().unwrap_err().cancel_message(), Some("stop now"));
        assert_eq!(task.exception().unwrap_err().cancel_message(), Some("stop now"));
        anyhow::Ok(())
    }
}

#[test]
fn a_body_returning_ok_with_a_request_never_delivered_ends_cancelled() {
    // asyncio's test_cancel_at_end: the body never reaches a cancellation point after the
    // request, and returns normally; the task still ends cancelled.
    paused(async {
        let notify = Arc::new(Notify::new());
        let wake = notify.clone();
        let task = create_task(async move {
            wake.notified().await; // a tokio future: not a cancellation point
            anyhow::Ok(1)
        });
        yield_now().await?;
        assert!(task.cancel_with("late"));
        notify.notify_one();
        let err = (&task).await.unwrap_err();
        assert_eq!(err.cancel_message(), Some("late"));
        assert!(task.cancelled());
        anyhow::Ok(())
    })
    .unwrap();
}

/// asyncio 3.13: `t` awaits `event.wait()`; `t.cancel(); t.cancel(); t.uncancel();
/// t.uncancel()` leaves `t` to raise `CancelledError`: the first request already cancelled the
/// future it awaits, which `uncancel` does not undo.
#[test]
fn uncancel_to_zero_does_not_withdraw_a_request_handed_to_the_await() {
    paused(async {
        let notify = Arc::new(Notify::new());
        let wake = notify.clone();
        let task = create_task(async move {
            wake.notified().await;
            sleep(Duration::from_millis(1)).await?;
            anyhow::Ok("ran on")
        });
        yield_now().await?;
        task.cancel();
        task.cancel();
        assert_eq!(task.uncancel(), 1);
        assert_eq!(task.uncancel(), 0);
        assert_eq!(task.uncancel(), 0, "never below zero");
        notify.notify_one();
        assert!((&task).await.unwrap_err().is_cancelled());
        assert!(task.cancelled());
        anyhow::Ok(())
    })
    .unwrap();
}

/// asyncio 3.13: `me.cancel("self"); me.uncancel()` (→ 0) in the running task clears
/// `_must_cancel`: the next `await asyncio.sleep(..)` completes.
#[test]
fn uncancel_to_zero_withdraws_a_request_the_running_task_made_itself() {
    paused(async {
        let me = current_task().unwrap();
        assert!(me.cancel_with("self"));
        assert_eq!(me.uncancel(), 0);
        sleep(Duration::from_millis(1)).await?;
        anyhow::Ok("slept")
    })
    .unwrap();
}

on_both_flavours! {
    fn tasks_cancelled_before_they_first_run_never_poll_their_bodies() {
        // Many at once: on the multi-thread loop, other workers must not start them before
        // their creator suspends.
        let probe = Probe::default();
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let p = probe.clone();
                create_task(async move {
                    p.polled();
                    anyhow::Ok(())
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(5)); // give other workers a chance
        for task in &tasks {
            assert!(task.cancel_with("too early"));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap_err().cancel_message(), Some("too early"));
        }
        assert_eq!(probe.polls(), 0);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn cancelling_a_task_that_awaits_another_cancels_that_one_too() {
        let child = create_task(async {
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok(())
        });
        let awaited = child.clone();
        let parent = create_task(async move { awaited.await.map_err(anyhow::Error::from) });
        sleep(Duration::from_millis(1)).await?;
        parent.cancel_with("cascade");
        assert_eq!((&parent).await.unwrap_err().cancel_message(), Some("cascade"));
        assert!(child.cancelled(), "the request went down the await chain");
        assert_eq!(child.exception().unwrap_err().cancel_message(), Some("cascade"));
        anyhow::Ok(())
    }
}

#[test]
fn a_child_that_absorbs_a_forwarded_cancel_gives_the_parent_its_value() {
    paused(async {
        let child = create_task(async {
            match sleep(Duration::from_secs(3600)).await {
                Err(_) => anyhow::Ok("absorbed"),
                Ok(()) => anyhow::Ok("slept"),
            }
        });
        let awaited = child.clone();
        let parent = create_task(async move { Ok::<_, anyhow::Error>(awaited.await?) });
        sleep(Duration::from_millis(1)).await?;
        parent.cancel();
        assert_eq!((&parent).await?, "absorbed");
        assert!(!parent.cancelled() && !child.cancelled());
        assert_eq!(parent.cancelling(), 1, "the request was counted on the parent");
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn shield_keeps_the_cancellation_from_reaching_the_shielded_task() {
        let inner = create_task(async {
            sleep(Duration::from_millis(50)).await?;
            anyhow::Ok("inner done")
        });
        let guarded = inner.clone();
        let outer = create_task(async move { Ok::<_, anyhow::Error>(shield(guarded).await??) });
        sleep(Duration::from_millis(1)).await?;
        outer.cancel_with("outer only");
        assert_eq!((&outer).await.unwrap_err().cancel_message(), Some("outer only"));
        assert!(!inner.done(), "the shielded task keeps running");
        assert_eq!(inner.await?, "inner done");
        anyhow::Ok(())
    }
}

#[test]
fn inside_a_shield_cancellation_points_do_not_see_the_request() {
    paused(async {
        let log = Log::default();
        let l = log.clone();
        let task = create_task(async move {
            let shielded = shield(async {
                sleep(Duration::from_millis(10)).await.map_err(|_| "inner saw it")?;
                Ok::<_, &str>("inner slept")
            });
            match shielded.await {
                Err(c) => l.push(format!("outer: {c}")),
                Ok(r) => l.push(format!("{r:?}")),
            }
            anyhow::Ok(())
        });
        sleep(Duration::from_millis(5)).await?;
        task.cancel_with("x");
        (&task).await?;
        log.check(&["outer: cancelled: x"]);
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn abort_drops_the_body_before_any_awaiter_sees_the_outcome() {
        let probe = Probe::default();
        let p = probe.clone();
        let task = create_task(async move {
            let _guard = p.guard();
            std::future::pending::<()>().await; // no cancellation point at all
            anyhow::Ok(())
        });
        sleep(Duration::from_millis(1)).await?;
        assert_eq!(probe.drops(), 0);
        let watcher = {
            let task = task.clone();
            let probe = probe.clone();
            create_task(async move {
                let outcome = task.await;
                Ok::<_, anyhow::Error>((outcome.unwrap_err().is_cancelled(), probe.drops()))
            })
        };
        yield_now().await?;
        task.abort();
        assert_eq!(watcher.await?, (true, 1), "the guard was dropped before the awaiter woke");
        assert!(task.cancelled());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn abort_of_a_finished_task_changes_nothing() {
        let task = create_task(async { anyhow::Ok(3) });
        (&task).await?;
        task.abort();
        assert!(!task.cancelled());
        assert_eq!(task.result()?, 3);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn an_error_that_wraps_cancelled_ends_the_task_cancelled() {
        use anyhow::Context;
        let task = create_task(async {
            sleep(Duration::from_secs(10)).await.context("while waiting")?;
            anyhow::Ok(())
        });
        yield_now().await?;
        task.cancel_with("wrapped");
        assert_eq!((&task).await.unwrap_err().cancel_message(), Some("wrapped"));
        assert!(task.cancelled());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn cancellable_turns_a_foreign_future_into_a_cancellation_point() {
        let task = create_task(async {
            let r: Result<(), Cancelled> = cancellable(std::future::pending::<()>()).await;
            r?;
            anyhow::Ok(())
        });
        yield_now().await?;
        task.cancel();
        assert!(matches!((&task).await, Err(TaskError::Cancelled(_))));
        anyhow::Ok(())
    }
}
