//! Every public handle is `Send + Sync`, and every future `Send` (so task bodies can await
//! them on the multi-thread loop), as tokio's `async_send_sync.rs` checks.

use taskloop::sync::*;

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>() {}
fn unpin<T: Unpin>() {}

#[test]
fn handles_are_send_and_sync_and_futures_are_send() {
    send_sync::<Queue<String>>();
    send_sync::<LifoQueue<String>>();
    send_sync::<PriorityQueue<u32>>();
    send_sync::<Event>();
    send_sync::<Lock>();
    send_sync::<LockGuard<'static>>();
    send_sync::<Semaphore>();
    send_sync::<BoundedSemaphore>();
    send_sync::<SemaphorePermit<'static>>();
    send_sync::<Condition>();
    send_sync::<Barrier>();
    send_sync::<PutError<String>>();
    send_sync::<GetError>();
    send_sync::<BarrierError>();
    send::<Put<'static, String>>();
    send::<Get<'static, String>>();
    send::<QueueJoin<'static, String>>();
    send::<EventWait<'static>>();
    send::<Acquire<'static>>();
    send::<SemaphoreAcquire<'static>>();
    send::<CondWait<'static>>();
    send::<BarrierWait<'static>>();
    unpin::<Put<'static, std::marker::PhantomPinned>>();
    unpin::<Get<'static, String>>();
}

#[test]
fn errors_carry_a_cancellation_to_anyhow() {
    let cancelled = Cancelled::with_message("stop");
    let err: anyhow::Error = GetError::Cancelled(cancelled.clone()).into();
    assert_eq!(Cancelled::find(err.as_ref()), Some(&cancelled));
    let err: anyhow::Error = PutError::Cancelled(7_u32, cancelled.clone()).into();
    assert_eq!(Cancelled::find(err.as_ref()), Some(&cancelled));
    let err: anyhow::Error = BarrierError::Cancelled(cancelled.clone()).into();
    assert_eq!(Cancelled::find(err.as_ref()), Some(&cancelled));
    assert_eq!(GetError::Empty.to_string(), "QueueEmpty: the queue is empty");
    assert_eq!(PutError::Full(1).to_string(), "QueueFull: the queue is full");
    assert_eq!(TaskDoneError.to_string(), "task_done() called too many times");
    assert_eq!(TooManyReleases.to_string(), "BoundedSemaphore released too many times");
}
