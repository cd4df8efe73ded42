//! `Runner`: one loop that runs several mains one after the other, asyncio's `asyncio.Runner`.
//!
//! A `Runner` is a built [`Runtime`](crate::Runtime) kept open between mains. Each
//! [`Runner::run`] is `Runtime::run` without the ending: main is a `MAIN` task whose end
//! queues the stop, the leftovers are cancelled and awaited, and the loop stays open, its
//! callback runners (started by the first `run`) still waiting for work. [`Runner::close`] (or
//! `Drop`) is the ending: what is left is cancelled and awaited, the callback queue drains and
//! stops, the default executor is shut down with `run`'s bound, and the tokio runtime is
//! dropped.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;

use crate::context;
use crate::error::TaskError;
use crate::runtime::{Builder, CallbackRunners, Runtime, await_leftovers};
use crate::spawn::spawn_main;
use crate::task::Loop;
use crate::threadsafe::LoopHandle;

/// A loop that runs several main tasks one after the other: asyncio's `asyncio.Runner`.
///
/// Build it once ([`Runner::new`], or [`Builder::build_runner`] for a multi-thread loop or
/// other options), call [`run`](Runner::run) as often as needed, then [`close`](Runner::close)
/// it (dropping it closes it too). All the mains share one loop: its exception handler, its
/// default executor, its `loop_state`, the timers and callbacks still queued. A
/// [`LoopHandle`] from [`handle`](Runner::handle) lets other threads submit work to it.
///
/// Unlike `asyncio.Runner`, each `run` cancels and awaits the tasks its main left behind, as
/// [`run`](crate::run) does, before it returns: asyncio leaves them suspended until the next
/// `run` or `close`, which on a multi-thread loop would mean they go on running with no main.
/// Work submitted through a `LoopHandle` between two `run`s waits for the next one on the
/// current-thread loop; on the multi-thread loop it runs at once (and what it leaves is
/// cancelled at the end of the next main, or at `close`).
///
/// # Examples
///
/// ```
/// use taskloop::{Runner, create_task, sleep};
/// use std::time::Duration;
///
/// # fn main() -> anyhow::Result<()> {
/// let mut runner = Runner::new()?;
/// for i in 0..3 {
///     let doubled = runner.run(async move {
///         let _left_behind = create_task(async {
///             sleep(Duration::from_secs(3600)).await?;
///             anyhow::Ok(())
///         });
///         anyhow::Ok(i * 2)
///     })?;
///     assert_eq!(doubled, i * 2);
/// }
/// runner.close();
/// # Ok(())
/// # }
/// ```
pub struct Runner {
    /// `None` once closed.
    runtime: Option<Runtime>,
    /// The loop's callback runners, started by the first `run`.
    callbacks: Option<CallbackRunners>,
    shared: Arc<Loop>,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner").field("runtime", &self.runtime).field("closed", &self.runtime.is_none()).finish()
    }
}

impl Builder {
    /// Builds a [`Runner`]: a loop with these options that runs several mains in turn.
    ///
    /// # Errors
    ///
    /// As [`build`](Builder::build).
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::Runtime;
    ///
    /// # fn main() -> anyhow::Result<()> {
    /// let mut runner = Runtime::builder().worker_threads(2).build_runner()?;
    /// assert_eq!(runner.run(async { anyhow::Ok(1) })? + runner.run(async { anyhow::Ok(2) })?, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn build_runner(&mut self) -> io::Result<Runner> {
        let runtime = self.build()?;
        let shared = runtime.shared.clone();
        Ok(Runner { runtime: Some(runtime), callbacks: None, shared })
    }
}

impl Runner {
    /// A runner on the default loop (tokio's current-thread runtime).
    ///
    /// # Errors
    ///
    /// If tokio fails to start.
    pub fn new() -> io::Result<Runner> {
        Builder::new().build_runner()
    }

    /// Runs `fut` as a main task on the runner's loop and returns its outcome, after
    /// cancelling and awaiting the tasks it left: asyncio's `Runner.run()`, with `run`'s
    /// ending for the leftovers (see the type's docs).
    ///
    /// # Errors
    ///
    /// Main's outcome, as for [`run`](crate::run).
    ///
    /// # Panics
    ///
    /// If this thread is already running a loop (asyncio: "Runner.run() cannot be called from
    /// a running event loop").
    pub fn run<F, T, E>(&mut self, fut: F) -> Result<T, TaskError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<anyhow::Error>,
    {
        let runtime = self.runtime.as_ref().expect("a Runner is open until close() consumes it");
        // Checked before tokio's own "runtime within a runtime" panic, to say it as asyncio does
        // (a task of an embedded loop runs on a thread that is not marked as the loop's).
        assert!(context::current_loop().is_none(), "Runner::run() cannot be called from a running taskloop loop");
        let _on_this_thread = context::enter_loop(self.shared.clone());
        let shared = &self.shared;
        let callbacks = &mut self.callbacks;
        runtime.tokio.block_on(async {
            if callbacks.is_none() {
                *callbacks = Some(CallbackRunners::start(shared, false));
            }
            let main = spawn_main(shared.clone(), fut);
            let outcome = main.join().await;
            let leftovers = shared.stopped().await;
            await_leftovers(shared, leftovers).await;
            // As `run`, which drains the queue: the callbacks this main queued have run (on the
            // multi-thread loop the runner may still be at them on another worker).
            shared.callbacks.flush().await;
            outcome
        })
    }

    /// A handle for submitting work to this loop from other threads (and from its own tasks).
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::Runner;
    ///
    /// # fn main() -> anyhow::Result<()> {
    /// let mut runner = Runner::new()?;
    /// let handle = runner.handle();
    /// // Queued now, run by the next main's loop.
    /// let answer = handle.spawn_threadsafe(async { anyhow::Ok(42) })?;
    /// runner.run(async { taskloop::sleep(std::time::Duration::ZERO).await?; anyhow::Ok(()) })?;
    /// assert_eq!(answer.wait()?, 42);
    /// runner.close();
    /// assert!(handle.spawn_threadsafe(async { anyhow::Ok(0) }).is_err(), "closed");
    /// # Ok(())
    /// # }
    /// ```
    pub fn handle(&self) -> LoopHandle {
        LoopHandle::new(&self.shared)
    }

    /// Shuts the loop down: asyncio's `Runner.close()`. Tasks still pending are cancelled and
    /// awaited, queued callbacks run, the default executor is shut down (waiting at most
    /// [`Builder::shutdown_timeout`] for its running work), and the runtime is dropped. After
    /// that a [`LoopHandle`] of this loop refuses work. Dropping the runner does the same.
    ///
    /// # Panics
    ///
    /// If this thread is running a loop, or inside an async context (as dropping a tokio
    /// runtime there does).
    pub fn close(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        let Some(runtime) = self.runtime.take() else { return };
        let shared = &self.shared;
        {
            let _on_this_thread = context::enter_loop(shared.clone());
            let callbacks = self.callbacks.take();
            runtime.tokio.block_on(async {
                let callbacks = callbacks.unwrap_or_else(|| CallbackRunners::start(shared, false));
                await_leftovers(shared, shared.cancel_all()).await;
                shared.set_closed();
                shared.callbacks.close();
                callbacks.join().await;
            });
        }
        shared.executor.shutdown();
        drop(runtime);
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.shut_down();
    }
}
