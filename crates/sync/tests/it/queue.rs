//! `Queue`, `LifoQueue`, `PriorityQueue`: CPython's `test_queues.py`, plus the cases where a
//! cancellation meets a wake-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use taskloop::sync::{GetError, LifoQueue, PriorityQueue, PutError, Queue};
use taskloop::{TaskGroup, create_task, sleep, yield_now};

use super::on_both_flavours;
use crate::support::{current_thread, steps, until};

// --- QueueBasicTests ---------------------------------------------------------------------

#[test]
fn asyncio_test_empty_full_and_maxsize() {
    let q = Queue::new(0);
    assert!(q.empty());
    q.put_nowait(1).unwrap();
    assert!(!q.empty());
    assert_eq!(q.get_nowait().unwrap(), 1);
    assert!(q.empty());

    let q = Queue::new(1);
    assert!(!q.full());
    q.put_nowait(1).unwrap();
    assert!(q.full());
    assert_eq!(q.maxsize(), 1);
    assert!(!Queue::<u8>::new(0).full(), "an unbounded queue is never full");
}

#[test]
fn asyncio_test_order_of_each_kind() {
    let fifo = Queue::new(0);
    let lifo = LifoQueue::new(0);
    let priority = PriorityQueue::new(0);
    for i in [1, 3, 2] {
        fifo.put_nowait(i).unwrap();
        lifo.put_nowait(i).unwrap();
        priority.put_nowait(i).unwrap();
    }
    let drain = |get: &dyn Fn() -> Option<i32>| std::iter::from_fn(get).collect::<Vec<_>>();
    assert_eq!(drain(&|| fifo.get_nowait().ok()), [1, 3, 2]);
    assert_eq!(drain(&|| lifo.get_nowait().ok()), [2, 3, 1]);
    assert_eq!(drain(&|| priority.get_nowait().ok()), [1, 2, 3]);
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_maxsize`: a producer of 3 items through a queue of 2 waits for the
    /// consumer.
    fn asyncio_test_maxsize() {
        let q = Queue::new(2);
        let have = Arc::new(AtomicUsize::new(0));
        let putter = create_task({
            let (q, have) = (q.clone(), have.clone());
            async move {
                for i in 0..3 {
                    q.put(i).await?;
                    have.fetch_add(1, Ordering::SeqCst);
                }
                anyhow::Ok(())
            }
        });
        until("the putter is blocked on the third item", || have.load(Ordering::SeqCst) == 2).await;
        steps(3).await;
        assert_eq!(have.load(Ordering::SeqCst), 2, "the third put waits");
        assert_eq!(q.get().await?, 0);
        putter.await?;
        assert_eq!((q.get().await?, q.get().await?), (1, 2));
        anyhow::Ok(())
    }
}

// --- QueueGetTests -----------------------------------------------------------------------

#[test]
fn asyncio_test_nonblocking_get_exception() {
    assert_eq!(Queue::<u8>::new(0).get_nowait().unwrap_err(), GetError::Empty);
}

#[test]
fn asyncio_test_nonblocking_put_exception() {
    let q = Queue::new(1);
    q.put_nowait(1).unwrap();
    let err = q.put_nowait(2).unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.into_inner(), 2, "the item comes back");
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_blocking_get_wait`.
    fn asyncio_test_blocking_get_wait() {
        let q = Queue::new(0);
        let getter = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.get().await?) }
        });
        sleep(Duration::from_millis(10)).await?;
        assert!(!getter.done());
        q.put_nowait(1)?;
        assert_eq!(getter.await?, 1);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_get_cancelled_race`: a cancelled getter leaves, the next one gets the
    /// item.
    fn asyncio_test_get_cancelled_race() {
        let q = Queue::new(0);
        let get = || {
            let q = q.clone();
            create_task(async move { anyhow::Ok(q.get().await?) })
        };
        let t1 = get();
        let t2 = get();
        until("both getters wait", || format!("{q:?}").contains("getters: 2")).await;
        t1.cancel();
        assert!((&t1).await.unwrap_err().is_cancelled());
        q.put("a").await?;
        assert_eq!(t2.await?, "a");
        assert!(q.empty());
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_get_with_waiting_putters`.
    fn asyncio_test_get_with_waiting_putters() {
        let q = Queue::new(1);
        let a = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.put("a").await?) }
        });
        until("a is in", || q.full()).await;
        let b = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.put("b").await?) }
        });
        assert_eq!(q.get().await?, "a");
        assert_eq!(q.get().await?, "b");
        a.await?;
        b.await?;
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_why_are_getters_waiting` and `test_why_are_putters_waiting`.
    fn asyncio_test_why_are_getters_and_putters_waiting() {
        let q = Queue::new(1);
        let tg = TaskGroup::new();
        let (qp, qc) = (q.clone(), q.clone());
        let _task = tg.create_task(async move {
            for i in 0..5 {
                qp.put(i).await?;
            }
            anyhow::Ok(())
        });
        let _task = tg.create_task(async move {
            for _ in 0..5 {
                qc.get().await?;
            }
            anyhow::Ok(())
        });
        tg.join().await.map_err(|errors| anyhow::anyhow!("{errors:?}"))?;

        let q = Queue::new(2);
        let tg = TaskGroup::new();
        let getter = q.clone();
        let _task = tg.create_task(async move {
            yield_now().await?;
            let n = getter.qsize();
            for _ in 0..n {
                getter.get_nowait()?;
            }
            anyhow::Ok(())
        });
        for i in 0..4 {
            let q = q.clone();
            let _task = tg.create_task(async move { anyhow::Ok(q.put(i).await?) });
        }
        // On the multi-thread loop the getter may run before every putter; then the last
        // two stay blocked, as they would in asyncio with another schedule.
        until("every putter is in or waiting", || q.qsize() == 2).await;
        while q.get_nowait().is_ok() {
            yield_now().await?;
        }
        tg.join().await.map_err(|errors| anyhow::anyhow!("{errors:?}"))?;
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_cancelled_getters_not_being_held_in_self_getters` (and the putters'
    /// twin): a get or put cut short by `wait_for` leaves no waiter behind.
    fn asyncio_test_cancelled_waiters_are_not_held() {
        let q = Queue::new(1);
        let err = taskloop::wait_for(q.get(), Duration::from_millis(50)).await.unwrap_err();
        assert!(err.is_timeout());
        assert!(format!("{q:?}").contains("getters: 0"), "{q:?}");
        q.put_nowait(1)?;
        let err = taskloop::wait_for(q.put(2), Duration::from_millis(50)).await.unwrap_err();
        assert!(err.is_timeout());
        assert!(format!("{q:?}").contains("putters: 0"), "{q:?}");
        anyhow::Ok(())
    }
}

// --- QueuePutTests -----------------------------------------------------------------------

on_both_flavours! {
    within 30;
    /// asyncio's `test_blocking_put_wait` and `test_put_with_waiting_getters`.
    fn asyncio_test_blocking_put_wait() {
        let q = Queue::new(1);
        let putter = create_task({
            let q = q.clone();
            async move {
                q.put(1).await?;
                q.put(2).await?;
                anyhow::Ok(())
            }
        });
        sleep(Duration::from_millis(10)).await?;
        assert!(!putter.done());
        assert_eq!(q.get_nowait()?, 1);
        putter.await?;
        assert_eq!(q.get_nowait()?, 2);

        let getter = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.get().await?) }
        });
        yield_now().await?;
        q.put("a".len()).await?;
        assert_eq!(getter.await?, 1);
        anyhow::Ok(())
    }
}

/// asyncio's `test_get_cancel_drop_one_pending_reader`, one step at a time: the reader is
/// woken by the first item and cancelled before it runs; the item stays, the retry gets it.
///
/// ```python
/// q = asyncio.Queue(); reader = asyncio.create_task(q.get()); await asyncio.sleep(0)
/// q.put_nowait(1); q.put_nowait(2); reader.cancel()
/// try: await reader
/// except asyncio.CancelledError: reader = asyncio.create_task(q.get()); await reader
/// print(reader.result())   # 1 (CPython 3.13)
/// ```
#[test]
fn asyncio_test_get_cancel_drop_one_pending_reader() {
    current_thread(async {
        let q = Queue::new(0);
        let reader = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.get().await?) }
        });
        yield_now().await?;
        q.put_nowait(1)?;
        q.put_nowait(2)?;
        reader.cancel();
        assert!((&reader).await.unwrap_err().is_cancelled(), "the woken reader is cancelled");
        assert_eq!(q.qsize(), 2, "no item lost");
        let reader = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.get().await?) }
        });
        assert_eq!(reader.await?, 1, "if we get 2, 1 got dropped");
        anyhow::Ok(())
    });
}

on_both_flavours! {
    within 30;
    /// The same race on either loop: whether the reader is cancelled or got there first,
    /// the first item is never lost.
    fn a_reader_cancelled_after_being_woken_loses_no_item() {
        let q = Queue::new(0);
        let reader = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.get().await?) }
        });
        until("the reader waits", || format!("{q:?}").contains("getters: 1")).await;
        q.put_nowait(1)?;
        q.put_nowait(2)?;
        reader.cancel();
        let first = match (&reader).await {
            Ok(item) => item,
            Err(err) => {
                assert!(err.is_cancelled());
                q.get().await?
            }
        };
        assert_eq!(first, 1);
        anyhow::Ok(())
    }
}

/// asyncio's `test_get_cancel_drop_many_pending_readers`: three readers, two items, the
/// first reader cancelled after being woken: the other two get both items.
#[test]
fn asyncio_test_get_cancel_drop_many_pending_readers() {
    current_thread(async {
        let q = Queue::new(0);
        let read = || {
            let q = q.clone();
            create_task(async move { anyhow::Ok(q.get().await?) })
        };
        let (r1, r2, r3) = (read(), read(), read());
        yield_now().await?;
        q.put_nowait(1)?;
        q.put_nowait(2)?;
        r1.cancel();
        assert!((&r1).await.unwrap_err().is_cancelled());
        let mut got = [r2.await?, r3.await?];
        got.sort();
        assert_eq!(got, [1, 2]);
        anyhow::Ok(())
    });
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_put_cancel_drop`: a putter woken by a get and cancelled before it runs
    /// puts nothing; the retry puts its item once.
    fn asyncio_test_put_cancel_drop() {
        let q = Queue::new(1);
        q.put_nowait(1)?;
        let put_ok = Arc::new(AtomicBool::new(false));
        let writer = create_task({
            let (q, put_ok) = (q.clone(), put_ok.clone());
            async move {
                q.put(2).await?;
                put_ok.store(true, Ordering::SeqCst);
                anyhow::Ok(())
            }
        });
        until("the writer waits", || format!("{q:?}").contains("putters: 1")).await;
        assert_eq!(q.get_nowait()?, 1);
        writer.cancel();
        let _ = (&writer).await;
        if !put_ok.load(Ordering::SeqCst) {
            assert!(writer.cancelled());
            q.put(2).await?;
        }
        assert_eq!(q.get_nowait()?, 2);
        assert_eq!(q.qsize(), 0);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// asyncio's `test_put_cancelled`.
    fn asyncio_test_put_cancelled() {
        let q = Queue::new(0);
        let t = create_task({
            let q = q.clone();
            async move {
                q.put(1).await?;
                anyhow::Ok(true)
            }
        });
        assert_eq!(q.get().await?, 1);
        assert!(t.await?);
        anyhow::Ok(())
    }
}

/// asyncio's `test_put_cancelled_race`: of two waiting putters, the cancelled one passes
/// the slot on.
///
/// ```python
/// q = asyncio.Queue(maxsize=1)
/// put_a = asyncio.create_task(q.put('a')); put_b = asyncio.create_task(q.put('b'))
/// put_c = asyncio.create_task(q.put('X'))
/// await asyncio.sleep(0)           # a done, b and c wait
/// put_c.cancel(); await asyncio.sleep(0)
/// q.get_nowait()  # 'a'
/// await asyncio.sleep(0)
/// q.get_nowait()  # 'b'
/// ```
#[test]
fn asyncio_test_put_cancelled_race() {
    current_thread(async {
        let q = Queue::new(1);
        let put = |item| {
            let q = q.clone();
            create_task(async move { anyhow::Ok(q.put(item).await?) })
        };
        let (a, b, c) = (put("a"), put("b"), put("X"));
        yield_now().await?;
        assert!(a.done());
        assert!(!b.done());
        c.cancel();
        yield_now().await?;
        assert!(c.cancelled());
        assert_eq!(q.get_nowait()?, "a");
        yield_now().await?;
        assert_eq!(q.get_nowait()?, "b");
        b.await?;
        assert!(q.empty(), "X was never put");
        anyhow::Ok(())
    });
}

/// asyncio's `test_cancelled_puts_not_being_held_in_self_putters` and
/// `test_cancelled_put_silence_value_error_exception`: a putter woken by `get_nowait` and
/// cancelled before it runs ends cancelled (its item given back), not with another error.
#[test]
fn asyncio_test_cancelled_put_after_being_woken() {
    current_thread(async {
        let q = Queue::new(1);
        q.put_nowait(1)?;
        let put_task = create_task({
            let q = q.clone();
            async move {
                match q.put(2).await {
                    Err(PutError::Cancelled(item, cancelled)) => {
                        assert_eq!(item, 2, "the item comes back");
                        Err(cancelled.into())
                    }
                    other => anyhow::Ok(other?),
                }
            }
        });
        yield_now().await?;
        assert!(format!("{q:?}").contains("putters: 1"));
        q.get_nowait()?;
        put_task.cancel();
        assert!((&put_task).await.unwrap_err().is_cancelled());
        assert!(format!("{q:?}").contains("putters: 0"), "{q:?}");
        assert!(q.empty());
        anyhow::Ok(())
    });
}

// --- LifoQueueTests, PriorityQueueTests, _QueueJoinTestMixin -------------------------------

#[test]
fn asyncio_test_task_done_underflow() {
    assert!(Queue::<u8>::new(0).task_done().is_err());
    assert!(LifoQueue::<u8>::new(0).task_done().is_err());
    assert!(PriorityQueue::<u8>::new(0).task_done().is_err());
}

/// asyncio's `test_task_done`: two workers, 100 items, `join` returns once all are done.
macro_rules! task_done_and_join {
    ($Q:ident) => {{
        let q = $Q::<u64>::new(0);
        for i in 0..100 {
            q.put_nowait(i)?;
        }
        let sum = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (q, sum) = (q.clone(), sum.clone());
                create_task(async move {
                    loop {
                        let item = q.get().await?;
                        sum.fetch_add(item as usize, Ordering::SeqCst);
                        q.task_done()?;
                    }
                    #[allow(unreachable_code)]
                    anyhow::Ok(())
                })
            })
            .collect();
        q.join().await?;
        assert_eq!(sum.load(Ordering::SeqCst), (0..100).sum::<usize>());
        for worker in &workers {
            worker.cancel();
        }
        for worker in workers {
            assert!(worker.await.unwrap_err().is_cancelled());
        }
        q.join().await?;
        q.join().await?;
    }};
}

on_both_flavours! {
    within 30;
    fn asyncio_test_task_done_and_join_empty_queue() {
        Queue::<u8>::new(0).join().await?;
        task_done_and_join!(Queue);
        task_done_and_join!(LifoQueue);
        task_done_and_join!(PriorityQueue);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// `join` is not released by a getter that was cancelled: its item stays unfinished.
    fn join_is_not_released_early_by_a_cancelled_getter() {
        let q = Queue::new(0);
        let getter = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.get().await?) }
        });
        until("the getter waits", || format!("{q:?}").contains("getters: 1")).await;
        let joiner = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.join().await?) }
        });
        q.put_nowait(7)?;
        getter.cancel();
        let taken = (&getter).await.ok();
        steps(5).await;
        assert!(!joiner.done(), "one item is unfinished");
        let item = match taken {
            Some(item) => item,
            None => q.get().await?,
        };
        assert_eq!(item, 7);
        steps(5).await;
        assert!(!joiner.done(), "taken but not marked done");
        q.task_done()?;
        joiner.await?;
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// A cancelled `join` leaves, and the count is unaffected.
    fn a_cancelled_join_is_catchable_and_leaves_the_count_alone() {
        let q = Queue::new(0);
        q.put_nowait(1)?;
        let joiner = create_task({
            let q = q.clone();
            async move {
                match q.join().await {
                    Err(cancelled) => anyhow::Ok(format!("caught {cancelled}")),
                    Ok(()) => anyhow::Ok("joined".to_owned()),
                }
            }
        });
        until("the joiner waits", || format!("{q:?}").contains("joiners: 1")).await;
        joiner.cancel_with("enough");
        assert_eq!(joiner.await?, "caught cancelled: enough");
        q.get().await?;
        q.task_done()?;
        q.join().await?;
        anyhow::Ok(())
    }
}

// --- _QueueShutdownTestMixin -------------------------------------------------------------

/// asyncio's `test_shutdown_empty`.
macro_rules! shutdown_empty {
    ($Q:ident) => {{
        let q = $Q::<&'static str>::new(0);
        let get_task = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.get().await?) }
        });
        until("the getter waits", || format!("{q:?}").contains("getters: 1")).await;
        q.shutdown(false);
        assert_eq!(q.qsize(), 0);
        q.join().await?;
        let err = get_task.await.unwrap_err();
        assert!(format!("{err:#}").contains("QueueShutDown"), "{err:#}");
        assert!(q.put("data").await.unwrap_err().is_shut_down());
        assert!(q.put_nowait("data").unwrap_err().is_shut_down());
        assert_eq!(q.get().await.unwrap_err(), GetError::ShutDown);
        assert_eq!(q.get_nowait().unwrap_err(), GetError::ShutDown);
    }};
}

/// asyncio's `test_shutdown_nonempty`.
macro_rules! shutdown_nonempty {
    ($Q:ident) => {{
        let q = $Q::<&'static str>::new(1);
        q.put_nowait("data")?;
        let join_task = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.join().await?) }
        });
        let put_task = create_task({
            let q = q.clone();
            async move {
                match q.put("data2").await {
                    Err(err) => anyhow::Ok(err.is_shut_down()),
                    Ok(()) => anyhow::Ok(false),
                }
            }
        });
        until("the putter waits", || format!("{q:?}").contains("putters: 1")).await;
        assert!(!put_task.done());
        q.shutdown(false);
        assert_eq!(q.qsize(), 1);
        assert!(put_task.await?, "the waiting put fails with QueueShutDown");
        assert_eq!(q.get().await?, "data", "gets drain what is left");
        steps(3).await;
        assert!(!join_task.done());
        assert!(q.put("data").await.unwrap_err().is_shut_down());
        assert!(q.put_nowait("data").unwrap_err().is_shut_down());
        assert_eq!(q.get().await.unwrap_err(), GetError::ShutDown);
        assert_eq!(q.get_nowait().unwrap_err(), GetError::ShutDown);
        q.task_done()?;
        join_task.await?;
        assert!(q.task_done().is_err());
    }};
}

/// asyncio's `test_shutdown_immediate`.
macro_rules! shutdown_immediate {
    ($Q:ident) => {{
        let q = $Q::<&'static str>::new(0);
        q.put_nowait("data")?;
        let join_task = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.join().await?) }
        });
        q.shutdown(true);
        assert_eq!(q.qsize(), 0);
        join_task.await?;
        assert!(q.put("data").await.unwrap_err().is_shut_down());
        assert!(q.put_nowait("data").unwrap_err().is_shut_down());
        assert_eq!(q.get().await.unwrap_err(), GetError::ShutDown);
        assert_eq!(q.get_nowait().unwrap_err(), GetError::ShutDown);
        assert!(q.task_done().is_err());
    }};
}

/// asyncio's `test_shutdown_immediate_with_unfinished`.
macro_rules! shutdown_immediate_with_unfinished {
    ($Q:ident) => {{
        let q = $Q::<&'static str>::new(0);
        q.put_nowait("data")?;
        q.put_nowait("data")?;
        let join_task = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.join().await?) }
        });
        assert_eq!(q.get().await?, "data");
        q.shutdown(true);
        assert_eq!(q.qsize(), 0);
        steps(3).await;
        assert!(!join_task.done(), "the item taken is still unfinished");
        assert!(q.put("data").await.unwrap_err().is_shut_down());
        assert_eq!(q.get().await.unwrap_err(), GetError::ShutDown);
        q.task_done()?;
        assert!(q.task_done().is_err());
        join_task.await?;
    }};
}

on_both_flavours! {
    within 30;
    fn asyncio_test_shutdown_each_kind() {
        shutdown_empty!(Queue);
        shutdown_empty!(LifoQueue);
        shutdown_empty!(PriorityQueue);
        shutdown_nonempty!(Queue);
        shutdown_nonempty!(LifoQueue);
        shutdown_nonempty!(PriorityQueue);
        shutdown_immediate!(Queue);
        shutdown_immediate!(LifoQueue);
        shutdown_immediate!(PriorityQueue);
        shutdown_immediate_with_unfinished!(Queue);
        shutdown_immediate_with_unfinished!(LifoQueue);
        shutdown_immediate_with_unfinished!(PriorityQueue);
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// `shutdown(true)` drops the items left; a non-immediate one lets getters drain them
    /// (several getters waiting are all woken, each fails once the queue is empty).
    fn shutdown_wakes_every_waiter_and_immediate_drops_the_items() {
        let probe = Arc::new(());
        let q = Queue::new(0);
        q.put_nowait(probe.clone())?;
        q.put_nowait(probe.clone())?;
        assert_eq!(Arc::strong_count(&probe), 3);
        q.shutdown(true);
        assert_eq!(Arc::strong_count(&probe), 1, "the items were dropped");

        let q = Queue::<u8>::new(0);
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                create_task(async move { anyhow::Ok(q.get().await.unwrap_err()) })
            })
            .collect();
        until("every getter waits", || format!("{q:?}").contains("getters: 3")).await;
        q.shutdown(false);
        for getter in getters {
            assert_eq!(getter.await?, GetError::ShutDown);
        }
        anyhow::Ok(())
    }
}

// --- cancellation points in combinators, and dropped futures -------------------------------

on_both_flavours! {
    within 30;
    /// A get polled inside a `FuturesUnordered` (with the combinator's waker) still delivers
    /// the cancellation as a catchable error.
    fn a_get_inside_futures_unordered_delivers_a_catchable_cancellation() {
        let q = Queue::<u8>::new(0);
        let task = create_task({
            let q = q.clone();
            async move {
                let mut gets: FuturesUnordered<_> = (0..2).map(|_| q.get()).collect();
                match gets.next().await {
                    Some(Err(GetError::Cancelled(cancelled))) => anyhow::Ok(format!("caught {cancelled}")),
                    other => anyhow::Ok(format!("unexpected {other:?}")),
                }
            }
        });
        until("both gets wait", || format!("{q:?}").contains("getters: 2")).await;
        task.cancel_with("stop");
        assert_eq!(task.await?, "caught cancelled: stop");
        until("the getters left", || format!("{q:?}").contains("getters: 0")).await;
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// A get future dropped after it was woken (a `select!` whose other branch won) passes
    /// the wake-up on to the next getter, which gets the item.
    fn a_dropped_get_that_was_woken_passes_the_item_on() {
        let q = Queue::new(0);
        let mut first = q.get();
        assert!(crate::support::poll_once(&mut first).await.is_pending());
        let second = create_task({
            let q = q.clone();
            async move { anyhow::Ok(q.get().await?) }
        });
        until("the second getter waits", || format!("{q:?}").contains("getters: 2")).await;
        q.put_nowait("item")?; // wakes `first`
        drop(first);
        assert_eq!(second.await?, "item");
        anyhow::Ok(())
    }
}

on_both_flavours! {
    within 30;
    /// A body that never catches is ended cancelled by `?` on the get error, with the message.
    fn question_mark_on_a_cancelled_get_ends_the_task_cancelled() {
        let q = Queue::<u8>::new(0);
        let task = create_task({
            let q = q.clone();
            async move {
                q.get().await?;
                anyhow::Ok(())
            }
        });
        until("the getter waits", || format!("{q:?}").contains("getters: 1")).await;
        task.cancel_with("bye");
        let err = (&task).await.unwrap_err();
        assert_eq!(err.cancel_message(), Some("bye"));
        assert!(task.cancelled());
        anyhow::Ok(())
    }
}
