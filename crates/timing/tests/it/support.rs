//! Shared test helpers: running a body on each loop flavour, an event log, a drop probe.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use taskloop::{Instant, Runtime, TaskError};

/// Runs `body` as main on a current-thread loop with tokio's clock paused.
pub(crate) fn paused<F, T>(body: F) -> Result<T, TaskError>
where
    F: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Runtime::builder().start_paused(true).build().expect("runtime").run(body)
}

/// Runs `body` as main on a multi-thread loop with two workers (real time).
pub(crate) fn multi<F, T>(body: F) -> Result<T, TaskError>
where
    F: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Runtime::builder().worker_threads(2).build().expect("runtime").run(body)
}

/// Defines one test per loop flavour from one body (tokio's `rt_common.rs` idea). The body
/// must assert order, not timing: the multi-thread loop runs on real time.
#[macro_export]
macro_rules! on_both_flavours {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn current_thread() {
                $crate::support::paused(async move $body).expect("main");
            }
            #[test]
            fn multi_thread() {
                $crate::support::multi(async move $body).expect("main");
            }
        }
    };
}

/// An event log shared by a scenario's tasks and callbacks, checked in one place.
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub(crate) fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }
    pub(crate) fn check(&self, expected: &[&str]) {
        assert_eq!(*self.0.lock().unwrap(), expected);
    }
    pub(crate) fn snapshot(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Counts drops of the guards it hands out, to check what a future or callback captured.
#[derive(Clone, Default)]
pub(crate) struct DropProbe(Arc<AtomicUsize>);

impl DropProbe {
    pub(crate) fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }
    pub(crate) fn drops(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

pub(crate) struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Milliseconds of (paused) time since `start`, for logs that read like a transcript.
pub(crate) fn ms_since(start: Instant) -> u128 {
    start.elapsed().as_millis()
}

pub(crate) const MS: Duration = Duration::from_millis(1);
pub(crate) const SEC: Duration = Duration::from_secs(1);
