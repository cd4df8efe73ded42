//! Helpers shared by taskloop's own test suites: one test body on both loop flavours, an
//! event log, a panic hook that keeps deliberate panics quiet, a watchdog that fails a test
//! instead of letting it hang, and the foreign futures a cancellation must reach. Not
//! published; each crate's `tests/it/support.rs` re-exports what it uses.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use taskloop::{Cancelled, Runtime, TaskError};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Runs `body` as main on a current-thread loop with tokio's clock paused.
pub fn paused<F, T>(body: F) -> Result<T, TaskError>
where
    F: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Runtime::builder().start_paused(true).build().expect("runtime").run(body)
}

/// Runs `body` as main on a multi-thread loop with two workers (real time).
pub fn multi<F, T>(body: F) -> Result<T, TaskError>
where
    F: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Runtime::builder().worker_threads(2).build().expect("runtime").run(body)
}

/// A loop flavour, for a test that builds its loop itself (to look at what `run` leaves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// A current-thread loop with tokio's clock paused: [`paused`].
    CurrentThread,
    /// A two-worker loop on real time: [`multi`].
    MultiThread,
}

impl Flavour {
    /// Runs `body` as main on a new loop of this flavour.
    pub fn run<F, T>(self, body: F) -> Result<T, TaskError>
    where
        F: Future<Output = anyhow::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        match self {
            Flavour::CurrentThread => paused(body),
            Flavour::MultiThread => multi(body),
        }
    }
}

/// The real time a test that could hang gets from [`within`] before it fails: generous, since
/// what it guards takes milliseconds.
pub const WATCHDOG_SECS: u64 = 30;

/// The size of a stress test: `quick` under `cargo test` (and so `cargo xtask test`, in
/// debug, on every CI run), `full` when `TASKLOOP_STRESS_FULL` is set, as `cargo xtask stress`
/// does (release). The quick size checks the same properties on fewer tasks or items.
pub fn stress_size(quick: u64, full: u64) -> u64 {
    if std::env::var_os("TASKLOOP_STRESS_FULL").is_some_and(|value| !value.is_empty() && value != "0") {
        full
    } else {
        quick
    }
}

/// Runs `f` on a thread of its own and returns what it returns, or panics if it has not
/// finished after `secs` seconds of real time, so a cancellation that never arrives fails the
/// test instead of hanging it. A panic in `f` is passed on as it is. A thread that hangs is
/// left behind; the test binary ends without it.
pub fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, outcome) = std::sync::mpsc::channel();
    // Named after the test, so a panic inside reads as the test's own.
    let name = std::thread::current().name().unwrap_or("within").to_owned();
    let worker = std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            // The receiver is gone only if the watchdog already gave up.
            let _ = done.send(f());
        })
        .expect("spawn the watched thread");
    match outcome.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => value,
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!("the watched thread ended without sending its outcome"),
        },
        Err(RecvTimeoutError::Timeout) => {
            panic!("did not finish within {secs}s: a cancellation did not reach a foreign await")
        }
    }
}

/// Defines one test per loop flavour from one body (tokio's `rt_common.rs` idea): a
/// current-thread loop on paused time and a two-worker loop on real time, so the body must
/// assert order, not timing.
///
/// `within SECS; fn name() { … }` runs each flavour under the [`within`] watchdog, for a body
/// that would hang if what it tests were broken.
#[macro_export]
macro_rules! on_both_flavours {
    (within $secs:expr; $(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn current_thread() {
                $crate::within($secs, || $crate::paused(async move $body).expect("main"));
            }
            #[test]
            fn multi_thread() {
                $crate::within($secs, || $crate::multi(async move $body).expect("main"));
            }
        }
    };
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn current_thread() {
                $crate::paused(async move $body).expect("main");
            }
            #[test]
            fn multi_thread() {
                $crate::multi(async move $body).expect("main");
            }
        }
    };
}

/// An event log shared by a scenario's tasks and callbacks, checked in one place.
#[derive(Clone, Default, Debug)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Records one event.
    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }

    /// Asserts that exactly `expected` happened, in that order.
    pub fn check(&self, expected: &[&str]) {
        assert_eq!(*self.0.lock().unwrap(), expected);
    }

    /// A guard that logs `event` when it is dropped: what a body's `finally` would print.
    pub fn on_drop(&self, event: impl Into<String>) -> OnDrop {
        OnDrop { log: self.clone(), event: event.into() }
    }

    /// The events so far.
    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The events so far, leaving the log empty.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// How many events were logged.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits (yielding to the loop) until `n` events are logged; gives up after 10 s of real
    /// time so a missing event fails the test instead of hanging it.
    pub async fn wait_for(&self, n: usize) {
        let give_up = Instant::now() + Duration::from_secs(10);
        while self.len() < n && Instant::now() < give_up {
            taskloop::sleep(Duration::from_millis(1)).await.expect("not cancelled");
        }
    }
}

/// The guard [`Log::on_drop`] hands out.
#[derive(Debug)]
pub struct OnDrop {
    log: Log,
    event: String,
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.log.push(std::mem::take(&mut self.event));
    }
}

/// A place a task can wait that taskloop knows nothing of: a future that is no cancellation
/// point, so a cancel request can only reach the task by dropping it there. Each never
/// completes while the test runs (what would complete it is held silent inside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Foreign {
    /// `tokio::sync::mpsc::Receiver::recv`, the sender alive and silent.
    ChannelRecv,
    /// A `tokio::sync::oneshot::Receiver`, the sender alive and silent.
    OneshotRecv,
    /// `tokio::sync::Mutex::lock` of a mutex someone else holds.
    MutexLock,
    /// `tokio::sync::Semaphore::acquire` with no permits.
    SemaphoreAcquire,
    /// `tokio::sync::Notify::notified`, never notified.
    Notified,
    /// A read of a loopback `TcpStream` whose peer never writes (`poll_read`, which
    /// `AsyncReadExt::read` drives).
    TcpRead,
    /// `TcpListener::accept` on a loopback port nobody connects to.
    TcpAccept,
    /// `std::future::pending()`.
    Pending,
    /// A raw tokio `JoinHandle` of `tokio::spawn(pending())`.
    JoinHandle,
    /// A `FuturesUnordered` of a taskloop `sleep(1 h)` beside a channel receive. The sleep is
    /// a cancellation point, so here the request arrives as a catchable `Err(Cancelled)`.
    SleepBesideForeign,
}

/// A [`Foreign`] wait, ready to be awaited in a task: `Ok(())` if what it waits for came
/// (never, in these tests), `Err(Cancelled)` if a cancellation point inside it delivered a
/// request.
pub type ForeignWait = Pin<Box<dyn Future<Output = Result<(), Cancelled>> + Send>>;

impl Foreign {
    /// Every kind, in declaration order.
    pub const ALL: [Foreign; 10] = [
        Foreign::ChannelRecv,
        Foreign::OneshotRecv,
        Foreign::MutexLock,
        Foreign::SemaphoreAcquire,
        Foreign::Notified,
        Foreign::TcpRead,
        Foreign::TcpAccept,
        Foreign::Pending,
        Foreign::JoinHandle,
        Foreign::SleepBesideForeign,
    ];

    /// Whether a cancellation reaches a body waiting here as an `Err(Cancelled)` it can catch
    /// (a taskloop cancellation point waits beside the foreign future), rather than by the
    /// body being dropped.
    pub fn catches(self) -> bool {
        self == Foreign::SleepBesideForeign
    }

    /// Sets the wait up and returns it. Call it inside the loop: sockets need its reactor,
    /// and `JoinHandle` spawns on it.
    ///
    /// # Errors
    ///
    /// If a loopback socket cannot be bound or connected.
    pub async fn wait(self) -> anyhow::Result<ForeignWait> {
        Ok(match self {
            Foreign::ChannelRecv => channel_recv(),
            Foreign::OneshotRecv => {
                let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
                Box::pin(async move {
                    let _silent = sender;
                    let _ = receiver.await;
                    Ok(())
                })
            }
            Foreign::MutexLock => {
                let mutex = Arc::new(tokio::sync::Mutex::new(()));
                let held = mutex.clone().lock_owned().await;
                Box::pin(async move {
                    let _held_elsewhere = held;
                    let _guard = mutex.lock().await;
                    Ok(())
                })
            }
            Foreign::SemaphoreAcquire => {
                let semaphore = tokio::sync::Semaphore::new(0);
                Box::pin(async move {
                    let _permit = semaphore.acquire().await;
                    Ok(())
                })
            }
            Foreign::Notified => {
                let notify = tokio::sync::Notify::new();
                Box::pin(async move {
                    notify.notified().await;
                    Ok(())
                })
            }
            Foreign::TcpRead => {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let mut stream = TcpStream::connect(listener.local_addr()?).await?;
                let (peer, _) = listener.accept().await?;
                Box::pin(async move {
                    let _silent = peer;
                    let mut buffer = [0u8; 1];
                    let _ = poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut ReadBuf::new(&mut buffer))).await;
                    Ok(())
                })
            }
            Foreign::TcpAccept => {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                Box::pin(async move {
                    let _ = listener.accept().await;
                    Ok(())
                })
            }
            Foreign::Pending => Box::pin(std::future::pending()),
            Foreign::JoinHandle => {
                let handle = tokio::spawn(std::future::pending::<()>());
                Box::pin(async move {
                    let _ = handle.await;
                    Ok(())
                })
            }
            Foreign::SleepBesideForeign => {
                let mut either: FuturesUnordered<ForeignWait> = FuturesUnordered::new();
                either.push(Box::pin(taskloop::sleep(Duration::from_secs(3600))));
                either.push(channel_recv());
                Box::pin(async move { either.next().await.expect("two futures") })
            }
        })
    }
}

fn channel_recv() -> ForeignWait {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<()>(1);
    Box::pin(async move {
        let _silent = sender;
        receiver.recv().await;
        Ok(())
    })
}

/// Defines a scenario once and a test of it for every [`Foreign`] kind on both loop flavours,
/// each under the [`within`] watchdog: `fn name(flavour, kind) { … }` becomes `mod name` with
/// `fn scenario(flavour: Flavour, kind: Foreign)` and the tests
/// `name::<kind>::{current_thread, multi_thread}`.
#[macro_export]
macro_rules! for_every_foreign_await {
    (@kinds $($module:ident: $kind:ident),* $(,)?) => {
        $(
            mod $module {
                #[test]
                fn current_thread() {
                    $crate::within($crate::WATCHDOG_SECS, || {
                        super::scenario($crate::Flavour::CurrentThread, $crate::Foreign::$kind)
                    });
                }
                #[test]
                fn multi_thread() {
                    $crate::within($crate::WATCHDOG_SECS, || {
                        super::scenario($crate::Flavour::MultiThread, $crate::Foreign::$kind)
                    });
                }
            }
        )*
    };
    ($(#[$meta:meta])* fn $name:ident($flavour:ident, $kind:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn scenario($flavour: $crate::Flavour, $kind: $crate::Foreign) $body
            $crate::for_every_foreign_await! {
                @kinds
                channel_recv: ChannelRecv,
                oneshot_recv: OneshotRecv,
                mutex_lock: MutexLock,
                semaphore_acquire: SemaphoreAcquire,
                notified: Notified,
                tcp_read: TcpRead,
                tcp_accept: TcpAccept,
                pending: Pending,
                join_handle: JoinHandle,
                sleep_beside_foreign: SleepBesideForeign,
            }
        }
    };
}

/// Keeps the panics tests cause on purpose (messages starting with "deliberate") off
/// stderr; any other panic still prints through the previous hook.
pub fn quiet_deliberate_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with("deliberate") {
                previous(info);
            }
        }));
    });
}
