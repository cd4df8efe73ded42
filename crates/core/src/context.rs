//! What this thread is running: its loop (set for the whole of `run` on the loop's threads)
//! and the task whose body is being polled. The task is the current *cancel scope* of
//! `taskloop-cancel`, which the harness installs for one poll: one thread-local serves both
//! cancellation points and `current_task()`.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::Arc;

use crate::task::{Loop, TaskRef};

thread_local! {
    // `ManuallyDrop`: with no destructor to register, reading it (every `create_task`) is an
    // address rather than a call. It is always emptied before its thread ends (`LoopGuard`,
    // tokio's `on_thread_stop`, `InLoop`'s guard); a loop left here would be leaked.
    static LOOP: ManuallyDrop<RefCell<Option<Arc<Loop>>>> = const { ManuallyDrop::new(RefCell::new(None)) };
}

/// The loop running on this thread, if any: the thread's loop (set for the whole of `run` on
/// the loop's threads, or for one poll by [`InLoop`]), else the loop of the task being polled.
///
/// The second case is a loop embedded in a tokio runtime it does not own
/// (`run_embedded`): the runtime's threads are not the loop's, so nothing is set on them,
/// and a task finds its loop through its own header. The thread-local is read first, so a
/// loop that owns its runtime pays nothing for it.
#[inline]
pub(crate) fn current_loop() -> Option<Arc<Loop>> {
    LOOP.with(|l| l.borrow().clone()).or_else(task_loop)
}

#[cold]
fn task_loop() -> Option<Arc<Loop>> {
    current_task().map(|t| t.header().loop_.clone())
}

pin_project_lite::pin_project! {
    /// A plain tokio future that serves a loop embedded in a runtime it does not own (the
    /// callback runners, a timer driver): the loop is this thread's loop for each of its polls,
    /// so `call_soon`, `create_task` and `loop_state` work inside it as on the loop's threads.
    pub(crate) struct InLoop<F> {
        loop_: Arc<Loop>,
        #[pin]
        fut: F,
    }
}

impl<F> InLoop<F> {
    pub(crate) fn new(loop_: Arc<Loop>, fut: F) -> Self {
        InLoop { loop_, fut }
    }
}

impl<F: std::future::Future> std::future::Future for InLoop<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.project();
        let _entered = PollGuard(LOOP.with(|l| l.borrow_mut().replace(this.loop_.clone())));
        this.fut.poll(cx)
    }
}

/// Restores the thread's previous loop after one poll of an [`InLoop`], even if it panics.
struct PollGuard(Option<Arc<Loop>>);

impl Drop for PollGuard {
    fn drop(&mut self) {
        let ours = LOOP.with(|l| std::mem::replace(&mut *l.borrow_mut(), self.0.take()));
        drop(ours);
    }
}

/// Makes `loop_` this thread's loop until the guard is dropped.
///
/// # Panics
///
/// If this thread already runs a loop: loops do not nest (asyncio: "asyncio.run() cannot be
/// called from a running event loop").
pub(crate) fn enter_loop(loop_: Arc<Loop>) -> LoopGuard {
    LOOP.with(|l| {
        let mut slot = l.borrow_mut();
        assert!(
            slot.is_none(),
            "taskloop::run() cannot be called from a thread that is already running a taskloop loop"
        );
        *slot = Some(loop_);
    });
    LoopGuard(())
}

/// Makes `loop_` the loop of a runtime worker thread for the thread's whole life (tokio's
/// `on_thread_start`), or forgets it (`on_thread_stop`).
pub(crate) fn set_worker_loop(loop_: Option<Arc<Loop>>) {
    let old = LOOP.with(|l| std::mem::replace(&mut *l.borrow_mut(), loop_));
    drop(old);
}

/// Leaves the loop when dropped; see [`enter_loop`].
pub(crate) struct LoopGuard(());

impl Drop for LoopGuard {
    fn drop(&mut self) {
        let old = LOOP.with(|l| l.borrow_mut().take());
        drop(old);
    }
}

/// asyncio's `asyncio.current_task()`: the task whose body is running, `None` outside any
/// task (in a done callback, a `call_soon` callback, or outside a loop).
///
/// # Examples
///
/// ```
/// use taskloop::{create_task, current_task};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// assert!(current_task().is_none());
/// taskloop::run(async {
///     let task = create_task(async { anyhow::Ok(current_task().unwrap().id()) });
///     assert_eq!((&task).await?, task.id());
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn current_task() -> Option<TaskRef> {
    TaskRef::current()
}

/// asyncio's `asyncio.all_tasks()`: the running loop's tasks that are not done, the current
/// one included.
///
/// Costs a lock per registry shard and a handle per task; fine for diagnostics and for the
/// seed's "wait for all background tasks", not for a hot loop.
///
/// # Panics
///
/// Outside a running loop (asyncio raises `RuntimeError: no running event loop`).
///
/// # Examples
///
/// Waiting for every background task, the seed's question 24.5:
///
/// ```
/// use taskloop::{all_tasks, create_task, current_task, wait, ReturnWhen};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     for i in 0..3 {
///         let _task = create_task(async move { anyhow::Ok(i) });
///     }
///     let me = current_task().unwrap();
///     let others: Vec<_> = all_tasks().into_iter().filter(|t| *t != me).collect();
///     assert_eq!(others.len(), 3);
///     let (done, pending) = wait(others, ReturnWhen::AllCompleted, None).await?;
///     assert_eq!((done.len(), pending.len()), (3, 0));
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub fn all_tasks() -> Vec<TaskRef> {
    let loop_ = current_loop().expect("all_tasks() needs a running taskloop loop on this thread");
    let mut all = loop_.registry.snapshot();
    all.extend(crate::task::eager::in_first_step(&loop_));
    all
}
