//! `timeout` and `timeout_at`: asyncio's `asyncio.timeout()` rules, after CPython's
//! `Lib/test/test_asyncio/test_timeouts.py`.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use taskloop::{Instant, TaskError, cancellable, create_task, current_task, sleep, timeout, timeout_at, wait_for};

use crate::on_both_flavours;
use crate::support::{Log, MS, SEC, ms_since, paused};

fn is_timeout<T: std::fmt::Debug>(outcome: &Result<T, TaskError>) -> bool {
    matches!(outcome, Err(TaskError::Timeout))
}

#[test]
fn a_block_that_overruns_is_cancelled_and_the_timeout_says_timeout() {
    paused(async {
        // test_timeout_basic and test_waiter_cancelled.
        let log = Log::default();
        let sink = log.clone();
        let start = Instant::now();
        let outcome = timeout(10 * MS, async move {
            if let Err(c) = sleep(10 * SEC).await {
                sink.push(format!("block saw {c} at {}ms", ms_since(start)));
                return Err(c.into());
            }
            anyhow::Ok(())
        })
        .await;
        assert!(is_timeout(&outcome), "{outcome:?}");
        log.check(&["block saw cancelled at 10ms"]);
        let me = current_task().unwrap();
        assert_eq!(me.cancelling(), 0, "the task is not left cancelling");
        sleep(MS).await?; // and nothing is left pending
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_block_that_ends_in_time_gives_its_value() {
    paused(async {
        // test_timeout_not_called.
        let start = Instant::now();
        let value = timeout(10 * SEC, async {
            sleep(10 * MS).await?;
            anyhow::Ok("value")
        })
        .await?;
        assert_eq!(value, "value");
        assert_eq!(ms_since(start), 10);
        sleep(20 * SEC).await?; // the deadline is gone with the block
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn timeout_at_times_out_at_the_deadline() {
    paused(async {
        // test_timeout_at_basic.
        let deadline = Instant::now() + 10 * MS;
        let outcome = timeout_at(deadline, sleep(10 * SEC)).await;
        assert!(is_timeout(&outcome));
        assert_eq!(Instant::now(), deadline);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_zero_timeout_cancels_the_block_at_its_first_suspension() {
    paused(async {
        // test_timeout_zero, test_timeout_zero_sleep_zero, test_timeout_in_the_past_sleep_zero.
        let start = Instant::now();
        assert!(is_timeout(&timeout(Duration::ZERO, sleep(10 * SEC)).await));
        assert!(is_timeout(&timeout(Duration::ZERO, sleep(Duration::ZERO)).await));
        sleep(SEC).await?;
        assert!(is_timeout(&timeout_at(start, sleep(Duration::ZERO)).await), "a deadline in the past");
        assert_eq!(ms_since(start), 1000, "no time passed in the blocks");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_block_ready_at_once_gives_its_value_even_with_a_zero_timeout() {
    paused(async {
        assert_eq!(timeout(Duration::ZERO, async { anyhow::Ok(5) }).await?, 5);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_failure_of_the_block_passes_through() {
    paused(async {
        // test_foreign_exception_passed.
        let outcome = timeout(10 * MS, async { anyhow::bail!("KeyError") as anyhow::Result<()> }).await;
        assert_eq!(outcome.unwrap_err().to_string(), "KeyError");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_failure_raised_while_handling_the_timeout_passes_through() {
    paused(async {
        // test_foreign_exception_on_timeout.
        let outcome = timeout(10 * MS, async {
            let _ = sleep(SEC).await;
            anyhow::bail!("ZeroDivisionError") as anyhow::Result<()>
        })
        .await;
        match outcome {
            Err(TaskError::Failed(e)) => assert_eq!(e.to_string(), "ZeroDivisionError"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(current_task().unwrap().cancelling(), 0);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_block_that_absorbs_the_cancellation_gives_its_value_and_the_task_is_not_left_cancelling() {
    paused(async {
        let value = timeout(10 * MS, async {
            match sleep(SEC).await {
                Err(_) => anyhow::Ok("absorbed"),
                Ok(()) => anyhow::Ok("slept"),
            }
        })
        .await?;
        assert_eq!(value, "absorbed");
        assert_eq!(current_task().unwrap().cancelling(), 0);
        sleep(MS).await?;
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancel_from_elsewhere_before_the_deadline_stays_a_cancellation() {
    paused(async {
        // test_foreign_cancel_doesnt_timeout_if_not_expired.
        let task = create_task(async {
            timeout(10 * SEC, async {
                current_task().unwrap().cancel_with("foreign");
                sleep(10 * SEC).await?;
                anyhow::Ok(())
            })
            .await?;
            anyhow::Ok(())
        });
        let outcome = (&task).await;
        assert_eq!(outcome.unwrap_err().cancel_message(), Some("foreign"));
        assert!(task.cancelled());
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancel_from_elsewhere_after_the_deadline_stays_a_cancellation() {
    paused(async {
        // The deadline's cancellation is caught; then someone else cancels the task: on exit
        // there are more requests than on entry, so this is not the timeout's to convert.
        let task = create_task(async {
            timeout(10 * MS, async {
                let _ = sleep(SEC).await; // the deadline's cancellation, caught
                current_task().unwrap().cancel_with("foreign");
                sleep(SEC).await?;
                anyhow::Ok(())
            })
            .await?;
            anyhow::Ok(())
        });
        let outcome = (&task).await;
        assert_eq!(outcome.unwrap_err().cancel_message(), Some("foreign"));
        assert_eq!(task.cancelling(), 1, "the foreign request is still counted");
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn the_task_running_an_expired_timeout_is_not_cancelled() {
    paused(async {
        // test_outer_task_is_not_cancelled.
        let task = create_task(async {
            let outcome = timeout(MS, sleep(10 * SEC)).await;
            anyhow::ensure!(is_timeout(&outcome), "expected a time-out, got {outcome:?}");
            anyhow::Ok(())
        });
        (&task).await?;
        assert!(task.done() && !task.cancelled());
        assert_eq!(task.cancelling(), 0);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn nested_timeouts_with_one_deadline_time_out_only_the_outer_block() {
    paused(async {
        // test_nested_timeouts: the inner block sees the cancellation and passes it on.
        let log = Log::default();
        let sink = log.clone();
        let deadline = Instant::now() + 10 * MS;
        let outer = timeout_at(deadline, async move {
            let inner = timeout_at(deadline, sleep(10 * SEC)).await;
            sink.push(format!("inner: {inner:?}"));
            inner?;
            anyhow::Ok(())
        })
        .await;
        assert!(is_timeout(&outer), "{outer:?}");
        log.check(&["inner: Err(Cancelled)"]);
        assert_eq!(current_task().unwrap().cancelling(), 0);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn nested_zero_timeouts_time_out_only_the_outer_block() {
    paused(async {
        let log = Log::default();
        let sink = log.clone();
        let outer = timeout(Duration::ZERO, async move {
            let inner = timeout(Duration::ZERO, sleep(10 * SEC)).await;
            sink.push(format!("inner: {inner:?}"));
            inner?;
            anyhow::Ok(())
        })
        .await;
        assert!(is_timeout(&outer), "{outer:?}");
        log.check(&["inner: Err(Cancelled)"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn an_outer_timeout_interrupts_work_after_an_inner_one_timed_out() {
    paused(async {
        // test_nested_timeouts_loop_busy.
        let log = Log::default();
        let sink = log.clone();
        let start = Instant::now();
        let outer = timeout(100 * MS, async move {
            let inner = timeout(10 * MS, sleep(SEC)).await;
            sink.push(format!("inner: {inner:?} at {}ms", ms_since(start)));
            sleep(10 * SEC).await?;
            anyhow::Ok(())
        })
        .await;
        assert!(is_timeout(&outer));
        log.check(&["inner: Err(Timeout) at 10ms"]);
        assert_eq!(ms_since(start), 100);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_timeout_inside_clean_up_after_a_timeout_times_out_on_its_own() {
    paused(async {
        // test_nested_timeout_in_finally.
        let log = Log::default();
        let sink = log.clone();
        let outer = timeout(10 * MS, async move {
            let first = sleep(SEC).await;
            let clean_up = timeout(10 * MS, sleep(10 * SEC)).await;
            sink.push(format!("clean-up: {clean_up:?}"));
            first?;
            anyhow::Ok(())
        })
        .await;
        assert!(is_timeout(&outer));
        log.check(&["clean-up: Err(Timeout)"]);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_timeout_after_a_caught_cancellation_still_times_out() {
    paused(async {
        // test_timeout_after_cancellation: the task was cancelled and caught it without
        // uncancel(); the timeout in its clean-up still reports a time-out.
        let task = create_task(async {
            current_task().unwrap().cancel();
            let _ = sleep(SEC).await;
            let clean_up = timeout(Duration::ZERO, sleep(SEC)).await;
            anyhow::Ok(is_timeout(&clean_up))
        });
        assert!(task.await?);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_cancel_inside_a_timeout_after_a_caught_cancellation_is_a_cancellation() {
    paused(async {
        // test_cancel_in_timeout_after_cancellation.
        let task = create_task(async {
            current_task().unwrap().cancel();
            let _ = sleep(SEC).await;
            let clean_up = timeout(SEC, async {
                current_task().unwrap().cancel();
                sleep(2 * SEC).await?;
                anyhow::Ok(())
            })
            .await;
            anyhow::Ok(clean_up.unwrap_err().is_cancelled())
        });
        assert!(task.await?);
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_block_suspended_in_a_foreign_future_is_dropped_at_the_deadline() {
    paused(async {
        let start = Instant::now();
        let dropped = Arc::new(AtomicBool::new(false));
        let guard = DropFlag(dropped.clone());
        // A foreign future: no cancellation point sees the deadline's request, so the block
        // is dropped at its await, its guard running as a `finally` would.
        let foreign = async move {
            let _guard = guard;
            tokio::time::sleep(50 * MS).await;
            anyhow::Ok("foreign value")
        };
        assert!(matches!(timeout(10 * MS, foreign).await, Err(TaskError::Timeout)));
        assert_eq!(ms_since(start), 10);
        assert!(dropped.load(Ordering::SeqCst), "the block's drop guard ran before the timeout returned");
        assert_eq!(current_task().unwrap().cancelling(), 0);
        sleep(MS).await?; // no request is left behind
        anyhow::Ok(())
    })
    .unwrap();
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn dropping_an_expired_timeout_withdraws_its_cancel_request() {
    paused(async {
        // A block that catches the deadline's cancellation and sleeps on: still running after
        // its timeout expired.
        let stubborn = async {
            loop {
                let _caught = sleep(3600 * SEC).await;
            }
            #[allow(unreachable_code)]
            anyhow::Ok(())
        };
        let mut block = Box::pin(timeout(10 * MS, stubborn));
        let mut until = Box::pin(tokio::time::sleep(20 * MS));
        let me = current_task().unwrap();
        poll_fn(|cx| {
            assert!(block.as_mut().poll(cx).is_pending());
            until.as_mut().poll(cx)
        })
        .await;
        assert_eq!(me.cancelling(), 1, "expired: the task was cancelled");
        drop(block);
        assert_eq!(me.cancelling(), 0);
        sleep(MS).await?; // the undelivered request went with it
        anyhow::Ok(())
    })
    .unwrap();
}

#[test]
fn a_timeout_of_duration_max_never_expires() {
    paused(async {
        let value = timeout(Duration::MAX, async {
            sleep(Duration::from_secs(86_400 * 365)).await?;
            anyhow::Ok("a year later")
        })
        .await?;
        assert_eq!(value, "a year later");
        let far = Instant::now() + Duration::from_secs(u64::MAX / 4);
        assert_eq!(timeout_at(far, async { anyhow::Ok(1) }).await?, 1);
        anyhow::Ok(())
    })
    .unwrap();
}

on_both_flavours! {
    fn a_timeout_cancels_a_foreign_future_made_cancellable() {
        let outcome = timeout(Duration::from_millis(20), cancellable(std::future::pending::<()>())).await;
        assert!(is_timeout(&outcome), "{outcome:?}");
        assert_eq!(current_task().unwrap().cancelling(), 0);
        anyhow::Ok(())
    }
}

#[test]
#[should_panic(expected = "must be awaited inside a taskloop task")]
fn a_timeout_awaited_outside_a_task_panics_saying_so() {
    // test_timeout_without_task.
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let _ = rt.block_on(timeout(SEC, async { anyhow::Ok(()) }));
}

/// Issue 13, item 11. `async with asyncio.timeout(0.26): await asyncio.sleep(0.26)` →
/// `TimeoutError` (CPython 3.13): the timeout's timer was scheduled first, so at the shared
/// instant the deadline wins.
#[test]
fn a_deadline_and_a_sleep_due_at_the_same_instant_time_out() {
    paused(async {
        let outcome = timeout(260 * MS, sleep(260 * MS)).await;
        assert!(matches!(outcome, Err(TaskError::Timeout)));
        assert_eq!(current_task().unwrap().cancelling(), 0);
        anyhow::Ok(())
    })
    .unwrap();
}

/// A deadline runs as its timer fires, before any task step that the same instant's timers
/// cause: the task the block awaits is cancelled even though its own sleep is due at that very
/// instant, and the block ends in `Timeout`. On CPython 3.13 this prints `t1 TimeoutError`,
/// `t2 cancelled`, then `wait_for TimeoutError; t3 cancelled: True`:
///
/// ```python
/// async def main():
///     async def t2():
///         await asyncio.sleep(0.1)
///         return "slept"
///     async def t1():
///         async with asyncio.timeout(0.1):
///             await T2
///     T2 = asyncio.create_task(t2())
///     T1 = asyncio.create_task(t1())
///     try: await T1
///     except TimeoutError: print("t1 TimeoutError")
///     try: print(await T2)
///     except asyncio.CancelledError: print("t2 cancelled")
///     T3 = asyncio.create_task(t2())
///     try: await asyncio.wait_for(T3, 0.1)
///     except TimeoutError: print("wait_for TimeoutError; t3 cancelled:", T3.cancelled())
/// ```
#[test]
fn a_deadline_reaches_the_awaited_task_before_its_sleep_due_at_the_same_instant_returns() {
    paused(async {
        let t2 = || async {
            sleep(100 * MS).await?;
            anyhow::Ok("slept")
        };
        let awaited = create_task(t2());
        let waiting = awaited.clone();
        let t1 = create_task(async move { timeout(100 * MS, waiting).await });
        assert!(matches!(t1.await, Err(TaskError::Timeout)), "t1 TimeoutError");
        assert!(awaited.cancelled(), "t2 cancelled, though its sleep was due at the deadline");

        let t3 = create_task(t2());
        let outcome = wait_for(&t3, 100 * MS).await;
        assert!(matches!(outcome, Err(TaskError::Timeout)), "{outcome:?}");
        assert!(t3.cancelled());
        assert_eq!(current_task().unwrap().cancelling(), 0);
        anyhow::Ok(())
    })
    .unwrap();
}

/// A request that reaches a task after its own deadline cancelled its block, and before its
/// next step, merges into that cancellation (asyncio's awaited future is already cancelled, so
/// `_must_cancel` is consumed by the same step): here `wait_for`'s deadline, due at the same
/// instant, passes its request on to the task it awaits. The task catches one cancellation,
/// its block ends normally, it runs on, and `wait_for` gives its value. On CPython 3.13:
///
/// ```python
/// async def t2():
///     async with asyncio.timeout(0.2):
///         try: await asyncio.sleep(0.3)
///         except asyncio.CancelledError: log.append("t2 caught")
///     log.append(f"t2 after the block, cancelling={asyncio.current_task().cancelling()}")
///     await asyncio.sleep(0); log.append("t2 slept again"); return 200
/// T2 = asyncio.create_task(t2())
/// async def t1(): return await asyncio.wait_for(T2, 0.2)
/// T1 = asyncio.create_task(t1()); log.append(f"t1 -> {await T1}")
/// # ['t2 caught', 't2 after the block, cancelling=1', 't2 slept again', 't1 -> 200']
/// ```
#[test]
fn a_request_right_after_the_blocks_own_deadline_merges_into_its_cancellation() {
    let log = Log::default();
    let l = log.clone();
    taskloop_test_support::within(30, move || {
        paused(async move {
            let t2_log = l.clone();
            let t2 = create_task(async move {
                let block = timeout(200 * MS, async {
                    if sleep(300 * MS).await.is_err() {
                        t2_log.push("t2 caught");
                    }
                    anyhow::Ok(())
                });
                block.await?;
                let cancelling = current_task().unwrap().cancelling();
                t2_log.push(format!("t2 after the block, cancelling={cancelling}"));
                sleep(Duration::ZERO).await?;
                t2_log.push("t2 slept again");
                anyhow::Ok(200)
            });
            let t1 = create_task(async move { wait_for(&t2, 200 * MS).await });
            l.push(format!("t1 -> {:?}", t1.await));
            anyhow::Ok(())
        })
        .unwrap()
    });
    log.check(&["t2 caught", "t2 after the block, cancelling=1", "t2 slept again", "t1 -> Ok(200)"]);
}

/// The other order: a request pending on a task (here `wait_for`'s deadline, registered before
/// the task's own block started) when its block's deadline, due at the same instant, fires
/// merges into the block's cancellation too: one delivery, which the task catches; the block
/// ends normally and `wait_for` gives its value. On CPython 3.13 (either order of the timers):
///
/// ```python
/// async def t1():
///     async with asyncio.timeout(0.3):
///         try: await asyncio.sleep(0.3)
///         except asyncio.CancelledError: log.append("t1 caught")
///     log.append(f"t1 block ok, cancelling={asyncio.current_task().cancelling()}")
///     return 100
/// T1 = asyncio.create_task(t1())
/// log.append(f"wait_for -> {await asyncio.wait_for(T1, 0.3)}")
/// # ['t1 caught', 't1 block ok, cancelling=1', 'wait_for -> 100']
/// ```
#[test]
fn a_request_pending_when_the_blocks_own_deadline_fires_merges_into_its_cancellation() {
    let log = Log::default();
    let l = log.clone();
    taskloop_test_support::within(30, move || {
        paused(async move {
            let t1_log = l.clone();
            let t1 = create_task(async move {
                let block = timeout(300 * MS, async {
                    if sleep(300 * MS).await.is_err() {
                        t1_log.push("t1 caught");
                    }
                    anyhow::Ok(())
                });
                block.await?;
                let cancelling = current_task().unwrap().cancelling();
                t1_log.push(format!("t1 block ok, cancelling={cancelling}"));
                anyhow::Ok(100)
            });
            l.push(format!("wait_for -> {:?}", wait_for(&t1, 300 * MS).await));
            anyhow::Ok(())
        })
        .unwrap()
    });
    log.check(&["t1 caught", "t1 block ok, cancelling=1", "wait_for -> Ok(100)"]);
}
