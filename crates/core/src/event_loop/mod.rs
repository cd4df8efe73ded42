//! The event loop: `run`, `Runtime`, the callback queue behind `call_soon` and done
//! callbacks, the live-task registry, and the exception handler.
//!
//! A loop is one tokio runtime plus a [`LoopShared`]: the state every task of the loop points
//! to. Done callbacks and `call_soon` callbacks go through one FIFO queue drained by one
//! *runner* (a plain tokio task), so they run on the loop, after the step that scheduled them,
//! in order — asyncio's `call_soon` contract — on both runtime flavours.

use std::any::{Any, TypeId};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};

mod callbacks;
mod registry;
mod report;

pub use callbacks::Handle;
pub(crate) use registry::{Registry, RegistryKey};

use crate::sync::Mutex;
use crate::task::TaskRef;
pub(crate) use callbacks::Job;
use callbacks::Queue;
use report::ExceptionHandler;

/// The state shared by a loop's tasks.
pub(crate) struct LoopShared {
    pub(crate) registry: Registry,
    queue: Mutex<Queue>,
    pub(crate) handler: std::sync::Mutex<Option<Arc<ExceptionHandler>>>,
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

    /// The loop accepts no new tasks (`SpawnError::Closed`): main and the leftovers are done.
    pub(crate) fn set_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }
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

pub(crate) fn lock_std<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
