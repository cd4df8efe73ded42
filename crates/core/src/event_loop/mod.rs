//! The event loop: `run`, `Runtime`, the callback queue behind `call_soon` and done
//! callbacks, the live-task registry, and the exception handler.
//!
//! A loop is one tokio runtime plus a [`LoopShared`]: the state every task of the loop points
//! to. Done callbacks and `call_soon` callbacks go through one FIFO queue drained by one
//! *runner* (a plain tokio task), so they run on the loop, after the step that scheduled them,
//! in order — asyncio's `call_soon` contract — on both runtime flavours.

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Poll, Waker};

use slab::Slab;

mod report;

use crate::context;
use crate::error::{TaskError, panic_message};
use crate::spawn::spawn_main;
use crate::sync::{Mutex, lock};
use crate::task::{DoneCallback, TaskRef};
use report::default_exception_handler;

/// The state shared by a loop's tasks.
pub(crate) struct LoopShared {
    pub(crate) registry: Registry,
    queue: Mutex<Queue>,
    handler: std::sync::Mutex<Option<Arc<ExceptionHandler>>>,
    closed: AtomicBool,
    /// Tasks may run on several threads: a task created inside another is held back until its
    /// creator suspends (see `Header::open_gate`), as on one thread it would be by itself.
    pub(crate) multi_thread: bool,
    /// `create_task` runs a task's first step at once (`Builder::eager_tasks`).
    pub(crate) eager_tasks: bool,
    /// Per-loop state of crates built on the loop; see [`loop_state`].
    extensions: std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// The default executor, shut down at the end of `run`; see `executor.rs`.
    pub(crate) executor: crate::executor::DefaultExecutor,
}

/// `run`'s hand-over from the stop (a queued job) to its shutdown: loop extension state
/// (`LoopShared::state`), made only at the end. A field of `LoopShared` would change that
/// long-lived allocation's size, which alone moved spawn+await by 4% in instructions (glibc
/// then reuses the tasks' freed memory differently).
#[derive(Default)]
struct Stop(std::sync::Mutex<StopState>);

#[derive(Default)]
struct StopState {
    leftovers: Option<Vec<TaskRef>>,
    waiter: Option<Waker>,
}

type ExceptionHandler = dyn Fn(&ExceptionContext) + Send + Sync;

struct Queue {
    jobs: VecDeque<Job>,
    /// The runner's waker while it waits for work.
    runner: Option<Waker>,
    /// `run` is ending: the runner drains what is queued and stops.
    closing: bool,
    /// The runner has stopped: nothing queued now would ever run.
    stopped: bool,
}

struct Job {
    callback: DoneCallback,
    /// Set by [`Handle::cancel`]; `None` for done callbacks, which cannot be cancelled.
    cancelled: Option<Arc<AtomicBool>>,
}

impl LoopShared {
    pub(crate) fn new(shards: usize, multi_thread: bool, eager_tasks: bool, track_ages: bool) -> Self {
        LoopShared {
            multi_thread,
            eager_tasks,
            registry: Registry::new(shards, track_ages),
            queue: Mutex::new(Queue { jobs: VecDeque::new(), runner: None, closing: false, stopped: false }),
            handler: std::sync::Mutex::new(None),
            closed: AtomicBool::new(false),
            extensions: std::sync::Mutex::new(HashMap::new()),
            executor: crate::executor::DefaultExecutor::default(),
        }
    }

    /// `run`'s main task has completed: stop the loop as asyncio's `run_until_complete` does
    /// from main's done callback, so that the task steps and callbacks already scheduled run
    /// first and what is left is cancelled then, before any of it runs again. The stop is a
    /// tokio task of its own, spawned now: on the current-thread loop it is queued behind
    /// every task already woken *and* behind the callback runner if that is woken, where a job
    /// on the callback queue would run with callbacks queued before it and ahead of task steps
    /// queued between them (asyncio keeps both in one FIFO). Made only now, so nothing is
    /// allocated for it while the loop runs (a long-lived allocation there measurably changes
    /// how the allocator reuses every task's memory).
    pub(crate) fn schedule_stop(self: &Arc<Self>) {
        let shared = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(tokio) => drop(tokio.spawn(async move { shared.stop() })),
            // Completed outside the runtime (its shutdown dropping main): nothing else runs.
            Err(_) => self.schedule_callbacks(vec![Box::new(move || shared.stop())]),
        }
    }

    /// Cancels every task still pending (asyncio's `_cancel_all_tasks`, first half) and hands
    /// them to `run`, which awaits them.
    fn stop(&self) {
        let leftovers = self.registry.snapshot();
        for task in &leftovers {
            task.cancel();
        }
        let waiter = {
            let stop = self.state::<Stop>();
            let mut stop = lock_std(&stop.0);
            stop.leftovers = Some(leftovers);
            stop.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }

    /// `run`: waits for the stop, and takes what it cancelled.
    pub(crate) async fn stopped(&self) -> Vec<TaskRef> {
        let stop = self.state::<Stop>();
        poll_fn(|cx| {
            let mut stop = lock_std(&stop.0);
            match stop.leftovers.take() {
                Some(leftovers) => Poll::Ready(leftovers),
                None => {
                    let old = stop.waiter.replace(cx.waker().clone());
                    drop(stop);
                    drop(old);
                    Poll::Pending
                }
            }
        })
        .await
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues done callbacks, in order, to run on the loop.
    pub(crate) fn schedule_callbacks(&self, callbacks: Vec<DoneCallback>) {
        if let Some(runner) = self.queue_callbacks(callbacks) {
            runner.wake();
        }
    }

    /// [`schedule_callbacks`](Self::schedule_callbacks) without waking the runner: returns its
    /// waker, for the caller to wake when it is ready (after unlocking, and after whatever
    /// must come first).
    pub(crate) fn queue_callbacks(&self, callbacks: Vec<DoneCallback>) -> Option<Waker> {
        self.push(callbacks.into_iter().map(|callback| Job { callback, cancelled: None }))
    }

    fn enqueue(&self, jobs: impl IntoIterator<Item = Job>) {
        if let Some(runner) = self.push(jobs) {
            runner.wake();
        }
    }

    /// Queues `jobs` and returns the runner's waker if it sleeps, to be woken by the caller.
    fn push(&self, jobs: impl IntoIterator<Item = Job>) -> Option<Waker> {
        let (runner, refused) = {
            let mut q = lock(&self.queue);
            if q.stopped {
                // The loop is gone: nothing will ever run these. Dropped below, unlocked.
                (None, jobs.into_iter().collect::<Vec<_>>())
            } else {
                q.jobs.extend(jobs);
                (q.runner.take(), Vec::new())
            }
        };
        drop(refused);
        runner
    }

    /// Runs queued callbacks until `run` closes the queue and it is empty.
    pub(crate) async fn run_callbacks(self: Arc<Self>) {
        let mut batch = VecDeque::new();
        loop {
            let more = poll_fn(|cx| {
                let mut q = lock(&self.queue);
                if !q.jobs.is_empty() {
                    std::mem::swap(&mut q.jobs, &mut batch);
                    Poll::Ready(true)
                } else if q.closing {
                    q.stopped = true;
                    Poll::Ready(false)
                } else {
                    let old = q.runner.replace(cx.waker().clone());
                    drop(q);
                    drop(old);
                    Poll::Pending
                }
            })
            .await;
            if !more {
                return;
            }
            for job in batch.drain(..) {
                if job.cancelled.as_ref().is_some_and(|c| c.load(Ordering::Acquire)) {
                    continue;
                }
                if let Err(payload) = catch_unwind(AssertUnwindSafe(job.callback)) {
                    self.report(ExceptionContext::new(
                        format!("Exception in callback: {}", panic_message(&*payload)),
                        Some(TaskError::from_panic(&*payload)),
                        None,
                    ));
                }
            }
        }
    }

    /// The loop accepts no new tasks (`SpawnError::Closed`): main and the leftovers are done.
    pub(crate) fn set_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// `call_soon` from any thread (`LoopHandle::call_soon_threadsafe`): queues `f` and wakes
    /// the runner, or gives `f` back once the queue has stopped (the loop has ended).
    pub(crate) fn call_soon_threadsafe(&self, f: DoneCallback) -> Result<Handle, DoneCallback> {
        let cancelled = Arc::new(AtomicBool::new(false));
        let runner = {
            let mut q = lock(&self.queue);
            if q.stopped {
                return Err(f);
            }
            q.jobs.push_back(Job { callback: f, cancelled: Some(cancelled.clone()) });
            q.runner.take()
        };
        if let Some(w) = runner {
            w.wake();
        }
        Ok(Handle { cancelled })
    }

    /// How many callbacks wait in the queue (for the loom models).
    #[cfg(all(test, taskloop_loom))]
    pub(crate) fn queued(&self) -> usize {
        lock(&self.queue).jobs.len()
    }

    /// Lets the runner finish: it drains the queue and stops.
    pub(crate) fn close_queue(&self) {
        let runner = {
            let mut q = lock(&self.queue);
            q.closing = true;
            q.runner.take()
        };
        if let Some(w) = runner {
            w.wake();
        }
    }

    /// Calls the exception handler (or the default one) with `context`; a panic in the
    /// handler is caught and logged, never unwound into our state.
    pub(crate) fn report(&self, context: ExceptionContext) {
        let handler = lock_std(&self.handler).clone();
        match handler {
            Some(handler) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler(&context))) {
                    tracing::error!(target: "taskloop", "the exception handler panicked: {}", panic_message(&*payload));
                    default_exception_handler(&context);
                }
            }
            None => default_exception_handler(&context),
        }
    }
}

fn lock_std<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What went wrong where nobody was waiting to hear it: the argument of the exception
/// handler, asyncio's exception-handler `context` dict.
#[derive(Debug, Clone)]
pub struct ExceptionContext {
    message: String,
    error: Option<TaskError>,
    task: Option<TaskRef>,
}

impl ExceptionContext {
    pub(crate) fn new(message: String, error: Option<TaskError>, task: Option<TaskRef>) -> Self {
        ExceptionContext { message, error, task }
    }

    /// What happened, in words (asyncio's `context["message"]`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error, if there is one (asyncio's `context["exception"]`).
    pub fn error(&self) -> Option<&TaskError> {
        self.error.as_ref()
    }

    /// The task concerned, when it is still alive (asyncio's `context["task"]`).
    pub fn task(&self) -> Option<&TaskRef> {
        self.task.as_ref()
    }
}

/// Sets the running loop's exception handler: asyncio's `loop.set_exception_handler()`.
///
/// It receives what nobody else will: panics in done callbacks and `call_soon` callbacks,
/// failures of tasks whose outcome was never retrieved (reported when the last handle is
/// dropped), failures of tasks cancelled at the end of `run`, and panics in a task body's
/// `Drop`. The default handler logs them through `tracing` at `error` level (target
/// `taskloop`) when a `tracing` subscriber is set, and otherwise writes asyncio's report to
/// stderr (`Task exception was never retrieved`, the task, the error with its `Caused by:`
/// chain and, with `RUST_BACKTRACE=1`, its backtrace). A panic in the handler is logged and
/// goes no further.
///
/// # Panics
///
/// Outside a running loop.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use taskloop::{call_soon, set_exception_handler, yield_now};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let seen = Arc::new(Mutex::new(Vec::new()));
///     let sink = seen.clone();
///     set_exception_handler(move |ctx| sink.lock().unwrap().push(ctx.message().to_owned()));
///     let _ = call_soon(|| panic!("boom"));
///     yield_now().await?;
///     assert_eq!(*seen.lock().unwrap(), ["Exception in callback: boom"]);
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn set_exception_handler(handler: impl Fn(&ExceptionContext) + Send + Sync + 'static) {
    let loop_ = context::current_loop().expect("set_exception_handler() needs a running taskloop loop on this thread");
    *lock_std(&loop_.handler) = Some(Arc::new(handler));
}

/// The running loop's instance of `T`, created with `T::default()` on first use: per-loop
/// state for crates that build on the loop (the timer queue of `taskloop-timing`, say), as
/// asyncio code hangs attributes on its loop. `None` outside a running loop.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use taskloop_core::loop_state;
///
/// #[derive(Default)]
/// struct Counter(AtomicUsize);
///
/// # fn main() -> Result<(), taskloop_core::TaskError> {
/// assert!(loop_state::<Counter>().is_none(), "no loop here");
/// taskloop_core::run(async {
///     loop_state::<Counter>().unwrap().0.fetch_add(1, Ordering::Relaxed);
///     assert_eq!(loop_state::<Counter>().unwrap().0.load(Ordering::Relaxed), 1);
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn loop_state<T: Default + Send + Sync + 'static>() -> Option<Arc<T>> {
    Some(context::current_loop()?.state::<T>())
}

impl LoopShared {
    /// The loop's extension state of type `T`, made on first use; see [`loop_state`].
    pub(crate) fn state<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut map = lock_std(&self.extensions);
        let entry = map.entry(TypeId::of::<T>()).or_insert_with(|| Arc::new(T::default()));
        // The entry for `TypeId::of::<T>()` always holds a `T`: it is only ever created above.
        entry.clone().downcast::<T>().expect("loop_state entry holds its own type")
    }
}

/// A callback scheduled by [`call_soon`]: asyncio's `asyncio.Handle`.
#[derive(Debug, Clone)]
pub struct Handle {
    cancelled: Arc<AtomicBool>,
}

impl Handle {
    /// The running loop's tokio runtime handle, for tokio APIs that want one
    /// (`Handle::spawn_blocking`, `block_on` from another thread, ...).
    ///
    /// Plain tokio futures (`tokio::net`, `tokio::sync`, `tokio::time`) need no handle: they
    /// work inside task bodies as they are (with the `io` feature, on by default in
    /// `taskloop`, the loop runs tokio's I/O driver), and a cancel reaches them. A task
    /// cancelled while it awaits one has its body dropped at that await and ends cancelled
    /// (see [`Task::cancel`](crate::Task::cancel)); wrap the await in
    /// [`cancellable`](crate::cancellable) to catch the request there instead. A tokio task
    /// spawned through this handle is not a taskloop task, though: no taskloop cancel reaches
    /// it, and dropping its `JoinHandle` (as a cancelled body does) leaves it running.
    ///
    /// # Panics
    ///
    /// Outside a running loop.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), taskloop::TaskError> {
    /// taskloop::run(async {
    ///     let tokio = taskloop::Handle::tokio();
    ///     let value = tokio.spawn_blocking(|| 2 + 2).await?;
    ///     assert_eq!(value, 4);
    ///     anyhow::Ok(())
    /// })
    /// # }
    /// ```
    pub fn tokio() -> tokio::runtime::Handle {
        assert!(context::current_loop().is_some(), "Handle::tokio() needs a running taskloop loop on this thread");
        tokio::runtime::Handle::current()
    }

    /// Keeps the callback from running, if it has not run yet.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}

/// Runs `f` on the loop after the current step: asyncio's `loop.call_soon()`.
///
/// Callbacks run in the order scheduled (done callbacks share the same queue). `f` runs
/// outside any task (`current_task()` is `None`); a panic in it is reported to the exception
/// handler and the loop goes on.
///
/// # Panics
///
/// Outside a running loop.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use taskloop::{call_soon, yield_now};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let log = Arc::new(Mutex::new(Vec::new()));
///     for i in 0..3 {
///         let log = log.clone();
///         let _ = call_soon(move || log.lock().unwrap().push(i));
///     }
///     let skipped = { let log = log.clone(); call_soon(move || log.lock().unwrap().push(99)) };
///     skipped.cancel();
///     assert!(log.lock().unwrap().is_empty(), "not before the current step ends");
///     yield_now().await?;
///     assert_eq!(*log.lock().unwrap(), [0, 1, 2]);
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[must_use = "the handle is the only way to cancel the callback; `let _ =` to discard it"]
pub fn call_soon(f: impl FnOnce() + Send + 'static) -> Handle {
    let loop_ = context::current_loop().expect("call_soon() needs a running taskloop loop on this thread");
    let cancelled = Arc::new(AtomicBool::new(false));
    loop_.enqueue([Job { callback: Box::new(f), cancelled: Some(cancelled.clone()) }]);
    Handle { cancelled }
}

/// Where a task sits in the registry, so it can remove itself when done.
#[derive(Debug)]
pub(crate) struct RegistryKey {
    // u32s: this lives in every task's harness, and neither a shard count nor a number of
    // live tasks reaches 2^32.
    shard: u32,
    key: u32,
}

/// The loop's live tasks, for `all_tasks()`: sharded so that spawns and completions on
/// different worker threads do not contend on one lock. A thread always inserts into its own
/// shard; a task is removed from the shard it was inserted in, from whichever thread it
/// completes on.
pub(crate) struct Registry {
    shards: Box<[std::sync::Mutex<Shard>]>,
    /// When the loop was built, if it tracks task ages (`Builder::track_task_ages`).
    started: Option<tokio::time::Instant>,
}

/// One shard of the registry: each live task with its creation time in milliseconds of the
/// loop's clock (0 when the loop does not track ages). The time lives beside the task, not in
/// it: an extra field in the task header cost every spawn ~100-300 instructions, this costs 8
/// bytes of slab entry and no measurable instruction.
type Shard = Slab<(TaskRef, u32)>;

impl Registry {
    fn new(shards: usize, track_ages: bool) -> Self {
        let n = shards.max(1).next_power_of_two();
        let started = track_ages.then(tokio::time::Instant::now);
        Registry { shards: (0..n).map(|_| std::sync::Mutex::new(Slab::new())).collect(), started }
    }

    /// Milliseconds of the loop's clock since it was built, if it tracks task ages.
    fn now_ms(&self) -> Option<u32> {
        let started = self.started?;
        Some(u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX))
    }

    fn home_shard(&self) -> usize {
        thread_local! {
            static SHARD: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed)
            };
        }
        SHARD.with(|s| *s) & (self.shards.len() - 1)
    }

    pub(crate) fn insert(&self, task: TaskRef) -> RegistryKey {
        let born = if self.started.is_some() { self.now_ms().unwrap_or(0) } else { 0 };
        let shard = self.home_shard();
        let key = lock_std(&self.shards[shard]).insert((task, born));
        RegistryKey { shard: shard as u32, key: u32::try_from(key).expect("fewer than 2^32 live tasks") }
    }

    /// Removes the task and returns its registry handle, for the caller to drop unlocked.
    pub(crate) fn remove(&self, key: &RegistryKey) -> Option<TaskRef> {
        lock_std(&self.shards[key.shard as usize]).try_remove(key.key as usize).map(|(task, _)| task)
    }

    /// Every registered task that is not done.
    pub(crate) fn snapshot(&self) -> Vec<TaskRef> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(lock_std(shard).iter().map(|(_, (t, _))| t.clone()).filter(|t| !t.done()));
        }
        all
    }

    /// Every registered task that is not done, with its age if the loop tracks ages.
    pub(crate) fn snapshot_with_ages(&self) -> Vec<(TaskRef, Option<std::time::Duration>)> {
        let now = self.now_ms();
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(lock_std(shard).iter().filter(|(_, (t, _))| !t.done()).map(|(_, (t, born))| {
                let age = now.map(|now| std::time::Duration::from_millis(u64::from(now.saturating_sub(*born))));
                (t.clone(), age)
            }));
        }
        all
    }
}

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
        let shared =
            Arc::new(LoopShared::new(shards, self.worker_threads.is_some(), self.eager_tasks, self.track_task_ages));
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
}

/// An event loop, ready to [`run`](Runtime::run) a main task: asyncio's `asyncio.Runner`.
///
/// Use [`run`](crate::run) for the default loop, and `Runtime::builder()` to choose another.
#[must_use = "a runtime does nothing until `run` is called"]
pub struct Runtime {
    pub(crate) tokio: tokio::runtime::Runtime,
    pub(crate) shared: Arc<LoopShared>,
    ctrl_c: crate::ctrl_c::CtrlCConfig,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("flavor", &self.tokio.handle().runtime_flavor()).finish()
    }
}

impl Runtime {
    /// The default loop: tokio's current-thread runtime.
    ///
    /// # Errors
    ///
    /// If tokio fails to start.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure the loop.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `fut` as the main task and shuts the loop down: asyncio's `asyncio.run()`.
    ///
    /// When the main task ends, every task still pending is cancelled and awaited (so their
    /// cancellation handlers and `Drop` guards run; each is cancelled at its current await,
    /// so a task waiting on a tokio future does not hold the loop up), the queued callbacks
    /// run, the default executor is shut down (waiting for its running work at most
    /// [`Builder::shutdown_timeout`]), and the main task's outcome is returned. Background
    /// tasks never keep the loop alive; wait for them in main (see
    /// [`all_tasks`](crate::all_tasks)). Failures of the tasks cancelled here are reported to
    /// the exception handler.
    ///
    /// Ctrl-C (SIGINT) cancels the main task with the message `"interrupted"` and the loop
    /// ends as above, returning that cancellation; a second Ctrl-C exits at once. See
    /// [`Builder::handle_ctrl_c`] (feature `ctrl-c`, on by default in `taskloop`; Unix).
    ///
    /// # Panics
    ///
    /// If this thread is already running a loop.
    pub fn run<F, T, E>(self, fut: F) -> Result<T, TaskError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Into<anyhow::Error>,
    {
        let Runtime { tokio, shared, ctrl_c } = self;
        let _on_this_thread = context::enter_loop(shared.clone());
        let outcome = tokio.block_on(async {
            let runner = tokio::spawn(shared.clone().run_callbacks());
            // asyncio's `run_until_complete`: main's end stops the loop (see `schedule_stop`).
            let main = spawn_main(shared.clone(), fut);
            // Ctrl-C cancels main until the loop is closed (see `ctrl_c.rs`).
            let ctrl_c = crate::ctrl_c::listen(ctrl_c, main.as_task_ref());
            let outcome = crate::ctrl_c::outcome(ctrl_c.as_ref(), main.join().await);
            let leftovers = shared.stopped().await;
            await_leftovers(&shared, leftovers).await;
            shared.closed.store(true, Ordering::Release);
            shared.close_queue();
            // The runner only ends by returning; a panic in it is impossible (callbacks are
            // caught), so its outcome carries nothing.
            let _ = runner.await;
            drop(ctrl_c);
            outcome
        });
        // asyncio's `shutdown_default_executor()`: after the leftovers, bounded by the timeout.
        shared.executor.shutdown();
        drop(tokio);
        outcome
    }
}

/// The second half of asyncio's `_cancel_all_tasks`: waits for the tasks the stopper
/// cancelled, and reports the ones that ended with a failure rather than the cancellation.
pub(crate) async fn await_leftovers(shared: &LoopShared, leftovers: Vec<TaskRef>) {
    for task in leftovers {
        if let Err(error) = task.clone().await
            && !error.is_cancelled()
        {
            shared.report(ExceptionContext::new(
                "unhandled exception during taskloop::run() shutdown".to_owned(),
                Some(error),
                Some(task),
            ));
        }
    }
}

/// Runs `fut` as the main task of a new default loop: asyncio's `asyncio.run()`.
///
/// See [`Runtime::run`]; this is `Runtime::new()?.run(fut)` on tokio's current-thread runtime.
///
/// # Errors
///
/// The main task's outcome: its error, `TaskError::Panicked` if it panicked, or
/// `TaskError::Cancelled` if something cancelled it.
///
/// # Panics
///
/// If this thread is already running a loop.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), taskloop::TaskError> {
/// let answer = taskloop::run(async { anyhow::Ok(42) })?;
/// assert_eq!(answer, 42);
/// # Ok(())
/// # }
/// ```
pub fn run<F, T, E>(fut: F) -> Result<T, TaskError>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    match Runtime::new() {
        Ok(rt) => rt.run(fut),
        Err(e) => Err(TaskError::Failed(Arc::new(anyhow::Error::new(e).context("failed to start the taskloop loop")))),
    }
}
