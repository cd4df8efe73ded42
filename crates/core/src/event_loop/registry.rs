//! The live-task registry behind `all_tasks()`, `dump()` and the end of `run`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use slab::Slab;

use crate::sync::lock;

/// What the loop needs of a task handle it keeps: the registry's snapshots skip done tasks,
/// the end of `run` cancels what is left, and reports name the task. Implemented by
/// `TaskRef` (in `task/`).
pub(crate) trait Registered: Clone + Send + Sync + 'static {
    /// What the registry stores per task: the thinnest owner of the task (for `TaskRef`, its
    /// `Arc<dyn AnyTask>`, 16 bytes), turned into a handle only when a snapshot is taken.
    type Entry: Send + 'static;
    /// A handle to the task `entry` owns.
    fn from_entry(entry: &Self::Entry) -> Self;
    /// Whether the task `entry` owns has finished.
    fn entry_is_done(entry: &Self::Entry) -> bool;
    /// Asks the task to stop at its current await (`TaskRef::cancel`).
    fn cancel(&self) -> bool;
    /// The task's name, for reports.
    fn name(&self) -> Arc<str>;
    /// The task's id, for reports.
    fn id(&self) -> u64;
}

/// Where a task sits in the registry, so it can remove itself when done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegistryKey {
    // Kept in the padding after the task header's flags (`Header::registry_key`). A shard
    // count is capped at 128 ([`MAX_SHARDS`]); live tasks stay far below 2^32.
    pub(crate) shard: u8,
    pub(crate) key: u32,
}

/// The most shards a registry has, so that a shard fits a byte of [`RegistryKey`]: threads
/// beyond that share shards (a thread's shard is its number modulo the shard count).
const MAX_SHARDS: usize = 128;

/// The loop's live tasks, for `all_tasks()`: sharded so that spawns and completions on
/// different worker threads do not contend on one lock. A thread always inserts into its own
/// shard; a task is removed from the shard it was inserted in, from whichever thread it
/// completes on.
pub(crate) struct Registry<R: Registered> {
    shards: Box<[parking_lot::Mutex<Shard<R::Entry>>]>,
    /// When the loop was built, if it tracks task ages (`Builder::track_task_ages`).
    started: Option<tokio::time::Instant>,
}

/// One shard of the registry: each live task, and, if the loop tracks ages, its creation time
/// in milliseconds of the loop's clock under the same key. The time lives beside the task, not
/// in it (an extra field in the task header cost every spawn ~100-300 instructions), and apart
/// from the slab, so a loop that does not track ages keeps 16 bytes per task (the slab entry
/// of an `Arc<dyn AnyTask>`), not 24.
struct Shard<E> {
    tasks: Slab<E>,
    /// `born[key]`: creation time of the task at `key`; `None` unless the loop tracks ages.
    born: Option<Vec<u32>>,
}

impl RegistryKey {
    /// No entry: an eager task in its first step, registered only if that step suspends. A
    /// sentinel rather than an `Option`, so that it fits beside the task header's flags.
    pub(crate) const NONE: RegistryKey = RegistryKey { shard: u8::MAX, key: u32::MAX };
}

impl<R: Registered> Registry<R> {
    pub(super) fn new(shards: usize, track_ages: bool) -> Self {
        let n = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let started = track_ages.then(tokio::time::Instant::now);
        // The current-thread loop's one shard starts with room for 1,024 tasks, allocated with
        // the loop rather than grown (and its old buffers freed) among the first tasks' memory:
        // glibc's reuse of freed task memory depends on it (`examples/icount.rs`, `chain`
        // +5% when the slab grew among the tasks).
        let capacity = if n == 1 { 1024 } else { 0 };
        let shard =
            || parking_lot::Mutex::new(Shard { tasks: Slab::with_capacity(capacity), born: track_ages.then(Vec::new) });
        Registry { shards: (0..n).map(|_| shard()).collect(), started }
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

    #[inline]
    fn home_shard(&self) -> usize {
        if self.shards.len() == 1 {
            // The current-thread loop: no thread-local to read.
            return 0;
        }
        thread_local! {
            static SHARD: usize = {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed)
            };
        }
        SHARD.with(|s| *s) & (self.shards.len() - 1)
    }

    #[inline]
    pub(crate) fn insert(&self, task: R::Entry) -> RegistryKey {
        let shard = self.home_shard();
        let key = {
            let mut guard = lock(&self.shards[shard]);
            let Shard { tasks, born } = &mut *guard;
            let key = tasks.insert(task);
            if let Some(born) = born {
                record_birth(born, key, self.now_ms().unwrap_or(0));
            }
            key
        };
        RegistryKey {
            shard: u8::try_from(shard).expect("at most 128 shards"),
            key: u32::try_from(key).expect("fewer than 2^32 live tasks"),
        }
    }

    /// Removes the task and returns its registry entry, for the caller to drop unlocked.
    /// Nothing for [`RegistryKey::NONE`].
    #[inline]
    pub(crate) fn remove(&self, key: RegistryKey) -> Option<R::Entry> {
        let shard = self.shards.get(key.shard as usize)?;
        lock(shard).tasks.try_remove(key.key as usize)
    }

    /// Every registered task that is not done.
    pub(crate) fn snapshot(&self) -> Vec<R> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let shard = lock(shard);
            all.extend(shard.tasks.iter().filter(|(_, t)| !R::entry_is_done(t)).map(|(_, t)| R::from_entry(t)));
        }
        all
    }

    /// Every registered task that is not done, with its age if the loop tracks ages.
    pub(crate) fn snapshot_with_ages(&self) -> Vec<(R, Option<std::time::Duration>)> {
        let now = self.now_ms();
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let shard = lock(shard);
            all.extend(shard.tasks.iter().filter(|(_, t)| !R::entry_is_done(t)).map(|(key, t)| {
                let born = shard.born.as_ref().and_then(|born| born.get(key)).copied();
                let age = now
                    .zip(born)
                    .map(|(now, born)| std::time::Duration::from_millis(u64::from(now.saturating_sub(born))));
                (R::from_entry(t), age)
            }));
        }
        all
    }
}

/// Notes that the task at slab `key` was created at `ms` (a loop that tracks ages).
#[cold]
fn record_birth(born: &mut Vec<u32>, key: usize, ms: u32) {
    if born.len() <= key {
        born.resize(key + 1, 0);
    }
    born[key] = ms;
}
