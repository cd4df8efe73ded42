//! `call_later`, `call_at` and `TimerHandle`: asyncio's `loop.call_later()`/`call_at()` rules.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskloop::{
    Instant, TimerHandle, call_at, call_later, call_soon, cancellable, current_task, set_exception_handler, sleep,
    wait_for,
};
use tokio::sync::mpsc;

use crate::support::{DropProbe, Log, MS, SEC, ms_since, multi, paused};

/// Schedules `f` and logs its name when it runs.
fn log_later(log: &Log, delay: Duration, name: &str) -> TimerHandle {
    let (log, name) = (log.clone(), name.to_owned());
    call_later(delay, move || log.push(name))
}

#[test]
fn callbacks_due_at_the_same_instant_run_in_the_order_scheduled_on_the_current_thread_loop() {
    paused(async {
        let log = Log::default();
        let when = Instant::now() + 100 * MS;
        for i in 0..20 {
            let log = log.clone();
            let _ = call_at(when, move || log.push(format!("at {i}")));
        }
        // The clock is paused, so these deadlines are `when` too.
        for i in 0..3 {
            let _ = log_later(&log, 100 * MS, &format!("later {i}"));
        }
        sleep(200 * MS).await?;
        let mut expected: Vec<String> = (0..20).map(|i| format!("at {i}")).collect();
        expected.extend((0..3).map(|i| format!("later {i}")));
        assert_eq!(log.snapshot(), expected);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn callbacks_due_at_the_same_instant_run_in_the_order_scheduled_on_the_multi_thread_loop() {
    multi(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let when = Instant::now() + 20 * MS;
        for i in 0..200 {
            let tx = tx.clone();
            let _ = call_at(when, move || tx.send(i).unwrap());
        }
        // The channel closes when the last callback has run and been dropped.
        drop(tx);
        let received = wait_for(
            async move {
                let mut received = Vec::new();
                while let Some(i) = cancellable(rx.recv()).await? {
                    received.push(i);
                }
                anyhow::Ok(received)
            },
            Duration::from_secs(30),
        )
        .await?;
        assert_eq!(received, (0..200).collect::<Vec<_>>());
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn callbacks_run_in_deadline_order_whatever_order_they_were_scheduled_in() {
    paused(async {
        let log = Log::default();
        let start = Instant::now();
        for (delay, name) in [(30, "c"), (10, "a"), (20, "b1"), (10, "a2"), (20, "b2"), (0, "now")] {
            let (log, name) = (log.clone(), name.to_owned());
            let _ = call_later(delay * MS, move || log.push(format!("{name} at {}ms", ms_since(start))));
        }
        sleep(SEC).await?;
        log.check(&["now at 0ms", "a at 10ms", "a2 at 10ms", "b1 at 20ms", "b2 at 20ms", "c at 30ms"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn callbacks_run_in_deadline_order_on_the_multi_thread_loop() {
    multi(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for (delay, name) in [(30, "c"), (10, "a"), (20, "b"), (10, "a2")] {
            let tx = tx.clone();
            let _ = call_later(delay * MS, move || tx.send(name).unwrap());
        }
        drop(tx);
        let mut received = Vec::new();
        while let Some(name) = wait_for(cancellable(rx.recv()), Duration::from_secs(30)).await? {
            received.push(name);
        }
        // Deadlines from one task never decrease for equal delays, and the queue orders by
        // deadline, so this holds however late the driver runs.
        assert_eq!(received, ["a", "a2", "b", "c"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_timer_callback_runs_on_the_loop_outside_any_task() {
    paused(async {
        let seen = Arc::new(Mutex::new(None));
        let sink = seen.clone();
        let _ = call_later(MS, move || *sink.lock().unwrap() = Some(current_task().is_none()));
        sleep(10 * MS).await?;
        assert_eq!(*seen.lock().unwrap(), Some(true));
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_panicking_timer_callback_is_reported_and_the_later_ones_still_run() {
    paused(async {
        let log = Log::default();
        let reports = log.clone();
        set_exception_handler(move |ctx| reports.push(format!("handler: {}", ctx.message())));
        let _ = call_later(5 * MS, || panic!("boom"));
        let _ = log_later(&log, 5 * MS, "same instant");
        let _ = log_later(&log, 6 * MS, "later");
        sleep(10 * MS).await?;
        log.check(&["handler: Exception in callback: boom", "same instant", "later"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_timer_cancelled_before_it_is_due_never_runs_and_its_callback_is_dropped_at_once() {
    paused(async {
        let log = Log::default();
        let probe = DropProbe::default();
        let guard = probe.guard();
        let sink = log.clone();
        let handle = call_later(10 * MS, move || {
            let _guard = guard;
            sink.push("ran");
        });
        assert!(!handle.cancelled());
        handle.cancel();
        assert!(handle.cancelled());
        assert_eq!(probe.drops(), 1, "the callback is dropped by cancel()");
        sleep(SEC).await?;
        log.check(&[]);
        handle.cancel();
        assert!(handle.cancelled(), "a second cancel changes nothing");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn cancelling_a_timer_after_it_ran_only_marks_the_handle_cancelled() {
    paused(async {
        let log = Log::default();
        let handle = log_later(&log, 10 * MS, "ran");
        sleep(20 * MS).await?;
        log.check(&["ran"]);
        assert!(!handle.cancelled());
        handle.cancel();
        assert!(handle.cancelled(), "as asyncio: cancelled() reports the call");
        sleep(SEC).await?;
        log.check(&["ran"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_timer_cancelled_after_it_fell_due_but_before_it_ran_never_runs() {
    paused(async {
        let log = Log::default();
        let second: Arc<Mutex<Option<TimerHandle>>> = Arc::default();
        // Both are due at the same instant and handed to the loop together; the first
        // cancels the second, which is already queued behind it.
        let (sink, victim) = (log.clone(), second.clone());
        let _ = call_later(10 * MS, move || {
            sink.push("first");
            victim.lock().unwrap().as_ref().unwrap().cancel();
        });
        *second.lock().unwrap() = Some(log_later(&log, 10 * MS, "second"));
        sleep(SEC).await?;
        log.check(&["first"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn when_is_the_deadline_on_the_loop_clock() {
    paused(async {
        let now = Instant::now();
        let later = call_later(5 * SEC, || {});
        assert_eq!(later.when(), now + 5 * SEC);
        let at = call_at(now + 7 * SEC, || {});
        assert_eq!(at.when(), now + 7 * SEC);
        later.cancel();
        at.cancel();
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_timer_at_an_instant_already_past_runs_at_the_next_turn_of_the_loop() {
    paused(async {
        let log = Log::default();
        let start = Instant::now();
        sleep(SEC).await?;
        let sink = log.clone();
        let _ = call_at(start, move || sink.push("ran"));
        log.check(&[]);
        sleep(MS).await?;
        log.check(&["ran"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn duration_max_saturates_instead_of_overflowing_and_other_timers_keep_running() {
    paused(async {
        let log = Log::default();
        let forever = log_later(&log, Duration::MAX, "forever");
        assert!(forever.when() > Instant::now() + Duration::from_secs(86_400 * 365 * 10));
        // Far beyond what the timer wheel can hold, yet representable.
        let far = Instant::now() + Duration::from_secs(u64::MAX / 4);
        let sink = log.clone();
        let beyond = call_at(far, move || sink.push("beyond"));
        assert_eq!(beyond.when(), far);
        let _ = log_later(&log, 10 * MS, "soon");
        sleep(Duration::from_secs(3600)).await?;
        log.check(&["soon"]);
        forever.cancel();
        beyond.cancel();
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_timer_callback_can_schedule_another_timer() {
    paused(async {
        let log = Log::default();
        let start = Instant::now();
        let sink = log.clone();
        let _ = call_later(10 * MS, move || {
            sink.push(format!("first at {}ms", ms_since(start)));
            let sink = sink.clone();
            let _ = call_later(10 * MS, move || sink.push(format!("second at {}ms", ms_since(start))));
        });
        sleep(SEC).await?;
        log.check(&["first at 10ms", "second at 20ms"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn timer_callbacks_share_the_call_soon_queue_in_order() {
    paused(async {
        let log = Log::default();
        let sink = log.clone();
        let _ = call_later(10 * MS, move || {
            sink.push("timer");
            let sink = sink.clone();
            let _ = call_soon(move || sink.push("soon, from the timer"));
        });
        let _ = log_later(&log, 10 * MS, "timer 2");
        sleep(SEC).await?;
        log.check(&["timer", "timer 2", "soon, from the timer"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_timer_pending_when_the_loop_ends_is_dropped_without_running() {
    let log = Log::default();
    let probe = DropProbe::default();
    let (sink, guard) = (log.clone(), probe.guard());
    paused(async move {
        let _ = call_later(Duration::from_secs(60), move || {
            let _guard = guard;
            sink.push("ran");
        });
        sleep(SEC).await?;
        anyhow::Ok(())
    })
    .unwrap();
    log.check(&[]);
    assert_eq!(probe.drops(), 1, "the loop's timer queue let go of the callback");
}

#[test]
#[should_panic(expected = "call_later() needs a running taskloop loop")]
fn call_later_outside_a_loop_panics_saying_so() {
    let _ = call_later(SEC, || {});
}
