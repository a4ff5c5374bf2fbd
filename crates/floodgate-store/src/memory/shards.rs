//! A map of subjects split into independently locked shards.
//!
//! A decision may touch up to three subjects (key, account, global). It locks their shards
//! in ascending index order, so two decisions can never wait on each other in a cycle,
//! and holds every lock while it evaluates: that is what makes a multi-subject decision
//! atomic. Idle subjects are swept out shard by shard as time passes, so memory follows
//! the number of active keys rather than every key ever seen.

use super::entry::Entry;
use floodgate_core::Nanos;
use foldhash::fast::FixedState;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Shard count: enough that two cores (or sixteen) rarely meet on one lock.
const SHARDS: usize = 256;

/// Aligned to its own cache lines so that neighbouring shard locks do not false-share.
#[repr(align(128))]
struct Padded<T>(T);

pub(crate) struct Shard {
    map: HashMap<Box<str>, Entry, FixedState>,
    last_sweep: Nanos,
}

impl Shard {
    /// The entry for `subject`, created empty if missing.
    pub(crate) fn entry(&mut self, subject: &str) -> &mut Entry {
        if !self.map.contains_key(subject) {
            self.map.insert(subject.into(), Entry::default());
        }
        self.map.get_mut(subject).expect("inserted above")
    }

    /// The entry for `subject`, if it exists.
    pub(crate) fn get(&self, subject: &str) -> Option<&Entry> {
        self.map.get(subject)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    fn sweep(&mut self, now: Nanos) {
        self.map.retain(|_, entry| !entry.prune(now));
        self.last_sweep = now;
    }
}

/// The sharded subject map.
pub(crate) struct Shards {
    shards: Box<[Padded<Mutex<Shard>>]>,
    hasher: FixedState,
    sweep_every: Nanos,
}

/// The locked shards of one operation and which subject lives in which.
pub(crate) struct Locked<'a> {
    guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 4]>,
}

impl Locked<'_> {
    /// The locked shard holding `subject` (which must have been named when locking).
    pub(crate) fn shard(&mut self, index: usize) -> &mut Shard {
        let pos = self
            .guards
            .iter()
            .position(|(i, _)| *i == index)
            .expect("shard was locked for this subject");
        &mut self.guards[pos].1
    }
}

impl Shards {
    pub(crate) fn new(sweep_every: Nanos) -> Self {
        let hasher = FixedState::with_seed(0x666c_6f6f_6467_6174);
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        map: HashMap::with_hasher(hasher),
                        last_sweep: 0,
                    }))
                })
                .collect(),
            hasher,
            sweep_every,
        }
    }

    /// Which shard holds `subject`. Uses middle bits of the hash: the map inside the shard
    /// uses the low bits for buckets and the top bits for its tags.
    pub(crate) fn index(&self, subject: &str) -> usize {
        ((self.hasher.hash_one(subject) >> 32) as usize) % SHARDS
    }

    /// Locks the shards at `indices` in ascending order (deduplicated), sweeping any that is
    /// due. A poisoned lock is taken over: every mutation leaves its shard consistent before
    /// anything that could panic, so the data is still sound.
    pub(crate) fn lock(&self, indices: &[usize], now: Nanos) -> Locked<'_> {
        let mut sorted: SmallVec<[usize; 4]> = indices.iter().copied().collect();
        sorted.sort_unstable();
        sorted.dedup();
        let guards = sorted
            .into_iter()
            .map(|i| {
                let mut guard = self.shards[i]
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if now.saturating_sub(guard.last_sweep) >= self.sweep_every {
                    guard.sweep(now);
                }
                (i, guard)
            })
            .collect();
        Locked { guards }
    }

    /// Sweeps every shard now.
    pub(crate) fn sweep_all(&self, now: Nanos) {
        for shard in self.shards.iter() {
            shard
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sweep(now);
        }
    }

    /// Subjects held, across shards.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.0.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}
