//! Done callbacks (seed 24.7 and 24.9's third way).

use std::time::Duration;

use taskloop::{create_task, current_task, set_exception_handler, sleep, yield_now};

use crate::on_both_flavours;
use crate::support::{Log, paused};

on_both_flavours! {
    fn done_callbacks_run_once_in_the_order_added_after_the_task_is_done() {
        let log = Log::default();
        let task = create_task(async { yield_now().await?; anyhow::Ok(7) });
        for name in ["a", "b", "c"] {
            let log = log.clone();
            task.add_done_callback(move |t| log.push(format!("{name}:{}", t.result().unwrap())));
        }
        (&task).await?;
        log.wait_for(3).await;
        log.check(&["a:7", "b:7", "c:7"]);
        sleep(Duration::from_millis(5)).await?;
        log.check(&["a:7", "b:7", "c:7"]);
        anyhow::Ok(())
    }
}

#[test]
fn a_callback_added_to_a_finished_task_is_scheduled_not_run_inline() {
    paused(async {
        let log = Log::default();
        let task = create_task(async { anyhow::Ok(()) });
        (&task).await?;
        let l = log.clone();
        task.add_done_callback(move |_| l.push("late"));
        log.check(&[]);
        yield_now().await?;
        log.check(&["late"]);
        anyhow::Ok(())
    })
    .unwrap();
}

/// The callback runs after `cancel()` returned and after the completing poll, on the loop;
/// added before the await, it runs before the awaiter resumes, as in asyncio 3.13, which
/// prints `['after cancel()', 'cancelled=True', 'after await']` for the same program.
#[test]
fn callbacks_never_run_inside_cancel_or_the_completing_poll() {
    paused(async {
        let log = Log::default();
        let task = create_task(async {
            sleep(Duration::from_secs(1)).await?;
            anyhow::Ok(())
        });
        let l = log.clone();
        task.add_done_callback(move |t| l.push(format!("cancelled={}", t.cancelled())));
        yield_now().await?;
        task.cancel();
        log.push("after cancel()");
        let _ = (&task).await;
        log.push("after await");
        yield_now().await?;
        log.check(&["after cancel()", "cancelled=true", "after await"]);
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn a_removed_callback_never_runs_and_cannot_be_removed_twice() {
        let log = Log::default();
        let task = create_task(async { yield_now().await?; anyhow::Ok(()) });
        let l = log.clone();
        let id = task.add_done_callback(move |_| l.push("removed one"));
        let l = log.clone();
        task.add_done_callback(move |_| l.push("kept"));
        assert!(task.remove_done_callback(id));
        assert!(!task.remove_done_callback(id));
        (&task).await?;
        log.wait_for(1).await;
        sleep(Duration::from_millis(5)).await?;
        log.check(&["kept"]);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn a_panicking_callback_is_reported_and_the_others_still_run() {
        let log = Log::default();
        let reports = log.clone();
        set_exception_handler(move |ctx| reports.push(format!("handler: {}", ctx.message())));
        let task = create_task(async { anyhow::Ok(()) });
        let l = log.clone();
        task.add_done_callback(move |_| l.push("first"));
        task.add_done_callback(|_| panic!("callback broke"));
        let l = log.clone();
        task.add_done_callback(move |_| l.push("third"));
        (&task).await?;
        log.wait_for(3).await;
        log.check(&["first", "handler: Exception in callback: callback broke", "third"]);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn a_callback_runs_outside_any_task_and_may_create_a_follow_up_task() {
        let log = Log::default();
        let task = create_task(async { anyhow::Ok(1) });
        let l = log.clone();
        task.add_done_callback(move |_| {
            l.push(format!("in callback, current task: {:?}", current_task().map(|t| t.id())));
            let l = l.clone();
            let _follow_up = create_task(async move {
                l.push("follow-up ran");
                anyhow::Ok(())
            });
        });
        (&task).await?;
        log.wait_for(2).await;
        log.check(&["in callback, current task: None", "follow-up ran"]);
        anyhow::Ok(())
    }
}

/// More callbacks scheduled from more places than the loop has runners (each task's step, its
/// completion, and the callbacks themselves): each runs once, in the order it was scheduled,
/// and the ones still queued when main returns run before the loop ends.
fn schedule_from_many_steps(log: &Log, tasks: usize) -> Vec<taskloop::Task<usize>> {
    (0..tasks)
        .map(|i| {
            let step_log = log.clone();
            let task = create_task(async move {
                let log = step_log.clone();
                let _ = taskloop::call_soon(move || log.push(format!("s{i}")));
                anyhow::Ok(i)
            });
            let done_log = log.clone();
            task.add_done_callback(move |_| {
                done_log.push(format!("d{i}"));
                let log = done_log.clone();
                let _ = taskloop::call_soon(move || log.push(format!("n{i}")));
            });
            task
        })
        .collect()
}

#[test]
fn callbacks_from_more_places_than_runners_run_once_in_order_and_drain_at_the_end() {
    let log = Log::default();
    let main_log = log.clone();
    taskloop_test_support::within(30, move || {
        paused(async move {
            for task in schedule_from_many_steps(&main_log, 12) {
                task.await?;
            }
            anyhow::Ok(())
        })
        .unwrap();
    });
    let mut expected: Vec<String> = (0..12).flat_map(|i| [format!("s{i}"), format!("d{i}")]).collect();
    expected.extend((0..12).map(|i| format!("n{i}")));
    assert_eq!(log.snapshot(), expected);
}

#[test]
fn callbacks_from_many_places_run_once_in_order_per_task_on_the_multi_thread_loop() {
    let log = Log::default();
    let main_log = log.clone();
    taskloop_test_support::within(30, move || {
        taskloop_test_support::multi(async move {
            for task in schedule_from_many_steps(&main_log, 200) {
                task.await?;
            }
            anyhow::Ok(())
        })
        .unwrap();
    });
    let events = log.snapshot();
    assert_eq!(events.len(), 600, "every callback ran once before the loop ended");
    for i in 0..200 {
        let at = |kind: &str| events.iter().position(|e| *e == format!("{kind}{i}")).expect("ran");
        assert!(at("s") < at("d") && at("d") < at("n"), "task {i}: step's, completion's, callback's in order");
    }
}
