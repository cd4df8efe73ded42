//! `delay`: the seed's `delay(coro, seconds)` wrapper (question 24.8).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use taskloop_core::{Sleep, TaskError, sleep};

/// Sleeps for `duration`, then awaits `fut`: the seed's `delay(coro, seconds)` coroutine.
///
/// asyncio has no `delay`; the seed writes it as `await asyncio.sleep(seconds)` followed by
/// `await coro`, and so does this. Use it the two ways the seed shows: await it directly
/// (`delay(work(), d).await`), or run it as its own task (`create_task(delay(work(), d))`),
/// which returns at once and runs `fut` in the background after the delay.
///
/// `fut` is not polled before the delay is over, so an `async` block or function does not
/// start before then. (A [`Task`](taskloop_core::Task) passed as `fut` is already running: the
/// delay only postpones awaiting it.) The sleep starts at the first poll, like the coroutine
/// it mirrors; `Duration::MAX` sleeps forever without overflowing. It resolves to `fut`'s
/// value, or its error classified as a task body's error is (`TaskError::from_body_error`).
///
/// # Cancellation
///
/// A cancellation point. Cancelled during the sleep, it resolves to
/// `Err(TaskError::Cancelled)` at once and `fut` never starts (it is dropped with the
/// `Delay`). After the sleep, a cancellation is left to `fut`, as when awaiting `fut`
/// directly: it is delivered at `fut`'s current await (a cancellation point there resolves
/// to `Err(Cancelled)`, a foreign await ends the task's body there, and awaiting a task
/// passes it on).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{create_task, delay, Instant, Runtime};
///
/// # fn main() -> anyhow::Result<()> {
/// Runtime::builder().start_paused(true).build()?.run(async {
///     let start = Instant::now();
///     // Awaited directly: suspends the caller until `fut` is done.
///     let value = delay(async { anyhow::Ok(start.elapsed()) }, Duration::from_secs(10)).await?;
///     assert_eq!(value, Duration::from_secs(10));
///
///     // As its own task: the caller goes on at once.
///     let task = create_task(delay(async { anyhow::Ok("later") }, Duration::from_secs(5)));
///     assert!(!task.done());
///     assert_eq!(task.await?, "later");
///     assert_eq!(start.elapsed(), Duration::from_secs(15));
///     anyhow::Ok(())
/// })?;
/// # Ok(())
/// # }
/// ```
pub fn delay<F, T, E>(fut: F, duration: Duration) -> Delay<F::IntoFuture>
where
    F: IntoFuture<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    Delay { duration, sleep: None, slept: false, fut: fut.into_future() }
}

pin_project! {
    /// The future returned by [`delay`].
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct Delay<F> {
        duration: Duration,
        #[pin]
        sleep: Option<Sleep>,
        slept: bool,
        #[pin]
        fut: F,
    }
}

impl<F, T, E> Future for Delay<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if !*this.slept {
            if this.sleep.is_none() {
                this.sleep.set(Some(sleep(*this.duration)));
            }
            if let Some(timer) = this.sleep.as_mut().as_pin_mut()
                && let Err(cancelled) = ready!(timer.poll(cx))
            {
                return Poll::Ready(Err(TaskError::Cancelled(cancelled)));
            }
            *this.slept = true;
            this.sleep.set(None);
        }
        this.fut.poll(cx).map(|outcome| outcome.map_err(|e| TaskError::from_body_error(e.into())))
    }
}
