//! Faults: a panic in a body, in a done callback, in a `call_soon` callback or in the `Drop`
//! of a body ends where it is documented to (the task `Panicked`, or a report to the exception
//! handler) and goes no further: a normal task started afterwards still works. And a task that
//! never yields does not keep the other worker from cancelling other tasks.
//!
//! `run` with a main that panics is `loop_run::a_panicking_main_returns_panicked_and_still_cancels_the_rest`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use taskloop::{TaskError, call_soon, create_task, set_exception_handler, sleep, yield_now};

use crate::on_both_flavours;
use crate::stress::quiet_deliberate_panics;
use crate::support::{Log, Probe, multi};

/// Installs an exception handler that logs each report as `handler: <message> [<error>]`.
fn log_reports(log: &Log) {
    quiet_deliberate_panics();
    let reports = log.clone();
    set_exception_handler(move |ctx| {
        let error = ctx.error().map_or_else(|| "no error".to_owned(), |e| format!("{e:?}"));
        reports.push(format!("handler: {} [{error}]", ctx.message()));
    });
}

/// A normal task, with a done callback, after the fault: both must still work.
async fn a_normal_task_still_works(log: &Log) -> anyhow::Result<()> {
    log.take();
    let task = create_task(async {
        yield_now().await?;
        anyhow::Ok(7)
    });
    let l = log.clone();
    task.add_done_callback(move |t| l.push(format!("normal callback saw {:?}", t.result().ok())));
    assert_eq!((&task).await?, 7);
    log.wait_for(1).await;
    log.check(&["normal callback saw Some(7)"]);
    Ok(())
}

/// Holds a body's resources; panics when dropped.
struct PanicsOnDrop(&'static str);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("deliberate: {} dropped", self.0);
    }
}

on_both_flavours! {
    fn a_panic_in_a_body_ends_it_panicked_and_unread_is_reported_once() {
        let log = Log::default();
        log_reports(&log);
        let read = create_task(async {
            yield_now().await?;
            if true {
                panic!("deliberate: read");
            }
            anyhow::Ok(())
        });
        match (&read).await {
            Err(TaskError::Panicked(message)) => assert_eq!(&*message, "deliberate: read"),
            other => panic!("expected Panicked, got {other:?}"),
        }
        // Nobody reads this one: dropping its last handle reports it, once.
        let unread = create_task(async {
            yield_now().await?;
            if true {
                panic!("deliberate: unread");
            }
            anyhow::Ok(())
        });
        taskloop::wait([unread.as_task_ref()], taskloop::ReturnWhen::AllCompleted, None).await?;
        drop(unread);
        log.wait_for(1).await;
        let reports = log.take();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(reports[0].starts_with("handler: Task exception was never retrieved"), "{reports:?}");
        assert!(reports[0].ends_with("[Panicked(\"deliberate: unread\")]"), "{reports:?}");
        a_normal_task_still_works(&log).await
    }
}

on_both_flavours! {
    fn a_panic_in_a_done_callback_is_reported_and_the_next_callbacks_and_tasks_still_run() {
        let log = Log::default();
        log_reports(&log);
        let task = create_task(async { anyhow::Ok(1) });
        task.add_done_callback(|_| panic!("deliberate: done callback"));
        let l = log.clone();
        task.add_done_callback(move |_| l.push("second callback"));
        assert_eq!((&task).await?, 1);
        log.wait_for(2).await;
        log.check(&["handler: Exception in callback: deliberate: done callback [Panicked(\"deliberate: done callback\")]", "second callback"]);
        a_normal_task_still_works(&log).await
    }
}

on_both_flavours! {
    fn a_panic_in_a_call_soon_callback_is_reported_and_the_next_callbacks_and_tasks_still_run() {
        let log = Log::default();
        log_reports(&log);
        let _ = call_soon(|| panic!("deliberate: call_soon"));
        let l = log.clone();
        let _ = call_soon(move || l.push("next callback"));
        log.wait_for(2).await;
        log.check(&["handler: Exception in callback: deliberate: call_soon [Panicked(\"deliberate: call_soon\")]", "next callback"]);
        a_normal_task_still_works(&log).await
    }
}

on_both_flavours! {
    fn a_panic_in_the_drop_of_an_aborted_body_is_reported_and_the_task_ends_cancelled() {
        let log = Log::default();
        log_reports(&log);
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let task = create_task(async move {
            let _guard = PanicsOnDrop("aborted body");
            s.store(true, SeqCst);
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok(())
        });
        while !started.load(SeqCst) {
            yield_now().await?;
        }
        task.abort();
        let err = (&task).await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(task.cancelled());
        // The report is made while the body is dropped, before the task is done.
        log.check(&["handler: a task body panicked while being dropped: deliberate: aborted body dropped [Panicked(\"deliberate: aborted body dropped\")]"]);
        a_normal_task_still_works(&log).await
    }
}

on_both_flavours! {
    fn a_panic_in_the_drop_of_a_body_cancelled_before_it_ran_is_reported() {
        let log = Log::default();
        log_reports(&log);
        let probe = Probe::default();
        let p = probe.clone();
        let guard = PanicsOnDrop("unstarted body");
        let task = create_task(async move {
            let _guard = guard;
            p.polled();
            anyhow::Ok(())
        });
        assert!(task.cancel_with("never started"));
        let err = (&task).await.unwrap_err();
        assert_eq!(err.cancel_message(), Some("never started"));
        assert_eq!(probe.polls(), 0);
        log.check(&["handler: a task body panicked while being dropped: deliberate: unstarted body dropped [Panicked(\"deliberate: unstarted body dropped\")]"]);
        a_normal_task_still_works(&log).await
    }
}

on_both_flavours! {
    fn a_panic_in_a_drop_as_the_body_returns_ends_the_task_panicked() {
        let log = Log::default();
        log_reports(&log);
        // The guard is dropped inside the body's last poll, so the panic is the body's.
        let task = create_task(async {
            let _guard = PanicsOnDrop("returning body");
            yield_now().await?;
            anyhow::Ok(5)
        });
        match (&task).await {
            Err(TaskError::Panicked(message)) => assert_eq!(&*message, "deliberate: returning body dropped"),
            other => panic!("expected Panicked, got {other:?}"),
        }
        assert_eq!(log.len(), 0, "read outcomes are not reported");
        a_normal_task_still_works(&log).await
    }
}

/// How long the busy task may hold its worker without yielding before the test gives up.
const BUSY_AT_MOST: Duration = Duration::from_secs(10);

#[test]
fn a_task_that_never_yields_does_not_stop_others_being_cancelled_at_their_next_point() {
    multi(async {
        let busy_started = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let (started, released) = (busy_started.clone(), release.clone());
        let sleepers: Vec<_> = (0..4)
            .map(|_| {
                create_task(async {
                    loop {
                        sleep(Duration::from_millis(1)).await?;
                    }
                    #[allow(unreachable_code)]
                    anyhow::Ok(())
                })
            })
            .collect();
        // Holds its worker, never reaching a cancellation point, until main has cancelled and
        // awaited every sleeper (or BUSY_AT_MOST passes, which fails the test).
        let busy = create_task(async move {
            yield_now().await?;
            started.store(true, SeqCst);
            let give_up = Instant::now() + BUSY_AT_MOST;
            while !released.load(SeqCst) && Instant::now() < give_up {
                std::hint::spin_loop();
            }
            anyhow::Ok(released.load(SeqCst))
        });
        let give_up = Instant::now() + Duration::from_secs(10);
        while !busy_started.load(SeqCst) {
            assert!(Instant::now() < give_up, "the busy task never started");
            sleep(Duration::from_millis(1)).await?;
        }
        for (i, sleeper) in sleepers.iter().enumerate() {
            assert!(sleeper.cancel_with(format!("stop {i}")));
        }
        for (i, sleeper) in sleepers.iter().enumerate() {
            let err = sleeper.await.unwrap_err();
            assert_eq!(err.cancel_message(), Some(&*format!("stop {i}")));
        }
        assert!(!busy.done(), "the busy task still holds its worker");
        release.store(true, SeqCst);
        assert!(busy.await?, "the sleepers were cancelled only after the busy task gave up its worker");
        anyhow::Ok(())
    })
    .expect("main");
}
