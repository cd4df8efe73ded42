//! The future tokio spawns for each task: polls the body with the task installed as the
//! current task and cancel scope, and completes the task when the body ends, panics, is
//! aborted, or is dropped unfinished by a runtime shutting down.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;
use taskloop_cancel::{CancelScope, Cancelled, ScopeSlot};

use super::gate;
use super::{Shared, Start, Suspend, Suspended};
use crate::error::{TaskError, panic_message};
use crate::event_loop::Report;

pin_project! {
    /// Everything it holds counts towards tokio's task cell (tokio rounds it up to a multiple
    /// of 128 bytes), so it holds only the task and its body, `None` once the task is done:
    /// the `Arc`'s niche makes the `Option` free. The cancel scope is made for each poll, the
    /// stage is kept in the task header, the span in the task's `Rare` part.
    pub(crate) struct Harness<F, T> {
        #[pin]
        live: Option<Live<F, T>>,
    }

    impl<F, T> PinnedDrop for Harness<F, T> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped unfinished: the runtime is shutting down with the task still pending.
            // The task ends cancelled, so no awaiter or callback is left waiting forever.
            let live = this.project().live;
            if live.is_some() {
                // The `Ready` goes nowhere: no one polls a dropped harness.
                let _ = finish(live, Err(TaskError::Cancelled(Cancelled::new())));
            }
        }
    }
}

pin_project! {
    /// An unfinished task: its shared part and its body.
    #[project = LiveProj]
    struct Live<F, T> {
        shared: Arc<Shared<T>>,
        #[pin]
        body: F,
    }
}

/// Where the harness is with its body: the task's states of the module doc, as the harness
/// sees them (the header's `GATED` and `DONE` flags are the same states as everyone sees them).
/// Kept in the task header (`Header::harness_stage`), not in the harness: tokio's task cell
/// holds the harness and the body, and 8 bytes there can move a task to the next cell size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Stage {
    /// Spawned, body never polled (Gated or Scheduled): the first poll starts it.
    Scheduled,
    /// Body polled; tokio's waker not registered yet, as the body has not suspended since.
    Running,
    /// Body suspended at least once, tokio's waker registered (invariant 6). Still Running in
    /// the module doc's terms.
    Suspended,
    // Done: the harness's `live` is `None`, the body is gone and polls return `Ready` at once.
}

impl Stage {
    #[inline]
    fn of(header: &super::Header) -> Stage {
        match header.harness_stage() {
            0 => Stage::Scheduled,
            1 => Stage::Running,
            _ => Stage::Suspended,
        }
    }

    #[inline]
    fn set(self, header: &super::Header) {
        header.set_harness_stage(self as u8);
    }
}

impl<F, T> Harness<F, T> {
    #[inline]
    pub(crate) fn new(shared: Arc<Shared<T>>, body: F) -> Self
    where
        T: Send + 'static,
    {
        Harness { live: Some(Live { shared, body }) }
    }
}

impl<F, T, E> Future for Harness<F, T>
where
    F: Future<Output = Result<T, E>>,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_body(cx, false)
    }
}

impl<F, T, E> Harness<F, T>
where
    F: Future<Output = Result<T, E>>,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    /// One poll of the harness. `eager`: the eager first step inside `create_task`, whose
    /// forwarding waker is never registered as the task's (invariant 6 holds from tokio's first
    /// poll on), so the harness stays `Running` after it.
    #[inline]
    fn poll_body(self: Pin<&mut Self>, cx: &mut Context<'_>, eager: bool) -> Poll<()> {
        let mut slot = self.project().live;
        let Some(live) = slot.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        let live = live.project();
        let header = &live.shared.header;
        let stage = Stage::of(header);
        match stage {
            Stage::Scheduled => match header.transition_to_running(cx.waker()) {
                Start::Poll => Stage::Running.set(header),
                Start::Gated => return Poll::Pending,
                Start::Cancelled(cancelled) => return finish(slot, Err(TaskError::Cancelled(cancelled))),
            },
            Stage::Running | Stage::Suspended => {
                if header.is_abort_requested() {
                    return abort(slot);
                }
            }
        }

        // A request pending now is delivered at the body's current await: by a cancellation
        // point during this poll, or else by ending the body after it (invariant 7).
        let endable = header.arm_cancel();
        let body = live.body;
        let multi_thread = header.loop_.multi_thread;
        let born = if multi_thread { gate::born_mark() } else { 0 };
        // In and out of the thread-local around the poll; a panic is caught in between.
        let entered = header.span().map(tracing::Span::entered);
        // The task as the current cancel scope, made for this poll: kept in the harness between
        // polls, its 24 bytes would move bodies of 121-144 bytes to tokio's next cell size
        // (128 bytes more per task); made here, it costs a reference count per poll.
        // Only a request armed now can be delivered by a point during this poll (invariant 7:
        // `ARMED` is set here and nowhere else), so with none armed the points need not ask.
        let scope: Arc<dyn CancelScope> = live.shared.clone();
        let mut scope = ScopeSlot::for_poll(scope, header.is_armed());
        taskloop_cancel::swap_in(&mut scope, cx.waker());
        let polled = catch_unwind(AssertUnwindSafe(|| body.poll(cx)));
        let at_yield = taskloop_cancel::swap_out(&mut scope);
        drop(scope);
        if let Some(entered) = entered {
            leave(entered);
        }
        if multi_thread {
            gate::release_born_since(born);
        }
        let result = match polled {
            Ok(Poll::Pending) => {
                if header.is_abort_requested() {
                    return abort(slot);
                }
                header.note_suspended_at_yield(at_yield);
                if header.is_cancel_pending() {
                    match header.transition_to_suspended_with_request(endable) {
                        Suspended::End(cancelled) => return finish(slot, Err(TaskError::Cancelled(cancelled))),
                        Suspended::Kept => {}
                        Suspended::Handed => {
                            taskloop_cancel::note_wake();
                            cx.waker().wake_by_ref();
                        }
                        Suspended::Forward(target, message) => {
                            if !super::forwarding::through(header.id(), || target.forward(message.clone()))
                                && let Some(waker) = header.transition_to_forward_refused(message)
                            {
                                waker.wake();
                            }
                        }
                    }
                }
                if stage != Stage::Suspended && !eager {
                    Stage::Suspended.set(header);
                    if let Suspend::Repoll = header.transition_to_suspended(cx.waker()) {
                        cx.waker().wake_by_ref();
                    }
                }
                return Poll::Pending;
            }
            Ok(Poll::Ready(Ok(value))) => Ok(value),
            Ok(Poll::Ready(Err(err))) => Err(TaskError::from_body_error(err.into())),
            Err(payload) => Err(TaskError::from_panic(&*payload)),
        };
        finish(slot, result)
    }
}

impl<F, T, E> Harness<F, T>
where
    F: Future<Output = Result<T, E>> + Unpin,
    T: Send + 'static,
    E: Into<anyhow::Error>,
{
    /// An eager task's first step: one poll inside `create_task`, with `waker` (which forwards
    /// to the task's tokio waker once there is one). Returns whether the task finished; if
    /// not, the caller hands the harness to tokio, whose first poll registers its own waker.
    /// `F` is a boxed body (`Unpin`), so moving the harness after this poll is sound.
    pub(crate) fn poll_eagerly(&mut self, waker: &Waker) -> bool {
        Pin::new(&mut *self).poll_body(&mut Context::from_waker(waker), true).is_ready()
    }
}

/// Exits a task's span after a poll: out of line, so that the common poll without a span
/// carries no drop glue for one.
#[cold]
#[inline(never)]
fn leave(entered: tracing::span::EnteredSpan) {
    drop(entered);
}

/// `abort()` acted on: the body is dropped first (invariant 5), then the task ends cancelled.
fn abort<F, T>(slot: Pin<&mut Option<Live<F, T>>>) -> Poll<()> {
    finish(slot, Err(TaskError::Cancelled(Cancelled::new())))
}

/// Drops the body (reporting a panic in its `Drop`), then completes the task and tells
/// awaiters, callbacks and the registry: the harness is done (`live` is `None`).
#[inline]
fn finish<F, T>(slot: Pin<&mut Option<Live<F, T>>>, result: Result<T, TaskError>) -> Poll<()> {
    let shared = slot.as_ref().get_ref().as_ref().map(|live| live.shared.clone());
    if let Some(shared) = shared {
        complete(&shared, slot, result);
    }
    Poll::Ready(())
}

/// [`finish`] with the task in hand: drops the body, then completes the task.
fn complete<F, T>(shared: &Arc<Shared<T>>, mut slot: Pin<&mut Option<Live<F, T>>>, result: Result<T, TaskError>) {
    let header = &shared.header;
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| slot.set(None))) {
        header.loop_.report(Report::new(
            format!("a task body panicked while being dropped: {}", panic_message(&*payload)),
            Some(TaskError::from_panic(&*payload)),
            None,
        ));
    }
    if let Err(TaskError::Cancelled(cancelled)) = &result {
        tracing::debug!(target: "taskloop::task", task_id = %header.id(), "task ended cancelled ({cancelled})");
    }
    let (completion, discarded) = header.transition_to_done(result, &shared.value);
    drop(discarded);
    let registered = header.loop_.registry.remove(header.registry_key());
    let rare = completion.notify(&header.loop_);
    if header.is_main() {
        header.loop_.schedule_stop();
    }
    drop(registered);
    // Last, with what is left of the task's rare part: its span closes now that it completed
    // (as it did when the harness held it), not when its last handle goes.
    drop(rare);
}

#[cfg(all(test, not(taskloop_loom), target_pointer_width = "64"))]
mod tests {
    use std::mem::{size_of, size_of_val};
    use std::sync::Arc;

    use super::Harness;
    use crate::event_loop::LoopConfig;
    use crate::task::{Header, Loop, Shared};

    /// tokio keeps the harness in a task cell of 104 bytes plus the harness plus 8, rounded up
    /// to 128: every byte the harness adds to the body can move a task to the next 128. With
    /// only the shared task beside the body, a task that sleeps with a captured `Duration`
    /// (the memory bench's, 144 bytes of body) fits 256 bytes, as raw tokio's does.
    #[test]
    fn the_harness_adds_one_pointer_to_the_body_and_the_header_stays_160_bytes() {
        let nap = std::time::Duration::from_secs(1);
        let body = async move {
            crate::time::sleep(nap).await?;
            anyhow::Ok(())
        };
        let body_size = size_of_val(&body);
        let config = LoopConfig { shards: 1, multi_thread: false, eager_tasks: false, track_task_ages: false };
        let shared = Arc::new(Shared::<()>::new(Arc::new(Loop::new(config)), None, 0));
        let harness = Harness::new(shared, body);
        assert_eq!(size_of_val(&harness), body_size + 8, "harness = the shared task + the body");
        assert_eq!(size_of::<Header>(), 160, "the registry key and the stage fit the flags' padding");
    }
}
