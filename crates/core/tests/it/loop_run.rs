//! run(): main's outcome, leftovers cancelled, background tasks do not keep it alive
//! (asyncio test_runners.py).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskloop::{Runtime, TaskError, create_task, set_exception_handler, sleep, yield_now};

use crate::support::{Log, paused};

#[test]
fn run_returns_the_main_value_and_its_error() {
    assert_eq!(taskloop::run(async { anyhow::Ok(5) }).unwrap(), 5);
    let err = taskloop::run(async { Err::<(), _>(anyhow::anyhow!("main failed")) }).unwrap_err();
    assert!(err.is_failed());
    assert_eq!(err.to_string(), "main failed");
}

#[test]
fn leftover_tasks_are_cancelled_and_their_cleanup_runs_before_run_returns() {
    let log = Log::default();
    let l = log.clone();
    paused(async move {
        for i in 0..3 {
            let l = l.clone();
            let _task = create_task(async move {
                match sleep(Duration::from_secs(3600)).await {
                    Err(c) => l.push(format!("task {i} cleaned up after {c}")),
                    Ok(()) => l.push(format!("task {i} slept")),
                }
                anyhow::Ok(())
            });
        }
        yield_now().await?;
        anyhow::Ok(())
    })
    .unwrap();
    let mut events = log.take();
    events.sort();
    assert_eq!(
        events,
        ["task 0 cleaned up after cancelled", "task 1 cleaned up after cancelled", "task 2 cleaned up after cancelled"]
    );
}

/// A task created while `run` cancels what main left (here by a leftover's cancellation
/// handler) is cancelled before it starts, and awaited: its body never runs, and `run` does
/// not return before it has ended (asyncio leaves such a task pending, destroyed with the
/// loop). A `TaskGroup` that has failed gives its new tasks the same start.
#[test]
fn a_task_created_while_the_leftovers_are_cancelled_starts_cancelled() {
    let log = Log::default();
    let l = log.clone();
    let late: Arc<Mutex<Option<taskloop::Task<()>>>> = Arc::default();
    let late_slot = late.clone();
    taskloop_test_support::within(30, move || {
        paused(async move {
            let _t1 = create_task(async move {
                if sleep(Duration::from_secs(10)).await.is_err() {
                    l.push("t1 cancelled");
                    let l = l.clone();
                    let t2 = create_task(async move {
                        l.push("t2 started");
                        anyhow::Ok(())
                    });
                    *late_slot.lock().unwrap() = Some(t2);
                }
                anyhow::Ok(())
            });
            yield_now().await?;
            anyhow::Ok(())
        })
        .unwrap()
    });
    log.check(&["t1 cancelled"]);
    let t2 = late.lock().unwrap().take().expect("t1 created t2");
    assert!(t2.cancelled(), "t2 ended cancelled before run returned");
}

/// A `Runner`'s next main creates tasks as usual after the leftovers of the previous one.
#[test]
fn after_the_leftovers_a_runners_next_main_starts_tasks_as_usual() {
    taskloop_test_support::within(30, || {
        let mut runner = taskloop::Runner::new().unwrap();
        runner
            .run(async {
                let _left = create_task(async {
                    sleep(Duration::from_secs(10)).await?;
                    anyhow::Ok(())
                });
                anyhow::Ok(())
            })
            .unwrap();
        let value = runner.run(async { create_task(async { anyhow::Ok(7) }).await }).unwrap();
        assert_eq!(value, 7);
        runner.close();
    });
}

#[test]
fn a_running_background_task_does_not_keep_the_loop_alive() {
    // Seed 24.6: main returns while a task still sleeps; run returns at once (paused time
    // would otherwise jump an hour ahead — the check is that the task ended cancelled).
    let observed = Arc::new(Mutex::new(None));
    let seen = observed.clone();
    paused(async move {
        let task = create_task(async {
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok(())
        });
        let t = task.clone();
        task.add_done_callback(move |_| *seen.lock().unwrap() = Some(t.cancelled()));
        anyhow::Ok(())
    })
    .unwrap();
    assert_eq!(*observed.lock().unwrap(), Some(true));
}

#[test]
fn a_panicking_main_returns_panicked_and_still_cancels_the_rest() {
    let log = Log::default();
    let l = log.clone();
    let err = paused(async move {
        let _task = create_task(async move {
            if sleep(Duration::from_secs(60)).await.is_err() {
                l.push("background cancelled");
            }
            anyhow::Ok(())
        });
        yield_now().await?;
        panic!("main blew up");
        #[allow(unreachable_code)]
        anyhow::Ok(())
    })
    .unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    log.check(&["background cancelled"]);
}

#[test]
fn a_leftover_that_fails_while_being_cancelled_is_reported() {
    let log = Log::default();
    let l = log.clone();
    paused(async move {
        set_exception_handler(move |ctx| l.push(format!("{}: {}", ctx.message(), ctx.error().unwrap())));
        let _task = create_task(async {
            let _ = sleep(Duration::from_secs(60)).await;
            Err::<(), _>(anyhow::anyhow!("cleanup failed"))
        });
        yield_now().await?;
        anyhow::Ok(())
    })
    .unwrap();
    log.check(&["unhandled exception during taskloop::run() shutdown: cleanup failed"]);
}

#[test]
fn run_inside_a_running_loop_panics_saying_so() {
    let err = paused(async {
        let _ = taskloop::run(async { anyhow::Ok(()) });
        anyhow::Ok(())
    })
    .unwrap_err();
    assert!(matches!(&err, TaskError::Panicked(m) if m.contains("already running a taskloop loop")), "{err:?}");
}

#[test]
fn the_multi_thread_loop_runs_main_and_tasks_on_its_workers() {
    let value = Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap()
        .run(async {
            let tasks: Vec<_> = (0..100u64)
                .map(|i| {
                    create_task(async move {
                        yield_now().await?;
                        anyhow::Ok(i)
                    })
                })
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await?;
            }
            anyhow::Ok(sum)
        })
        .unwrap();
    assert_eq!(value, 4950);
}

#[test]
fn builder_rejects_zero_workers_and_paused_time_on_many_threads() {
    let zero = Runtime::builder().worker_threads(0).build().unwrap_err();
    assert!(zero.to_string().contains("worker_threads must be greater than 0"));
    let paused_multi = Runtime::builder().worker_threads(2).start_paused(true).build().unwrap_err();
    assert!(paused_multi.to_string().contains("start_paused"));
}

#[test]
fn a_handle_that_outlives_run_reads_the_outcome_run_gave_its_task() {
    let task = paused(async {
        anyhow::Ok(create_task(async {
            sleep(Duration::from_secs(1)).await?;
            anyhow::Ok(3)
        }))
    })
    .unwrap();
    assert!(task.done());
    assert!(task.cancelled(), "it was pending when main ended, so run cancelled it");
}
