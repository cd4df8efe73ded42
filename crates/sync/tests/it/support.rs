//! Helpers of these tests, plus the shared ones from `taskloop-test-support`.

use std::time::{Duration, Instant};

pub(crate) use taskloop_test_support::{Log, paused, within};

/// Yields to the loop until `condition` holds; panics after 10 s of real time, so that a
/// wake-up that never comes fails the test instead of hanging it.
pub(crate) async fn until(what: &str, condition: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < give_up, "gave up waiting until {what}");
        taskloop::yield_now().await.expect("the test's main task is never cancelled");
    }
}

/// Lets the other tasks run `n` steps (each is asyncio's `await asyncio.sleep(0)`).
pub(crate) async fn steps(n: usize) {
    for _ in 0..n {
        taskloop::yield_now().await.expect("the test's main task is never cancelled");
    }
}

/// Runs `body` on the current-thread loop (paused clock) under the watchdog.
pub(crate) fn current_thread<F>(body: F)
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    within(taskloop_test_support::WATCHDOG_SECS, move || paused(body).expect("main"));
}

/// Polls `fut` once, with the calling task's waker (what `futures::poll!` does).
pub(crate) async fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}
