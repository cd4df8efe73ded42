//! taskloop inside an existing tokio application and from other threads (issue 16):
//! `run_embedded` on a runtime the test builds as `#[tokio::main]` would, `Runner`, and
//! `LoopHandle` / `ConcurrentFuture` from plain threads. CPython's `test_runners.py` cases that
//! apply are ported at the `Runner` tests.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use taskloop::{
    Executor, Job, LoopHandle, Refused, ReturnWhen, Runner, Runtime, SpawnError, TaskError, TaskGroup, all_tasks,
    call_later, call_soon, create_task, current_task, run_embedded, set_exception_handler, sleep, to_thread, wait,
    wait_for, yield_now,
};
use taskloop_test_support::{WATCHDOG_SECS, within};

use crate::support::{Log, Probe, multi, paused};

/// A tokio runtime as `#[tokio::main]` builds it: current-thread (paused clock, so timers run
/// instantly) or multi-thread with two workers (real time).
#[derive(Clone, Copy, Debug)]
enum Host {
    CurrentThread,
    MultiThread,
}

impl Host {
    fn runtime(self) -> tokio::runtime::Runtime {
        match self {
            Host::CurrentThread => {
                tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().expect("runtime")
            }
            Host::MultiThread => {
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
            }
        }
    }

    /// `#[tokio::main] async fn main() { run_embedded(body).await }`, under the watchdog.
    fn embed<F, T>(self, body: F) -> Result<T, TaskError>
    where
        F: Future<Output = anyhow::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        within(WATCHDOG_SECS, move || self.runtime().block_on(run_embedded(body)))
    }
}

/// One test per host runtime flavour.
macro_rules! on_both_hosts {
    ($(#[$meta:meta])* fn $name:ident($host:ident: Host) $body:block) => {
        $(#[$meta])*
        mod $name {
            use super::*;
            fn body($host: Host) $body
            #[test]
            fn current_thread() {
                body(Host::CurrentThread);
            }
            #[test]
            fn multi_thread() {
                body(Host::MultiThread);
            }
        }
    };
}

on_both_hosts! {
    /// Everything `run` promises, on a runtime the loop does not own: start order, a cancel
    /// message at a point and at a foreign await, done callbacks, `call_soon`, `call_later`,
    /// `wait_for`, `TaskGroup`, `to_thread`, and leftovers cancelled (and their failure
    /// reported) when main ends.
    fn a_tokio_main_runtime_hosts_a_loop_that_behaves_as_under_run(host: Host) {
        let log = Log::default();
        let l = log.clone();
        let reported = Arc::new(Mutex::new(Vec::new()));
        let r = reported.clone();
        let leftover = Probe::default();
        let lp = leftover.clone();
        let answer = host.embed(async move {
            set_exception_handler(move |ctx| r.lock().unwrap().push(ctx.message().to_owned()));
            // Start order: a task does not start before its creator suspends.
            let first = { let l = l.clone(); create_task(async move { l.push("child runs"); anyhow::Ok(1) }) };
            l.push("creator continues");
            assert_eq!((&first).await?, 1);

            // A cancel message at a cancellation point, seen by the body and by the awaiter.
            let sleeper = create_task(async { sleep(Duration::from_secs(3600)).await?; anyhow::Ok(()) });
            yield_now().await?;
            let l2 = l.clone();
            let _id = sleeper.add_done_callback(move |t| l2.push(format!("done callback: cancelled={}", t.cancelled())));
            assert!(sleeper.cancel_with("stop"));
            assert_eq!((&sleeper).await.unwrap_err().cancel_message(), Some("stop"));

            // At a foreign await (a tokio channel): the body is dropped there.
            let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
            let guard = lp.guard();
            let foreign = create_task(async move { let _g = guard; rx.await?; anyhow::Ok(()) });
            yield_now().await?;
            foreign.cancel_with("foreign");
            assert_eq!((&foreign).await.unwrap_err().cancel_message(), Some("foreign"));
            assert_eq!(lp.drops(), 1);

            // call_soon and call_later run on this loop, in order.
            let (l3, l4) = (l.clone(), l.clone());
            let _h = call_soon(move || l3.push("call_soon"));
            let _t = call_later(Duration::from_millis(5), move || l4.push("call_later"));
            sleep(Duration::from_millis(20)).await?;

            // wait_for times out and cancels what it waited on.
            let slow = create_task(async { sleep(Duration::from_secs(3600)).await?; anyhow::Ok(()) });
            assert!(wait_for(&slow, Duration::from_millis(10)).await.unwrap_err().is_timeout());
            assert!(slow.cancelled());

            // A TaskGroup cancels the rest at the first failure.
            let tg = TaskGroup::new();
            let sibling = tg.create_task(async { sleep(Duration::from_secs(3600)).await?; anyhow::Ok(()) });
            let _failing = tg.create_task(async { Err::<(), _>(anyhow::anyhow!("boom")) });
            let err = tg.join().await.unwrap_err();
            assert_eq!(err.len(), 1);
            assert!(sibling.cancelled());

            // to_thread runs on the loop's default executor.
            assert_eq!(to_thread(|| 6 * 7).await?, 42);

            // Leftovers: one that absorbs the cancel and fails is reported.
            let (started, has_started) = tokio::sync::oneshot::channel();
            let _left = create_task(async move {
                let _ = started.send(());
                let _ = sleep(Duration::from_secs(3600)).await;
                Err::<(), _>(anyhow::anyhow!("failed while cancelled"))
            });
            has_started.await?;
            anyhow::Ok("main's value")
        });
        assert_eq!(answer.unwrap(), "main's value");
        log.check(&[
            "creator continues",
            "child runs",
            "done callback: cancelled=true",
            "call_soon",
            "call_later",
        ]);
        assert_eq!(*reported.lock().unwrap(), ["unhandled exception during taskloop::run() shutdown"]);
    }
}

on_both_hosts! {
    /// Main's failure and panic come back from `run_embedded` as from `run`.
    fn main_errors_and_panics_come_back_as_from_run(host: Host) {
        let err = host.embed(async { Err::<(), _>(anyhow::anyhow!("main failed")) }).unwrap_err();
        assert_eq!(err.to_string(), "main failed");
        taskloop_test_support::quiet_deliberate_panics();
        let err = host.embed(async { if true { panic!("deliberate: main panics") } anyhow::Ok(()) }).unwrap_err();
        assert!(err.is_panic());
    }
}

on_both_hosts! {
    /// Two loops live at once on one runtime, and a third on another runtime: none sees the
    /// tasks, callbacks or exception handler of the others.
    fn two_loops_in_one_process_do_not_see_each_others_tasks(host: Host) {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let one_loop = |tasks: usize, barrier: Arc<tokio::sync::Barrier>| async move {
            let mut mine = Vec::new();
            for _ in 0..tasks {
                mine.push(create_task(async { sleep(Duration::from_secs(3600)).await?; anyhow::Ok(()) }).as_task_ref());
            }
            mine.push(current_task().unwrap());
            yield_now().await?;
            // Both loops are alive with their tasks now.
            barrier.wait().await;
            let mut seen = all_tasks();
            seen.sort_by_key(|t| t.id());
            mine.sort_by_key(|t| t.id());
            assert_eq!(seen, mine, "a loop sees exactly its own tasks");
            barrier.wait().await;
            anyhow::Ok(seen.len())
        };
        let counts = within(WATCHDOG_SECS, move || {
            host.runtime().block_on(async move {
                let (a, b) = tokio::join!(
                    tokio::spawn(run_embedded(one_loop(2, barrier.clone()))),
                    tokio::spawn(run_embedded(one_loop(5, barrier))),
                );
                (a.unwrap().unwrap(), b.unwrap().unwrap())
            })
        });
        assert_eq!(counts, (3, 6));
    }
}

on_both_hosts! {
    /// A plain tokio task of the application (an HTTP handler, say) submits work to the loop
    /// through a `LoopHandle` and awaits the result without blocking its thread.
    fn a_tokio_task_outside_the_loop_awaits_work_it_submitted(host: Host) {
        let value = host.embed(async {
            let handle = LoopHandle::current();
            let outside = taskloop::tokio_handle().spawn(async move {
                let job = handle.spawn_threadsafe(async {
                    sleep(Duration::from_millis(5)).await?;
                    anyhow::Ok(current_task().is_some())
                })?;
                anyhow::Ok(job.await?)
            });
            anyhow::Ok(outside.await??)
        });
        assert!(value.unwrap(), "the work ran as a task of the loop");
    }
}

on_both_hosts! {
    /// Dropping the `run_embedded` future early cancels every task of the loop.
    fn dropping_the_embedded_future_cancels_its_tasks(host: Host) {
        let probe = Probe::default();
        let p = probe.clone();
        let (tx, rx) = mpsc::channel();
        within(WATCHDOG_SECS, move || {
            host.runtime().block_on(async move {
                let guard = p.guard();
                let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
                let embedded = run_embedded(async move {
                    let (_keep, never) = tokio::sync::oneshot::channel::<()>();
                    let _task = create_task(async move { let _g = guard; never.await?; anyhow::Ok(()) });
                    tx.send(LoopHandle::current()).unwrap();
                    started_tx.send(()).unwrap();
                    std::future::pending::<anyhow::Result<()>>().await
                });
                // Dropped once main has created its task (not after a fixed time: on a loaded
                // machine main's first poll could come later than that, and `create_task` would
                // then find the loop closed).
                tokio::select! {
                    _ = embedded => unreachable!("main never ends"),
                    _ = started => {}
                }
                let handle: LoopHandle = rx.recv().unwrap();
                assert!(handle.is_closed());
                assert_eq!(handle.call_soon_threadsafe(|| {}).err(), Some(SpawnError::Closed));
                // The cancelled task ends at its next poll.
                while p.drops() == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        });
        assert_eq!(probe.drops(), 1);
    }
}

/// Runs `f` on a current-thread and on a two-worker runner.
fn on_both_runners(f: impl Fn(Runner) + Send + Sync + Clone + 'static) {
    let g = f.clone();
    within(WATCHDOG_SECS, move || g(Runtime::builder().start_paused(true).build_runner().unwrap()));
    within(WATCHDOG_SECS, move || f(Runtime::builder().worker_threads(2).build_runner().unwrap()));
}

/// asyncio's Runner keeps leftovers suspended until `close()`; taskloop cancels them at the
/// end of each main, as `run` does (see `Runner`'s docs). In CPython 3.13:
///
/// ```python
/// async def bg(i):
///     try: await asyncio.sleep(3600)
///     except asyncio.CancelledError: print(f"bg {i} cancelled"); raise
/// async def main(i):
///     asyncio.create_task(bg(i)); await asyncio.sleep(0)
///     print(f"main {i}: tasks {len(asyncio.all_tasks())}"); return i
/// with asyncio.Runner() as r:
///     for i in range(3): print("result", r.run(main(i)))
/// ```
/// prints `main 0: tasks 2`, `main 1: tasks 3`, `main 2: tasks 4`, then the three
/// cancellations at close; here each main sees 2 tasks and its leftover is cancelled before
/// `run` returns.
#[test]
fn a_runner_runs_three_mains_in_a_row_and_cancels_each_ones_leftovers() {
    on_both_runners(|mut runner| {
        let log = Log::default();
        for i in 0..3 {
            let l = log.clone();
            let value = runner.run(async move {
                let l2 = l.clone();
                let (started, has_started) = tokio::sync::oneshot::channel();
                let _bg = create_task(async move {
                    let _ = started.send(());
                    if let Err(c) = sleep(Duration::from_secs(3600)).await {
                        l2.push(format!("bg {i} {c}"));
                        return Err(c.into());
                    }
                    anyhow::Ok(())
                });
                has_started.await?;
                l.push(format!("main {i}: tasks {}", all_tasks().len()));
                anyhow::Ok(i)
            });
            assert_eq!(value.unwrap(), i);
        }
        runner.close();
        log.check(&[
            "main 0: tasks 2",
            "bg 0 cancelled",
            "main 1: tasks 2",
            "bg 1 cancelled",
            "main 2: tasks 2",
            "bg 2 cancelled",
        ]);
    });
}

/// test_runners.py `test_run_keeps_context`'s cousin: the mains share one loop, so the
/// exception handler set by the first still hears the third's callback panic, and the loop's
/// default executor survives between runs.
#[test]
fn a_runners_mains_share_the_loop_state() {
    on_both_runners(|mut runner| {
        taskloop_test_support::quiet_deliberate_panics();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        runner
            .run(async move {
                set_exception_handler(move |ctx| s.lock().unwrap().push(ctx.message().to_owned()));
                anyhow::Ok(())
            })
            .unwrap();
        runner
            .run(async {
                taskloop::set_default_executor(taskloop::ThreadPool::builder().thread_name_prefix("shared").build()?);
                anyhow::Ok(())
            })
            .unwrap();
        let name = runner.run(async { to_thread(|| std::thread::current().name().map(str::to_owned)).await }).unwrap();
        assert!(name.unwrap_or_default().starts_with("shared"), "the executor set by an earlier main");
        runner
            .run(async {
                let _h = call_soon(|| panic!("deliberate: in a callback"));
                yield_now().await?;
                anyhow::Ok(())
            })
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), ["Exception in callback: deliberate: in a callback"]);
    });
}

/// An executor that records its shutdown.
#[derive(Clone, Default)]
struct Recording(Arc<AtomicUsize>);

impl Executor for Recording {
    fn try_submit(&self, job: Job) -> Result<(), Refused> {
        std::thread::spawn(move || job.run());
        Ok(())
    }
    fn shutdown(&self, _wait: bool, _cancel_futures: bool) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn to_shared(&self) -> Arc<dyn Executor> {
        Arc::new(self.clone())
    }
}

/// test_runners.py `test_explicit_close` / `test_shutdown_default_executor`: `close()` (or
/// `Drop`) cancels what is left, shuts the default executor down once, and refuses work after.
#[test]
fn closing_a_runner_cancels_what_is_left_shuts_the_executor_down_and_refuses_work() {
    let shutdowns = Recording::default();
    let mut runner = Runtime::builder().start_paused(true).default_executor(shutdowns.clone()).build_runner().unwrap();
    let handle = runner.handle();
    let probe = Probe::default();
    runner.run(async { anyhow::Ok(to_thread(|| 1).await?) }).unwrap();
    assert_eq!(shutdowns.0.load(Ordering::SeqCst), 0, "still open between runs");
    // Submitted between runs: on the current-thread loop it waits for the next loop activity,
    // here `close`, which cancels it.
    let guard = probe.guard();
    let pending = handle
        .spawn_threadsafe(async move {
            let _g = guard;
            sleep(Duration::from_secs(3600)).await?;
            anyhow::Ok(())
        })
        .unwrap();
    drop(runner);
    assert_eq!(shutdowns.0.load(Ordering::SeqCst), 1);
    let outcome = within(WATCHDOG_SECS, move || pending.wait());
    assert!(outcome.unwrap_err().is_shutdown(), "the loop closed before creating the task");
    assert_eq!(probe.drops(), 1, "the body was dropped, never polled");
    assert!(handle.is_closed());
    assert_eq!(handle.spawn_threadsafe(async { anyhow::Ok(()) }).err(), Some(SpawnError::Closed));
}

/// test_runners.py `test_recursive_run`: asyncio raises "Runner.run() cannot be called from a
/// running event loop"; here it is a panic saying so, in a `run` loop and in an embedded one.
#[test]
fn runner_run_inside_a_running_loop_is_refused() {
    taskloop_test_support::quiet_deliberate_panics();
    for host in [None, Some(Host::CurrentThread), Some(Host::MultiThread)] {
        let runner = Arc::new(Mutex::new(Some(Runner::new().unwrap())));
        let inner = runner.clone();
        let body = async move {
            let mut guard = inner.lock().unwrap();
            let r = guard.as_mut().unwrap();
            let refused = catch_unwind(AssertUnwindSafe(|| r.run(async { anyhow::Ok(()) }))).unwrap_err();
            anyhow::Ok(panic_text(&*refused))
        };
        let message = match host {
            None => paused(body).unwrap(),
            Some(host) => host.embed(body).unwrap(),
        };
        assert!(message.contains("cannot be called from a running taskloop loop"), "{message}");
        // Closed here, outside any loop.
        runner.lock().unwrap().take().unwrap().close();
    }
}

/// The stress case: a plain thread submits 10,000 jobs while the loop runs and waits for each
/// result; every job runs once, every result arrives.
fn ten_thousand_jobs_from_a_sync_thread(handle: LoopHandle) -> anyhow::Result<()> {
    const JOBS: usize = 10_000;
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..JOBS).map(|_| AtomicUsize::new(0)).collect());
    let mut futures = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        let runs = runs.clone();
        futures.push(handle.spawn_threadsafe(async move {
            runs[i].fetch_add(1, Ordering::SeqCst);
            if i % 7 == 0 {
                yield_now().await?;
            }
            anyhow::Ok(i * 2)
        })?);
    }
    let mut results = HashMap::new();
    for (i, fut) in futures.into_iter().enumerate() {
        assert!(results.insert(i, fut.wait()?).is_none());
    }
    assert_eq!(results.len(), JOBS);
    assert!(results.iter().all(|(i, v)| *v == i * 2), "each result is its own job's");
    assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1), "every job ran exactly once");
    Ok(())
}

taskloop_test_support::on_both_flavours! {
    within 120;
    fn a_sync_thread_submits_10_000_jobs_and_receives_every_result_once() {
        let handle = LoopHandle::current();
        // to_thread: the waiting thread is not the loop's.
        to_thread(move || ten_thousand_jobs_from_a_sync_thread(handle)).await??;
        anyhow::Ok(())
    }
}

on_both_hosts! {
    fn a_sync_thread_submits_10_000_jobs_to_an_embedded_loop(host: Host) {
        host.embed(async {
            let handle = LoopHandle::current();
            let thread = std::thread::spawn(move || ten_thousand_jobs_from_a_sync_thread(handle));
            to_thread(move || thread.join().unwrap()).await??;
            anyhow::Ok(())
        })
        .unwrap();
    }
}

/// CPython 3.13, which this test follows:
///
/// ```python
/// async def job():
///     try: await asyncio.sleep(3600)
///     except asyncio.CancelledError: print("job caught cancel"); ...; return "caught"
/// # on another thread:
/// f = asyncio.run_coroutine_threadsafe(job(), loop)
/// f.result(timeout=0.05)            # TimeoutError
/// f.cancel(), f.done(), f.cancelled()  # True True True, at once
/// f.result()                        # CancelledError
/// ```
/// and the task gets the request on the loop. Here the task waits on a tokio channel (a foreign
/// await), so the request ends its body there.
#[test]
fn wait_timeout_expires_and_a_cancel_from_the_sync_side_reaches_a_task_at_a_foreign_await() {
    for flavour in [paused as fn(_) -> _, multi] {
        let probe = Probe::default();
        let p = probe.clone();
        within(WATCHDOG_SECS, move || {
            flavour(async move {
                let handle = LoopHandle::current();
                let (body_dropped, dropped) = tokio::sync::oneshot::channel::<()>();
                let guard = p.guard();
                let from_thread = to_thread(move || {
                    let (_keep, never) = tokio::sync::oneshot::channel::<()>();
                    let mut job = handle.spawn_threadsafe(async move {
                        let _g = guard;
                        let _tell = DropSignal(Some(body_dropped));
                        never.await?;
                        anyhow::Ok("never")
                    })?;
                    assert!(job.wait_timeout(Duration::from_millis(50)).is_none(), "still running");
                    assert!(!job.done());
                    assert!(job.cancel_with("from the thread"));
                    assert!(job.done() && job.cancelled());
                    assert!(!job.cancel(), "done: refused");
                    let outcome = job.wait_timeout(Duration::from_secs(5)).expect("done");
                    assert_eq!(outcome.unwrap_err().cancel_message(), Some("from the thread"));
                    assert!(job.wait_timeout(Duration::ZERO).unwrap().unwrap_err().is_invalid_state(), "handed out");
                    anyhow::Ok(())
                });
                from_thread.await??;
                // The request reached the task at its foreign await: its body was dropped.
                let _ = dropped.await;
                anyhow::Ok(())
            })
            .unwrap()
        });
        assert_eq!(probe.drops(), 1);
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

struct DropSignal(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.take().map(|tx| tx.send(()));
    }
}

/// asyncio: `loop.call_soon_threadsafe` and `run_coroutine_threadsafe` on a closed loop raise
/// `RuntimeError: Event loop is closed`. Here: `SpawnError::Closed`, for a `run` loop, an
/// embedded loop and a closed `Runner`.
#[test]
fn a_handle_used_after_its_loop_closed_gives_an_error() {
    let after_run = taskloop::run(async { anyhow::Ok(LoopHandle::current()) }).unwrap();
    let after_embedded = Host::CurrentThread.embed(async { anyhow::Ok(LoopHandle::current()) }).unwrap();
    let runner = Runner::new().unwrap();
    let after_close = runner.handle();
    runner.close();
    for handle in [after_run, after_embedded, after_close] {
        assert!(handle.is_closed());
        assert_eq!(handle.call_soon_threadsafe(|| {}).err(), Some(SpawnError::Closed));
        assert_eq!(handle.spawn_threadsafe(async { anyhow::Ok(()) }).err(), Some(SpawnError::Closed));
        assert!(handle.all_tasks().is_empty());
    }
}

taskloop_test_support::on_both_flavours! {
    /// A blocking wait on a loop thread is refused with a panic (tokio's `block_on` rule);
    /// awaiting the same future works.
    fn a_blocking_wait_on_a_loop_thread_panics_and_awaiting_works() {
        taskloop_test_support::quiet_deliberate_panics();
        let handle = LoopHandle::current();
        let mut job = handle.spawn_threadsafe(async { anyhow::Ok(5) })?;
        let refused = catch_unwind(AssertUnwindSafe(|| job.wait_timeout(Duration::from_secs(1)))).unwrap_err();
        let message = panic_text(&*refused);
        assert!(message.contains("would block a thread of a running taskloop loop"), "{message}");
        assert_eq!(job.await?, 5);
        anyhow::Ok(())
    }
}

taskloop_test_support::on_both_flavours! {
    /// `call_soon_threadsafe` from a plain thread runs on the loop, outside any task, in the
    /// order submitted; a cancelled handle's callback does not run.
    fn call_soon_threadsafe_runs_callbacks_on_the_loop_in_order() {
        let handle = LoopHandle::current();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let submitted = std::thread::spawn(move || {
            for i in 0..100 {
                let tx = tx.clone();
                let h = handle.call_soon_threadsafe(move || {
                    let _ = tx.send((i, current_task().is_none(), LoopHandle::try_current().is_some()));
                }).unwrap();
                if i == 50 {
                    h.cancel();
                }
            }
        });
        let mut rx = rx;
        let mut seen = Vec::new();
        while let Some(item) = rx.recv().await {
            seen.push(item);
        }
        submitted.join().unwrap();
        let expected: Vec<_> = (0..100).filter(|i| *i != 50).map(|i| (i, true, true)).collect();
        assert_eq!(seen, expected);
        let others: Vec<_> = all_tasks().into_iter().filter(|t| Some(t) != current_task().as_ref()).collect();
        let _ = wait(others, ReturnWhen::AllCompleted, None).await?;
        anyhow::Ok(())
    }
}

/// asyncio creates the task of a `run_coroutine_threadsafe` whose future was cancelled before
/// the loop got to it, and cancels it before its first step; here it is never created. Either
/// way the body is never polled, and the future ends cancelled.
#[test]
fn a_submission_cancelled_before_the_loop_ran_it_never_starts() {
    let mut runner = Runtime::builder().start_paused(true).build_runner().unwrap();
    let handle = runner.handle();
    let probe = Probe::default();
    let p = probe.clone();
    let job = handle
        .spawn_threadsafe(async move {
            p.polled();
            anyhow::Ok(())
        })
        .unwrap();
    assert!(job.cancel_with("changed my mind"));
    let live = runner
        .run(async {
            yield_now().await?;
            anyhow::Ok(all_tasks().len())
        })
        .unwrap();
    assert_eq!(live, 1, "only main: the cancelled submission made no task");
    assert_eq!(probe.polls(), 0);
    assert!(job.cancelled());
    assert_eq!(job.wait().unwrap_err().cancel_message(), Some("changed my mind"));
    runner.close();
}

taskloop_test_support::on_both_flavours! {
    /// test_runners.py `test_asyncio_run_from_running_loop`: "asyncio.run() cannot be called
    /// from a running event loop". `run_embedded` awaited inside a loop panics saying so (its
    /// task ends `Panicked`).
    fn run_embedded_inside_a_running_loop_is_refused() {
        let nested = create_task(run_embedded(async { anyhow::Ok(()) }));
        let err = nested.await.unwrap_err();
        assert!(err.is_panic(), "{err:?}");
        assert!(err.to_string().contains("cannot be called from a running taskloop loop"), "{err}");
        anyhow::Ok(())
    }
}
