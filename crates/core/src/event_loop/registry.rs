//! The live-task registry behind `all_tasks()`, `dump()` and the end of `run`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use slab::Slab;

use crate::sync::lock;

/// What the loop needs of a task handle it keeps: the registry's snapshots skip done tasks,
/// the end of `run` cancels what is left, and reports name the task. Implemented by
/// `TaskRef` (in `task/`).
pub(crate) trait Registered: Clone + Send + Sync + 'static {
    /// Whether the task has finished.
    fn is_done(&self) -> bool;
    /// Asks the task to stop at its current await (`TaskRef::cancel`).
    fn cancel(&self) -> bool;
    /// The task's name, for reports.
    fn name(&self) -> Arc<str>;
    /// The task's id, for reports.
    fn id(&self) -> u64;
}

/// Where a task sits in the registry, so it can remove itself when done.
#[derive(Debug)]
pub(crate) struct RegistryKey {
    // u32s: this lives in every task's harness, and neither a shard count nor a number of
    // live tasks reaches 2^32.
    shard: u32,
    key: u32,
}

/// The loop's live tasks, for `all_tasks()`: sharded so that spawns and completions on
/// different worker threads do not contend on one lock. A thread always inserts into its own
/// shard; a task is removed from the shard it was inserted in, from whichever thread it
/// completes on.
pub(crate) struct Registry<R> {
    shards: Box<[std::sync::Mutex<Shard<R>>]>,
    /// When the loop was built, if it tracks task ages (`Builder::track_task_ages`).
    started: Option<tokio::time::Instant>,
}

/// One shard of the registry: each live task with its creation time in milliseconds of the
/// loop's clock (0 when the loop does not track ages). The time lives beside the task, not in
/// it: an extra field in the task header cost every spawn ~100-300 instructions, this costs 8
/// bytes of slab entry and no measurable instruction.
type Shard<R> = Slab<(R, u32)>;

impl RegistryKey {
    /// No entry: an eager task in its first step, registered only if that step suspends. A
    /// sentinel rather than an `Option`, which would make every task's harness 4 bytes larger.
    pub(crate) const NONE: RegistryKey = RegistryKey { shard: u32::MAX, key: u32::MAX };
}

impl<R: Registered> Registry<R> {
    pub(super) fn new(shards: usize, track_ages: bool) -> Self {
        let n = shards.max(1).next_power_of_two();
        let started = track_ages.then(tokio::time::Instant::now);
        Registry { shards: (0..n).map(|_| std::sync::Mutex::new(Slab::new())).collect(), started }
    }

    /// Whether the loop tracks task ages (`Builder::track_task_ages`).
    pub(crate) fn tracks_ages(&self) -> bool {
        self.started.is_some()
    }

    /// Milliseconds of the loop's clock since it was built, if it tracks task ages.
    fn now_ms(&self) -> Option<u32> {
        let started = self.started?;
        Some(u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX))
    }

    fn home_shard(&self) -> usize {
        thread_local! {
            static SHARD: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed)
            };
        }
        SHARD.with(|s| *s) & (self.shards.len() - 1)
    }

    pub(crate) fn insert(&self, task: R) -> RegistryKey {
        let born = if self.started.is_some() { self.now_ms().unwrap_or(0) } else { 0 };
        let shard = self.home_shard();
        let key = lock(&self.shards[shard]).insert((task, born));
        RegistryKey { shard: shard as u32, key: u32::try_from(key).expect("fewer than 2^32 live tasks") }
    }

    /// Removes the task and returns its registry handle, for the caller to drop unlocked.
    /// Nothing for [`RegistryKey::NONE`].
    pub(crate) fn remove(&self, key: &RegistryKey) -> Option<R> {
        let shard = self.shards.get(key.shard as usize)?;
        lock(shard).try_remove(key.key as usize).map(|(task, _)| task)
    }

    /// Every registered task that is not done.
    pub(crate) fn snapshot(&self) -> Vec<R> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(lock(shard).iter().map(|(_, (t, _))| t.clone()).filter(|t| !t.is_done()));
        }
        all
    }

    /// Every registered task that is not done, with its age if the loop tracks ages.
    pub(crate) fn snapshot_with_ages(&self) -> Vec<(R, Option<std::time::Duration>)> {
        let now = self.now_ms();
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(lock(shard).iter().filter(|(_, (t, _))| !t.is_done()).map(|(_, (t, born))| {
                let age = now.map(|now| std::time::Duration::from_millis(u64::from(now.saturating_sub(*born))));
                (t.clone(), age)
            }));
        }
        all
    }
}
