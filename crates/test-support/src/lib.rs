//! Helpers shared by taskloop's own test suites: one test body on both loop flavours, an
//! event log, and a panic hook that keeps deliberate panics quiet. Not published; each
//! crate's `tests/it/support.rs` re-exports what it uses.

use std::future::Future;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use taskloop::{Runtime, TaskError};

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

/// Defines one test per loop flavour from one body (tokio's `rt_common.rs` idea): a
/// current-thread loop on paused time and a two-worker loop on real time, so the body must
/// assert order, not timing.
#[macro_export]
macro_rules! on_both_flavours {
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
