//! The callback queue: done callbacks and `call_soon` callbacks, run in order by one runner.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};

use super::LoopShared;
use crate::context;
use crate::error::{TaskError, panic_message};
use crate::runtime::ExceptionContext;
use crate::sync::lock;
use crate::task::DoneCallback;

pub(crate) struct Queue {
    pub(super) jobs: VecDeque<Job>,
    /// The runner's waker while it waits for work.
    pub(super) runner: Option<Waker>,
    /// `run` is ending: the runner drains what is queued and stops.
    pub(super) closing: bool,
    /// The runner has stopped: nothing queued now would ever run.
    pub(super) stopped: bool,
}

pub(crate) struct Job {
    pub(crate) callback: DoneCallback,
    /// Set by [`Handle::cancel`]; `None` for done callbacks, which cannot be cancelled.
    pub(crate) cancelled: Option<Arc<AtomicBool>>,
}

impl LoopShared {
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

    pub(crate) fn enqueue(&self, jobs: impl IntoIterator<Item = Job>) {
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
}

/// A callback scheduled by [`call_soon`]: asyncio's `asyncio.Handle`.
#[derive(Debug, Clone)]
pub struct Handle {
    pub(crate) cancelled: Arc<AtomicBool>,
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
