//! `TaskGroup`: asyncio's rules (CPython test_taskgroups.py), minus the `async with` body.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskloop::{Task, TaskGroup, create_task, set_exception_handler, sleep, yield_now};
use tokio::time::Instant;

use crate::on_both_flavours;
use crate::support::{Log, paused};

/// A group task that sleeps `ms` then returns `value`.
fn after(group: &TaskGroup, ms: u64, value: u64) -> Task<u64> {
    group.create_task(async move {
        sleep(Duration::from_millis(ms)).await?;
        anyhow::Ok(value)
    })
}

/// A group task that sleeps `ms` then fails with `message`.
fn fail_after(group: &TaskGroup, ms: u64, message: &'static str) -> Task<u64> {
    group.create_task(async move {
        sleep(Duration::from_millis(ms)).await?;
        anyhow::bail!(message)
    })
}

#[test]
fn join_waits_for_every_task_and_succeeds() {
    // test_taskgroup_01
    paused(async {
        let group = TaskGroup::new();
        let start = Instant::now();
        let a = after(&group, 10, 42);
        let b = after(&group, 20, 11);
        group.join().await.expect("no failure");
        assert_eq!(start.elapsed(), Duration::from_millis(20));
        assert_eq!((a.result()?, b.result()?), (42, 11));
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn an_empty_group_joins_at_once() {
        let group = TaskGroup::new();
        assert!(group.join().await.is_ok());
        anyhow::Ok(())
    }
}

#[test]
fn the_first_failure_cancels_the_rest_and_only_real_failures_are_returned() {
    // test_taskgroup_02/03: the sibling cancelled by the group is not in the ExceptionGroup.
    paused(async {
        let group = TaskGroup::new();
        let start = Instant::now();
        let slow = after(&group, 1_000, 1);
        let quick = after(&group, 5, 2);
        let broken = fail_after(&group, 10, "disk full");
        let failures = group.join().await.unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_millis(10), "did not wait for the slow task to time out");
        assert_eq!(failures.iter().map(ToString::to_string).collect::<Vec<_>>(), ["disk full"]);
        assert!(slow.cancelled());
        assert_eq!(quick.result()?, 2);
        assert!(broken.exception()?.is_some());
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn every_failure_is_returned_in_the_order_they_happened() {
    // test_taskgroup_05-ish: a sibling that catches the group's cancellation and fails is a
    // failure too.
    paused(async {
        let group = TaskGroup::new();
        let _task = fail_after(&group, 10, "first");
        let _task = group.create_task(async {
            if sleep(Duration::from_secs(1)).await.is_err() {
                anyhow::bail!("failed while cancelled");
            }
            anyhow::Ok(())
        });
        let failures = group.join().await.unwrap_err();
        let messages: Vec<_> = failures.iter().map(ToString::to_string).collect();
        assert_eq!(messages, ["first", "failed while cancelled"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_child_cancelled_on_its_own_does_not_fail_the_group() {
    paused(async {
        let group = TaskGroup::new();
        let victim = after(&group, 1_000, 1);
        let sibling = after(&group, 20, 2);
        let canceller = victim.clone();
        let _task = create_task(async move {
            sleep(Duration::from_millis(10)).await?;
            canceller.cancel();
            anyhow::Ok(())
        });
        group.join().await.expect("a cancelled child is not a failure");
        assert!(victim.cancelled());
        assert_eq!(sibling.result()?, 2, "and it did not cancel the others");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn cancelling_the_joining_task_cancels_every_child_waits_and_join_fails_with_the_cancellation() {
    // test_taskgroup_07/08: the parent's cancellation goes to every child.
    paused(async {
        let log = Log::default();
        let children: Arc<Mutex<Vec<Task<u64>>>> = Arc::default();
        let (log2, children2) = (log.clone(), children.clone());
        let parent = create_task(async move {
            let group = TaskGroup::new();
            children2.lock().unwrap().push(after(&group, 1_000, 1));
            let log3 = log2.clone();
            children2.lock().unwrap().push(group.create_task(async move {
                if let Err(cancelled) = sleep(Duration::from_secs(1)).await {
                    log3.push(format!("child saw {cancelled}"));
                    sleep(Duration::from_millis(30)).await?;
                    log3.push("child cleaned up");
                }
                anyhow::Ok(2)
            }));
            let failures = group.join().await.unwrap_err();
            log2.push(format!("join: {failures:?}"));
            anyhow::Ok(failures.len())
        });
        sleep(Duration::from_millis(10)).await?;
        let start = Instant::now();
        parent.cancel_with("shutting down");
        assert_eq!((&parent).await?, 1, "one error: the Cancelled");
        assert_eq!(start.elapsed(), Duration::from_millis(30), "join waited for the child's cleanup");
        let children = children.lock().unwrap().clone();
        assert_eq!(children[0].exception().unwrap_err().cancel_message(), Some("shutting down"));
        assert_eq!(children[1].result()?, 2);
        log.check(&[
            "child saw cancelled: shutting down",
            "child cleaned up",
            "join: TaskGroupError([Cancelled(\"shutting down\")])",
        ]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancelled_join_lists_the_cancellation_first_then_child_failures() {
    paused(async {
        let parent = create_task(async {
            let group = TaskGroup::new();
            let _task = group.create_task(async {
                if sleep(Duration::from_secs(1)).await.is_err() {
                    anyhow::bail!("cleanup failed");
                }
                anyhow::Ok(())
            });
            let failures = group.join().await.unwrap_err();
            anyhow::Ok(failures.iter().map(|e| (e.is_cancelled(), e.to_string())).collect::<Vec<_>>())
        });
        sleep(Duration::from_millis(10)).await?;
        parent.cancel();
        let failures = (&parent).await?;
        assert_eq!(failures, [(true, "cancelled".to_owned()), (false, "cleanup failed".to_owned())]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_task_created_while_the_group_shuts_down_never_runs() {
    paused(async {
        let group = Arc::new(TaskGroup::new());
        let ran = Arc::new(AtomicBool::new(false));
        let _task = fail_after(&group, 10, "boom");
        let late = {
            let (group, ran) = (group.clone(), ran.clone());
            create_task(async move {
                sleep(Duration::from_millis(20)).await?;
                let ran = ran.clone();
                let t = group.create_task(async move {
                    ran.store(true, Ordering::SeqCst);
                    anyhow::Ok(())
                });
                anyhow::Ok(t)
            })
        };
        let _task = after(&group, 100, 0);
        let late = (&late).await?;
        let failures = group.join().await.unwrap_err();
        assert_eq!(failures.len(), 1);
        assert!(late.cancelled());
        assert!(!ran.load(Ordering::SeqCst), "the body never ran");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn children_can_add_siblings_while_join_waits() {
    // test_taskgroup_22-ish: tasks created while the group is being joined are waited for.
    paused(async {
        let group = Arc::new(TaskGroup::new());
        let log = Log::default();
        let (g, l) = (group.clone(), log.clone());
        let _task = group.create_task(async move {
            sleep(Duration::from_millis(10)).await?;
            let l2 = l.clone();
            let _task = g.create_task(async move {
                sleep(Duration::from_millis(10)).await?;
                l2.push("grandchild done");
                anyhow::Ok(())
            });
            l.push("child done");
            anyhow::Ok(())
        });
        let start = Instant::now();
        group.join().await.expect("no failure");
        assert_eq!(start.elapsed(), Duration::from_millis(20));
        log.check(&["child done", "grandchild done"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn create_task_after_join_returned_panics_saying_the_group_is_finished() {
    let outcome = paused(async {
        let group = TaskGroup::new();
        group.join().await.expect("empty");
        assert!(group.join().await.is_ok(), "joining again gives the same result");
        let _task = group.create_task(async { anyhow::Ok(()) });
        anyhow::Ok(())
    });
    let err = outcome.unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("the group is finished"), "{err}");
}

#[test]
fn dropping_an_unjoined_group_cancels_its_tasks() {
    paused(async {
        let task = {
            let group = TaskGroup::new();
            after(&group, 1_000, 1)
        };
        let start = Instant::now();
        assert!((&task).await.unwrap_err().is_cancelled());
        assert_eq!(start.elapsed(), Duration::ZERO);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn the_group_retrieves_failures_so_none_is_reported_as_never_retrieved() {
    paused(async {
        let reports = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = reports.clone();
        set_exception_handler(move |ctx| sink.lock().unwrap().push(ctx.message().to_owned()));
        {
            let group = TaskGroup::new();
            let _task = fail_after(&group, 10, "a");
            let _task = fail_after(&group, 10, "b");
            assert_eq!(group.join().await.unwrap_err().len(), 2);
        }
        yield_now().await?;
        assert!(reports.lock().unwrap().is_empty(), "{:?}", reports.lock().unwrap());
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn a_group_of_ten_thousand_tasks_joins_with_every_failure() {
        let group = TaskGroup::new();
        let tasks: Vec<_> = (0..10_000u64).map(|i| group.create_task(async move {
            yield_now().await?;
            anyhow::Ok(i)
        })).collect();
        group.join().await.expect("no failure");
        assert!(tasks.iter().all(|t| t.done() && !t.cancelled()));
        anyhow::Ok(())
    }
}

/// asyncio's `TaskGroup.__aexit__` absorbs a second cancellation of the joining task while it
/// waits for the children it is cancelling; it neither cancels them again nor stops waiting.
#[test]
fn a_second_cancel_of_the_joining_task_is_absorbed_and_join_still_waits_for_the_children() {
    paused(async {
        let log = Log::default();
        let child_log = log.clone();
        let joiner = create_task(async move {
            let group = TaskGroup::new();
            let cleanup_log = child_log.clone();
            let child = group.create_task(async move {
                // Catches the group's cancellation and takes a while to clean up.
                if sleep(Duration::from_secs(3600)).await.is_err() {
                    sleep(Duration::from_millis(50)).await.ok();
                    cleanup_log.push("child cleaned up");
                }
                anyhow::Ok(())
            });
            let joined = group.join().await;
            child_log.push(format!("join returned, child done: {}", child.done()));
            assert!(joined.is_err());
            anyhow::Ok(child.cancelling())
        });
        sleep(Duration::from_millis(1)).await?;
        assert!(joiner.cancel());
        sleep(Duration::from_millis(10)).await?;
        assert!(joiner.cancel(), "the second request, while join waits for the child");
        let child_cancelling = joiner.await?;
        assert_eq!(child_cancelling, 1, "the child was cancelled once");
        log.check(&["child cleaned up", "join returned, child done: true"]);
        anyhow::Ok(())
    })
    .unwrap();
}
