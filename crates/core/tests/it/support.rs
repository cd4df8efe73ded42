//! Test helpers of this crate (a poll/drop probe), plus the shared ones re-exported from
//! `taskloop-test-support`.
#![allow(unreachable_pub, dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) use taskloop_test_support::{Log, multi, paused};

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
