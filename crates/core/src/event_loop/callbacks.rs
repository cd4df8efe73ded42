//! The callback queue: done callbacks and `call_soon` callbacks, in one FIFO queue that one
//! *runner* (a plain tokio task, see `LoopShared::run_callbacks`) drains in order.

use std::any::Any;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Waker};

use crate::sync::{Mutex, lock};

/// A callback as queued: a done callback (already bound to its task) or a `call_soon` job.
pub(crate) type Callback = Box<dyn FnOnce() + Send>;

/// The queue and its runner's state.
pub(crate) struct CallbackQueue(Mutex<Queue>);

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
    callback: Callback,
    /// Set by [`Handle::cancel`]; `None` for done callbacks, which cannot be cancelled.
    cancelled: Option<Arc<AtomicBool>>,
}

impl CallbackQueue {
    pub(crate) fn new() -> Self {
        CallbackQueue(Mutex::new(Queue { jobs: VecDeque::new(), runner: None, closing: false, stopped: false }))
    }

    /// Queues done callbacks, in order, to run on the loop.
    pub(crate) fn schedule(&self, callbacks: Vec<Callback>) {
        if let Some(runner) = self.queue(callbacks) {
            runner.wake();
        }
    }

    /// Waits until every callback queued before this call has run: queues a marker behind
    /// them and awaits it (a closed queue drops the marker, which ends the wait too).
    pub(crate) async fn flush(&self) {
        let (ran, marker) = futures::channel::oneshot::channel::<()>();
        self.schedule(vec![Box::new(move || {
            let _ = ran.send(());
        })]);
        let _ = marker.await;
    }

    /// [`schedule`](Self::schedule) without waking the runner: returns its waker, for the
    /// caller to wake when it is ready (after unlocking, and after whatever must come first).
    pub(crate) fn queue(&self, callbacks: Vec<Callback>) -> Option<Waker> {
        self.push(callbacks.into_iter().map(|callback| Job { callback, cancelled: None }))
    }

    /// `call_soon`: queues `f` with a [`Handle`] that can cancel it.
    pub(crate) fn call_soon(&self, f: Callback) -> Handle {
        let cancelled = Arc::new(AtomicBool::new(false));
        if let Some(runner) = self.push([Job { callback: f, cancelled: Some(cancelled.clone()) }]) {
            runner.wake();
        }
        Handle { cancelled }
    }

    /// Queues `jobs` and returns the runner's waker if it sleeps, to be woken by the caller.
    fn push(&self, jobs: impl IntoIterator<Item = Job>) -> Option<Waker> {
        let (runner, refused) = {
            let mut q = lock(&self.0);
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

    /// The runner: runs queued callbacks until [`close`](Self::close) and the queue is empty.
    /// A callback's panic is caught and handed to `on_panic`.
    pub(crate) async fn run(&self, on_panic: impl Fn(&(dyn Any + Send))) {
        let mut batch = VecDeque::new();
        loop {
            let more = poll_fn(|cx| {
                let mut q = lock(&self.0);
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
                    on_panic(&*payload);
                }
            }
        }
    }

    /// `call_soon` from any thread (`LoopHandle::call_soon_threadsafe`): queues `f` and wakes
    /// the runner, or gives `f` back once the queue has stopped (the loop has ended).
    pub(crate) fn call_soon_threadsafe(&self, f: Callback) -> Result<Handle, Callback> {
        let cancelled = Arc::new(AtomicBool::new(false));
        let runner = {
            let mut q = lock(&self.0);
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
    pub(crate) fn len(&self) -> usize {
        lock(&self.0).jobs.len()
    }

    /// Lets the runner finish: it drains the queue and stops.
    pub(crate) fn close(&self) {
        let runner = {
            let mut q = lock(&self.0);
            q.closing = true;
            q.runner.take()
        };
        if let Some(w) = runner {
            w.wake();
        }
    }
}

/// A callback scheduled by [`call_soon`](crate::call_soon): asyncio's `asyncio.Handle`.
#[derive(Debug, Clone)]
pub struct Handle {
    cancelled: Arc<AtomicBool>,
}

impl Handle {
    /// Keeps the callback from running, if it has not run yet.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }
}
