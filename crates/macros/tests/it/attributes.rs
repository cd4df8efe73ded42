//! The attributes at work: flavours, paused time, outcomes, and failures nobody retrieved.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskloop::{TaskError, create_task, current_task, set_exception_handler, sleep, yield_now};

#[taskloop::test]
async fn the_body_runs_as_the_main_task_of_a_loop() -> anyhow::Result<()> {
    assert!(current_task().is_some(), "the body is a task");
    let task = create_task(async { anyhow::Ok(21) });
    assert_eq!(task.await? * 2, 42);
    Ok(())
}

#[taskloop::test]
async fn a_test_may_return_nothing() {
    yield_now().await.expect("nobody cancels the test");
}

#[taskloop::test]
async fn the_default_flavor_runs_on_the_test_thread() -> Result<(), TaskError> {
    let test_thread = std::thread::current().id();
    let task = create_task(async move { anyhow::Ok(std::thread::current().id()) });
    assert_eq!(task.await?, test_thread);
    Ok(())
}

#[taskloop::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_multi_thread_flavor_runs_on_worker_threads() -> anyhow::Result<()> {
    let name = std::thread::current().name().map(str::to_owned);
    assert_eq!(name.as_deref(), Some("taskloop-worker"));
    Ok(())
}

#[taskloop::test(worker_threads = 2)]
async fn worker_threads_alone_means_multi_thread() -> anyhow::Result<()> {
    assert_eq!(std::thread::current().name(), Some("taskloop-worker"));
    Ok(())
}

#[taskloop::test(flavor = "multi_thread")]
async fn the_multi_thread_flavor_needs_no_worker_count() -> anyhow::Result<()> {
    assert_eq!(std::thread::current().name(), Some("taskloop-worker"));
    Ok(())
}

#[taskloop::test(start_paused = true)]
async fn paused_time_jumps_over_sleeps() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    sleep(Duration::from_secs(3600)).await?;
    assert!(started.elapsed() < Duration::from_secs(60), "an hour's sleep took {:?}", started.elapsed());
    Ok(())
}

#[taskloop::test]
async fn question_mark_carries_a_task_error_out() -> anyhow::Result<()> {
    // `return` and `?` in the body mean what they mean in the function written.
    let task = create_task(async { anyhow::Ok(1) });
    if task.await? == 1 {
        return Ok(());
    }
    unreachable!("the task gave 1")
}

#[taskloop::test]
#[should_panic(expected = "boom")]
async fn a_panicking_body_fails_the_test_with_its_message() {
    panic!("boom");
}

#[taskloop::test]
#[should_panic(expected = "Task exception was never retrieved")]
async fn a_failure_nobody_retrieved_fails_the_test() {
    let task = create_task(async { anyhow::bail!("lost failure") as anyhow::Result<()> });
    while !task.done() {
        yield_now().await.expect("nobody cancels the test");
    }
    drop(task);
}

#[taskloop::test]
#[should_panic(expected = "lost in a callback")]
async fn a_callback_panic_fails_the_test() {
    let _ = taskloop::call_soon(|| panic!("lost in a callback"));
    yield_now().await.expect("nobody cancels the test");
}

#[taskloop::test]
async fn a_failure_that_was_retrieved_does_not_fail_the_test() -> anyhow::Result<()> {
    let task = create_task(async { anyhow::bail!("seen") as anyhow::Result<()> });
    let outcome = task.await;
    assert_eq!(outcome.unwrap_err().to_string(), "seen");
    Ok(())
}

#[taskloop::test]
async fn a_test_that_installs_its_own_handler_sees_the_reports() -> anyhow::Result<()> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    set_exception_handler(move |context| sink.lock().unwrap().push(context.message().to_owned()));
    let task = create_task(async { anyhow::bail!("expected") as anyhow::Result<()> });
    while !task.done() {
        yield_now().await?;
    }
    drop(task);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].starts_with("Task exception was never retrieved"), "{seen:?}");
    Ok(())
}

#[test]
fn a_failing_body_returns_its_error_through_from() {
    #[taskloop::main]
    async fn fails() -> Result<(), TaskError> {
        Err(TaskError::Timeout)
    }
    assert!(matches!(fails(), Err(TaskError::Timeout)));
}

#[test]
fn main_gives_the_value_and_converts_into_anyhow() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);

    #[taskloop::main(flavor = "current_thread")]
    async fn succeeds() -> anyhow::Result<()> {
        let task = create_task(async { anyhow::Ok(()) });
        task.await?;
        RUNS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    #[taskloop::main(worker_threads = 1)]
    async fn fails() -> anyhow::Result<()> {
        anyhow::bail!("out of disk")
    }

    succeeds().unwrap();
    assert_eq!(RUNS.load(Ordering::Relaxed), 1);
    assert_eq!(fails().unwrap_err().to_string(), "out of disk");
}

#[test]
#[should_panic(expected = "main task was cancelled")]
fn main_without_a_return_type_panics_on_failure() {
    #[taskloop::main]
    async fn cancelled() {
        // Ending with the request undelivered ends the task cancelled (asyncio's rule).
        current_task().expect("main is a task").cancel_with("main task was cancelled");
    }
    cancelled();
}
