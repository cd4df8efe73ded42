//! A cancel request is delivered at the task's current await, wherever it is: a body suspended
//! only in futures that are no cancellation point (a tokio channel, lock or socket,
//! `std::future::pending()`, a raw tokio `JoinHandle`) is dropped right there, its guards
//! running as asyncio's `finally` does, and the task ends cancelled with the request's
//! message, as if `Err(Cancelled)` had propagated out of the body.
//!
//! Each scenario runs against every `Foreign` kind of `taskloop-test-support` on both
//! flavours, under a watchdog that fails the test if the request never arrives. The one kind
//! with a taskloop `sleep` inside (`sleep_beside_foreign`) shows the other half of the rule:
//! there the request arrives as an `Err(Cancelled)` the body catches, and the task goes on to
//! return `"caught"`.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskloop::{ReturnWhen, Task, TaskError, TaskGroup, cancellable, create_task, gather, sleep, wait};
use taskloop_test_support::{Flavour, ForeignWait, WATCHDOG_SECS, for_every_foreign_await, within};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::on_both_flavours;
use crate::support::Log;

/// Real or paused time a cancelled task may take to end: generous, since it takes none.
const PROMPT: Duration = Duration::from_secs(10);

/// The task body of every scenario: a guard standing for a `finally` block, then the foreign
/// await. A cancellation that reaches it as an error is caught, and the body returns "caught".
async fn body(log: Log, wait: ForeignWait) -> anyhow::Result<&'static str> {
    let _finally = log.on_drop("guard dropped");
    log.push("body waits");
    match wait.await {
        Err(cancelled) => {
            log.push(format!("body caught {cancelled}"));
            Ok("caught")
        }
        Ok(()) => {
            log.push("the foreign await completed");
            Ok("completed")
        }
    }
}

/// `wait`, but through `cancellable`: the control, a cancellation point on old and new code.
fn through_cancellable(wait: ForeignWait) -> ForeignWait {
    Box::pin(async move { cancellable(wait).await.and_then(|inner| inner) })
}

/// How a cancellation with `message` reads: `cancelled`, or `cancelled: message`.
fn cancellation(message: Option<&str>) -> String {
    match message {
        Some(message) => format!("cancelled: {message}"),
        None => "cancelled".to_owned(),
    }
}

/// How an outcome reads in a log.
fn describe<T: Debug>(outcome: &Result<T, TaskError>) -> String {
    match outcome {
        Ok(value) => format!("{value:?}"),
        Err(TaskError::Cancelled(cancelled)) => cancelled.to_string(),
        Err(error) => format!("error {error}"),
    }
}

/// The log of a body that waited and then met `cancelled`: dropped at its await, or (when
/// `caught`) catching it and returning, its guard in both cases last.
fn body_ends(caught: bool, cancelled: &str) -> Vec<String> {
    let mut lines = vec!["body waits".to_owned()];
    if caught {
        lines.push(format!("body caught {cancelled}"));
    }
    lines.push("guard dropped".to_owned());
    lines
}

/// How an awaiter of the body's task describes its outcome.
fn task_outcome(caught: bool, cancelled: &str) -> String {
    if caught { "\"caught\"".to_owned() } else { cancelled.to_owned() }
}

/// The task of `body` is done as the request (with `message`) made it end, counted one
/// request, and refuses another.
fn assert_ended(task: &Task<&'static str>, caught: bool, message: Option<&str>) {
    assert!(task.done());
    if caught {
        assert!(!task.cancelled(), "the body caught the cancellation and returned");
        assert_eq!(task.result().expect("the value"), "caught");
        assert!(task.exception().expect("done").is_none());
    } else {
        assert!(task.cancelled(), "the task ended cancelled");
        match task.exception() {
            Err(TaskError::Cancelled(cancelled)) => assert_eq!(cancelled.message(), message),
            other => panic!("exception() of a cancelled task gave {other:?}"),
        }
        assert_eq!(task.result().unwrap_err().cancel_message(), message);
    }
    assert_eq!(task.cancelling(), 1, "cancelled once");
    assert!(!task.cancel(), "a second cancel of a done task is refused");
}

/// `cancel()` (`message` `None`) or `cancel_with(message)` of a task waiting at `wait`.
async fn cancel_at(wait: ForeignWait, caught: bool, message: Option<&'static str>) -> anyhow::Result<()> {
    let log = Log::default();
    let task = create_task(body(log.clone(), wait));
    let callbacks = Log::default();
    let callback_log = callbacks.clone();
    task.add_done_callback(move |_| callback_log.push("done callback"));
    log.wait_for(1).await;

    let start = Instant::now();
    assert!(match message {
        Some(message) => task.cancel_with(message),
        None => task.cancel(),
    });
    let outcome = (&task).await;
    let took = start.elapsed();
    log.push(format!("awaiter saw {}", describe(&outcome)));

    let cancelled = cancellation(message);
    let mut expected = body_ends(caught, &cancelled);
    expected.push(format!("awaiter saw {}", task_outcome(caught, &cancelled)));
    assert_eq!(log.snapshot(), expected, "the guard ran before the awaiter saw the outcome");
    assert!(took < PROMPT, "the task took {took:?} to end");
    if !caught {
        assert_eq!(outcome.unwrap_err().cancel_message(), message);
    }
    assert_ended(&task, caught, message);
    callbacks.wait_for(1).await;
    callbacks.check(&["done callback"]);
    Ok(())
}

for_every_foreign_await! {
    fn cancel_drops_the_body_at_its_foreign_await_and_the_task_ends_cancelled(flavour, kind) {
        flavour.run(async move { cancel_at(kind.wait().await?, kind.catches(), None).await }).expect("main");
    }
}

for_every_foreign_await! {
    fn cancel_with_a_message_ends_the_task_at_its_foreign_await_with_that_message(flavour, kind) {
        flavour
            .run(async move { cancel_at(kind.wait().await?, kind.catches(), Some("stop waiting")).await })
            .expect("main");
    }
}

for_every_foreign_await! {
    /// The control: `cancellable(..)` was a cancellation point before the rule, and still is.
    fn cancellable_around_a_foreign_await_delivers_a_catchable_cancellation(flavour, kind) {
        flavour
            .run(async move { cancel_at(through_cancellable(kind.wait().await?), true, Some("control")).await })
            .expect("main");
    }
}

for_every_foreign_await! {
    fn a_token_given_to_cancel_on_ends_a_task_at_its_foreign_await(flavour, kind) {
        flavour
            .run(async move {
                let log = Log::default();
                let task = create_task(body(log.clone(), kind.wait().await?));
                let token = CancellationToken::new();
                task.cancel_on(token.clone());
                log.wait_for(1).await;

                let start = Instant::now();
                token.cancel();
                let outcome = (&task).await;
                let took = start.elapsed();
                log.push(format!("awaiter saw {}", describe(&outcome)));

                let mut expected = body_ends(kind.catches(), "cancelled");
                expected.push(format!("awaiter saw {}", task_outcome(kind.catches(), "cancelled")));
                assert_eq!(log.snapshot(), expected);
                assert!(took < PROMPT, "the task took {took:?} to end");
                assert_ended(&task, kind.catches(), None);
                anyhow::Ok(())
            })
            .expect("main");
    }
}

for_every_foreign_await! {
    fn a_sibling_failure_in_a_task_group_ends_a_child_at_its_foreign_await(flavour, kind) {
        flavour
            .run(async move {
                let log = Log::default();
                let group = TaskGroup::new();
                let child = group.create_task(body(log.clone(), kind.wait().await?));
                let sibling_log = log.clone();
                let _sibling = group.create_task(async move {
                    sibling_log.wait_for(1).await;
                    sleep(Duration::from_millis(20)).await?;
                    sibling_log.push("sibling fails");
                    anyhow::bail!("sibling failed") as anyhow::Result<()>
                });

                let start = Instant::now();
                let joined = group.join().await;
                let took = start.elapsed();
                let errors = joined.expect_err("the sibling failed");
                log.push(format!("join gave {}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")));

                let mut expected = body_ends(kind.catches(), "cancelled");
                expected.insert(1, "sibling fails".to_owned());
                expected.push("join gave sibling failed".to_owned());
                assert_eq!(log.snapshot(), expected, "only the sibling's failure, the child's guard first");
                assert!(took < PROMPT, "the group took {took:?} to end");
                assert_ended(&child, kind.catches(), None);
                anyhow::Ok(())
            })
            .expect("main");
    }
}

for_every_foreign_await! {
    fn cancelling_a_gather_ends_its_child_at_its_foreign_await(flavour, kind) {
        flavour
            .run(async move {
                let log = Log::default();
                let child = create_task(body(log.clone(), kind.wait().await?));
                let gathered = child.clone();
                let gather_log = log.clone();
                let gatherer = create_task(async move {
                    let outcome = gather([&gathered]).await;
                    gather_log.push(format!("gather gave {}", describe(&outcome)));
                    anyhow::Ok(outcome?)
                });
                log.wait_for(1).await;

                let start = Instant::now();
                assert!(gatherer.cancel_with("stop gathering"));
                let outcome = (&gatherer).await;
                let took = start.elapsed();
                log.push(format!("awaiter saw {}", describe(&outcome)));

                let cancelled = cancellation(Some("stop gathering"));
                let mut expected = body_ends(kind.catches(), &cancelled);
                expected.push(format!("gather gave {cancelled}"));
                expected.push(format!("awaiter saw {cancelled}"));
                assert_eq!(log.snapshot(), expected);
                assert!(took < PROMPT, "the gather took {took:?} to end");
                assert!(gatherer.cancelled());
                assert_eq!(gatherer.cancelling(), 1);
                assert!(!gatherer.cancel());
                assert_ended(&child, kind.catches(), Some("stop gathering"));
                anyhow::Ok(())
            })
            .expect("main");
    }
}

for_every_foreign_await! {
    fn a_task_left_pending_by_wait_ends_at_its_foreign_await_when_cancelled(flavour, kind) {
        flavour
            .run(async move {
                let log = Log::default();
                let task = create_task(body(log.clone(), kind.wait().await?));
                log.wait_for(1).await;
                let (done, pending) =
                    wait([task.clone()], ReturnWhen::AllCompleted, Some(Duration::from_millis(50))).await?;
                assert!(done.is_empty());
                assert!(pending.len() == 1 && pending[0] == task, "wait returned at its deadline with the task pending");
                log.push("wait timed out");

                let start = Instant::now();
                assert!(task.cancel());
                let outcome = (&task).await;
                let took = start.elapsed();
                log.push(format!("awaiter saw {}", describe(&outcome)));

                let mut expected = vec!["body waits".to_owned(), "wait timed out".to_owned()];
                expected.extend(body_ends(kind.catches(), "cancelled").into_iter().skip(1));
                expected.push(format!("awaiter saw {}", task_outcome(kind.catches(), "cancelled")));
                assert_eq!(log.snapshot(), expected);
                assert!(took < PROMPT, "the task took {took:?} to end");
                assert_ended(&task, kind.catches(), None);
                anyhow::Ok(())
            })
            .expect("main");
    }
}

for_every_foreign_await! {
    fn run_returns_when_main_leaves_a_task_at_a_foreign_await_and_its_guard_has_run(flavour, kind) {
        let log = Log::default();
        let main_log = log.clone();
        let ended_at = Arc::new(Mutex::new(None));
        let end_clock = ended_at.clone();
        let (leftover, returned_at) = flavour
            .run(async move {
                let task = create_task(body(main_log.clone(), kind.wait().await?));
                task.add_done_callback(move |_| *end_clock.lock().unwrap() = Some(Instant::now()));
                main_log.wait_for(1).await;
                main_log.push("main returns");
                anyhow::Ok((task, Instant::now()))
            })
            .expect("main");

        let mut expected = body_ends(kind.catches(), "cancelled");
        expected.insert(1, "main returns".to_owned());
        assert_eq!(log.snapshot(), expected, "run cancelled the leftover and waited for its guard");
        let took = ended_at.lock().unwrap().expect("the done callback ran") - returned_at;
        assert!(took < PROMPT, "the leftover took {took:?} to end");
        assert!(leftover.done());
        assert_eq!(leftover.cancelled(), !kind.catches());
        assert_eq!(leftover.cancelling(), 1);
    }
}

// The programs, as they were reported.

on_both_flavours! {
    within WATCHDOG_SECS;
    fn a_task_group_whose_child_fails_ends_the_sibling_waiting_on_a_channel() {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<u32>(1);
        let log = Log::default();
        let (a_log, b_log) = (log.clone(), log.clone());
        let group = TaskGroup::new();
        let a = group.create_task(async move {
            a_log.push("a waits");
            anyhow::Ok(receiver.recv().await)
        });
        let _b = group.create_task(async move {
            b_log.wait_for(1).await;
            sleep(Duration::from_millis(20)).await?;
            anyhow::bail!("b failed") as anyhow::Result<()>
        });
        let errors = group.join().await.expect_err("b failed");
        assert_eq!(errors.iter().map(ToString::to_string).collect::<Vec<_>>(), ["b failed"]);
        assert!(a.cancelled());
        drop(sender);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within WATCHDOG_SECS;
    fn a_cancelled_task_reading_a_silent_socket_ends_and_wait_for_returns() {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut stream = TcpStream::connect(listener.local_addr()?).await?;
        let (_silent_peer, _) = listener.accept().await?;
        let log = Log::default();
        let t_log = log.clone();
        let t = create_task(async move {
            let mut buffer = [0u8; 16];
            t_log.push("t reads");
            anyhow::Ok(stream.read(&mut buffer).await?)
        });
        log.wait_for(1).await;
        assert!(t.cancel());
        let start = Instant::now();
        let outcome = taskloop::wait_for(t.clone(), Duration::from_millis(200)).await;
        let took = start.elapsed();
        assert!(matches!(outcome, Err(TaskError::Timeout | TaskError::Cancelled(_))), "{outcome:?}");
        assert!(took < PROMPT, "wait_for took {took:?}");
        assert!(t.cancelled());
        anyhow::Ok(())
    }
}

#[test]
fn run_returns_when_main_leaves_a_task_waiting_on_a_channel() {
    for flavour in [Flavour::CurrentThread, Flavour::MultiThread] {
        let leftover = within(WATCHDOG_SECS, move || {
            flavour
                .run(async {
                    let (sender, mut receiver) = tokio::sync::mpsc::channel::<u32>(1);
                    let log = Log::default();
                    let task_log = log.clone();
                    let task = create_task(async move {
                        task_log.push("task waits");
                        anyhow::Ok(receiver.recv().await)
                    });
                    log.wait_for(1).await;
                    // Main returns with the sender alive: nothing will ever arrive.
                    anyhow::Ok((task, sender))
                })
                .expect("main")
        });
        assert!(leftover.0.cancelled(), "{flavour:?}");
    }
}
