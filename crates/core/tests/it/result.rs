//! Reading outcomes: result(), exception(), awaiting, join, names, never-retrieved failures.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskloop::{ReturnWhen, TaskBuilder, create_task, current_task, set_exception_handler, sleep, wait, yield_now};

use crate::on_both_flavours;
use crate::support::paused;

on_both_flavours! {
    fn result_and_exception_of_an_unfinished_task_are_invalid_state() {
        let task = create_task(async { sleep(Duration::from_millis(5)).await?; anyhow::Ok(1) });
        assert!(task.result().unwrap_err().is_invalid_state());
        assert!(task.exception().unwrap_err().is_invalid_state());
        assert!(!task.done());
        task.cancel();
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn exception_is_none_on_success_and_the_error_on_failure() {
        let ok = create_task(async { anyhow::Ok(1) });
        let failed = create_task(async { Err::<(), _>(anyhow::anyhow!("bad input: 7")) });
        // Wait without reading the outcomes.
        wait([ok.as_task_ref(), failed.as_task_ref()], ReturnWhen::AllCompleted, None).await?;
        assert!(ok.exception()?.is_none());
        let err = failed.exception()?.expect("a failure");
        assert!(err.is_failed());
        assert_eq!(err.to_string(), "bad input: 7");
        assert_eq!(failed.result().unwrap_err().to_string(), "bad input: 7");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn a_panicking_body_ends_panicked_with_its_message_and_the_loop_goes_on() {
        let task = create_task(async {
            if true {
                panic!("kaboom {}", 42);
            }
            anyhow::Ok(())
        });
        let other = create_task(async { yield_now().await?; anyhow::Ok("still fine") });
        let err = (&task).await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.to_string(), "task panicked: kaboom 42");
        assert_eq!(other.await?, "still fine");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn a_thousand_awaiters_see_the_same_outcome() {
        let task = create_task(async {
            sleep(Duration::from_millis(2)).await?;
            anyhow::Ok(String::from("shared"))
        });
        let awaiters: Vec<_> = (0..1000)
            .map(|_| {
                let task = task.clone();
                create_task(task)
            })
            .collect();
        for a in awaiters {
            assert_eq!(a.await?, "shared");
        }
        assert_eq!((&task).await?, "shared");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn every_awaiter_of_a_failed_task_sees_the_same_failure() {
        let task = create_task(async {
            yield_now().await?;
            Err::<u8, _>(anyhow::anyhow!("broken"))
        });
        let a = task.clone();
        let b = task.clone();
        let (ra, rb) = (a.await, b.await);
        assert_eq!(ra.unwrap_err().to_string(), "broken");
        assert_eq!(rb.unwrap_err().to_string(), "broken");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn join_takes_a_value_that_is_not_clone_and_only_once() {
        struct NotClone(u32);
        let task = create_task(async { anyhow::Ok(NotClone(9)) });
        let other = task.clone();
        assert_eq!(task.join().await?.0, 9);
        assert!(other.join().await.err().unwrap().is_invalid_state(), "the value was taken");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn an_awaiter_dropped_before_completion_leaves_the_others_working() {
        let task = create_task(async { sleep(Duration::from_millis(2)).await?; anyhow::Ok(1) });
        let dropped = task.clone();
        let mut fut = Box::pin(dropped);
        // Register, then drop, a waiter.
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
        assert!(first.is_pending());
        drop(fut);
        assert_eq!((&task).await?, 1);
        anyhow::Ok(())
    }
}

#[test]
fn tasks_are_named_task_n_by_default_and_renames_are_seen_by_every_handle() {
    paused(async {
        let task = create_task(async { anyhow::Ok(()) });
        assert_eq!(&*task.name(), format!("Task-{}", task.id()));
        let erased = task.as_task_ref();
        task.clone().set_name("renamed");
        assert_eq!(&*erased.name(), "renamed");
        erased.set_name("again");
        assert_eq!(&*task.name(), "again");
        let named = TaskBuilder::new().name("fetch-user").spawn(async { anyhow::Ok(current_task().unwrap().name()) });
        assert_eq!(&*named.await?, "fetch-user");
        anyhow::Ok(())
    })
    .unwrap();
}

type Reports = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn capture_reports() -> Reports {
    let seen: Reports = Arc::default();
    let sink = seen.clone();
    set_exception_handler(move |ctx| {
        sink.lock().unwrap().push((ctx.message().to_owned(), ctx.error().map(|e| e.to_string())));
    });
    seen
}

#[test]
fn a_failure_nobody_retrieved_is_reported_when_the_last_handle_goes() {
    paused(async {
        let seen = capture_reports();
        let task = TaskBuilder::new().name("forgotten").spawn(async { Err::<(), _>(anyhow::anyhow!("lost")) });
        yield_now().await?;
        assert!(task.done());
        assert!(seen.lock().unwrap().is_empty(), "not while a handle lives");
        drop(task);
        let reports = seen.lock().unwrap().clone();
        assert_eq!(reports.len(), 1);
        assert!(reports[0].0.contains("never retrieved") && reports[0].0.contains("forgotten"), "{reports:?}");
        assert_eq!(reports[0].1.as_deref(), Some("lost"));
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_failure_that_was_read_or_a_cancellation_is_not_reported() {
    paused(async {
        let seen = capture_reports();
        let read = create_task(async { Err::<(), _>(anyhow::anyhow!("seen")) });
        let cancelled = create_task(async {
            sleep(Duration::from_secs(1)).await?;
            anyhow::Ok(())
        });
        yield_now().await?;
        cancelled.cancel();
        yield_now().await?;
        assert!(read.exception()?.is_some());
        drop((read, cancelled));
        assert!(seen.lock().unwrap().is_empty());
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn tasks_work_with_join_all_and_futures_unordered_and_fuse_after_yielding() {
        use futures::future::{FusedFuture, join_all};
        use futures::stream::{FuturesUnordered, StreamExt};

        let tasks: Vec<_> = (0..5u32).map(|i| create_task(async move { anyhow::Ok(i * 2) })).collect();
        let values: Vec<u32> = join_all(tasks.iter().cloned()).await.into_iter().collect::<Result<_, _>>()?;
        assert_eq!(values, [0, 2, 4, 6, 8]);

        let refs: FuturesUnordered<_> = tasks.iter().map(|t| t.as_task_ref()).collect();
        assert_eq!(refs.collect::<Vec<_>>().await.len(), 5);

        let mut handle = tasks[0].clone();
        assert!(!handle.is_terminated());
        (&mut handle).await?;
        assert!(handle.is_terminated(), "fused once it has yielded");
        assert!(!tasks[0].clone().is_terminated(), "a fresh clone can be awaited again");
        anyhow::Ok(())
    }
}
