//! The `FollowUp` trait: `then` and `and_then` on success, failure and cancellation.

use std::time::Duration;

use taskloop::prelude::*;
use taskloop::{Instant, TaskError};

use crate::on_both_flavours;
use crate::support::{Log, MS, SEC, ms_since, paused};

on_both_flavours! {
    fn then_runs_after_a_success_with_the_value() {
        let first = create_task(async { anyhow::Ok(20) });
        let follow_up = first.then(|outcome| async move { anyhow::Ok(format!("{:?}", outcome.map(|v| v + 1))) });
        assert_eq!(follow_up.await?, "Ok(21)");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn and_then_runs_after_a_success_with_the_value() {
        let first = create_task(async { anyhow::Ok(vec![1, 2, 3]) });
        let follow_up = first.and_then(|v| async move { anyhow::Ok(v.len()) });
        assert_eq!(follow_up.await?, 3);
        anyhow::Ok(())
    }
}

#[test]
fn then_runs_after_a_failure_with_the_error() {
    paused(async {
        let first = create_task(async { anyhow::bail!("broken pipe") as anyhow::Result<u8> });
        let follow_up = first.then(|outcome| async move {
            anyhow::Ok(match outcome {
                Err(TaskError::Failed(e)) => format!("handled: {e}"),
                other => format!("unexpected {other:?}"),
            })
        });
        assert_eq!(follow_up.await?, "handled: broken pipe");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn then_runs_after_a_cancellation_with_the_cancellation() {
    paused(async {
        let first = create_task(async {
            sleep(10 * SEC).await?;
            anyhow::Ok(())
        });
        let follow_up =
            first.then(|outcome| async move { anyhow::Ok(outcome.unwrap_err().cancel_message().map(str::to_owned)) });
        sleep(SEC).await?;
        first.cancel_with("stop");
        assert_eq!(follow_up.await?.as_deref(), Some("stop"));
        assert!(first.cancelled());
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn and_then_after_a_failure_ends_with_the_same_error_without_running_f() {
    paused(async {
        let log = Log::default();
        let sink = log.clone();
        let first = create_task(async { anyhow::bail!("no route to host") as anyhow::Result<u8> });
        let follow_up = first.and_then(move |_| async move {
            sink.push("f ran");
            anyhow::Ok(())
        });
        match (&follow_up).await {
            Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "no route to host"),
            other => panic!("unexpected {other:?}"),
        }
        match (first.exception()?, follow_up.exception()?) {
            (Some(TaskError::Failed(a)), Some(TaskError::Failed(b))) => {
                assert!(std::sync::Arc::ptr_eq(&a, &b), "the very same error")
            }
            other => panic!("unexpected {other:?}"),
        }
        log.check(&[]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn and_then_after_a_cancellation_ends_cancelled_without_running_f() {
    paused(async {
        let log = Log::default();
        let sink = log.clone();
        let first = create_task(async {
            sleep(10 * SEC).await?;
            anyhow::Ok(1)
        });
        let follow_up = first.and_then(move |_| async move {
            sink.push("f ran");
            anyhow::Ok(())
        });
        sleep(SEC).await?;
        first.cancel_with("stop");
        assert_eq!((&follow_up).await.unwrap_err().cancel_message(), Some("stop"));
        assert!(follow_up.cancelled());
        log.check(&[]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn the_follow_up_exists_at_once_and_runs_f_only_after_the_first_task_is_done() {
    paused(async {
        let log = Log::default();
        let start = Instant::now();
        let sink = log.clone();
        let first = create_task(async move {
            sleep(SEC).await?;
            sink.push(format!("first done at {}ms", ms_since(start)));
            anyhow::Ok("value")
        });
        let sink = log.clone();
        let follow_up = first.then(move |outcome| async move {
            sink.push(format!("f got {outcome:?} at {}ms", ms_since(start)));
            anyhow::Ok(())
        });
        assert!(all_tasks().contains(&follow_up.as_task_ref()));
        sleep(500 * MS).await?;
        assert!(!follow_up.done());
        follow_up.await?;
        log.check(&["first done at 1000ms", "f got Ok(\"value\") at 1000ms"]);
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn cancelling_the_follow_up_before_the_first_task_is_done_cancels_nothing_else() {
        let log = Log::default();
        let sink = log.clone();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let first = create_task(async move {
            cancellable(release_rx).await??;
            anyhow::Ok(5)
        });
        let follow_up = first.then(move |_| async move {
            sink.push("f ran");
            anyhow::Ok(())
        });
        follow_up.cancel_with("not needed");
        assert_eq!((&follow_up).await.unwrap_err().cancel_message(), Some("not needed"));
        assert!(!first.done(), "the first task goes on");
        release_tx.send(()).unwrap();
        assert_eq!((&first).await?, 5);
        assert!(!first.cancelled());
        assert_eq!(first.cancelling(), 0);
        assert_eq!(current_task().unwrap().cancelling(), 0);
        sleep(Duration::from_millis(1)).await?;
        assert!(log.snapshot().is_empty(), "f never ran");
        anyhow::Ok(())
    }
}

#[test]
fn follow_ups_of_a_task_already_done_start_at_once() {
    paused(async {
        let first = create_task(async { anyhow::Ok(2) });
        first.clone().await?;
        let follow_up = first.and_then(|v| async move { anyhow::Ok(v * 10) });
        assert_eq!(follow_up.await?, 20);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn follow_ups_chain() {
    paused(async {
        let first = create_task(async { anyhow::Ok(1) });
        let last = first
            .and_then(|v| async move { anyhow::Ok(v + 1) })
            .and_then(|v| async move { anyhow::Ok(v * 10) })
            .then(|outcome| async move { anyhow::Ok(format!("{outcome:?}")) });
        assert_eq!(last.await?, "Ok(20)");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn follow_ups_of_a_task_ref_see_the_outcome_without_the_value() {
    paused(async {
        let ok = create_task(async { anyhow::Ok("ignored") }).as_task_ref();
        let failed = create_task(async { anyhow::bail!("bad") as anyhow::Result<()> }).as_task_ref();
        assert!(ok.then(|outcome| async move { anyhow::Ok(outcome.is_ok()) }).await?);
        assert_eq!(ok.and_then(|()| async { anyhow::Ok("ran") }).await?, "ran");
        assert_eq!(failed.and_then(|()| async { anyhow::Ok("ran") }).await.unwrap_err().to_string(), "bad");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn an_error_of_f_fails_the_follow_up() {
    paused(async {
        let first = create_task(async { anyhow::Ok(()) });
        let follow_up = first.then(|_| async { anyhow::bail!("follow-up failed") as anyhow::Result<()> });
        assert_eq!(follow_up.await.unwrap_err().to_string(), "follow-up failed");
        anyhow::Ok(())
    })
    .unwrap();
}
