//! A loop embedded in a tokio runtime it does not own: [`run_embedded`].
//!
//! `run` builds a tokio runtime for its loop and marks the runtime's threads as the loop's
//! (`context::enter_loop`, `on_thread_start`). An embedded loop cannot: the threads belong to
//! the application (a `#[tokio::main]` body, an axum server) and may serve several embedded
//! loops at once. So nothing is set on them, and everything finds its loop another way:
//!
//! - a task through its own header (`context::current_loop` falls back to the current task's
//!   loop when the thread has none);
//! - the callback runners and the services the loop's crates start (the timer driver of
//!   `taskloop-timing`) through [`InLoop`], which makes the loop the thread's loop for each of
//!   their polls ([`spawn_loop_service`]).
//!
//! Everything else is `run`'s: main is a `MAIN` task whose end queues the stop
//! (`LoopShared::schedule_stop`), the leftovers are cancelled and awaited, the callback queue
//! drains. Two things differ, because the thread is not ours to block: the default executor is
//! shut down on a helper thread that the embedded loop awaits (with the same bound), and the
//! services are aborted at the end (with `run` they go with the runtime).
//!
//! **Invariant:** nothing here blocks a thread of the host runtime.

use std::future::{Future, poll_fn};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use tokio::runtime::RuntimeFlavor;
use tokio::task::AbortHandle;

use crate::context::{self, InLoop};
use crate::error::TaskError;
use crate::event_loop::LoopConfig;
use crate::runtime::{Builder, CallbackRunners, await_leftovers};
use crate::spawn::spawn_main;
use crate::sync::lock;
use crate::task::Loop;

/// Runs `fut` as the main task of a new loop on the tokio runtime that polls this future, and
/// shuts that loop down: [`run`](crate::run) for an application that already has a runtime.
///
/// Await it from a `#[tokio::main]` body, an axum handler, or any tokio task, on either
/// runtime flavour. The loop is the caller's own: its tasks, callback queue, exception handler
/// and default executor are seen by nothing outside it, so several embedded loops can run in
/// one process (even on one runtime) without seeing each other's tasks. Inside it everything
/// behaves as under `run`: `create_task`, cancellation, done callbacks, `call_soon`, `sleep`,
/// timers, `wait_for`, `TaskGroup`, `to_thread`, start order. Code outside the loop (another
/// tokio task, a plain thread) reaches it through a [`LoopHandle`](crate::LoopHandle).
///
/// When main ends, every task still pending is cancelled and awaited, the queued callbacks
/// run, and the default executor is shut down (its running work waited for at most
/// [`Builder::shutdown_timeout`], on a helper thread: this future never blocks the runtime's
/// thread), then main's outcome is returned. The host runtime needs tokio's time driver
/// (`#[tokio::main]` enables it; a hand-built runtime needs `enable_time()`, and
/// `enable_io()` for `tokio::net` inside tasks).
///
/// asyncio has no async form of `asyncio.run()` (a coroutine cannot start a second loop);
/// this is the one thing here that has no asyncio name.
///
/// # Cancellation
///
/// Dropping this future before it completes (the handler it runs in is dropped, the runtime
/// shuts down) cancels every task of the loop, main included, without waiting for them; each
/// ends at its next poll, as `cancel()` says, and the loop accepts no new work.
///
/// # Panics
///
/// When first polled outside a tokio runtime, or inside a running taskloop loop (asyncio:
/// "asyncio.run() cannot be called from a running event loop").
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{create_task, sleep};
///
/// #[tokio::main(flavor = "current_thread")]
/// async fn main() -> anyhow::Result<()> {
///     // ... the application's own tokio code ...
///     let answer = taskloop::run_embedded(async {
///         let task = create_task(async {
///             sleep(Duration::from_millis(1)).await?;
///             anyhow::Ok(21)
///         });
///         anyhow::Ok(task.await? * 2)
///     })
///     .await?;
///     assert_eq!(answer, 42);
///     Ok(())
/// }
/// ```
pub fn run_embedded<F, T, E>(fut: F) -> impl Future<Output = Result<T, TaskError>> + Send + 'static
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    Builder::new().run_embedded(fut)
}

impl Builder {
    /// [`run_embedded`] with this builder's loop options: `eager_tasks`, `track_task_ages`,
    /// `default_executor`, `shutdown_timeout`.
    ///
    /// # Panics
    ///
    /// As [`run_embedded`]; also if the builder sets `worker_threads` or `start_paused`, which
    /// belong to the runtime the loop is embedded in (build that one with them instead).
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::{Runtime, TaskBuilder};
    ///
    /// #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// async fn main() -> anyhow::Result<()> {
    ///     let done = Runtime::builder()
    ///         .eager_tasks(true)
    ///         .run_embedded(async {
    ///             let task = TaskBuilder::new().spawn(async { anyhow::Ok(()) });
    ///             anyhow::Ok(task.done())
    ///         })
    ///         .await?;
    ///     assert!(done, "eager: finished inside spawn");
    ///     Ok(())
    /// }
    /// ```
    pub fn run_embedded<F, T, E>(
        &self,
        fut: F,
    ) -> impl Future<Output = Result<T, TaskError>> + Send + 'static + use<F, T, E>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<anyhow::Error>,
    {
        assert!(
            self.worker_threads.is_none() && !self.start_paused,
            "run_embedded() runs on the caller's tokio runtime: set worker_threads and start_paused on that runtime, not on the taskloop Builder"
        );
        let config = self.clone();
        async move {
            assert!(
                context::current_loop().is_none(),
                "taskloop::run_embedded() cannot be called from a running taskloop loop"
            );
            let Ok(tokio) = tokio::runtime::Handle::try_current() else {
                panic!("taskloop::run_embedded() must be awaited inside a tokio runtime");
            };
            let multi_thread = tokio.runtime_flavor() != RuntimeFlavor::CurrentThread;
            let shards = if multi_thread { tokio.metrics().num_workers() * 4 } else { 1 };
            let shared = Arc::new(Loop::new(LoopConfig {
                shards,
                multi_thread,
                eager_tasks: config.eager_tasks,
                track_task_ages: config.track_task_ages,
            }));
            shared.executor.configure(&config.executor);
            let mut abandon = Abandon(Some(shared.clone()));
            let runners = CallbackRunners::start(&shared, true);
            let main = spawn_main(shared.clone(), fut);
            let outcome = main.join().await;
            let leftovers = shared.stopped().await;
            await_leftovers(&shared, leftovers).await;
            shared.set_closed();
            shared.callbacks.close();
            runners.join().await;
            abort_services(&shared);
            abandon.0 = None;
            shut_down_executor(shared).await;
            outcome
        }
    }
}

/// Ends the loop without waiting if the `run_embedded` future is dropped before it completes.
struct Abandon(Option<Arc<Loop>>);

impl Drop for Abandon {
    fn drop(&mut self) {
        let Some(shared) = self.0.take() else { return };
        shared.set_closed();
        for task in shared.registry.snapshot() {
            task.cancel();
        }
        shared.callbacks.close();
        abort_services(&shared);
        if shared.executor.close_if_empty() {
            let spawned = std::thread::Builder::new()
                .name("taskloop-executor-shutdown".to_owned())
                .spawn(move || shared.executor.shutdown());
            if let Err(e) = spawned {
                tracing::error!(target: "taskloop", "could not start a thread to shut the default executor down: {e}");
            }
        }
    }
}

/// asyncio's `shutdown_default_executor()` without blocking this thread: the bounded wait of
/// `DefaultExecutor::shutdown` runs on a helper thread, and this future waits for it.
async fn shut_down_executor(shared: Arc<Loop>) {
    if !shared.executor.close_if_empty() {
        return;
    }
    let signal = Arc::new(Mutex::new(Signal::default()));
    let on_thread = signal.clone();
    let spawned = std::thread::Builder::new().name("taskloop-executor-shutdown".to_owned()).spawn(move || {
        shared.executor.shutdown();
        let waker = {
            let mut s = lock(&on_thread);
            s.done = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    });
    if let Err(e) = spawned {
        tracing::error!(target: "taskloop", "could not start a thread to shut the default executor down: {e}; not waiting for its work");
        return;
    }
    poll_fn(|cx| {
        let mut s = lock(&signal);
        if s.done {
            Poll::Ready(())
        } else {
            let old = s.waker.replace(cx.waker().clone());
            drop(s);
            drop(old);
            Poll::Pending
        }
    })
    .await
}

#[derive(Default)]
struct Signal {
    done: bool,
    waker: Option<Waker>,
}

/// The loop's services (loop extension state): aborted when an embedded loop ends.
#[derive(Default)]
struct Services(Mutex<Vec<AbortHandle>>);

fn abort_services(shared: &Loop) {
    let services = shared.state::<Services>();
    let handles = std::mem::take(&mut *lock(&services.0));
    for handle in handles {
        handle.abort();
    }
}

/// Spawns a plain tokio task that serves the running loop — a timer driver, say — for crates
/// built on the loop.
///
/// The task is not a taskloop task (it is not in `all_tasks()`, and main's end does not cancel
/// it), but the loop is its thread's loop while it is polled, so `call_soon`, `create_task` and
/// `loop_state` work inside it on every kind of loop, including one embedded with
/// [`run_embedded`] in a runtime whose threads are not the loop's. It lives as long as the
/// loop: it is dropped when the runtime of `run` or of a [`Runner`](crate::Runner) shuts down,
/// and aborted when an embedded loop ends.
///
/// # Panics
///
/// Outside a running loop.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{call_soon, sleep};
/// use taskloop_core::rt::spawn_loop_service;
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let (tx, rx) = std::sync::mpsc::channel();
///     spawn_loop_service(async move {
///         // A service may use the loop's own API.
///         let _ = call_soon(move || tx.send("from the service").unwrap());
///     });
///     sleep(Duration::from_millis(10)).await?;
///     assert_eq!(rx.try_recv()?, "from the service");
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn spawn_loop_service<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let loop_ = context::current_loop().expect("spawn_loop_service() needs a running taskloop loop on this thread");
    let handle = tokio::spawn(InLoop::new(loop_.clone(), fut));
    let services = loop_.state::<Services>();
    lock(&services.0).push(handle.abort_handle());
}
