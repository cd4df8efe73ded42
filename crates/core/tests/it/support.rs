//! Shared test helpers: running a body on each loop flavour, and probes.
#![allow(unreachable_pub, dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use taskloop::{Runtime, TaskError};

/// Runs `body` as main on a current-thread loop with tokio's clock paused.
pub fn paused<F, T>(body: F) -> Result<T, TaskError>
where
    F: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Runtime::builder().start_paused(true).build().expect("runtime").run(body)
}

/// Runs `body` as main on a multi-thread loop with two workers.
pub fn multi<F, T>(body: F) -> Result<T, TaskError>
where
    F: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Runtime::builder().worker_threads(2).build().expect("runtime").run(body)
}

/// Defines one test per loop flavour from one body (tokio's `rt_common.rs` idea). The body
/// must not depend on time passing: the current-thread loop runs with paused time.
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

/// Counts polls and drops of a future it wraps.
#[derive(Clone, Default)]
pub struct Probe {
    pub polls: Arc<AtomicUsize>,
    pub drops: Arc<AtomicUsize>,
}

impl Probe {
    pub fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }
    pub fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }
    /// A guard that counts its drop, to hold inside a body.
    pub fn guard(&self) -> DropGuard {
        DropGuard(self.drops.clone())
    }
    pub fn polled(&self) {
        self.polls.fetch_add(1, Ordering::SeqCst);
    }
}

pub struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An event log shared by a scenario's tasks and callbacks, checked in one place.
#[derive(Clone, Default)]
pub struct Log(Arc<std::sync::Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }
    pub fn check(&self, expected: &[&str]) {
        assert_eq!(*self.0.lock().unwrap(), expected);
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    /// Waits (yielding to the loop) until `n` events are logged; gives up after 10 s so a
    /// missing event fails the test instead of hanging it.
    pub async fn wait_for(&self, n: usize) {
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.len() < n && std::time::Instant::now() < give_up {
            taskloop::sleep(std::time::Duration::from_millis(1)).await.expect("not cancelled");
        }
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}
