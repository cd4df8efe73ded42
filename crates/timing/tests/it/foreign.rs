//! `timeout`, `timeout_at` and `wait_for` around a foreign await: a block suspended only in
//! futures that are no cancellation point (a tokio channel, lock or socket, `pending()`, a raw
//! tokio `JoinHandle`) is dropped at its deadline, its guards running as asyncio's `finally`
//! does, and the call says `Err(Timeout)` with the task not left cancelling.
//!
//! Each scenario runs against every `Foreign` kind of `taskloop-test-support` on both
//! flavours, under a watchdog that fails the test if the deadline never reaches the block.
//! The kind with a taskloop `sleep` inside (`sleep_beside_foreign`) catches the cancellation
//! and returns `"caught"`, which a timed-out block that absorbs it gives as its value.

use std::fmt::Debug;
use std::time::Duration;

use taskloop::{Instant, TaskError, cancellable, create_task, current_task, sleep, timeout, timeout_at, wait_for};
use taskloop_test_support::{Flavour, Foreign, ForeignWait, WATCHDOG_SECS, for_every_foreign_await};

use crate::on_both_flavours;
use crate::support::{Log, MS, SEC};

/// Real or paused time past its deadline a timed-out block may take to end: generous, since
/// it takes none.
const PROMPT: Duration = Duration::from_secs(10);

/// The deadline of the scenarios.
const DEADLINE: Duration = Duration::from_millis(50);

/// The block of every scenario: a guard standing for a `finally` block, then the foreign
/// await. A cancellation that reaches it as an error is caught, and the block returns
/// "caught".
async fn block(log: Log, wait: ForeignWait) -> anyhow::Result<&'static str> {
    let _finally = log.on_drop("guard dropped");
    log.push("block waits");
    match wait.await {
        Err(cancelled) => {
            log.push(format!("block caught {cancelled}"));
            Ok("caught")
        }
        Ok(()) => {
            log.push("the foreign await completed");
            Ok("completed")
        }
    }
}

/// How an outcome reads in a log.
fn describe<T: Debug>(outcome: &Result<T, TaskError>) -> String {
    match outcome {
        Ok(value) => format!("{value:?}"),
        Err(TaskError::Cancelled(cancelled)) => cancelled.to_string(),
        Err(TaskError::Timeout) => "timeout".to_owned(),
        Err(error) => format!("error {error}"),
    }
}

/// The log of a block that waited and then met `cancelled`: dropped at its await, or (for a
/// kind that catches) catching it and returning, its guard in both cases last.
fn block_ends(kind: Foreign, cancelled: &str) -> Vec<String> {
    let mut lines = vec!["block waits".to_owned()];
    if kind.catches() {
        lines.push(format!("block caught {cancelled}"));
    }
    lines.push("guard dropped".to_owned());
    lines
}

/// What a time limit around a block at `kind` gives: `Timeout`, or the value of a block that
/// caught the cancellation.
fn timed_out(kind: Foreign) -> &'static str {
    if kind.catches() { "\"caught\"" } else { "timeout" }
}

/// A time limit that runs its block inline.
#[derive(Clone, Copy, Debug)]
enum Limit {
    Timeout,
    TimeoutAt,
    WaitForFuture,
}

fn limit_drops_the_block_at_its_deadline(flavour: Flavour, kind: Foreign, limit: Limit) {
    flavour
        .run(async move {
            let log = Log::default();
            let wait = kind.wait().await?;
            let start = Instant::now();
            let outcome = match limit {
                Limit::Timeout => timeout(DEADLINE, block(log.clone(), wait)).await,
                Limit::TimeoutAt => timeout_at(start + DEADLINE, block(log.clone(), wait)).await,
                Limit::WaitForFuture => wait_for(block(log.clone(), wait), DEADLINE).await,
            };
            let took = start.elapsed();
            log.push(format!("{limit:?} gave {}", describe(&outcome)));

            let mut expected = block_ends(kind, "cancelled");
            expected.push(format!("{limit:?} gave {}", timed_out(kind)));
            assert_eq!(log.snapshot(), expected, "the guard ran before the time limit returned");
            assert!(took >= DEADLINE && took < DEADLINE + PROMPT, "the block ended after {took:?}");
            assert_eq!(current_task().unwrap().cancelling(), 0, "the task is not left cancelling");
            sleep(MS).await?; // and no request is left pending
            anyhow::Ok(())
        })
        .expect("main");
}

for_every_foreign_await! {
    fn timeout_drops_a_block_at_a_foreign_await_and_says_timeout(flavour, kind) {
        limit_drops_the_block_at_its_deadline(flavour, kind, Limit::Timeout);
    }
}

for_every_foreign_await! {
    fn timeout_at_drops_a_block_at_a_foreign_await_and_says_timeout(flavour, kind) {
        limit_drops_the_block_at_its_deadline(flavour, kind, Limit::TimeoutAt);
    }
}

for_every_foreign_await! {
    fn wait_for_drops_a_future_at_a_foreign_await_and_says_timeout(flavour, kind) {
        limit_drops_the_block_at_its_deadline(flavour, kind, Limit::WaitForFuture);
    }
}

for_every_foreign_await! {
    fn wait_for_a_task_at_a_foreign_await_cancels_it_and_says_timeout(flavour, kind) {
        flavour
            .run(async move {
                let log = Log::default();
                let task = create_task(block(log.clone(), kind.wait().await?));
                log.wait_for(1).await;

                let start = Instant::now();
                let outcome = wait_for(&task, DEADLINE).await;
                let took = start.elapsed();
                log.push(format!("wait_for gave {}", describe(&outcome)));

                let mut expected = block_ends(kind, "cancelled");
                expected.push(format!("wait_for gave {}", timed_out(kind)));
                assert_eq!(log.snapshot(), expected, "the task's guard ran before wait_for returned");
                assert!(took >= DEADLINE && took < DEADLINE + PROMPT, "the task ended after {took:?}");
                assert!(task.done());
                assert_eq!(task.cancelled(), !kind.catches());
                assert_eq!(task.cancelling(), 1, "wait_for passed its deadline's cancellation on once");
                assert!(!task.cancel(), "a second cancel of a done task is refused");
                assert_eq!(current_task().unwrap().cancelling(), 0, "the waiter is not left cancelling");
                sleep(MS).await?;
                anyhow::Ok(())
            })
            .expect("main");
    }
}

for_every_foreign_await! {
    fn a_cancel_of_the_task_during_a_timeout_at_a_foreign_await_ends_it_cancelled_not_timed_out(flavour, kind) {
        flavour
            .run(async move {
                let log = Log::default();
                let wait = kind.wait().await?;
                let task_log = log.clone();
                // Longer than the hour `sleep_beside_foreign` sleeps, so only the cancel ends it.
                let task = create_task(async move {
                    let outcome = timeout(7200 * SEC, block(task_log.clone(), wait)).await;
                    task_log.push(format!("timeout gave {}", describe(&outcome)));
                    anyhow::Ok(outcome?)
                });
                log.wait_for(1).await;

                let start = Instant::now();
                assert!(task.cancel_with("from outside"));
                let outcome = (&task).await;
                let took = start.elapsed();
                log.push(format!("awaiter saw {}", describe(&outcome)));

                assert!(took < PROMPT, "the task took {took:?} to end");
                let mut expected = block_ends(kind, "cancelled: from outside");
                if kind.catches() {
                    expected.push("timeout gave \"caught\"".to_owned());
                    expected.push("awaiter saw \"caught\"".to_owned());
                    assert_eq!(log.snapshot(), expected);
                    assert_eq!(task.result()?, "caught");
                } else {
                    // Whether the `Timeout` sees its block end or is dropped with it, the task
                    // ends cancelled by the request, never timed out.
                    let mut events = log.snapshot();
                    events.retain(|event| event != "timeout gave cancelled: from outside");
                    expected.push("awaiter saw cancelled: from outside".to_owned());
                    assert_eq!(events, expected, "{:?}", log.snapshot());
                    assert!(task.cancelled());
                    assert_eq!(outcome.unwrap_err().cancel_message(), Some("from outside"));
                }
                assert_eq!(task.cancelling(), 1);
                assert!(!task.cancel());
                anyhow::Ok(())
            })
            .expect("main");
    }
}

for_every_foreign_await! {
    /// The control: `cancellable(..)` was a cancellation point before the rule, and still is.
    fn timeout_of_cancellable_around_a_foreign_await_says_timeout(flavour, kind) {
        flavour
            .run(async move {
                let log = Log::default();
                let wait = kind.wait().await?;
                let block_log = log.clone();
                let start = Instant::now();
                let outcome = timeout(DEADLINE, async move {
                    let _finally = block_log.on_drop("guard dropped");
                    block_log.push("block waits");
                    cancellable(wait).await??;
                    anyhow::Ok("completed")
                })
                .await;
                let took = start.elapsed();
                log.push(format!("timeout gave {}", describe(&outcome)));

                log.check(&["block waits", "guard dropped", "timeout gave timeout"]);
                assert!(took >= DEADLINE && took < DEADLINE + PROMPT, "the block ended after {took:?}");
                assert_eq!(current_task().unwrap().cancelling(), 0);
                anyhow::Ok(())
            })
            .expect("main");
    }
}

// The programs, as they were reported.

on_both_flavours! {
    within WATCHDOG_SECS;
    fn a_timeout_around_a_channel_receive_whose_sender_is_alive_says_timeout() {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<u32>(1);
        let outcome = timeout(50 * MS, async move { anyhow::Ok(receiver.recv().await) }).await;
        assert!(matches!(outcome, Err(TaskError::Timeout)), "{outcome:?}");
        assert_eq!(current_task().unwrap().cancelling(), 0);
        drop(sender);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within WATCHDOG_SECS;
    fn wait_for_a_channel_receive_whose_sender_is_alive_says_timeout() {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<u32>(1);
        let outcome = wait_for(async move { anyhow::Ok(receiver.recv().await) }, 50 * MS).await;
        assert!(matches!(outcome, Err(TaskError::Timeout)), "{outcome:?}");
        assert_eq!(current_task().unwrap().cancelling(), 0);
        drop(sender);
        anyhow::Ok(())
    }
}
