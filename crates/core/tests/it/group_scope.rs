//! `task_group` (the scoped `TaskGroup`) and `TaskGroupError`: ports of CPython 3.13's
//! `Lib/test/test_asyncio/test_taskgroups.py` (each test names the case it ports; that file
//! passes on `PYENV_VERSION=3.13.0 python3 -m unittest test.test_asyncio.test_taskgroups`).
//! Python's `1 / 0` is `Boom`, its `MyExc` is `Other`.
//!
//! `unused_must_use` is denied here: the handle `TaskGroup::create_task` returns may be
//! dropped (SPEC), and every test below drops some.
#![deny(unused_must_use)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskloop::{Cancelled, TaskError, TaskGroup, TaskGroupError, create_task, current_task, sleep, task_group};

use crate::on_both_flavours;
use crate::support::Log;

#[derive(Debug, thiserror::Error)]
#[error("division by zero")]
struct Boom;

#[derive(Debug, thiserror::Error)]
#[error("other")]
struct Other;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A group child: sleeps `n` ms, then fails with `Boom`.
fn crash_after(tg: &TaskGroup, n: u64) {
    tg.create_task(async move {
        sleep(ms(n)).await?;
        Err::<(), anyhow::Error>(Boom.into())
    });
}

/// The kinds of every error of a group, sorted: `get_error_types` of the CPython tests.
fn kinds(error: &TaskGroupError) -> Vec<&'static str> {
    let mut kinds: Vec<_> = error
        .iter()
        .map(|e| match e {
            TaskError::Cancelled(_) => "Cancelled",
            TaskError::Failed(f) if f.downcast_ref::<Boom>().is_some() => "Boom",
            TaskError::Failed(f) if f.downcast_ref::<Other>().is_some() => "Other",
            TaskError::Failed(f) if f.downcast_ref::<TaskGroupError>().is_some() => "TaskGroupError",
            TaskError::Panicked(_) => "Panicked",
            _ => "?",
        })
        .collect();
    kinds.sort_unstable();
    kinds
}

on_both_flavours! {
    // test_taskgroup_01 and _02: children created before and during the body are awaited.
    fn the_scoped_group_waits_for_children_created_before_and_during_the_body() {
        let (t1, t2) = task_group(|g| async move {
            let t1 = g.create_task(async { sleep(ms(10)).await?; anyhow::Ok(42) });
            sleep(ms(15)).await?;
            let t2 = g.create_task(async { sleep(ms(20)).await?; anyhow::Ok(11) });
            anyhow::Ok((t1, t2))
        })
        .await?;
        assert_eq!((t1.result()?, t2.result()?), (42, 11));
        anyhow::Ok(())
    }
}

on_both_flavours! {
    // test_taskgroup_03: a child cancelled by hand is not a failure.
    fn a_child_cancelled_by_hand_is_not_a_failure() {
        let (t1, t2) = task_group(|g| async move {
            let t1 = g.create_task(async { sleep(Duration::from_secs(10)).await?; anyhow::Ok(42) });
            sleep(ms(15)).await?;
            t1.cancel();
            let t2 = g.create_task(async { sleep(ms(20)).await?; anyhow::Ok(11) });
            anyhow::Ok((t1, t2))
        })
        .await?;
        assert!(t1.cancelled());
        assert_eq!(t2.result()?, 11);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 60;
    // test_cancel_children_on_child_error (and test_taskgroup_04): the failing children cancel
    // their sibling and the body at its await; the code after the group never runs; the group
    // error holds only the failures.
    //
    //     async def runner():
    //         async with taskgroups.TaskGroup() as g:
    //             g.create_task(foo1()); g.create_task(foo1()); g.create_task(foo1())
    //             g.create_task(foo2())            # sleeps 5, counts CancelledError
    //             try:
    //                 await asyncio.sleep(10)
    //             except asyncio.CancelledError:
    //                 runner_cancel = True
    //                 raise
    //         NUM += 10
    fn a_failing_child_cancels_its_siblings_and_the_body_at_its_await() {
        let log = Log::default();
        let (body_log, t2_log) = (log.clone(), log.clone());
        let after_log = log.clone();
        let runner = create_task(async move {
            task_group(|g| async move {
                crash_after(&g, 10);
                crash_after(&g, 10);
                crash_after(&g, 10);
                g.create_task(async move {
                    if let Err(cancelled) = sleep(Duration::from_secs(5)).await {
                        t2_log.push("t2 cancelled");
                        return Err(cancelled.into());
                    }
                    anyhow::Ok(())
                });
                if let Err(cancelled) = sleep(Duration::from_secs(10)).await {
                    body_log.push("runner cancelled");
                    return Err(cancelled.into());
                }
                anyhow::Ok(())
            })
            .await?;
            after_log.push("NUM += 10");
            anyhow::Ok(())
        });
        let error = runner.await.unwrap_err();
        let TaskError::Failed(failed) = &error else { panic!("expected a failure, got {error:?}") };
        let group = failed.downcast_ref::<TaskGroupError>().expect("the task failed with the group");
        assert!(!group.is_cancelled(), "the body's cancellation was the group's own");
        assert!(group.find::<Boom>().is_some());
        assert!(group.iter().all(|e| e.is_failed()), "{group:?}");
        let mut events = log.snapshot();
        events.sort();
        assert_eq!(events, ["runner cancelled", "t2 cancelled"]);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 60;
    // test_cancellation and test_taskgroup_07: cancelling the task running the group cancels
    // the body and every child, and the task ends cancelled (through `?` on the group error).
    fn cancelling_the_task_cancels_the_body_and_every_child_and_ends_it_cancelled() {
        let cancelled = Arc::new(AtomicUsize::new(0));
        let counter = cancelled.clone();
        let runner = create_task(async move {
            task_group(|g| async move {
                for _ in 0..5 {
                    let counter = counter.clone();
                    g.create_task(async move {
                        let slept = sleep(Duration::from_secs(5)).await;
                        if slept.is_err() {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        anyhow::Ok(slept?)
                    });
                }
                if let Err(c) = sleep(Duration::from_secs(10)).await {
                    counter.fetch_add(10, Ordering::SeqCst);
                    return Err(c.into());
                }
                anyhow::Ok(())
            })
            .await?;
            anyhow::Ok(())
        });
        sleep(ms(10)).await?;
        assert!(!runner.done());
        runner.cancel_with("stop");
        let error = (&runner).await.unwrap_err();
        assert_eq!(error.cancel_message(), Some("stop"), "{error:?}");
        assert!(runner.cancelled());
        assert_eq!(cancelled.load(Ordering::SeqCst), 15);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 60;
    // test_taskgroup_08: cancelled from outside while children fail in their clean-up. asyncio
    // raises the children's group (and cancels the task again); the error here holds the
    // cancellation first and the failures after it, and `?` ends the task cancelled (SPEC).
    fn children_failing_while_the_task_is_cancelled_are_reported_with_the_cancellation() {
        let runner = create_task(async move {
            let outcome = task_group(|g| async move {
                for _ in 0..5 {
                    g.create_task(async {
                        let _ = sleep(Duration::from_secs(10)).await;
                        Err::<(), anyhow::Error>(Boom.into())
                    });
                }
                sleep(Duration::from_secs(10)).await?;
                anyhow::Ok(())
            })
            .await;
            let error = outcome.unwrap_err();
            assert!(error.is_cancelled());
            assert_eq!(kinds(&error), ["Boom", "Boom", "Boom", "Boom", "Boom", "Cancelled"]);
            Err::<(), _>(error)?;
            anyhow::Ok(())
        });
        sleep(ms(10)).await?;
        runner.cancel();
        assert!((&runner).await.unwrap_err().is_cancelled());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    // test_taskgroup_09 and _10: a body that fails cancels the children; its error is in the
    // group's.
    fn a_failing_body_cancels_the_children_and_its_error_is_reported() {
        let (t1, t2) = (Arc::new(std::sync::Mutex::new(None)), Arc::new(std::sync::Mutex::new(None)));
        let (s1, s2) = (t1.clone(), t2.clone());
        let error = task_group(|g| async move {
            *s1.lock().unwrap() = Some(g.create_task(async { sleep(Duration::from_secs(1)).await?; anyhow::Ok(42) }));
            *s2.lock().unwrap() = Some(g.create_task(async { sleep(Duration::from_secs(2)).await?; anyhow::Ok(11) }));
            sleep(ms(10)).await?;
            Err::<(), anyhow::Error>(Boom.into())
        })
        .await
        .unwrap_err();
        assert_eq!(kinds(&error), ["Boom"]);
        assert!(t1.lock().unwrap().as_ref().unwrap().cancelled());
        assert!(t2.lock().unwrap().as_ref().unwrap().cancelled());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    // test_taskgroup_13 and _14: nested groups. The inner group's failure reaches the outer
    // one as a child of its body's error; the outer child's failure cancels the inner body.
    fn nested_groups_report_inner_failures_inside_the_outer_error() {
        // _14: the inner child crashes first; the inner group's error fails the outer body.
        let error = task_group(|g1| async move {
            g1.create_task(async { sleep(Duration::from_secs(10)).await?; Err::<(), anyhow::Error>(Boom.into()) });
            task_group(|g2| async move {
                crash_after(&g2, 10);
                anyhow::Ok(())
            })
            .await?;
            anyhow::Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(kinds(&error), ["TaskGroupError"]);
        assert!(error.find::<Boom>().is_some(), "find looks into the nested group");

        // _13: the outer child crashes first; it cancels the outer body, which cancels the
        // inner group (the inner child is cancelled, not a failure).
        let error = task_group(|g1| async move {
            crash_after(&g1, 10);
            task_group(|g2| async move {
                crash_after(&g2, 10_000);
                anyhow::Ok(())
            })
            .await?;
            anyhow::Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(kinds(&error), ["Boom"]);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 60;
    // test_taskgroup_15: cancelled from outside, the body catches it and sleeps; a child
    // crashes meanwhile and cancels that sleep. asyncio raises the child's failure.
    fn a_child_failing_while_the_body_cleans_up_after_a_cancel_is_reported() {
        let runner = create_task(async move {
            let outcome = task_group(|g| async move {
                crash_after(&g, 30);
                if sleep(Duration::from_secs(10)).await.is_err() {
                    sleep(ms(50)).await?;
                }
                anyhow::Ok(())
            })
            .await;
            anyhow::Ok(kinds(&outcome.unwrap_err()))
        });
        sleep(ms(10)).await?;
        runner.cancel();
        assert_eq!(runner.await?, ["Boom", "Cancelled"]);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 60;
    // test_taskgroup_17 and _22: an empty group, or one whose children are all well, ends
    // with the task's cancellation alone.
    fn cancelling_a_task_whose_group_has_no_failure_gives_the_cancellation_alone() {
        let runner = create_task(task_group(|g| async move {
            g.create_task(async { sleep(Duration::from_secs(1)).await?; anyhow::Ok(42) });
            sleep(Duration::from_secs(10)).await?;
            anyhow::Ok(())
        }));
        sleep(ms(10)).await?;
        runner.cancel_with("m");
        let error = runner.await.unwrap_err();
        assert_eq!(error.cancel_message(), Some("m"), "{error:?}");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 60;
    // test_taskgroup_18: a body that turns the cancellation into an error of its own.
    fn a_body_turning_the_cancellation_into_an_error_reports_that_error() {
        let runner = create_task(async move {
            let outcome = task_group(|_g| async move {
                if sleep(Duration::from_secs(10)).await.is_err() {
                    return Err(Other);
                }
                Ok(())
            })
            .await;
            anyhow::Ok(kinds(&outcome.unwrap_err()))
        });
        sleep(ms(10)).await?;
        runner.cancel();
        assert_eq!(runner.await?, ["Other"]);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    // test_taskgroup_19: the body is cancelled by a failing child and fails in its clean-up;
    // both errors are reported.
    fn a_body_failing_in_its_clean_up_after_the_group_cancelled_it_is_reported_too() {
        let error = task_group(|g| async move {
            crash_after(&g, 10);
            let _ = sleep(Duration::from_secs(10)).await;
            Err::<(), anyhow::Error>(Other.into())
        })
        .await
        .unwrap_err();
        assert_eq!(kinds(&error), ["Boom", "Other"]);
        assert!(matches!(error.errors().last(), Some(TaskError::Failed(e)) if e.downcast_ref::<Other>().is_some()));
        anyhow::Ok(())
    }
}

on_both_flavours! {
    // test_taskgroup_24 and _25: children add siblings through a clone of the group.
    fn children_create_siblings_through_a_clone_of_the_group() {
        let heads = Arc::new(AtomicUsize::new(0));
        fn hydra(g: TaskGroup, heads: Arc<AtomicUsize>) {
            let g2 = g.clone();
            g.create_task(async move {
                // Capped, so a slow machine cannot make it grow without bound on real time.
                if heads.fetch_add(1, Ordering::SeqCst) < 64 {
                    sleep(ms(1)).await?;
                    hydra(g2.clone(), heads.clone());
                    hydra(g2, heads);
                } else {
                    sleep(Duration::from_secs(3600)).await?;
                }
                anyhow::Ok(())
            });
        }
        let counted = heads.clone();
        let error = task_group(|g| async move {
            hydra(g.clone(), counted.clone());
            g.create_task(async move {
                while counted.load(Ordering::SeqCst) < 10 {
                    sleep(ms(2)).await?;
                }
                Err::<(), anyhow::Error>(Boom.into())
            });
            anyhow::Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(kinds(&error), ["Boom"]);
        assert!(heads.load(Ordering::SeqCst) >= 10);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    // test_taskgroup_no_create_task_after_failure: asyncio raises RuntimeError; here the task
    // is cancelled before it starts (see `TaskGroup::create_task`).
    fn a_task_created_after_a_failure_never_runs() {
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = ran.clone();
        let error = task_group(|g| async move {
            crash_after(&g, 1);
            let g2 = g.clone();
            g.create_task(async move {
                if sleep(Duration::from_secs(1)).await.is_err() {
                    let late = g2.create_task(async move { seen.fetch_add(1, Ordering::SeqCst); anyhow::Ok(()) });
                    return anyhow::Ok(late.await.unwrap_err().is_cancelled());
                }
                anyhow::Ok(false)
            });
            anyhow::Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(kinds(&error), ["Boom"]);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    // test_cancelling_level_preserved and test_nested_groups_both_cancelled: the group leaves
    // the task's `cancelling()` as it found it.
    fn the_group_leaves_cancelling_as_it_found_it() {
        let me = current_task().unwrap();
        let error = task_group(|g| async move {
            crash_after(&g, 0);
            sleep(Duration::from_secs(1)).await?;
            anyhow::Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(kinds(&error), ["Boom"]);
        assert_eq!(me.cancelling(), 0);

        let outer = task_group(|outer_tg| async move {
            let inner = task_group(|inner_tg| async move {
                inner_tg.create_task(async { Err::<(), anyhow::Error>(Other.into()) });
                outer_tg.create_task(async { Err::<(), anyhow::Error>(Boom.into()) });
                anyhow::Ok(())
            })
            .await;
            assert!(inner.unwrap_err().find::<Other>().is_some());
            anyhow::Ok(())
        })
        .await;
        assert!(outer.unwrap_err().find::<Boom>().is_some());
        assert_eq!(me.cancelling(), 0);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 60;
    // The body awaits only a tokio future (no cancellation point): a failing child still
    // stops it there, dropping the body (its guards run) as a cancel would.
    fn a_failing_child_drops_a_body_waiting_on_a_foreign_future() {
        let log = Log::default();
        let guard_log = log.clone();
        let (_tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let error = task_group(|g| async move {
            let _guard = guard_log.on_drop("body dropped");
            crash_after(&g, 10);
            rx.recv().await;
            guard_log.push("after recv");
            anyhow::Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(kinds(&error), ["Boom"]);
        log.check(&["body dropped"]);
        assert_eq!(current_task().unwrap().cancelling(), 0);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    // SPEC: `tg.join().await?` and `task_group(..).await?` in anyhow bodies; a cancelled joiner
    // ends cancelled, a failing group fails the task with the group error.
    fn question_mark_on_a_group_error_fails_or_cancels_the_task() {
        let failing = create_task(async {
            let g = TaskGroup::new();
            g.create_task(async { Err::<(), anyhow::Error>(Boom.into()) });
            g.join().await?;
            anyhow::Ok(())
        });
        let error = failing.await.unwrap_err();
        assert!(error.is_failed());
        let TaskError::Failed(e) = &error else { unreachable!() };
        assert!(e.downcast_ref::<TaskGroupError>().unwrap().find::<Boom>().is_some());

        let joiner = create_task(async {
            let g = TaskGroup::new();
            g.create_task(async { sleep(Duration::from_secs(10)).await?; anyhow::Ok(()) });
            g.join().await?;
            anyhow::Ok(())
        });
        sleep(ms(1)).await?;
        joiner.cancel_with("enough");
        let error = (&joiner).await.unwrap_err();
        assert_eq!(error.cancel_message(), Some("enough"));
        assert!(joiner.cancelled());
        // The group error the body propagated carried the cancellation: `find` sees it.
        let g = TaskGroup::new();
        g.create_task(async { sleep(Duration::from_secs(10)).await?; anyhow::Ok(()) });
        let me = current_task().unwrap();
        let cancel_me = create_task(async move { me.cancel_with("self"); anyhow::Ok(()) });
        let error = g.join().await.unwrap_err();
        cancel_me.await?;
        assert_eq!(error.find::<Cancelled>().and_then(Cancelled::message), Some("self"));
        assert!(error.is_cancelled());
        assert_eq!(current_task().unwrap().uncancel(), 0);
        anyhow::Ok(())
    }
}

#[test]
fn task_group_outside_a_task_panics_saying_so() {
    let outcome = std::panic::catch_unwind(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(task_group(|_g| async { anyhow::Ok(()) }))
    });
    let payload = outcome.unwrap_err();
    let message =
        payload.downcast_ref::<String>().cloned().or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()));
    assert!(message.unwrap().contains("inside a taskloop task"));
}
