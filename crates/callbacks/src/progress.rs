//! `ProgressTracker`: done / total over a set of tasks, for progress displays (seed 24.7).
//!
//! The counts are two atomics in one shared allocation; the hook is set once (a `OnceLock`)
//! and then read without a lock. `complete_one` is one atomic increment plus the hook call,
//! so a tracker costs no lock and no allocation per task, and no lock is held while the hook
//! runs.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// A snapshot of a tracker: how many of how many are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Progress {
    /// How many were completed (by [`ProgressTracker::complete_one`]).
    pub done: usize,
    /// How many are tracked.
    pub total: usize,
}

impl Progress {
    /// Whether every tracked item is done (`done >= total`).
    pub fn is_complete(&self) -> bool {
        self.done >= self.total
    }

    /// `done / total` between 0.0 and 1.0 (1.0 when nothing is tracked).
    pub fn fraction(&self) -> f64 {
        if self.total == 0 { 1.0 } else { (self.done.min(self.total)) as f64 / self.total as f64 }
    }

    /// How many are not done yet.
    pub fn remaining(&self) -> usize {
        self.total.saturating_sub(self.done)
    }
}

impl fmt::Display for Progress {
    /// `done/total`, as progress displays print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.done, self.total)
    }
}

type Hook = Box<dyn Fn(Progress) + Send + Sync>;

struct Inner {
    done: AtomicUsize,
    total: AtomicUsize,
    hook: OnceLock<Hook>,
}

/// Counts done / total over a set of tasks and calls a hook at each completion: the seed's
/// "show progress of running tasks" (asyncio has no such type; the seed builds it from a done
/// callback that prints a dot, and this is that callback, counted).
///
/// A tracker is a cheap handle (`Clone`; every clone is the same tracker), safe to use from
/// any thread. It knows nothing of tasks: hand each task a
/// [`done_callback`](Self::done_callback) (or call [`complete_one`](Self::complete_one) from
/// anything that finishes), and [`add_total`](Self::add_total) for work discovered later.
///
/// # Races
///
/// Each completion gets its own `done` count, so the counts are exact under any number of
/// threads, and exactly one hook call sees `done == total` (while `total` is not changed).
/// Hooks of completions on different threads may run at the same time and finish in any
/// order; done callbacks of a taskloop loop run one at a time, in order, on the loop.
///
/// # Examples
///
/// The seed's dots, one per finished task:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use taskloop::{create_task, gather, yield_now, ProgressTracker};
///
/// # fn main() -> Result<(), taskloop::TaskError> {
/// taskloop::run(async {
///     let printed = Arc::new(Mutex::new(String::new()));
///     let out = printed.clone();
///     let tracker = ProgressTracker::new(5).on_progress(move |p| {
///         out.lock().unwrap().push('.');
///         if p.is_complete() {
///             out.lock().unwrap().push_str(" done");
///         }
///     });
///     let tasks: Vec<_> = (0..5).map(|i| create_task(async move { anyhow::Ok(i) })).collect();
///     for task in &tasks {
///         task.add_done_callback(tracker.done_callback());
///     }
///     gather(&tasks).await?;
///     yield_now().await?; // done callbacks run on the loop, after the tasks are done
///     assert_eq!(*printed.lock().unwrap(), "..... done");
///     assert_eq!(tracker.progress().to_string(), "5/5");
///     anyhow::Ok(())
/// })
/// # }
/// ```
#[derive(Clone)]
pub struct ProgressTracker {
    inner: Arc<Inner>,
}

impl ProgressTracker {
    /// A tracker of `total` items, none done, without a hook.
    pub fn new(total: usize) -> Self {
        ProgressTracker {
            inner: Arc::new(Inner { done: AtomicUsize::new(0), total: AtomicUsize::new(total), hook: OnceLock::new() }),
        }
    }

    /// Sets the hook called after each completion with the new counts (builder style).
    ///
    /// It runs on the thread that completed the item, with no lock of the tracker held; a
    /// panic in it propagates to that caller (a taskloop loop reports a panicking done
    /// callback to its exception handler).
    ///
    /// # Panics
    ///
    /// If a hook is already set (on this tracker or a clone of it).
    pub fn on_progress(self, hook: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        if self.inner.hook.set(Box::new(hook)).is_err() {
            panic!("ProgressTracker::on_progress: a hook is already set; a tracker has one hook");
        }
        self
    }

    /// Feeds an `indicatif` progress bar: sets its length to the total and advances it by
    /// one at each completion, finishing it at the last.
    ///
    /// # Panics
    ///
    /// If a hook is already set.
    #[cfg(feature = "indicatif")]
    pub fn with_progress_bar(self, bar: indicatif::ProgressBar) -> Self {
        bar.set_length(self.total() as u64);
        self.on_progress(move |p| {
            bar.set_length(p.total as u64);
            bar.inc(1);
            if p.done == p.total {
                bar.finish();
            }
        })
    }

    /// Records one completed item and calls the hook; returns the counts it saw.
    pub fn complete_one(&self) -> Progress {
        // AcqRel: a reader that sees this count also sees what the completer did before.
        let done = self.inner.done.fetch_add(1, Ordering::AcqRel) + 1;
        let progress = Progress { done, total: self.inner.total.load(Ordering::Acquire) };
        if let Some(hook) = self.inner.hook.get() {
            hook(progress);
        }
        progress
    }

    /// Adds `n` items to the total (work found after the tracker was made).
    pub fn add_total(&self, n: usize) {
        self.inner.total.fetch_add(n, Ordering::AcqRel);
    }

    /// A done callback that records one completion: `task.add_done_callback(tracker.done_callback())`.
    ///
    /// It ignores its argument, so it fits any task type; it holds a clone of the tracker.
    pub fn done_callback<A: ?Sized>(&self) -> impl FnOnce(&A) + Send + 'static {
        let tracker = self.clone();
        move |_: &A| {
            tracker.complete_one();
        }
    }

    /// How many items were completed.
    pub fn done(&self) -> usize {
        self.inner.done.load(Ordering::Acquire)
    }

    /// How many items are tracked.
    pub fn total(&self) -> usize {
        self.inner.total.load(Ordering::Acquire)
    }

    /// The current counts.
    pub fn progress(&self) -> Progress {
        Progress { done: self.done(), total: self.total() }
    }

    /// Whether every tracked item is done.
    pub fn is_complete(&self) -> bool {
        self.progress().is_complete()
    }
}

impl fmt::Debug for ProgressTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressTracker")
            .field("done", &self.done())
            .field("total", &self.total())
            .field("hook", &self.inner.hook.get().is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn each_completion_sees_its_own_count_and_the_last_sees_complete() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let tracker =
            ProgressTracker::new(3).on_progress(move |p| sink.lock().unwrap().push((p.done, p.is_complete())));
        for _ in 0..3 {
            tracker.complete_one();
        }
        assert_eq!(*seen.lock().unwrap(), [(1, false), (2, false), (3, true)]);
        assert_eq!(tracker.progress(), Progress { done: 3, total: 3 });
    }

    #[test]
    fn fraction_and_remaining_of_an_empty_and_a_partial_tracker() {
        let empty = ProgressTracker::new(0);
        assert!(empty.is_complete());
        assert_eq!(empty.progress().fraction(), 1.0);
        let half = ProgressTracker::new(4);
        half.complete_one();
        half.complete_one();
        assert_eq!(half.progress().fraction(), 0.5);
        assert_eq!(half.progress().remaining(), 2);
        half.add_total(2);
        assert_eq!(half.progress().to_string(), "2/6");
    }

    #[test]
    #[should_panic(expected = "a hook is already set")]
    fn a_second_hook_is_refused() {
        let _ = ProgressTracker::new(1).on_progress(|_| {}).on_progress(|_| {});
    }
}
