//! Issue 13's differences from asyncio, each pinned to what CPython 3.13 prints for the
//! program in its doc comment (run on this machine with `PYENV_VERSION=3.13.0 python3`).
//! Single-thread ordering, so current-thread loop on paused time.

use std::time::Duration;

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use taskloop::{ReturnWhen, Task, TaskError, TaskRef, create_task, current_task, gather, sleep, wait, yield_now};

use crate::on_both_flavours;
use crate::support::{Log, paused};

/// Item 1. `main: create_task(t1)` and return; `t1: await sleep(0)` →
/// `['t1 start', 't1 cancelled at sleep(0)']`: t1 runs the step already scheduled, then run
/// cancels it at its next await.
#[test]
fn leftovers_run_only_the_step_already_scheduled_when_main_returns() {
    let log = Log::default();
    let t1_log = log.clone();
    paused(async move {
        let _t1 = create_task(async move {
            t1_log.push("t1 start");
            if let Err(cancelled) = sleep(Duration::ZERO).await {
                t1_log.push("t1 cancelled at sleep(0)");
                return Err(cancelled.into());
            }
            t1_log.push("t1 after sleep");
            anyhow::Ok(())
        });
        anyhow::Ok(())
    })
    .unwrap();
    log.check(&["t1 start", "t1 cancelled at sleep(0)"]);
}

/// Item 2. `main: me.cancel("m1"); create_task(t1); await sleep(0.5)`, `t1: print(me.cancel())`
/// → `['t1 cancel -> True', "main sleep raised ('m1',)"]`: a task that cancels itself is
/// cancelled at its next await only after it has suspended once.
#[test]
fn a_self_cancel_is_delivered_after_the_task_suspends_once() {
    let log = Log::default();
    let main_log = log.clone();
    let outcome = paused(async move {
        let me = current_task().unwrap();
        assert!(me.cancel_with("m1"));
        let t1_log = main_log.clone();
        let main = me.clone();
        let _t1 = create_task(async move {
            t1_log.push(format!("t1 cancel -> {}", main.cancel()));
            anyhow::Ok(())
        });
        if let Err(cancelled) = sleep(Duration::from_millis(500)).await {
            main_log.push(format!("main sleep raised {:?}", cancelled.message()));
            return Err(cancelled.into());
        }
        anyhow::Ok(())
    });
    assert!(outcome.unwrap_err().is_cancelled());
    log.check(&["t1 cancel -> true", "main sleep raised Some(\"m1\")"]);
}

/// Item 3. As item 2, with `t1: me.cancel("m3")` and main catching the first
/// `CancelledError`, then sleeping again → `["caught ('m1',)", 'second sleep completed,
/// cancelling=2']`: requests made before the delivery merge into it.
#[test]
fn requests_made_before_the_delivery_merge_into_it() {
    let log = paused(async move {
        let log = Log::default();
        let me = current_task().unwrap();
        assert!(me.cancel_with("m1"));
        let main = me.clone();
        let _t1 = create_task(async move { anyhow::Ok(main.cancel_with("m3")) });
        if let Err(cancelled) = sleep(Duration::from_millis(500)).await {
            log.push(format!("caught {:?}", cancelled.message()));
        }
        sleep(Duration::from_millis(100)).await?;
        log.push(format!("second sleep completed, cancelling={}", me.cancelling()));
        anyhow::Ok(log)
    })
    .unwrap();
    log.check(&["caught Some(\"m1\")", "second sleep completed, cancelling=2"]);
}

/// Item 4. `t1` done; `me.cancel("m1"); await t1` → `['await done task -> 7', 'main ended
/// cancelled']`: awaiting a finished task does not suspend, so it delivers nothing, and the
/// request ends the task when its body returns.
#[test]
fn awaiting_a_finished_task_delivers_no_cancellation() {
    let log = Log::default();
    let main_log = log.clone();
    let outcome = paused(async move {
        let t1 = create_task(async { anyhow::Ok(7) });
        yield_now().await?;
        current_task().unwrap().cancel_with("m1");
        main_log.push(format!("await done task -> {}", t1.await?));
        anyhow::Ok(())
    });
    assert_eq!(outcome.unwrap_err().cancel_message(), Some("m1"), "main ended cancelled");
    log.check(&["await done task -> 7"]);
}

/// Item 9. `t1` done; `me.cancel(); await wait([t1], FIRST_COMPLETED)` → `['wait raised',
/// 'main ended cancelled']`: `wait` always suspends, so it is where the request is delivered.
#[test]
fn wait_always_suspends_so_it_delivers_a_request_even_when_it_could_return_at_once() {
    let outcome = paused(async move {
        let t1 = create_task(async { anyhow::Ok(7) });
        yield_now().await?;
        current_task().unwrap().cancel();
        let waited = wait([t1], ReturnWhen::FirstCompleted, None).await;
        assert!(waited.as_ref().is_err_and(|e| e.is_cancelled()), "wait raised");
        waited?;
        anyhow::Ok(())
    });
    assert!(outcome.unwrap_err().is_cancelled(), "main ended cancelled");
}

/// Item 6. main awaits t1; t1 (running) calls `main.cancel()` → `t1 cancel main -> True`,
/// `t1 cancelling() = 1`, `main await raised CancelledError; t1 cancelled: True`; variant: t2
/// then raises `ValueError('E2')` → `main await raised ValueError('E2') cancelling 1`. The
/// request reaches the awaited task at once (asyncio's `_fut_waiter.cancel()`), so the task
/// still running sees it, and what the awaited task ends with is what the await gives.
#[test]
fn a_cancel_reaches_the_awaited_task_at_once() {
    let log = paused(async move {
        let log = Log::default();
        let me = current_task().unwrap();
        let (t1_log, main) = (log.clone(), me.clone());
        let t1 = create_task(async move {
            t1_log.push(format!("t1 cancel main -> {}", main.cancel()));
            t1_log.push(format!("t1 cancelling() = {}", current_task().unwrap().cancelling()));
            sleep(Duration::ZERO).await?;
            t1_log.push("t1 after sleep");
            anyhow::Ok(())
        });
        let awaited = (&t1).await;
        assert!(awaited.is_err_and(|e| e.is_cancelled()));
        log.push(format!("main await raised Cancelled; t1 cancelled: {}", t1.cancelled()));
        me.uncancel();
        let main = me.clone();
        let t2 = create_task(async move {
            main.cancel();
            anyhow::bail!("E2") as anyhow::Result<()>
        });
        let error = t2.await.unwrap_err();
        log.push(format!("main await raised {error} cancelling {}", me.cancelling()));
        me.uncancel();
        anyhow::Ok(log)
    })
    .unwrap();
    log.check(&[
        "t1 cancel main -> true",
        "t1 cancelling() = 1",
        "main await raised Cancelled; t1 cancelled: true",
        "main await raised E2 cancelling 1",
    ]);
}

/// Item 6, through `wait_for` and before the awaited task starts: a canceller created first
/// cancels main while it is in `wait_for(a)` → `cancel main -> True`, `main raised ('m5',) a
/// cancelled: True` (a never starts); and a task not started yet keeps the *last* message
/// (`b.cancel("first"), b.cancel("second")` → `b ended ('second',)`).
#[test]
fn a_cancel_reaches_a_task_awaited_through_wait_for_before_it_starts() {
    let log = paused(async move {
        let log = Log::default();
        let me = current_task().unwrap();
        let (canceller_log, main) = (log.clone(), me.clone());
        let _canceller = create_task(async move {
            canceller_log.push(format!("cancel main -> {}", main.cancel_with("m5")));
            anyhow::Ok(())
        });
        let a_log = log.clone();
        let a = create_task(async move {
            a_log.push("a started");
            anyhow::Ok(())
        });
        let error = taskloop::wait_for(&a, Duration::from_secs(1)).await.unwrap_err();
        log.push(format!("main raised {:?} a cancelled: {}", error.cancel_message(), a.cancelled()));
        me.uncancel();
        let b = create_task(async { anyhow::Ok(()) });
        log.push(format!("{} {}", b.cancel_with("first"), b.cancel_with("second")));
        let error = b.await.unwrap_err();
        log.push(format!("b ended {:?}", error.cancel_message()));
        anyhow::Ok(log)
    })
    .unwrap();
    log.check(&[
        "cancel main -> true",
        "main raised Some(\"m5\") a cancelled: true",
        "true true",
        "b ended Some(\"second\")",
    ]);
}

/// A task at a bare yield awaits nothing, so a request made then replaces the message of one
/// it made itself; at a timer the first message stands: `t1: me.cancel(); await sleep(d)`,
/// main: `await sleep(0); t.cancel("m2")` → `t1 sleep(0) raised ('m2',)`, `t1 sleep(0.1)
/// raised ()`.
#[test]
fn a_bare_yield_keeps_a_request_replaceable() {
    let log = paused(async move {
        let log = Log::default();
        for ms in [0, 100] {
            let t1_log = log.clone();
            let t = create_task(async move {
                current_task().unwrap().cancel();
                if let Err(cancelled) = sleep(Duration::from_millis(ms)).await {
                    t1_log.push(format!("t1 sleep({ms}) raised {:?}", cancelled.message()));
                }
                anyhow::Ok(())
            });
            sleep(Duration::ZERO).await?;
            t.cancel_with("m2");
            t.await?;
        }
        anyhow::Ok(log)
    })
    .unwrap();
    log.check(&["t1 sleep(0) raised Some(\"m2\")", "t1 sleep(100) raised None"]);
}

/// `gather` passes a cancel on at once too, and resumes when asyncio's does: t1 (running)
/// cancels main in `gather(t1)` → `t1 cancel main -> True`, `t1 cancelling = 1`, `gather
/// raised ('m',) t1 cancelled: True`; a gather of tasks already done does not suspend, so a
/// request made before it waits for the next await (`gather of done -> [1]`, `sleep raised
/// ('m2',)`); `as_completed` always suspends first (`as_completed raised ('m3',)`).
#[test]
fn gather_forwards_at_once_and_as_completed_suspends_first() {
    let log = paused(async move {
        let log = Log::default();
        let me = current_task().unwrap();
        let (t1_log, main) = (log.clone(), me.clone());
        let t1 = create_task(async move {
            t1_log.push(format!("t1 cancel main -> {}", main.cancel_with("m")));
            t1_log.push(format!("t1 cancelling = {}", current_task().unwrap().cancelling()));
            sleep(Duration::ZERO).await?;
            anyhow::Ok(0)
        });
        let error = taskloop::gather([&t1]).await.unwrap_err();
        log.push(format!("gather raised {:?} t1 cancelled: {}", error.cancel_message(), t1.cancelled()));
        me.uncancel();
        let d = create_task(async { anyhow::Ok(1) });
        sleep(Duration::ZERO).await?;
        me.cancel_with("m2");
        log.push(format!("gather of done -> {:?}", taskloop::gather([&d]).await?));
        if let Err(cancelled) = sleep(Duration::ZERO).await {
            log.push(format!("sleep raised {:?}", cancelled.message()));
        }
        me.uncancel();
        me.cancel_with("m3");
        let mut items = taskloop::as_completed([&d]);
        while let Some(item) = futures::StreamExt::next(&mut items).await {
            match item {
                Ok(v) => log.push(format!("{v}")),
                Err(e) => log.push(format!("as_completed raised {:?}", e.cancel_message())),
            }
        }
        me.uncancel();
        anyhow::Ok(log)
    })
    .unwrap();
    log.check(&[
        "t1 cancel main -> true",
        "t1 cancelling = 1",
        "gather raised Some(\"m\") t1 cancelled: true",
        "gather of done -> [1]",
        "sleep raised Some(\"m2\")",
        "as_completed raised Some(\"m3\")",
        "1",
    ]);
}

/// A request that finds the awaited task already finished cancelled (its awaiter's wake-up
/// still queued) delivers that task's own cancellation: `t1: x.cancel("m1"); await x`, main
/// cancels t1 with `m3` right after x ended → `x cancelled: True a done: False a.cancel ->
/// True`, `t1 await raised ('m1',)`.
#[test]
fn awaiting_a_task_that_ended_cancelled_delivers_its_cancellation() {
    let log = paused(async move {
        let log = Log::default();
        let slot: std::sync::Arc<std::sync::Mutex<Option<taskloop::Task<i32>>>> = Default::default();
        let (t1_log, t1_slot) = (log.clone(), slot.clone());
        let a = create_task(async move {
            let x = t1_slot.lock().unwrap().clone().unwrap();
            x.cancel_with("m1");
            if let Err(error) = x.await {
                t1_log.push(format!("t1 await raised {:?}", error.cancel_message()));
            }
            anyhow::Ok(())
        });
        let x = create_task(async { anyhow::Ok(3) });
        *slot.lock().unwrap() = Some(x.clone());
        sleep(Duration::ZERO).await?;
        log.push(format!("x cancelled: {} a done: {} a.cancel -> {}", x.cancelled(), a.done(), a.cancel_with("m3")));
        let _ = taskloop::gather_settled([&a]).await?;
        anyhow::Ok(log)
    })
    .unwrap();
    log.check(&["x cancelled: true a done: false a.cancel -> true", "t1 await raised Some(\"m1\")"]);
}

on_both_flavours! {
    within 60;
    /// Item 6's outcome rule, on both flavours: cancelling a task suspended awaiting another
    /// cancels that one at once, even while it runs (it sees `cancelling() == 1`), and a
    /// `gather` passes it to every child not done; the awaiting task's `cancelling()` counts
    /// each request.
    fn the_awaited_task_is_cancelled_by_the_cancel_itself() {
        let me = current_task().unwrap();
        let main = me.clone();
        let t1 = create_task(async move {
            assert!(main.cancel_with("from t1"));
            let cancelling = current_task().unwrap().cancelling();
            sleep(Duration::from_millis(1)).await?;
            anyhow::Ok(cancelling)
        });
        let error = (&t1).await.unwrap_err();
        assert_eq!(error.cancel_message(), Some("from t1"));
        assert!(t1.cancelled());
        assert_eq!(me.cancelling(), 1);
        me.uncancel();

        let main = me.clone();
        let children: Vec<_> = (0..3)
            .map(|i| {
                let main = main.clone();
                create_task(async move {
                    if i == 0 {
                        main.cancel_with("stop");
                    }
                    sleep(Duration::from_secs(3600)).await?;
                    anyhow::Ok(i)
                })
            })
            .collect();
        let error = taskloop::gather(&children).await.unwrap_err();
        assert_eq!(error.cancel_message(), Some("stop"));
        assert!(children.iter().all(|c| c.cancelled()), "every child was cancelled");
        assert_eq!(me.cancelling(), 1);
        me.uncancel();
        anyhow::Ok(())
    }
}

/// Two tasks awaiting each other (a deadlock asyncio would only break with a `RecursionError`
/// on `cancel()`): a cancel that goes round the cycle stops where it comes back, is delivered
/// there, and both tasks end cancelled at their awaits.
#[test]
fn a_cancel_around_a_cycle_of_awaits_ends_both_tasks() {
    taskloop_test_support::within(30, || {
        paused(async move {
            let slot: std::sync::Arc<std::sync::Mutex<Option<taskloop::Task<()>>>> = Default::default();
            let b_slot = slot.clone();
            let a = create_task(async move {
                yield_now().await?;
                let b = b_slot.lock().unwrap().clone().unwrap();
                b.await?;
                anyhow::Ok(())
            });
            let a_for_b = a.clone();
            let b = create_task(async move {
                a_for_b.await?;
                anyhow::Ok(())
            });
            *slot.lock().unwrap() = Some(b.clone());
            sleep(Duration::from_millis(1)).await?;
            assert!(a.cancel_with("round"));
            let (ra, rb) = ((&a).await, (&b).await);
            assert!(ra.is_err_and(|e| e.is_cancelled()) && rb.is_err_and(|e| e.is_cancelled()));
            anyhow::Ok(())
        })
        .unwrap();
    });
}

/// Waiting on several tasks polls the waiting task once per wake-up that matters: `gather` at
/// the call, once per task finishing, and once for the hop that stands for asyncio's done
/// callback; `wait(ALL_COMPLETED)` at the call and once all have finished. A spurious extra poll (a `FuturesUnordered` wakes its task again after polling
/// all its futures) would let a waiter see its tasks done one loop iteration early, and
/// `run`'s end find it past its await.
#[test]
fn gather_and_wait_poll_their_task_once_per_wake_up() {
    for use_wait in [false, true] {
        paused(async move {
            let children: Vec<Task<u64>> = (1..=3)
                .map(|i| {
                    create_task(async move {
                        sleep(Duration::from_millis(10 * i)).await?;
                        anyhow::Ok(i)
                    })
                })
                .collect();
            let polls = AtomicUsize::new(0);
            let mut call = if use_wait {
                Box::pin(async { wait(children, ReturnWhen::AllCompleted, None).await.map(drop) })
                    as Pin<Box<dyn Future<Output = Result<(), TaskError>> + Send>>
            } else {
                Box::pin(async { gather(children).await.map(drop) })
            };
            poll_fn(|cx| {
                polls.fetch_add(1, Ordering::Relaxed);
                call.as_mut().poll(cx)
            })
            .await?;
            // gather: the call, each of the 3 finishing, and the hop. wait(ALL_COMPLETED): the
            // call, and the wake-up by the last one's arrival (asyncio's `_on_completion` wakes
            // the caller only once the wait is decided).
            assert_eq!(polls.load(Ordering::Relaxed), if use_wait { 2 } else { 5 }, "wait: {use_wait}");
            anyhow::Ok(())
        })
        .unwrap();
    }
}

/// A request that arrives while `gather` resumes with its own cancellation does not replace
/// that cancellation's message: asyncio's `__step` throws the gathering future's
/// `CancelledError` as it is (`_must_cancel` only replaces another outcome). CPython 3.13
/// prints `True`, `True`, `t1: ('m1',)`:
///
/// ```python
/// async def main():
///     T[1] = asyncio.create_task(task1()); T[3] = asyncio.create_task(task3())
///     await asyncio.sleep(0.3)
///     try: T[1].result()
///     except asyncio.CancelledError as e: print("t1:", e.args)
/// async def task1():
///     T[2] = asyncio.create_task(task2()); await asyncio.gather(T[2])
/// async def task2(): pass
/// async def task3():
///     print(T[1].cancel("m1")); await asyncio.sleep(0); await asyncio.sleep(0)
///     print(T[1].cancel("m2"))
/// ```
#[test]
fn a_request_during_gathers_resumption_keeps_the_gathered_cancellation() {
    paused(async {
        let t1 = create_task(async {
            let t2 = create_task(async { anyhow::Ok(()) });
            gather([t2]).await?;
            anyhow::Ok(())
        });
        let target = t1.clone();
        let t3 = create_task(async move {
            assert!(target.cancel_with("m1"));
            sleep(Duration::ZERO).await?;
            sleep(Duration::ZERO).await?;
            assert!(target.cancel_with("m2"));
            anyhow::Ok(())
        });
        sleep(Duration::from_millis(300)).await?;
        t3.await?;
        match t1.await {
            Err(TaskError::Cancelled(cancelled)) => assert_eq!(cancelled.message(), Some("m1")),
            other => panic!("t1 ended {other:?}"),
        }
        anyhow::Ok(())
    })
    .unwrap();
}

/// A request that a `gather`'s caller takes after its child finished, before it resumes, is
/// replaced by a later one made before it resumes (asyncio keeps it as `_must_cancel`, whose
/// message each `cancel()` replaces). CPython 3.13 prints `True`, `True`, `t1: ('m5',)`:
///
/// ```python
/// async def main():
///     T[1] = asyncio.create_task(task1()); await asyncio.sleep(0.3)
///     try: T[1].result()
///     except asyncio.CancelledError as e: print("t1:", e.args)
/// async def task1():
///     T[2] = asyncio.create_task(task2()); await asyncio.gather(T[2])
/// async def task2(): T[3] = asyncio.create_task(task3())
/// async def task3():
///     print(T[1].cancel("m4")); await asyncio.sleep(0); print(T[1].cancel("m5"))
/// ```
#[test]
fn a_request_taken_while_gather_resumes_gives_way_to_a_later_ones_message() {
    taskloop_test_support::within(30, || {
        paused(async {
            let slot = std::sync::Arc::new(std::sync::OnceLock::<TaskRef>::new());
            let t1_slot = slot.clone();
            let t1 = create_task(async move {
                let t2 = create_task(async move {
                    let _t3 = create_task(async move {
                        let t1 = t1_slot.get().expect("t1 is known before t3 runs").clone();
                        assert!(t1.cancel_with("m4"));
                        sleep(Duration::ZERO).await?;
                        assert!(t1.cancel_with("m5"));
                        anyhow::Ok(())
                    });
                    anyhow::Ok(())
                });
                gather([t2]).await?;
                anyhow::Ok(())
            });
            let _ = slot.set(t1.as_task_ref());
            sleep(Duration::from_millis(300)).await?;
            match t1.await {
                Err(TaskError::Cancelled(cancelled)) => assert_eq!(cancelled.message(), Some("m5")),
                other => panic!("t1 ended {other:?}"),
            }
            anyhow::Ok(())
        })
        .unwrap();
    });
}

/// A reader of `as_completed` whose tasks are all running waits without a step of its own, so
/// a cancellation wakes it where asyncio's getter future would, behind a `sleep(0)` queued
/// before the cancel:
///
/// ```python
/// p = asyncio.create_task(asyncio.sleep(10))
/// async def reader():
///     try:
///         for f in asyncio.as_completed([p]): await f
///     except asyncio.CancelledError: log.append("reader cancelled")
/// async def yielder():
///     await asyncio.sleep(0); log.append("yielder resumed")
/// a = asyncio.create_task(reader()); d = asyncio.create_task(yielder())
/// async def canceller():
///     a.cancel(); log.append("canceller")
/// b = asyncio.create_task(canceller())
/// await asyncio.gather(a, d, b)
/// # ['canceller', 'yielder resumed', 'reader cancelled']
/// ```
#[test]
fn an_as_completed_reader_of_running_tasks_waits_without_a_step_of_its_own() {
    let log = taskloop_test_support::within(30, move || {
        paused(async move {
            let log = Log::default();
            let p = create_task(async {
                sleep(Duration::from_secs(10)).await?;
                anyhow::Ok(())
            });
            let reader_log = log.clone();
            let a = create_task(async move {
                let mut items = taskloop::as_completed([&p]);
                while let Some(item) = futures::StreamExt::next(&mut items).await {
                    if item.is_err_and(|e| e.is_cancelled()) {
                        reader_log.push("reader cancelled");
                        break;
                    }
                }
                p.cancel();
                anyhow::Ok(())
            });
            let yielder_log = log.clone();
            let d = create_task(async move {
                sleep(Duration::ZERO).await?;
                yielder_log.push("yielder resumed");
                anyhow::Ok(())
            });
            let (canceller_log, target) = (log.clone(), a.clone());
            let b = create_task(async move {
                target.cancel();
                canceller_log.push("canceller");
                anyhow::Ok(())
            });
            let _ = taskloop::gather_settled([&a, &d, &b]).await;
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["canceller", "yielder resumed", "reader cancelled"]);
}

/// A task that finishes while the `as_completed` reader's step is already queued (it is
/// resuming with the previous item) has not arrived when that step runs: its done callback is
/// queued behind it, so the next read waits for it (`read b` after `tick 3`, not before).
///
/// ```python
/// async def ta(): await asyncio.sleep(0); log.append("a done"); return "a"
/// async def tb(): await a; log.append("b done"); return "b"
/// async def reader():
///     for f in asyncio.as_completed([a, b]): log.append(f"read {await f}")
/// async def ticker():
///     for i in range(6): log.append(f"tick {i}"); await asyncio.sleep(0)
/// a = create_task(ta()); r = create_task(reader()); b = create_task(tb()); t = create_task(ticker())
/// await asyncio.gather(r, t)
/// # ['tick 0', 'a done', 'tick 1', 'b done', 'tick 2', 'read a', 'tick 3', 'read b', 'tick 4', 'tick 5']
/// ```
#[test]
fn a_task_finishing_while_the_as_completed_reader_resumes_arrives_after_that_step() {
    let log = taskloop_test_support::within(30, move || {
        paused(async move {
            let log = Log::default();
            let a_log = log.clone();
            let a = create_task(async move {
                sleep(Duration::ZERO).await?;
                a_log.push("a done");
                anyhow::Ok("a")
            });
            let b_slot: std::sync::Arc<std::sync::Mutex<Option<Task<&'static str>>>> = Default::default();
            let (reader_log, reader_a, reader_b) = (log.clone(), a.clone(), b_slot.clone());
            let r = create_task(async move {
                let b = reader_b.lock().unwrap().clone().expect("b is created before the reader runs");
                let mut items = taskloop::as_completed([&reader_a, &b]);
                while let Some(item) = futures::StreamExt::next(&mut items).await {
                    reader_log.push(format!("read {}", item?));
                }
                anyhow::Ok(())
            });
            let b_log = log.clone();
            let b = create_task(async move {
                a.await?;
                b_log.push("b done");
                anyhow::Ok("b")
            });
            *b_slot.lock().unwrap() = Some(b);
            let ticker_log = log.clone();
            let t = create_task(async move {
                for i in 0..6 {
                    ticker_log.push(format!("tick {i}"));
                    sleep(Duration::ZERO).await?;
                }
                anyhow::Ok(())
            });
            let _ = taskloop::gather([&r, &t]).await?;
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["tick 0", "a done", "tick 1", "b done", "tick 2", "read a", "tick 3", "read b", "tick 4", "tick 5"]);
}

/// A request that reaches a `gather` after its child ended but before the gathering task
/// resumes gives way to a child's cancellation (the gather's outcome, already set) and wins over
/// a child's failure, as asyncio's `__step` does with `_must_cancel`:
///
/// ```python
/// async def child():
///     await asyncio.sleep(0)
///     if how == "cancelled": asyncio.current_task().cancel("m5"); return 1
///     raise ValueError("E")
/// async def gatherer():
///     try: await asyncio.gather(c)
///     except asyncio.CancelledError as e: log.append(f"gather raised {e.args}")
/// async def canceller():
///     await asyncio.sleep(0); log.append(f"cancel -> {g.cancel('m9')}")
/// c = create_task(child()); g = create_task(gatherer()); o = create_task(canceller())
/// # cancelled ['cancel -> True', "gather raised ('m5',)"]
/// # failed ['cancel -> True', "gather raised ('m9',)"]
/// ```
#[test]
fn a_request_after_the_gathered_child_ended_keeps_its_cancellation_and_beats_its_failure() {
    taskloop_test_support::within(30, || {
        for child_cancels in [true, false] {
            let log = paused(async move {
                let log = Log::default();
                let c = create_task(async move {
                    sleep(Duration::ZERO).await?;
                    if child_cancels {
                        current_task().unwrap().cancel_with("m5");
                        return anyhow::Ok(1);
                    }
                    anyhow::bail!("E")
                });
                let (g_log, gathered) = (log.clone(), c.clone());
                let g = create_task(async move {
                    if let Err(e) = taskloop::gather([&gathered]).await {
                        g_log.push(format!("gather raised {:?}", e.cancel_message()));
                    }
                    anyhow::Ok(())
                });
                let (o_log, target) = (log.clone(), g.clone());
                let o = create_task(async move {
                    sleep(Duration::ZERO).await?;
                    o_log.push(format!("cancel -> {}", target.cancel_with("m9")));
                    anyhow::Ok(())
                });
                let _ = (g.await, o.await, c.await);
                anyhow::Ok(log)
            })
            .unwrap();
            let expected = if child_cancels { "gather raised Some(\"m5\")" } else { "gather raised Some(\"m9\")" };
            log.check(&["cancel -> true", expected]);
        }
    });
}

/// Keep: a request that reaches the caller after the shielded task ended cancelled, and before
/// the caller resumes, is what `shield` raises (with its message). asyncio raises the shielded
/// task's cancellation instead (no message: `_inner_done_callback` cancels the outer future
/// bare); taskloop's `shield` takes any future, so it cannot tell a cancelled task from a value,
/// and a request beats a value in both.
///
/// ```python
/// async def inner():
///     await asyncio.sleep(0); asyncio.current_task().cancel("m3"); return 1
/// async def caller():
///     try: await asyncio.shield(t2)
///     except asyncio.CancelledError as e: log.append(f"shield raised {e.args} cancelling={...}")
/// async def other():
///     await asyncio.sleep(0); await asyncio.sleep(0); log.append(f"cancel -> {t1.cancel('m9')}")
/// # ['cancel -> True', 'shield raised () cancelling=1']  (taskloop: ('m9',), cancelling=1)
/// ```
#[test]
fn keep_a_request_meeting_a_shielded_tasks_cancellation_is_what_shield_raises() {
    let log = taskloop_test_support::within(30, move || {
        paused(async move {
            let log = Log::default();
            let t2 = create_task(async move {
                sleep(Duration::ZERO).await?;
                current_task().unwrap().cancel_with("m3");
                anyhow::Ok(1)
            });
            let (t1_log, inner) = (log.clone(), t2.clone());
            let t1 = create_task(async move {
                if let Err(cancelled) = taskloop::shield(&inner).await {
                    let cancelling = current_task().unwrap().cancelling();
                    t1_log.push(format!("shield raised {:?} cancelling={cancelling}", cancelled.message()));
                }
                anyhow::Ok(())
            });
            let (o_log, target) = (log.clone(), t1.clone());
            let o = create_task(async move {
                sleep(Duration::ZERO).await?;
                sleep(Duration::ZERO).await?;
                o_log.push(format!("cancel -> {}", target.cancel_with("m9")));
                anyhow::Ok(())
            });
            let _ = (t1.await, o.await, t2.await);
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["cancel -> true", "shield raised Some(\"m9\") cancelling=1"]);
}

/// Item 7, with no `shield`: a done callback runs at its own place among the task steps. The
/// group's callback on t3's failure is scheduled after t2's completion woke t1 and after t4's
/// `sleep(0)` queued its next step, so both of those run before the group cancels the rest.
/// (With one batching callback runner it ran at the place of t2's callback, ahead of them.)
///
/// ```python
/// async def t1(): log.append(f"t1 awaited t2 -> {await T2}")
/// async def t2(): return 200
/// async def t3(): raise ValueError("E4")
/// async def t4(): await asyncio.sleep(0); log.append("t4 sleep(0) done")
/// async with asyncio.TaskGroup() as tg:   # in main, catching the ExceptionGroup
///     tg.create_task(t1()); T2 = tg.create_task(t2()); tg.create_task(t4()); tg.create_task(t3())
/// # ['t1 awaited t2 -> 200', 't4 sleep(0) done', "group raised ['E4']"]
/// ```
#[test]
fn a_done_callback_runs_after_the_steps_woken_before_it_was_scheduled() {
    let log = taskloop_test_support::within(30, move || {
        paused(async move {
            let log = Log::default();
            let group = taskloop::TaskGroup::new();
            let t2_slot = std::sync::Arc::new(std::sync::OnceLock::<Task<u64>>::new());
            let (t1_log, t2_of_t1) = (log.clone(), t2_slot.clone());
            group.create_task(async move {
                let t2 = t2_of_t1.get().expect("t2 is created before t1 first runs").clone();
                match t2.await {
                    Ok(v) => t1_log.push(format!("t1 awaited t2 -> {v}")),
                    Err(e) => t1_log.push(format!("t1 raised {e}")),
                }
                anyhow::Ok(0)
            });
            let _ = t2_slot.set(group.create_task(async { anyhow::Ok(200) }));
            let t4_log = log.clone();
            group.create_task(async move {
                match sleep(Duration::ZERO).await {
                    Ok(()) => t4_log.push("t4 sleep(0) done".to_owned()),
                    Err(_) => t4_log.push("t4 cancelled".to_owned()),
                }
                anyhow::Ok(0)
            });
            group.create_task(async { anyhow::bail!("E4") as anyhow::Result<u64> });
            let failures = group.join().await.unwrap_err();
            log.push(format!("group raised {:?}", failures.iter().map(ToString::to_string).collect::<Vec<_>>()));
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["t1 awaited t2 -> 200", "t4 sleep(0) done", "group raised [\"E4\"]"]);
}

/// A `gather` resumes two loop iterations after its last child finished (the child's done
/// callback completes the gathering future, then the caller's wake-up runs), counted from
/// where that child finished, also when another child's completion had already woken the
/// caller. A canceller that yields `k` times finds the caller resumed from `k = 3` on:
///
/// ```python
/// async def child(v): await asyncio.sleep(0); return v
/// t2 = create_task(child(2)); t3 = create_task(child(3))
/// async def t1f():
///     try: log.append(f"gather -> {await asyncio.gather(t2, t3)}")
///     except asyncio.CancelledError as e: log.append(f"gather raised {e.args}")
/// t1 = create_task(t1f())
/// async def o():
///     for _ in range(k): await asyncio.sleep(0)
///     log.append(f"cancel -> {t1.cancel('m')}")
/// # k = 1, 2: ['cancel -> True', "gather raised ('m',)"]
/// # k = 3, 4, 5: ['gather -> [2, 3]', 'cancel -> False']
/// ```
#[test]
fn a_gather_resumes_two_hops_after_its_last_child_finished() {
    taskloop_test_support::within(30, || {
        for k in 1..=5 {
            let log = paused(async move {
                let log = Log::default();
                let child = |v: u64| create_task(async move { sleep(Duration::ZERO).await.map(|()| v) });
                let (t2, t3) = (child(2), child(3));
                let t1_log = log.clone();
                let t1 = create_task(async move {
                    match gather([&t2, &t3]).await {
                        Ok(values) => t1_log.push(format!("gather -> {values:?}")),
                        Err(e) => t1_log.push(format!("gather raised {:?}", e.cancel_message())),
                    }
                    anyhow::Ok(())
                });
                let (o_log, target) = (log.clone(), t1.clone());
                let o = create_task(async move {
                    for _ in 0..k {
                        sleep(Duration::ZERO).await?;
                    }
                    o_log.push(format!("cancel -> {}", target.cancel_with("m")));
                    anyhow::Ok(())
                });
                let _ = (t1.await, o.await);
                anyhow::Ok(log)
            })
            .unwrap();
            if k <= 2 {
                log.check(&["cancel -> true", "gather raised Some(\"m\")"]);
            } else {
                log.check(&["gather -> [2, 3]", "cancel -> false"]);
            }
        }
    });
}

/// A child that finishes after another child's completion woke the caller, with something
/// else queued in between, completes the call where asyncio's done callback for it runs: after
/// that something. Here t3 cancels a sleeper before it returns; the sleeper's handler creates
/// a task that cancels t1, whose step comes before t1 resumes in asyncio, so `gather` and
/// `wait` raise the request:
///
/// ```python
/// async def canceller(): log.append(f"cancel -> {t1.cancel('m')}")
/// async def sleeper():
///     try: await asyncio.sleep(10)
///     except asyncio.CancelledError: asyncio.create_task(canceller()); raise
/// async def child(v, poke):
///     await asyncio.sleep(0)
///     if poke: s.cancel()
///     return v
/// s = create_task(sleeper()); t2 = create_task(child(2, False)); t3 = create_task(child(3, True))
/// async def t1f():   # await asyncio.gather(t2, t3), or asyncio.wait([t2, t3])
///     try: ...
///     except asyncio.CancelledError as e: log.append(f"raised {e.args}")
/// # gather and wait: ['cancel -> True', "raised ('m',)"]
/// ```
#[test]
fn a_child_finishing_after_other_steps_were_queued_completes_the_call_behind_them() {
    taskloop_test_support::within(30, || {
        for use_wait in [false, true] {
            let log = paused(async move {
                let log = Log::default();
                let t1_slot = std::sync::Arc::new(std::sync::OnceLock::<Task<()>>::new());
                let (s_log, s_t1) = (log.clone(), t1_slot.clone());
                let s = create_task(async move {
                    if let Err(cancelled) = sleep(Duration::from_secs(10)).await {
                        let (c_log, c_t1) = (s_log.clone(), s_t1.clone());
                        let _canceller = create_task(async move {
                            let t1 = c_t1.get().expect("t1 exists");
                            c_log.push(format!("cancel -> {}", t1.cancel_with("m")));
                            anyhow::Ok(())
                        });
                        return Err(cancelled.into());
                    }
                    anyhow::Ok(())
                });
                let child = |v: u64, poke: Option<Task<()>>| {
                    create_task(async move {
                        sleep(Duration::ZERO).await?;
                        if let Some(s) = poke {
                            s.cancel();
                        }
                        anyhow::Ok(v)
                    })
                };
                let (t2, t3) = (child(2, None), child(3, Some(s.clone())));
                let t1_log = log.clone();
                let t1 = create_task(async move {
                    let outcome = if use_wait {
                        wait([t2.clone(), t3.clone()], ReturnWhen::AllCompleted, None)
                            .await
                            .map(|_| "wait -> done".to_owned())
                    } else {
                        gather([&t2, &t3]).await.map(|values| format!("gather -> {values:?}"))
                    };
                    match outcome {
                        Ok(line) => t1_log.push(line),
                        Err(e) => t1_log.push(format!("raised {:?}", e.cancel_message())),
                    }
                    anyhow::Ok(())
                });
                let _ = t1_slot.set(t1.clone());
                let _ = (t1.await, s.await);
                sleep(Duration::ZERO).await?;
                anyhow::Ok(log)
            })
            .unwrap();
            log.check(&["cancel -> true", "raised Some(\"m\")"]);
        }
    });
}

/// A task that finishes while an `as_completed` reader's own step is queued arrives behind
/// that step and behind what was queued in between (here main's wake-up, queued by the same
/// completion): main resumes first, and the canceller it creates runs before the reader, which
/// is still waiting for the arrival.
///
/// ```python
/// async def main():
///     t3 = create_task(task3()); t1 = create_task(task1()); t2 = create_task(task2())
///     log.append(f"main wait_for -> {await asyncio.wait_for(t3, 0.3)}")
///     async def canceller(): log.append(f"cancel t2 -> {t2.cancel('m')}")
///     create_task(canceller())
/// async def task1(): t4 = create_task(task4())
/// async def task2():
///     await asyncio.sleep(0)
///     try:
///         for f in asyncio.as_completed([t3, t4]): log.append(f"t2 item {await f}")
///     except asyncio.CancelledError as e: log.append(f"t2 raised {e.args}")
/// async def task3():
///     await asyncio.sleep(0)
///     for f in asyncio.as_completed([t4]): log.append(f"t3 item {await f}")
///     return 300
/// async def task4(): return 400
/// # ['t3 item 400', 't2 item 400', 'main wait_for -> 300', 'cancel t2 -> True', "t2 raised ('m',)"]
/// ```
#[test]
fn a_task_finishing_while_the_readers_step_is_queued_arrives_behind_what_was_queued_since() {
    let log = taskloop_test_support::within(30, move || {
        paused(async move {
            let log = Log::default();
            let t4_slot = std::sync::Arc::new(std::sync::OnceLock::<Task<u64>>::new());
            let t3_slot = std::sync::Arc::new(std::sync::OnceLock::<Task<u64>>::new());
            let (t3_t4, t3_log) = (t4_slot.clone(), log.clone());
            let t3 = create_task(async move {
                sleep(Duration::ZERO).await?;
                let mut items = taskloop::as_completed([t3_t4.get().expect("t4 exists").clone()]);
                while let Some(item) = futures::StreamExt::next(&mut items).await {
                    t3_log.push(format!("t3 item {}", item?));
                }
                anyhow::Ok(300)
            });
            let _ = t3_slot.set(t3.clone());
            let t1_t4 = t4_slot.clone();
            let _t1 = create_task(async move {
                let _ = t1_t4.set(create_task(async { anyhow::Ok(400) }));
                anyhow::Ok(())
            });
            let (t2_t3, t2_t4, t2_log) = (t3_slot.clone(), t4_slot.clone(), log.clone());
            let t2 = create_task(async move {
                sleep(Duration::ZERO).await?;
                let tasks = [t2_t3.get().expect("t3 exists").clone(), t2_t4.get().expect("t4 exists").clone()];
                let mut items = taskloop::as_completed(tasks);
                while let Some(item) = futures::StreamExt::next(&mut items).await {
                    match item {
                        Ok(v) => t2_log.push(format!("t2 item {v}")),
                        Err(e) => {
                            t2_log.push(format!("t2 raised {:?}", e.cancel_message()));
                            break;
                        }
                    }
                }
                anyhow::Ok(())
            });
            let value = taskloop::wait_for(&t3, Duration::from_millis(300)).await?;
            log.push(format!("main wait_for -> {value}"));
            let (c_log, target) = (log.clone(), t2.clone());
            let _canceller = create_task(async move {
                c_log.push(format!("cancel t2 -> {}", target.cancel_with("m")));
                anyhow::Ok(())
            });
            let _ = t2.await;
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["t3 item 400", "t2 item 400", "main wait_for -> 300", "cancel t2 -> true", "t2 raised Some(\"m\")"]);
}

/// A `wait` that finds a task done at the call takes two hops (asyncio's `_on_completion`
/// callback, then the caller's wake-up). A request made during the first is delivered at the
/// second, where `cancel()` queued asyncio's wake-up of the caller: after a task created just
/// before it; a request the caller made itself before the call is delivered at the first
/// (asyncio's `__step` cancels the waiter as the caller suspends).
///
/// ```python
/// t2 = create_task(t2f()); await asyncio.sleep(0)          # t2 done
/// async def t3f(): log.append("t3 runs")
/// async def t1f():
///     asyncio.create_task(t3f()); log.append(f"t1 cancel main -> {me.cancel('m2')}")
/// t1 = create_task(t1f())
/// try: await asyncio.wait([t1, t2], return_when=asyncio.FIRST_COMPLETED)
/// except asyncio.CancelledError as e: log.append(f"main wait raised {e.args}")
/// # ['t1 cancel main -> True', 't3 runs', "main wait raised ('m2',)"]
/// # with me.cancel('m1') right before the wait, t1 sleeping once then cancelling, and main
/// # sleeping twice after (catching): ["main wait raised ('m1',)", 't1 cancel main -> True',
/// # "main sleep raised ('m2',)"]
/// ```
#[test]
fn a_request_made_while_wait_hops_past_a_done_task_is_delivered_a_hop_later() {
    taskloop_test_support::within(30, || {
        let log = paused(async move {
            let log = Log::default();
            let me = current_task().unwrap();
            let t2 = create_task(async { anyhow::Ok(2) });
            sleep(Duration::ZERO).await?;
            let (t1_log, main) = (log.clone(), me.clone());
            let t1 = create_task(async move {
                let t3_log = t1_log.clone();
                let _t3 = create_task(async move {
                    t3_log.push("t3 runs");
                    anyhow::Ok(())
                });
                t1_log.push(format!("t1 cancel main -> {}", main.cancel_with("m2")));
                anyhow::Ok(1)
            });
            let both: [TaskRef; 2] = [t1.clone().into(), t2.clone().into()];
            if let Err(e) = wait(both, ReturnWhen::FirstCompleted, None).await {
                log.push(format!("main wait raised {:?}", e.cancel_message()));
            }
            me.uncancel();
            sleep(Duration::ZERO).await?;
            sleep(Duration::ZERO).await?;
            anyhow::Ok(log)
        })
        .unwrap();
        log.check(&["t1 cancel main -> true", "t3 runs", "main wait raised Some(\"m2\")"]);

        let log = paused(async move {
            let log = Log::default();
            let me = current_task().unwrap();
            let t2 = create_task(async { anyhow::Ok(2) });
            sleep(Duration::ZERO).await?;
            let (t1_log, main) = (log.clone(), me.clone());
            let t1 = create_task(async move {
                sleep(Duration::ZERO).await?;
                t1_log.push(format!("t1 cancel main -> {}", main.cancel_with("m2")));
                anyhow::Ok(1)
            });
            me.cancel_with("m1");
            let both: [TaskRef; 2] = [t1.clone().into(), t2.clone().into()];
            if let Err(e) = wait(both, ReturnWhen::FirstCompleted, None).await {
                log.push(format!("main wait raised {:?}", e.cancel_message()));
            }
            me.uncancel();
            let slept = async {
                sleep(Duration::ZERO).await?;
                sleep(Duration::ZERO).await
            };
            if let Err(e) = slept.await {
                log.push(format!("main sleep raised {:?}", e.message()));
            }
            anyhow::Ok(log)
        })
        .unwrap();
        log.check(&["main wait raised Some(\"m1\")", "t1 cancel main -> true", "main sleep raised Some(\"m2\")"]);
    });
}

/// A task that cancels itself and then awaits a task is not woken by its own `cancel()`: the
/// request goes to the awaited task as the caller suspends, and the caller resumes with that
/// task's wake-ups, after the done callbacks added before it awaited:
///
/// ```python
/// async def t3():
///     try: await asyncio.sleep(1)
///     except asyncio.CancelledError: log.append("t3 cancelled"); raise
/// T3 = asyncio.create_task(t3())
/// T3.add_done_callback(lambda _: log.append("t3 done callback"))
/// await asyncio.sleep(0)
/// asyncio.current_task().cancel()
/// try: await T3
/// except asyncio.CancelledError: log.append("main's await raised")
/// # ['t3 cancelled', 't3 done callback', "main's await raised"]
/// ```
#[test]
fn a_task_that_cancels_itself_and_awaits_a_task_resumes_after_that_tasks_callbacks() {
    let log = taskloop_test_support::within(30, || {
        paused(async move {
            let log = Log::default();
            let t3_log = log.clone();
            let t3 = create_task(async move {
                if let Err(cancelled) = sleep(Duration::from_secs(1)).await {
                    t3_log.push("t3 cancelled");
                    return Err(cancelled.into());
                }
                anyhow::Ok(3)
            });
            let cb_log = log.clone();
            t3.add_done_callback(move |_| cb_log.push("t3 done callback"));
            sleep(Duration::ZERO).await?;
            current_task().unwrap().cancel();
            if t3.clone().await.is_err_and(|e| e.is_cancelled()) {
                log.push("main's await raised");
            }
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["t3 cancelled", "t3 done callback", "main's await raised"]);
}

/// A group's first failure wakes a `join` that waits (asyncio cancels the task in `async
/// with`, which wakes in `__aexit__` and waits again while tasks remain): when the others have
/// finished by then, the join ends there, ahead of steps queued after that failure's callback.
///
/// ```python
/// async def t1(): raise ValueError("E1")
/// async def t3(): await asyncio.sleep(0); log.append("t3 after sleep(0)")
/// async def t2(): global T3; T3 = asyncio.create_task(t3())
/// try:
///     async with asyncio.TaskGroup() as tg:
///         tg.create_task(t1()); tg.create_task(t2())
/// except ExceptionGroup as e: log.append(f"group raised {[str(x) for x in e.exceptions]}")
/// await T3
/// # ["group raised ['E1']", 't3 after sleep(0)']
/// ```
#[test]
fn a_groups_first_failure_wakes_its_join() {
    let log = taskloop_test_support::within(30, || {
        paused(async move {
            let log = Log::default();
            let group = taskloop::TaskGroup::new();
            group.create_task(async { anyhow::bail!("E1") as anyhow::Result<()> });
            let t3_slot = std::sync::Arc::new(std::sync::OnceLock::<Task<()>>::new());
            let (t3_log, t3_of_t2) = (log.clone(), t3_slot.clone());
            group.create_task(async move {
                let t3 = create_task(async move {
                    sleep(Duration::ZERO).await?;
                    t3_log.push("t3 after sleep(0)");
                    anyhow::Ok(())
                });
                let _ = t3_of_t2.set(t3);
                anyhow::Ok(())
            });
            let failures = group.join().await.unwrap_err();
            log.push(format!("group raised {:?}", failures.iter().map(ToString::to_string).collect::<Vec<_>>()));
            t3_slot.get().expect("t2 ran").clone().await?;
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["group raised [\"E1\"]", "t3 after sleep(0)"]);
}

/// An `as_completed` reader woken by an arrival, and cancelled after that wake-up was queued,
/// resumes where the `cancel()` was made (asyncio's `cancel()` cancels the queue's getter and
/// queues the reader's step then), not where the arrival woke it:
///
/// ```python
/// async def t4(): log.append("t4 ran")
/// async def t3(): T[4] = asyncio.create_task(t4())
/// async def t2():
///     log.append(f"t2 cancel -> {T[0].cancel('m1')}")
///     await asyncio.wait_for(T[4], 0.2); log.append("t2 wait_for ok")
/// async def t1(): T[3] = asyncio.create_task(t3()); T[2] = asyncio.create_task(t2())
/// T[0] = asyncio.current_task(); T[1] = asyncio.create_task(t1())
/// try:
///     for f in asyncio.as_completed([T[1]]): await f
/// except asyncio.CancelledError as e: log.append(f"main cancelled {e.args}")
/// asyncio.current_task().uncancel(); await T[2]
/// # ['t2 cancel -> True', 't4 ran', "main cancelled ('m1',)", 't2 wait_for ok']
/// ```
#[test]
fn an_as_completed_reader_cancelled_after_an_arrival_woke_it_resumes_where_the_cancel_was_made() {
    use futures::StreamExt;
    use std::sync::{Arc, OnceLock};
    let log = taskloop_test_support::within(30, || {
        paused(async move {
            let log = Log::default();
            let me = current_task().unwrap();
            let (t2_slot, t4_slot) = (Arc::new(OnceLock::<Task<()>>::new()), Arc::new(OnceLock::<Task<()>>::new()));
            let (t1_log, t2_of_t1, t4_of_t1) = (log.clone(), t2_slot.clone(), t4_slot.clone());
            let t1 = create_task(async move {
                let (t4_log, t4_of_t3) = (t1_log.clone(), t4_of_t1.clone());
                let _t3 = create_task(async move {
                    let t4 = create_task(async move {
                        t4_log.push("t4 ran");
                        anyhow::Ok(())
                    });
                    let _ = t4_of_t3.set(t4);
                    anyhow::Ok(())
                });
                let t2 = create_task(async move {
                    t1_log.push(format!("t2 cancel -> {}", me.cancel_with("m1")));
                    let t4 = t4_of_t1.get().expect("t3 ran before t2").clone();
                    taskloop::wait_for(t4, Duration::from_millis(200)).await?;
                    t1_log.push("t2 wait_for ok");
                    anyhow::Ok(())
                });
                let _ = t2_of_t1.set(t2);
                anyhow::Ok(())
            });
            let mut outcomes = taskloop::as_completed([t1]);
            while let Some(outcome) = outcomes.next().await {
                if let Err(e) = outcome {
                    log.push(format!("main cancelled {:?}", e.as_cancelled().and_then(|c| c.message())));
                    break;
                }
            }
            current_task().unwrap().uncancel();
            t2_slot.get().expect("t1 ran").clone().await?;
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["t2 cancel -> true", "t4 ran", "main cancelled Some(\"m1\")", "t2 wait_for ok"]);
}

/// `wait(ALL_COMPLETED)` and `wait(FIRST_EXCEPTION)` resume two steps after the child that
/// decided them finished (its done callback, then the wake-up): an earlier child's arrival
/// does not queue the caller's step ahead of steps queued in between:
///
/// ```python
/// async def t4(): log.append("t4 start"); await asyncio.sleep(0); log.append("t4 after sleep(0)")
/// async def t3(): global T4; log.append("t3 ran"); T4 = asyncio.create_task(t4())
/// async def t1(): global T3; T3 = asyncio.create_task(t3())   # FIRST_EXCEPTION: then raise ValueError
/// async def t2(): await asyncio.sleep(0)
/// T2 = asyncio.create_task(t2()); await asyncio.sleep(0); T1 = asyncio.create_task(t1())
/// await asyncio.wait([T1, T2], return_when=asyncio.ALL_COMPLETED)   # or FIRST_EXCEPTION
/// log.append("wait returned"); await T4
/// # both: ['t3 ran', 't4 start', 'wait returned', 't4 after sleep(0)']
/// ```
#[test]
fn wait_resumes_two_steps_after_the_child_that_decided_it() {
    use std::sync::{Arc, OnceLock};
    for (when, fail) in [(ReturnWhen::AllCompleted, false), (ReturnWhen::FirstException, true)] {
        let log = taskloop_test_support::within(30, move || {
            paused(async move {
                let log = Log::default();
                let t4_slot = Arc::new(OnceLock::<Task<()>>::new());
                let t2 = create_task(async { sleep(Duration::ZERO).await });
                sleep(Duration::ZERO).await?;
                let (t1_log, t4_of_t1) = (log.clone(), t4_slot.clone());
                let t1 = create_task(async move {
                    let _t3 = create_task(async move {
                        t1_log.push("t3 ran");
                        let t4_log = t1_log.clone();
                        let t4 = create_task(async move {
                            t4_log.push("t4 start");
                            sleep(Duration::ZERO).await?;
                            t4_log.push("t4 after sleep(0)");
                            anyhow::Ok(())
                        });
                        let _ = t4_of_t1.set(t4);
                        anyhow::Ok(())
                    });
                    if fail {
                        anyhow::bail!("E1");
                    }
                    anyhow::Ok(())
                });
                let refs: Vec<TaskRef> = vec![t1.as_task_ref(), t2.as_task_ref()];
                wait(refs, when, None).await?;
                log.push("wait returned");
                t4_slot.get().expect("t3 ran").clone().await?;
                let _ = t1.exception();
                anyhow::Ok(log)
            })
            .unwrap()
        });
        log.check(&["t3 ran", "t4 start", "wait returned", "t4 after sleep(0)"]);
    }
}

/// A `wait` caller cancelled after a task it waits for finished, but before that task's done
/// callback ran, resumes where the `cancel()` was made (it cancels the waiter future), behind
/// what was queued before it:
///
/// ```python
/// me = asyncio.current_task()
/// async def t5(): log.append("t5 ran")
/// async def t1(): pass
/// async def t2(): global T5; T5 = asyncio.create_task(t5()); me.cancel()
/// T1 = asyncio.create_task(t1()); T2 = asyncio.create_task(t2())
/// try: await asyncio.wait([T1], return_when=asyncio.FIRST_COMPLETED)
/// except asyncio.CancelledError: log.append("main cancelled")
/// await T5
/// # ['t5 ran', 'main cancelled']
/// ```
#[test]
fn a_wait_cancelled_before_the_finished_tasks_callback_ran_resumes_where_the_cancel_was_made() {
    use std::sync::{Arc, OnceLock};
    let log = taskloop_test_support::within(30, || {
        paused(async move {
            let log = Log::default();
            let me = current_task().unwrap();
            let t5_slot = Arc::new(OnceLock::<Task<()>>::new());
            let t1 = create_task(async { anyhow::Ok(()) });
            let (t2_log, t5_of_t2) = (log.clone(), t5_slot.clone());
            let _t2 = create_task(async move {
                let _ = t5_of_t2.set(create_task(async move {
                    t2_log.push("t5 ran");
                    anyhow::Ok(())
                }));
                me.cancel();
                anyhow::Ok(())
            });
            if wait([t1], ReturnWhen::FirstCompleted, None).await.is_err_and(|e| e.is_cancelled()) {
                log.push("main cancelled");
            }
            current_task().unwrap().uncancel();
            t5_slot.get().expect("t2 ran").clone().await?;
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["t5 ran", "main cancelled"]);
}

/// `wait` of a task already done resumes from that task's done callback, queued at the call: a
/// `cancel()` made before the callback runs wakes the caller where it was made, ahead of what
/// was queued after it:
///
/// ```python
/// me = asyncio.current_task()
/// async def t3(): pass
/// async def t2(): log.append(f"t2 cancel -> {me.cancel('m4')}")
/// async def t1():
///     global T2; log.append(f"t1 cancel -> {me.cancel()}"); T2 = asyncio.create_task(t2())
/// T3 = asyncio.create_task(t3()); await asyncio.sleep(0); T1 = asyncio.create_task(t1())
/// try: await asyncio.wait([T3], return_when=asyncio.FIRST_COMPLETED)
/// except asyncio.CancelledError: log.append("wait raised")
/// try: await T2
/// except asyncio.CancelledError as e: log.append(f"await T2 raised {e.args}")
/// # ['t1 cancel -> True', 'wait raised', 't2 cancel -> True', "await T2 raised ('m4',)"]
/// ```
#[test]
fn a_wait_past_a_done_task_cancelled_before_its_callback_ran_resumes_where_the_cancel_was_made() {
    use std::sync::{Arc, OnceLock};
    let log = taskloop_test_support::within(30, || {
        paused(async move {
            let log = Log::default();
            let me = current_task().unwrap();
            let t3 = create_task(async { anyhow::Ok(()) });
            sleep(Duration::ZERO).await?;
            let t2_slot = Arc::new(OnceLock::<Task<()>>::new());
            let (t1_log, t2_of_t1) = (log.clone(), t2_slot.clone());
            let _t1 = create_task(async move {
                t1_log.push(format!("t1 cancel -> {}", me.cancel()));
                let t2_log = t1_log.clone();
                let _ = t2_of_t1.set(create_task(async move {
                    t2_log.push(format!("t2 cancel -> {}", me.cancel_with("m4")));
                    anyhow::Ok(())
                }));
                anyhow::Ok(())
            });
            if wait([t3], ReturnWhen::FirstCompleted, None).await.is_err_and(|e| e.is_cancelled()) {
                log.push("wait raised");
            }
            if let Err(e) = t2_slot.get().expect("t1 ran").clone().await {
                log.push(format!("await T2 raised {:?}", e.as_cancelled().and_then(|c| c.message())));
            }
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["t1 cancel -> true", "wait raised", "t2 cancel -> true", "await T2 raised Some(\"m4\")"]);
}

/// Two callbacks scheduled by one step with a task woken in between run on either side of that
/// task's step, as asyncio's ready queue has them:
///
/// ```python
/// T2 = asyncio.create_task(asyncio.sleep(0)); await T2
/// async def sleeper():
///     try: await asyncio.sleep(1)
///     except asyncio.CancelledError: log.append("sleeper cancelled")
/// S = asyncio.create_task(sleeper()); await asyncio.sleep(0)
/// T2.add_done_callback(lambda _: log.append("callback 1"))
/// S.cancel()
/// T2.add_done_callback(lambda _: log.append("callback 2"))
/// await S
/// # ['callback 1', 'sleeper cancelled', 'callback 2']
/// ```
#[test]
fn callbacks_of_one_step_run_on_either_side_of_a_task_woken_between_them() {
    let log = taskloop_test_support::within(30, || {
        paused(async move {
            let log = Log::default();
            let t2 = create_task(async { sleep(Duration::ZERO).await });
            t2.clone().await?;
            let sleeper_log = log.clone();
            let s = create_task(async move {
                if sleep(Duration::from_secs(1)).await.is_err() {
                    sleeper_log.push("sleeper cancelled");
                }
                anyhow::Ok(())
            });
            sleep(Duration::ZERO).await?;
            let cb_log = log.clone();
            t2.add_done_callback(move |_| cb_log.push("callback 1"));
            s.cancel();
            let cb_log = log.clone();
            t2.add_done_callback(move |_| cb_log.push("callback 2"));
            s.await?;
            anyhow::Ok(log)
        })
        .unwrap()
    });
    log.check(&["callback 1", "sleeper cancelled", "callback 2"]);
}

/// `as_completed` watches its running tasks from the call, also when some were done then:
/// those come first, then the rest in the order they finish, not in input order:
///
/// ```python
/// async def val(v): return v
/// T3 = asyncio.create_task(val(3)); await T3
/// T2 = asyncio.create_task(val(2)); T1 = asyncio.create_task(val(1))
/// print([await f for f in asyncio.as_completed([T1, T2, T3])])
/// # [3, 2, 1]
/// ```
#[test]
fn as_completed_with_a_task_done_at_the_call_yields_the_others_in_the_order_they_finish() {
    use futures::StreamExt;
    let order = taskloop_test_support::within(30, || {
        paused(async {
            let t3 = create_task(async { anyhow::Ok(3) });
            t3.clone().await?;
            let t2 = create_task(async { anyhow::Ok(2) });
            let t1 = create_task(async { anyhow::Ok(1) });
            let mut order = Vec::new();
            let mut outcomes = taskloop::as_completed([t1, t2, t3]);
            while let Some(outcome) = outcomes.next().await {
                order.push(outcome?);
            }
            anyhow::Ok(order)
        })
        .unwrap()
    });
    assert_eq!(order, [3, 2, 1]);
}
