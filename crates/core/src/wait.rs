//! Waiting for many tasks: `wait`.

use std::future::{Future, poll_fn};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use taskloop_cancel::PointWaker;

use crate::error::TaskError;
use crate::sync::{Mutex, lock};
use crate::task::{Collector, Header, Loop, Task, TaskRef, WaiterKey};

/// When [`wait`] returns: asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any task is done (or all, if none was pending).
    FirstCompleted,
    /// As soon as any task fails or panics (a cancellation does not count), else when all
    /// are done.
    FirstException,
    /// When every task is done.
    AllCompleted,
}

/// Waits for tasks without cancelling them: asyncio's `asyncio.wait()`.
///
/// Resolves to `(done, pending)`: the handles it was given (`Task<T>`, `&Task<T>` clones, or
/// `TaskRef`), split by whether each task is done, in the order given. With a `timeout` it
/// returns when time runs out, with the unfinished tasks in `pending`; they keep running.
/// Outcomes are not retrieved: read them from the handles. An empty input returns
/// `([], [])` at once.
///
/// # Cancellation
///
/// A cancellation point. Cancelling the waiting task ends the wait with
/// `Err(TaskError::Cancelled)` and, as in asyncio, does not cancel the tasks waited for.
///
/// # Futures
///
/// It takes tasks, not futures (asyncio 3.11+ refuses coroutines here too): start them first,
/// `wait(futures.into_iter().map(create_task).collect::<Vec<_>>(), ReturnWhen::AllCompleted,
/// None)`, keeping the handles to read the outcomes. (Accepting futures as well would leave
/// the compiler unable to infer the handle type of `wait([a, b], ..)`.)
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use taskloop::{create_task, sleep, wait, ReturnWhen};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let fast = create_task(async { anyhow::Ok("fast") });
///     let slow = create_task(async {
///         sleep(Duration::from_secs(60)).await?;
///         anyhow::Ok("slow")
///     });
///     let (done, pending) = wait([fast.clone(), slow.clone()], ReturnWhen::FirstCompleted, None).await?;
///     assert_eq!((done, pending), (vec![fast], vec![slow.clone()]));
///     slow.cancel();
///     anyhow::Ok(())
/// })
/// # }
/// ```
pub async fn wait<H>(
    tasks: impl IntoIterator<Item = H>,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
) -> Result<(Vec<H>, Vec<H>), TaskError>
where
    H: Clone + Into<TaskRef>,
{
    let handles: Vec<H> = tasks.into_iter().collect();
    let refs: Vec<TaskRef> = handles.iter().cloned().map(Into::into).collect();
    let finished = |r: &TaskRef| match return_when {
        ReturnWhen::FirstCompleted => true,
        ReturnWhen::FirstException => r.header().failed(),
        ReturnWhen::AllCompleted => false,
    };

    let already = refs.iter().any(|r| r.done() && finished(r));
    let mut waiting = Waiting { tasks: &refs, set: DoneSet::with_capacity(refs.len()) };
    waiting.set.defer_arrivals();
    match return_when {
        ReturnWhen::FirstCompleted => {}
        ReturnWhen::FirstException => waiting.set.wake_when_decided(true),
        ReturnWhen::AllCompleted => waiting.set.wake_when_decided(false),
    }
    for (i, _) in refs.iter().enumerate().filter(|(_, r)| !r.done()) {
        waiting.set.push(i);
    }
    if !refs.is_empty() {
        // As asyncio's `wait`, which always awaits a future of its own that a done callback of
        // the tasks completes: it resumes two loop iterations after what it waits for
        // happened (the callback runs, then the wake-up), and at least that late when that
        // happened before the call. On the current-thread loop every task arrives through a
        // callback of its own (`DoneSet::arrived_deferred`), which stands for that done
        // callback: no hop after waiting. On the multi-thread loop a finishing task wakes it
        // directly, so it yields once more after waiting. Decided at the call, it awaits a
        // callback queued then (`CallbackWake`). Each poll is where a cancellation is
        // delivered.
        let mut wait_more = !already && waiting.set.len() > 0;
        let mut suspended = false;
        let mut hops: Option<u8> = None;
        let mut deadline = timeout.filter(|_| wait_more).map(|d| Box::pin(tokio::time::sleep(d)));
        let mut point = PointWaker::new();
        let mut done_at_call: Option<CallbackWake> = None;
        poll_fn(|cx| {
            if let Some(cancelled) = point.poll_cancel(cx) {
                return Poll::Ready(Err(TaskError::Cancelled(cancelled)));
            }
            while wait_more && let Poll::Ready(next) = waiting.set.poll_next(waiting.tasks, cx) {
                match next {
                    Some(index) if !finished(&refs[index]) => {}
                    _ => wait_more = false,
                }
            }
            if wait_more && let Some(Poll::Ready(())) = deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                // The deadline's timer wakes this task where asyncio's timer callback would
                // queue its wake-up, as a `sleep` does: no hop to add.
                wait_more = false;
                hops = Some(0);
            }
            if wait_more {
                suspended = true;
                return Poll::Pending;
            }
            if !suspended {
                // Decided at the call: asyncio's done callback of a task already done is
                // queued now, and the caller's wake-up from it (or from a `cancel()` made
                // before it runs) is the step that resumes it.
                return match &done_at_call {
                    None => {
                        done_at_call = Some(CallbackWake::schedule(&refs[0].header().loop_, cx));
                        Poll::Pending
                    }
                    Some(wake) => wake.poll(cx),
                };
            }
            let left = hops.get_or_insert(u8::from(!waiting.set.arrived_deferred()));
            if *left > 0 {
                *left -= 1;
                hop(cx);
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        })
        .await?;
    }
    drop(waiting);

    let mut done = Vec::new();
    let mut pending = Vec::new();
    for (handle, r) in handles.into_iter().zip(&refs) {
        if r.done() { done.push(handle) } else { pending.push(handle) }
    }
    Ok((done, pending))
}

/// Waits for many tasks at once, one waiter slot each, without reading (retrieving) their
/// outcomes or passing a cancellation on to them, and reports each task's index as it
/// finishes, in the order they finished: how `wait`, `gather` and `as_completed` wait.
///
/// Each task's waiter slot tells one shared [`Collector`] "child `position` finished": no
/// waker and no allocation per child. The first child to finish since the caller last looked
/// wakes it, the others of that batch join, so the caller is polled once per batch. (A
/// `FuturesUnordered` would also do, but it allocates a node per child and wakes its task once
/// more after polling all its futures, and that extra step moves the caller's resumption by a
/// loop iteration against asyncio.)
///
/// It keeps no handle: the caller owns the tasks (`tasks`, indexed by the indices given to
/// [`push`](Self::push)) and passes them to each call, and its `Drop` calls
/// [`forget`](Self::forget) so that a call dropped unfinished leaves no slot behind.
pub(crate) struct DoneSet {
    children: Vec<Child>,
    /// Children not reported yet.
    left: usize,
    /// `children[..registered]` have had their first look (reported, or registered with the
    /// collector).
    registered: usize,
    /// Positions the collector reported, in the order they finished; `finished[next..]` are
    /// still to be looked at. The buffer is swapped with the collector's at each look.
    finished: Vec<usize>,
    next: usize,
    collector: Arc<Collector>,
    /// The batch in `finished` arrived deferred: see [`arrived_deferred`](Self::arrived_deferred).
    deferred: bool,
    /// The child reported last came from such a batch.
    last_deferred: bool,
    /// Children registered with the collector and not yet reported by it.
    outstanding: usize,
}

struct Child {
    /// Where the task is in the caller's `tasks`.
    index: usize,
    key: WaiterKey,
    reported: bool,
}

/// A handle a [`DoneSet`] can watch.
pub(crate) trait Watched {
    fn header(&self) -> &Header;
}

impl Watched for TaskRef {
    fn header(&self) -> &Header {
        TaskRef::header(self)
    }
}

impl<T> Watched for Task<T> {
    fn header(&self) -> &Header {
        Task::header(self)
    }
}

impl DoneSet {
    /// Room for `n` tasks.
    pub(crate) fn with_capacity(n: usize) -> Self {
        DoneSet {
            children: Vec::with_capacity(n),
            left: 0,
            registered: 0,
            finished: Vec::new(),
            next: 0,
            collector: Collector::new(),
            deferred: false,
            last_deferred: false,
            outstanding: 0,
        }
    }

    /// Waits for the task at `index` of the caller's tasks too.
    pub(crate) fn push(&mut self, index: usize) {
        self.children.push(Child { index, key: None, reported: false });
        self.left += 1;
    }

    /// How many tasks have not been reported.
    pub(crate) fn len(&self) -> usize {
        self.left
    }

    /// The indices of the tasks not reported yet.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> {
        self.children.iter().filter(|child| !child.reported).map(|child| child.index)
    }

    /// The index of the next task done, `None` once every task was reported.
    pub(crate) fn poll_next<H: Watched>(&mut self, tasks: &[H], cx: &Context<'_>) -> Poll<Option<usize>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        loop {
            // Children the collector reported: done (it hears of a child at its completion),
            // their slots drained by it.
            while let Some(&position) = self.finished.get(self.next) {
                self.next += 1;
                let child = &mut self.children[position];
                if !child.reported {
                    child.key = None;
                    self.outstanding -= 1;
                    self.last_deferred = self.deferred;
                    return Poll::Ready(Some(self.report(position)));
                }
            }
            // New children: the first look, which registers the collector with each not done.
            while let Some(child) = self.children.get_mut(self.registered) {
                let position = self.registered;
                self.registered += 1;
                let header = tasks[child.index].header();
                if header.register_report(&mut child.key, &self.collector, position).is_ready() {
                    self.last_deferred = false;
                    return Poll::Ready(Some(self.report(position)));
                }
                self.outstanding += 1;
            }
            // The next batch, if any; the caller's waker is kept for the one after. The buffer
            // handed to the collector has room for every child left, so that reports never
            // grow it (a growing buffer, reallocated among the tasks' blocks, made glibc's
            // allocator slower for everything else: gather +60 instructions per task).
            self.finished.clear();
            self.finished.reserve(self.left);
            self.next = 0;
            self.deferred = self.collector.take_finished(cx.waker(), &mut self.finished, self.outstanding);
            if self.finished.is_empty() {
                return Poll::Pending;
            }
        }
    }

    /// Whether the child reported last arrived through a deferred callback (see
    /// `Collector::report`): that callback stands for asyncio's done callback that completes
    /// the call's future, so the caller's step it woke is asyncio's wake-up of the caller,
    /// with no hop left to take.
    pub(crate) fn arrived_deferred(&self) -> bool {
        self.last_deferred
    }

    /// Every child arrives through a callback: see `Collector::defer_arrivals`.
    pub(crate) fn defer_arrivals(&self) {
        self.collector.defer_arrivals();
    }

    /// The caller is woken only once its call is decided: see `Collector::wake_when_decided`.
    pub(crate) fn wake_when_decided(&self, on_failure: bool) {
        self.collector.wake_when_decided(on_failure);
    }

    fn report(&mut self, position: usize) -> usize {
        let child = &mut self.children[position];
        child.reported = true;
        self.left -= 1;
        child.index
    }

    /// Frees the waiter slots still held: the caller's `Drop`.
    pub(crate) fn forget<H: Watched>(&mut self, tasks: &[H]) {
        for child in &mut self.children[..self.registered] {
            if child.key.is_some() {
                tasks[child.index].header().forget_waiter(&mut child.key);
            }
        }
    }
}

/// `wait`'s tasks and its [`DoneSet`] over them, which it forgets when dropped.
struct Waiting<'a> {
    tasks: &'a [TaskRef],
    set: DoneSet,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.set.forget(self.tasks);
    }
}

/// A wake-up of the caller queued as a callback: asyncio's done callback completing the
/// future a call awaits. It wakes the caller only while the call waits for it: a call that
/// ended first (a cancellation delivered, the call dropped) drops it, and the callback then
/// wakes no one, as asyncio's finds the future done and does nothing. A callback the queue
/// drops unrun (the loop has ended) still wakes the caller, so no call waits for it forever.
#[derive(Debug)]
pub(crate) struct CallbackWake(Arc<Mutex<Option<Waker>>>);

/// The queued half of a [`CallbackWake`]: wakes the caller when run or dropped.
struct Fire(Weak<Mutex<Option<Waker>>>);

impl Drop for Fire {
    fn drop(&mut self) {
        let waker = self.0.upgrade().and_then(|slot| lock(&slot).take());
        if let Some(waker) = waker {
            taskloop_cancel::note_wake();
            waker.wake();
        }
    }
}

impl CallbackWake {
    pub(crate) fn schedule(loop_: &Loop, cx: &Context<'_>) -> Self {
        let slot = Arc::new(Mutex::new(Some(cx.waker().clone())));
        let fire = Fire(Arc::downgrade(&slot));
        loop_.callbacks.schedule(vec![Box::new(move || drop(fire))]);
        CallbackWake(slot)
    }

    /// `Ready` once the callback has run; until then keeps `cx`'s waker for it.
    pub(crate) fn poll(&self, cx: &Context<'_>) -> Poll<Result<(), TaskError>> {
        let mut slot = lock(&self.0);
        match &mut *slot {
            None => Poll::Ready(Ok(())),
            Some(waker) => {
                if !waker.will_wake(cx.waker()) {
                    *waker = cx.waker().clone();
                }
                Poll::Pending
            }
        }
    }
}

/// A hop: queues the caller's next step behind everything queued now (a self-wake, noted in
/// the thread's `wake_mark` as any queued step is).
pub(crate) fn hop(cx: &Context<'_>) {
    taskloop_cancel::note_wake();
    cx.waker().wake_by_ref();
}
