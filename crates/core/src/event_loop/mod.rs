//! The loop's shared state, [`LoopShared`]: what every task of a loop points to, and what the
//! loop's own code (`runtime/`) drives.
//!
//! This module sits *below* `task/`: it never names a task type. It is generic over the
//! handle its registry keeps (`R`, the [`Registered`] it needs of a task), and `task/`
//! instantiates it as `task::Loop` (`LoopShared<TaskRef>`), as tokio's task module is generic
//! over its scheduler. Its parts:
//!
//! - `callbacks.rs` — the callback queue and its runner: done callbacks and `call_soon`
//!   callbacks go through one FIFO queue drained by one *runner* (a plain tokio task), so they
//!   run on the loop, after the step that scheduled them, in order — asyncio's `call_soon`
//!   contract — on both runtime flavours.
//! - `registry.rs` — the live tasks, for `all_tasks()` and the end of `run`.
//! - `report.rs` — what went wrong where nobody was waiting: the exception handler's slot and
//!   the default handler.
//!
//! Here: the loop's configuration, the stop that ends `run` when main completes, and per-loop
//! extension state (`loop_state`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Poll, Waker};

mod callbacks;
mod registry;
mod report;

pub use callbacks::Handle;
pub(crate) use callbacks::{CURRENT_THREAD_RUNNERS, Callback, CallbackQueue};
pub(crate) use registry::{Registered, Registry, RegistryKey};
pub(crate) use report::{ExceptionHandler, Report};

use crate::error::{TaskError, panic_message};
use crate::executor::DefaultExecutor;
use crate::sync::lock;

/// `LoopShared::run_state`: open for tasks.
const OPEN: u8 = 0;
/// Cancelling the leftovers: tasks created now start cancelled.
const STOPPING: u8 = 1;
/// Shut down: no task can be created.
const CLOSED: u8 = 2;

/// How a loop is built: `Builder`'s options, as the loop's state needs them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopConfig {
    /// Registry shards: one per thread that spawns, rounded up to a power of two.
    pub(crate) shards: usize,
    /// The loop runs on several threads (tokio's multi-thread runtime, or a host runtime's).
    pub(crate) multi_thread: bool,
    /// `Builder::eager_tasks`.
    pub(crate) eager_tasks: bool,
    /// `Builder::track_task_ages`.
    pub(crate) track_task_ages: bool,
}

/// The state shared by a loop's tasks. `R` is the task handle its registry keeps.
pub(crate) struct LoopShared<R: Registered> {
    pub(crate) registry: Registry<R>,
    pub(crate) callbacks: CallbackQueue,
    handler: std::sync::Mutex<Option<Arc<ExceptionHandler<R>>>>,
    /// `OPEN`, `STOPPING` (cancelling what main left: new tasks start cancelled) or `CLOSED`.
    run_state: AtomicU8,
    /// Tasks may run on several threads: a task created inside another is held back until its
    /// creator suspends (see `task::gate`), as on one thread it would be by itself.
    pub(crate) multi_thread: bool,
    /// `create_task` runs a task's first step at once (`Builder::eager_tasks`).
    pub(crate) eager_tasks: bool,
    /// Per-loop state of crates built on the loop; see [`state`](Self::state).
    extensions: std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// The default executor, shut down at the end of `run`; see `executor.rs`.
    pub(crate) executor: DefaultExecutor,
}

/// `run`'s hand-over from the stop (a queued job) to its shutdown: loop extension state
/// (`LoopShared::state`), made only at the end. A field of `LoopShared` would change that
/// long-lived allocation's size, which alone moved spawn+await by 4% in instructions (glibc
/// then reuses the tasks' freed memory differently).
struct Stop<R>(std::sync::Mutex<StopState<R>>);

struct StopState<R> {
    leftovers: Option<Vec<R>>,
    waiter: Option<Waker>,
}

impl<R> Default for Stop<R> {
    fn default() -> Self {
        Stop(std::sync::Mutex::new(StopState { leftovers: None, waiter: None }))
    }
}

impl<R: Registered> LoopShared<R> {
    pub(crate) fn new(config: LoopConfig) -> Self {
        LoopShared {
            multi_thread: config.multi_thread,
            eager_tasks: config.eager_tasks,
            registry: Registry::new(config.shards, config.track_task_ages),
            callbacks: CallbackQueue::new(if config.multi_thread { 1 } else { CURRENT_THREAD_RUNNERS }),
            handler: std::sync::Mutex::new(None),
            run_state: AtomicU8::new(OPEN),
            extensions: std::sync::Mutex::new(HashMap::new()),
            executor: DefaultExecutor::default(),
        }
    }

    /// `run`'s main task has completed: stop the loop as asyncio's `run_until_complete` does
    /// from main's done callback, so that the task steps and callbacks already scheduled run
    /// first and what is left is cancelled then, before any of it runs again. The stop is a
    /// tokio task of its own, spawned now: on the current-thread loop it is queued behind
    /// every task already woken and every batch of callbacks whose runner is woken, as a
    /// callback of its own would be, without needing a runner. Made only now, so nothing is
    /// allocated for it while the loop runs (a long-lived allocation there measurably changes
    /// how the allocator reuses every task's memory).
    pub(crate) fn schedule_stop(self: &Arc<Self>) {
        let shared = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(tokio) => drop(tokio.spawn(async move { shared.stop() })),
            // Completed outside the runtime (its shutdown dropping main): nothing else runs.
            Err(_) => self.callbacks.schedule(vec![Box::new(move || shared.stop())]),
        }
    }

    /// Cancels every task still pending (asyncio's `_cancel_all_tasks`, first half) and hands
    /// them to `run`, which awaits them.
    fn stop(&self) {
        let leftovers = self.cancel_all();
        let waiter = {
            let stop = self.state::<Stop<R>>();
            let mut stop = lock(&stop.0);
            stop.leftovers = Some(leftovers);
            stop.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }

    /// Cancels every task still pending, and returns them. Until [`stopped_cancelling`]
    /// (Self::stopped_cancelling), tasks created meanwhile start cancelled.
    pub(crate) fn cancel_all(&self) -> Vec<R> {
        let _ = self.run_state.compare_exchange(OPEN, STOPPING, Ordering::AcqRel, Ordering::Acquire);
        let tasks = self.registry.snapshot();
        for task in &tasks {
            task.cancel();
        }
        tasks
    }

    /// The callback runner, `run`'s plain tokio task: runs the queued callbacks until the
    /// queue is closed and empty, reporting their panics.
    pub(crate) async fn run_callbacks(self: Arc<Self>) {
        let report_panic = |payload: &(dyn std::any::Any + Send)| {
            self.report(Report::new(
                format!("Exception in callback: {}", panic_message(payload)),
                Some(TaskError::from_panic(payload)),
                None,
            ));
        };
        self.callbacks.run(report_panic).await;
    }

    /// `run`: waits for the stop, and takes what it cancelled.
    pub(crate) async fn stopped(&self) -> Vec<R> {
        let stop = self.state::<Stop<R>>();
        poll_fn(|cx| {
            let mut stop = lock(&stop.0);
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
}

impl<R: Registered> LoopShared<R> {
    pub(crate) fn is_closed(&self) -> bool {
        self.run_state.load(Ordering::Acquire) == CLOSED
    }

    /// Whether the loop is cancelling what main left (`run`'s end, a `Runner`'s main ending,
    /// or its close): a task created now starts cancelled, as none is meant to run any more.
    /// One load, with [`is_closed`](Self::is_closed)'s: `(closed, stopping)`.
    #[inline]
    pub(crate) fn closed_or_stopping(&self) -> (bool, bool) {
        let state = self.run_state.load(Ordering::Acquire);
        (state == CLOSED, state == STOPPING)
    }

    /// The leftovers are done: a `Runner`'s next main creates tasks as usual.
    pub(crate) fn stopped_cancelling(&self) {
        let _ = self.run_state.compare_exchange(STOPPING, OPEN, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The loop accepts no new tasks (`SpawnError::Closed`): main and the leftovers are done.
    pub(crate) fn set_closed(&self) {
        self.run_state.store(CLOSED, Ordering::Release);
    }

    /// The loop's extension state of type `T`, made on first use (`loop_state`).
    pub(crate) fn state<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut map = lock(&self.extensions);
        let entry = map.entry(TypeId::of::<T>()).or_insert_with(|| Arc::new(T::default()));
        // The entry for `TypeId::of::<T>()` always holds a `T`: it is only ever created above.
        entry.clone().downcast::<T>().expect("loop_state entry holds its own type")
    }
}
