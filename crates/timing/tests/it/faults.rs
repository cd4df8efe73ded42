//! Faults in timed code: a panic in a `call_later` callback is reported to the exception handler
//! and the timer queue, later timers and tasks go on; a panic in a follow-up's closure ends that
//! follow-up `Panicked` and nothing else.

use std::time::{Duration, Instant};

use taskloop::prelude::*;
use taskloop::{TaskError, call_later, create_task, set_exception_handler, sleep};

use crate::on_both_flavours;
use crate::support::{Log, MS};

use taskloop_test_support::quiet_deliberate_panics;

/// Waits (sleeping on the loop) until `log` holds `n` events; gives up after 10 s of real time
/// so a missing event fails the test instead of hanging it.
async fn wait_for(log: &Log, n: usize) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while log.snapshot().len() < n && Instant::now() < give_up {
        sleep(MS).await.expect("not cancelled");
    }
}

on_both_flavours! {
    fn a_panic_in_a_call_later_callback_is_reported_and_later_timers_and_tasks_still_run() {
        quiet_deliberate_panics();
        let log = Log::default();
        let reports = log.clone();
        set_exception_handler(move |ctx| {
            let panicked = ctx.error().is_some_and(TaskError::is_panic);
            reports.push(format!("handler: {} (panic: {panicked})", ctx.message()));
        });
        let _ = call_later(2 * MS, || panic!("deliberate: timer"));
        let l = log.clone();
        let _ = call_later(4 * MS, move || l.push("later timer"));
        wait_for(&log, 2).await;
        log.check(&["handler: Exception in callback: deliberate: timer (panic: true)", "later timer"]);

        let l = log.clone();
        let _ = call_later(MS, move || l.push("timer after the fault"));
        let task = create_task(async {
            sleep(2 * MS).await?;
            anyhow::Ok(3)
        });
        assert_eq!(task.await?, 3);
        wait_for(&log, 3).await;
        assert_eq!(log.snapshot().last().map(String::as_str), Some("timer after the fault"));
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn a_panic_in_a_follow_up_ends_that_follow_up_panicked_and_nothing_else() {
        quiet_deliberate_panics();
        let first = create_task(async { anyhow::Ok(2) });
        let broken = first.then(|_| async {
            if true {
                panic!("deliberate: follow-up");
            }
            anyhow::Ok(0)
        });
        let fine = first.and_then(|v| async move { anyhow::Ok(v * 10) });
        match broken.await {
            Err(TaskError::Panicked(message)) => assert_eq!(&*message, "deliberate: follow-up"),
            other => panic!("expected Panicked, got {other:?}"),
        }
        assert_eq!(first.result()?, 2);
        assert_eq!(fine.await?, 20);
        let next = taskloop::delay(async { anyhow::Ok("delayed") }, 3 * MS);
        assert_eq!(next.await?, "delayed");
        anyhow::Ok(())
    }
}
