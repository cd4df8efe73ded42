//! `Builder`: the loop's options, and the tokio runtime it builds.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::Runtime;
use crate::context;
use crate::event_loop::LoopConfig;
use crate::executor::Executor;
use crate::task::Loop;

/// Configures a [`Runtime`]: the runtime flavour and the loop's options.
///
/// # Examples
///
/// ```
/// use taskloop::{Runtime, create_task};
///
/// # fn main() -> anyhow::Result<()> {
/// let value = Runtime::builder().worker_threads(2).build()?.run(async {
///     let task = create_task(async { anyhow::Ok(21) });
///     Ok::<_, anyhow::Error>(task.await? * 2)
/// })?;
/// assert_eq!(value, 42);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    pub(crate) worker_threads: Option<usize>,
    pub(crate) start_paused: bool,
    pub(crate) eager_tasks: bool,
    pub(crate) track_task_ages: bool,
    /// `default_executor` and `shutdown_timeout`, set by the methods in `executor.rs`.
    pub(crate) executor: crate::executor::ExecutorConfig,
    /// `handle_ctrl_c`, set in `ctrl_c.rs`.
    pub(crate) ctrl_c: crate::ctrl_c::CtrlCConfig,
}

impl Builder {
    /// A builder for the default loop: tokio's current-thread runtime.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Runs the loop on tokio's multi-thread runtime with `n` worker threads.
    pub fn worker_threads(&mut self, n: usize) -> &mut Self {
        self.worker_threads = Some(n);
        self
    }

    /// Starts the loop with tokio's clock paused: time only moves when every task is
    /// waiting, in jumps to the next timer, so tests of timeouts and delays run instantly
    /// and deterministically. Current-thread loops only.
    #[cfg(feature = "test-util")]
    pub fn start_paused(&mut self, paused: bool) -> &mut Self {
        self.start_paused = paused;
        self
    }

    /// Makes every task of the loop eager (asyncio's `loop.set_task_factory(eager_task_factory)`):
    /// `create_task` runs the task's first step at once; see [`TaskBuilder::eager`](crate::TaskBuilder::eager).
    /// The main task itself starts as usual. `TaskBuilder::eager(false)` opts a task out.
    pub fn eager_tasks(&mut self, eager: bool) -> &mut Self {
        self.eager_tasks = eager;
        self
    }

    /// Records each task's creation time, so [`dump`](crate::dump) can show ages. Off by
    /// default: a clock read per spawn costs about as much as the rest of taskloop's
    /// bookkeeping for a task (like tokio-console's instrumentation, it is opt-in).
    pub fn track_task_ages(&mut self, track: bool) -> &mut Self {
        self.track_task_ages = track;
        self
    }

    /// Builds the loop.
    ///
    /// # Errors
    ///
    /// `worker_threads(0)`, paused time on a multi-thread loop, or tokio failing to start.
    pub fn build(&mut self) -> io::Result<Runtime> {
        let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned()));
        let shards = self.worker_threads.map_or(1, |n| n * 4);
        let shared = Arc::new(Loop::new(LoopConfig {
            shards,
            multi_thread: self.worker_threads.is_some(),
            eager_tasks: self.eager_tasks,
            track_task_ages: self.track_task_ages,
        }));
        shared.executor.configure(&self.executor);
        let mut tokio = match self.worker_threads {
            None => tokio::runtime::Builder::new_current_thread(),
            Some(0) => return invalid("worker_threads must be greater than 0"),
            Some(n) => {
                if self.start_paused {
                    return invalid("start_paused needs the current-thread loop; remove worker_threads");
                }
                let mut b = tokio::runtime::Builder::new_multi_thread();
                let for_workers = shared.clone();
                b.worker_threads(n)
                    .thread_name("taskloop-worker")
                    .on_thread_start(move || context::set_worker_loop(Some(for_workers.clone())))
                    .on_thread_stop(|| context::set_worker_loop(None));
                b
            }
        };
        tokio.enable_time();
        #[cfg(feature = "io")]
        tokio.enable_io();
        #[cfg(feature = "test-util")]
        tokio.start_paused(self.start_paused);
        Ok(Runtime { tokio: tokio.build()?, shared, ctrl_c: self.ctrl_c })
    }

    /// Gives the loop `executor` as its default executor, the one `to_thread` and
    /// `run_in_executor(None, ..)` use: asyncio's `loop.set_default_executor()` before the
    /// loop starts. Without it, the first `to_thread` creates a `ThreadPool` with the default
    /// options.
    ///
    /// The loop owns the executor and shuts it down when `run` ends (see
    /// [`shutdown_timeout`](Builder::shutdown_timeout)). Each runtime built from this builder
    /// shares the same executor.
    ///
    /// # Examples
    ///
    /// ```
    /// use taskloop::{Runtime, ThreadPool, to_thread};
    ///
    /// # fn main() -> anyhow::Result<()> {
    /// let pool = ThreadPool::builder().max_workers(2).thread_name_prefix("io").build()?;
    /// let name = Runtime::builder().default_executor(pool).build()?.run(async {
    ///     let name = to_thread(|| std::thread::current().name().map(str::to_owned)).await?;
    ///     anyhow::Ok(name.unwrap_or_default())
    /// })?;
    /// assert!(name.starts_with("io"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn default_executor(&mut self, executor: impl Executor + 'static) -> &mut Self {
        self.executor.executor = Some(Arc::new(executor));
        self
    }

    /// How long `run` waits, when main has ended and the leftover tasks are cancelled, for
    /// work still running on the default executor: the `timeout` of asyncio's
    /// `loop.shutdown_default_executor()`. Defaults to 300 seconds, as asyncio.
    ///
    /// Work still running after that is reported through `tracing` (a `warn` event, target
    /// `taskloop`) and left to finish on its own thread; `run` returns without it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskloop::Runtime;
    ///
    /// # fn main() -> anyhow::Result<()> {
    /// Runtime::builder().shutdown_timeout(Duration::from_secs(5)).build()?.run(async { anyhow::Ok(()) })?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn shutdown_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.executor.shutdown_timeout = Some(timeout);
        self
    }

    /// Whether Ctrl-C (SIGINT) cancels the main task, as in `asyncio.run`: on by default
    /// with the `ctrl-c` feature (Unix). `false` leaves SIGINT alone (its default action kills
    /// the process, unless the program handles it, e.g. with `tokio::signal::ctrl_c`).
    ///
    /// When on, the first Ctrl-C while [`run`](crate::Runtime::run) runs cancels the main
    /// task with the message `"interrupted"`; the loop then ends as for any cancelled main
    /// (the tasks left are cancelled and awaited, their `Drop` guards run, the default
    /// executor is shut down) and `run` returns `Err(TaskError::Cancelled)` whose message is
    /// `"interrupted"` (asyncio raises `KeyboardInterrupt`). A second Ctrl-C ends the process
    /// at once, as SIGINT's default action does. A main task that catches the cancellation
    /// and returns a value returns it, as in asyncio.
    pub fn handle_ctrl_c(&mut self, handle: bool) -> &mut Self {
        self.ctrl_c.ignore = !handle;
        self
    }
}
