//! Issue 13's differences from asyncio, each pinned to what CPython 3.13 prints for the
//! program in its doc comment (run on this machine with `PYENV_VERSION=3.13.0 python3`).
//! Single-thread ordering, so current-thread loop on paused time.

use std::time::Duration;

use taskloop::{ReturnWhen, create_task, current_task, sleep, wait, yield_now};

use crate::support::{Log, paused};

/// Item 1. `main: create_task(t1)` and return; `t1: await sleep(0)` →
/// `['t1 start', 't1 cancelled at sleep(0)']`: t1 runs the step already scheduled, then run
/// cancels it at its next await.
#[test]
fn leftovers_run_only_the_step_already_scheduled_when_main_returns() {
    let log = Log::default();
    let t1_log = log.clone();
    paused(async move {
        let _t1 = create_task(async move {
            t1_log.push("t1 start");
            if let Err(cancelled) = sleep(Duration::ZERO).await {
                t1_log.push("t1 cancelled at sleep(0)");
                return Err(cancelled.into());
            }
            t1_log.push("t1 after sleep");
            anyhow::Ok(())
        });
        anyhow::Ok(())
    })
    .unwrap();
    log.check(&["t1 start", "t1 cancelled at sleep(0)"]);
}

/// Item 2. `main: me.cancel("m1"); create_task(t1); await sleep(0.5)`, `t1: print(me.cancel())`
/// → `['t1 cancel -> True', "main sleep raised ('m1',)"]`: a task that cancels itself is
/// cancelled at its next await only after it has suspended once.
#[test]
fn a_self_cancel_is_delivered_after_the_task_suspends_once() {
    let log = Log::default();
    let main_log = log.clone();
    let outcome = paused(async move {
        let me = current_task().unwrap();
        assert!(me.cancel_with("m1"));
        let t1_log = main_log.clone();
        let main = me.clone();
        let _t1 = create_task(async move {
            t1_log.push(format!("t1 cancel -> {}", main.cancel()));
            anyhow::Ok(())
        });
        if let Err(cancelled) = sleep(Duration::from_millis(500)).await {
            main_log.push(format!("main sleep raised {:?}", cancelled.message()));
            return Err(cancelled.into());
        }
        anyhow::Ok(())
    });
    assert!(outcome.unwrap_err().is_cancelled());
    log.check(&["t1 cancel -> true", "main sleep raised Some(\"m1\")"]);
}

/// Item 3. As item 2, with `t1: me.cancel("m3")` and main catching the first
/// `CancelledError`, then sleeping again → `["caught ('m1',)", 'second sleep completed,
/// cancelling=2']`: requests made before the delivery merge into it.
#[test]
fn requests_made_before_the_delivery_merge_into_it() {
    let log = paused(async move {
        let log = Log::default();
        let me = current_task().unwrap();
        assert!(me.cancel_with("m1"));
        let main = me.clone();
        let _t1 = create_task(async move { anyhow::Ok(main.cancel_with("m3")) });
        if let Err(cancelled) = sleep(Duration::from_millis(500)).await {
            log.push(format!("caught {:?}", cancelled.message()));
        }
        sleep(Duration::from_millis(100)).await?;
        log.push(format!("second sleep completed, cancelling={}", me.cancelling()));
        anyhow::Ok(log)
    })
    .unwrap();
    log.check(&["caught Some(\"m1\")", "second sleep completed, cancelling=2"]);
}

/// Item 4. `t1` done; `me.cancel("m1"); await t1` → `['await done task -> 7', 'main ended
/// cancelled']`: awaiting a finished task does not suspend, so it delivers nothing, and the
/// request ends the task when its body returns.
#[test]
fn awaiting_a_finished_task_delivers_no_cancellation() {
    let log = Log::default();
    let main_log = log.clone();
    let outcome = paused(async move {
        let t1 = create_task(async { anyhow::Ok(7) });
        yield_now().await?;
        current_task().unwrap().cancel_with("m1");
        main_log.push(format!("await done task -> {}", t1.await?));
        anyhow::Ok(())
    });
    assert_eq!(outcome.unwrap_err().cancel_message(), Some("m1"), "main ended cancelled");
    log.check(&["await done task -> 7"]);
}

/// Item 9. `t1` done; `me.cancel(); await wait([t1], FIRST_COMPLETED)` → `['wait raised',
/// 'main ended cancelled']`: `wait` always suspends, so it is where the request is delivered.
#[test]
fn wait_always_suspends_so_it_delivers_a_request_even_when_it_could_return_at_once() {
    let outcome = paused(async move {
        let t1 = create_task(async { anyhow::Ok(7) });
        yield_now().await?;
        current_task().unwrap().cancel();
        let waited = wait([t1], ReturnWhen::FirstCompleted, None).await;
        assert!(waited.as_ref().is_err_and(|e| e.is_cancelled()), "wait raised");
        waited?;
        anyhow::Ok(())
    });
    assert!(outcome.unwrap_err().is_cancelled(), "main ended cancelled");
}
