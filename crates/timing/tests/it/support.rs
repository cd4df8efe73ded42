//! Test helpers of this crate (a drop probe, timing constants), plus the shared ones
//! re-exported from `taskloop-test-support`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskloop::Instant;

pub(crate) use taskloop_test_support::{Log, multi, paused};

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
