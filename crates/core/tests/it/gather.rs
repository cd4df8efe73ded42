//! `gather`, `gather_settled`, `as_completed`: asyncio's rules (CPython test_tasks.py:
//! GatherTests, test_as_completed*, test_gather_* / bpo-32684).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use taskloop::{
    Task, TaskError, as_completed, create_task, gather, gather_settled, set_exception_handler, sleep, yield_now,
};
use tokio::time::Instant;

use crate::on_both_flavours;
use crate::support::{Log, paused};

/// A task that sleeps `ms` then returns `value`.
fn after(ms: u64, value: u64) -> Task<u64> {
    create_task(async move {
        sleep(Duration::from_millis(ms)).await?;
        anyhow::Ok(value)
    })
}

/// A task that sleeps `ms` then fails with `message`.
fn fail_after(ms: u64, message: &'static str) -> Task<u64> {
    create_task(async move {
        sleep(Duration::from_millis(ms)).await?;
        anyhow::bail!(message)
    })
}

#[test]
fn gather_returns_values_in_input_order_not_finishing_order() {
    paused(async {
        let start = Instant::now();
        let tasks = [after(30, 1), after(10, 2), after(20, 3)];
        assert_eq!(gather(&tasks).await?, [1, 2, 3]);
        assert_eq!(start.elapsed(), Duration::from_millis(30));
        assert_eq!(tasks[1].result()?, 2, "the handles stay usable: values are cloned out");
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn empty_inputs_return_at_once() {
        let none: Vec<Task<u8>> = Vec::new();
        let start = Instant::now();
        assert!(gather(&none).await?.is_empty());
        assert!(gather_settled(&none).await?.is_empty());
        assert!(as_completed(&none).next().await.is_none());
        assert!(start.elapsed() < Duration::from_secs(1));
        anyhow::Ok(())
    }
}

on_both_flavours! {
    fn gather_of_the_same_task_twice_gives_its_value_twice() {
        let task = create_task(async { anyhow::Ok("x") });
        assert_eq!(gather([&task, &task]).await?, ["x", "x"]);
        anyhow::Ok(())
    }
}

#[test]
fn gather_returns_the_first_failure_at_once_and_the_others_keep_running() {
    paused(async {
        let start = Instant::now();
        let ok = after(30, 1);
        let late_failure = fail_after(20, "second");
        let first_failure = fail_after(10, "first");
        let err = gather([&ok, &late_failure, &first_failure]).await.unwrap_err();
        assert_eq!(err.to_string(), "first");
        assert_eq!(start.elapsed(), Duration::from_millis(10), "returned as soon as the first failed");
        assert!(!ok.done() && !late_failure.done(), "nothing was cancelled");
        assert_eq!((&ok).await?, 1);
        assert_eq!((&late_failure).await.unwrap_err().to_string(), "second");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn gather_of_tasks_already_done_reports_the_first_failure_in_input_order() {
    paused(async {
        let a = create_task(async { anyhow::Ok(1u64) });
        let b = fail_after(0, "b");
        let c = fail_after(0, "c");
        sleep(Duration::from_millis(1)).await?;
        assert!(a.done() && b.done() && c.done());
        assert_eq!(gather([&a, &c, &b]).await.unwrap_err().to_string(), "c");
        assert_eq!(gather([&a, &b, &c]).await.unwrap_err().to_string(), "b");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn gather_fails_cancelled_when_a_child_is_cancelled_on_its_own() {
    // CPython test_result_exception_one_cancellation: without return_exceptions a cancelled
    // child makes gather raise CancelledError.
    paused(async {
        let ok = after(20, 1);
        let cancelled = after(10, 2);
        let canceller = cancelled.clone();
        let _task = create_task(async move {
            sleep(Duration::from_millis(5)).await?;
            canceller.cancel_with("child only");
            anyhow::Ok(())
        });
        let err = gather([&ok, &cancelled]).await.unwrap_err();
        assert_eq!(err.cancel_message(), Some("child only"));
        assert!(!ok.done(), "the sibling keeps running");
        ok.cancel();
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn cancelling_the_gathering_task_cancels_every_child_waits_for_them_and_ends_cancelled() {
    paused(async {
        let log = Log::default();
        let plain = after(1_000, 1);
        let stubborn = {
            let log = log.clone();
            create_task(async move {
                if let Err(cancelled) = sleep(Duration::from_secs(1)).await {
                    log.push(format!("stubborn saw {cancelled}"));
                    // Cleans up for a while after the cancellation, then returns normally.
                    sleep(Duration::from_millis(50)).await?;
                    log.push("stubborn cleaned up");
                }
                anyhow::Ok(2u64)
            })
        };
        let children = [plain.clone(), stubborn.clone()];
        let gatherer = create_task(async move { anyhow::Ok(gather(&children).await?) });
        sleep(Duration::from_millis(10)).await?;
        let start = Instant::now();
        assert!(gatherer.cancel_with("stop"));
        let err = (&gatherer).await.unwrap_err();
        assert_eq!(err.cancel_message(), Some("stop"), "the gather ends with the caller's cancellation");
        assert_eq!(start.elapsed(), Duration::from_millis(50), "it waited for the stubborn child");
        assert!(plain.cancelled());
        assert_eq!(plain.exception().unwrap_err().cancel_message(), Some("stop"), "children get the message");
        assert_eq!(stubborn.result()?, 2, "a child that absorbed the cancel still finished first");
        log.check(&["stubborn saw cancelled: stop", "stubborn cleaned up"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn gather_settled_collects_every_outcome_in_input_order() {
    paused(async {
        let ok = after(30, 7);
        let failed = fail_after(10, "boom");
        let panicked = create_task(async {
            sleep(Duration::from_millis(20)).await?;
            if std::hint::black_box(true) {
                panic!("kaboom");
            }
            anyhow::Ok(0u64)
        });
        let cancelled = after(1_000, 0);
        let canceller = cancelled.clone();
        let _task = create_task(async move {
            sleep(Duration::from_millis(5)).await?;
            canceller.cancel_with("enough");
            anyhow::Ok(())
        });
        let outcomes = gather_settled([&ok, &failed, &panicked, &cancelled]).await?;
        assert_eq!(*outcomes[0].as_ref().unwrap(), 7);
        assert_eq!(outcomes[1].as_ref().unwrap_err().to_string(), "boom");
        assert!(outcomes[2].as_ref().unwrap_err().is_panic());
        assert_eq!(outcomes[3].as_ref().unwrap_err().cancel_message(), Some("enough"));
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn cancelling_gather_settled_still_ends_cancelled() {
    // bpo-32684: return_exceptions=True does not swallow the gather's own cancellation.
    paused(async {
        let child = after(1_000, 1);
        let children = [child.clone()];
        let gatherer = create_task(async move { anyhow::Ok(gather_settled(&children).await?) });
        sleep(Duration::from_millis(10)).await?;
        gatherer.cancel_with("outer");
        let err = (&gatherer).await.unwrap_err();
        assert_eq!(err.cancel_message(), Some("outer"));
        assert!(child.cancelled(), "the child was cancelled and waited for");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn failures_of_siblings_after_the_first_are_marked_retrieved() {
    // CPython test_exception_marking: gather retrieves the exceptions it does not return.
    paused(async {
        let reports = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = reports.clone();
        set_exception_handler(move |ctx| sink.lock().unwrap().push(ctx.message().to_owned()));
        {
            let first = fail_after(10, "first");
            let second = fail_after(20, "second");
            assert_eq!(gather([first, second]).await.unwrap_err().to_string(), "first");
        }
        sleep(Duration::from_millis(50)).await?;
        yield_now().await?;
        assert!(reports.lock().unwrap().is_empty(), "nothing reported: {:?}", reports.lock().unwrap());
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn gather_of_ten_thousand_tasks_gives_every_value_in_order() {
        let tasks: Vec<_> = (0..10_000u64).map(|i| create_task(async move {
            yield_now().await?;
            anyhow::Ok(i)
        })).collect();
        let values = gather(tasks).await?;
        assert!(values.iter().copied().eq(0..10_000));
        anyhow::Ok(())
    }
}

#[test]
fn as_completed_yields_outcomes_in_completion_order() {
    paused(async {
        let tasks = [after(30, 30), fail_after(10, "ten"), after(20, 20)];
        let mut stream = as_completed(&tasks);
        assert_eq!(Stream::size_hint(&stream).0, 3);
        assert_eq!(stream.next().await.unwrap().unwrap_err().to_string(), "ten");
        assert_eq!(stream.next().await.unwrap()?, 20);
        assert_eq!(stream.next().await.unwrap()?, 30);
        assert!(stream.next().await.is_none());
        assert!(stream.next().await.is_none(), "stays ended");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn as_completed_yields_done_tasks_first_in_input_order_and_each_task_once() {
    paused(async {
        let slow = after(10, 3);
        let a = create_task(async { anyhow::Ok(1u64) });
        let b = create_task(async { anyhow::Ok(2u64) });
        yield_now().await?;
        let order: Vec<u64> = as_completed([&slow, &b, &a, &b, &slow]).map(|r| r.unwrap()).collect().await;
        assert_eq!(order, [2, 1, 3], "duplicates are yielded once, as asyncio's set() does");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn cancelling_the_reader_of_as_completed_yields_cancelled_and_leaves_the_tasks_running() {
    paused(async {
        let tasks = vec![after(100, 1), after(200, 2)];
        let watched = tasks.clone();
        let reader = create_task(async move {
            let mut stream = as_completed(&watched);
            let first = stream.next().await.unwrap();
            let after_cancel = stream.next().await.unwrap();
            anyhow::Ok((first.unwrap_err().cancel_message().map(str::to_owned), after_cancel?))
        });
        sleep(Duration::from_millis(10)).await?;
        reader.cancel_with("look away");
        let (first, next) = (&reader).await?;
        assert_eq!(first.as_deref(), Some("look away"));
        assert_eq!(next, 1, "the stream goes on after the cancellation");
        assert!(!tasks[1].done(), "as_completed cancels nothing");
        assert_eq!((&tasks[1]).await?, 2);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn public_futures_are_send_and_unpin() {
    fn send_unpin<X: Send + Unpin>(_: &X) {}
    paused(async {
        let tasks = [after(1, 1)];
        send_unpin(&gather(&tasks));
        send_unpin(&gather_settled(&tasks));
        send_unpin(&as_completed(&tasks));
        let _: Result<Vec<u64>, TaskError> = gather(&tasks).await;
        anyhow::Ok(())
    })
    .unwrap();
}

/// The documented one-liner for futures (issue 18): `gather`, `gather_settled`, `wait` and
/// `as_completed` take tasks; `map(create_task)` makes them, and inference still works.
#[test]
fn futures_are_gathered_by_making_them_tasks_first() {
    paused(async {
        let futures = (1..=3u64).map(|i| async move {
            sleep(Duration::from_millis(10 * (4 - i))).await?;
            anyhow::Ok(i)
        });
        assert_eq!(gather(futures.clone().map(create_task)).await?, [1, 2, 3]);
        let settled = gather_settled(futures.clone().map(create_task)).await?;
        assert!(settled.iter().all(Result::is_ok));
        let order: Vec<u64> = as_completed(futures.clone().map(create_task).collect::<Vec<_>>())
            .map(|outcome| outcome.unwrap())
            .collect()
            .await;
        assert_eq!(order, [3, 2, 1]);
        let (done, pending) =
            taskloop::wait(futures.map(create_task).collect::<Vec<_>>(), taskloop::ReturnWhen::AllCompleted, None)
                .await?;
        assert_eq!((done.len(), pending.len()), (3, 0));
        anyhow::Ok(())
    })
    .unwrap();
}
