//! A map of subjects split into independently locked shards.
//!
//! A decision may touch up to three subjects (key, account, global). It locks their shards
//! in ascending index order, so two decisions can never wait on each other in a cycle,
//! and holds every lock while it evaluates: that is what makes a multi-subject decision
//! atomic. Idle subjects are swept out shard by shard as time passes, so memory follows
//! the number of active keys rather than every key ever seen.
//!
//! A subject is hashed once per operation ([`Target`]): the hash picks the shard and is
//! then handed to the shard's table for every lookup.

use super::entry::Entry;
use floodgate_core::Nanos;
use foldhash::fast::FixedState;
use hashbrown::hash_table::{Entry as Slot, OccupiedEntry};
use hashbrown::HashTable;
use smallvec::SmallVec;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Shard count: enough that two cores (or sixteen) rarely meet on one lock.
const SHARDS: usize = 256;

/// Aligned to its own cache lines so that neighbouring shard locks do not false-share.
#[repr(align(128))]
struct Padded<T>(T);

/// A subject located: its name, hash and shard.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) name: &'a str,
    pub(crate) hash: u64,
    pub(crate) shard: usize,
}

pub(crate) struct Shard {
    table: HashTable<Entry>,
    last_sweep: Nanos,
}

impl Shard {
    /// The entry of `target`, created empty if missing.
    pub(crate) fn entry(&mut self, target: &Target<'_>) -> &mut Entry {
        let (hash, name) = (target.hash, target.name);
        match self.table.entry(hash, |e| e.is(hash, name), |e| e.hash) {
            Slot::Occupied(slot) => slot.into_mut(),
            Slot::Vacant(slot) => slot.insert(Entry::new(hash, name)).into_mut(),
        }
    }

    /// The entry of `target`, created empty if missing, held so that it can be removed
    /// again; true if it was created.
    #[inline]
    pub(crate) fn occupy(&mut self, target: &Target<'_>) -> (OccupiedEntry<'_, Entry>, bool) {
        let (hash, name) = (target.hash, target.name);
        // Looking up first: the entry API would make room for an insertion on every call.
        match self.table.find_entry(hash, |e| e.is(hash, name)) {
            Ok(slot) => (slot, false),
            Err(absent) => {
                let table = absent.into_table();
                (
                    table.insert_unique(hash, Entry::new(hash, name), |e| e.hash),
                    true,
                )
            }
        }
    }

    /// The entry of `target`, if it exists.
    pub(crate) fn get(&self, target: &Target<'_>) -> Option<&Entry> {
        self.table
            .find(target.hash, |e| e.is(target.hash, target.name))
    }

    /// The entry of `target`, if it exists, to change.
    pub(crate) fn get_mut(&mut self, target: &Target<'_>) -> Option<&mut Entry> {
        self.table
            .find_mut(target.hash, |e| e.is(target.hash, target.name))
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    fn sweep(&mut self, now: Nanos) {
        self.table.retain(|entry| !entry.prune(now));
        if self.table.capacity() > 64 && self.table.len() < self.table.capacity() / 4 {
            self.table.shrink_to_fit(|e| e.hash);
        }
        self.last_sweep = now;
    }
}

/// The sharded subject map.
pub(crate) struct Shards {
    shards: Box<[Padded<Mutex<Shard>>]>,
    hasher: FixedState,
    sweep_every: Nanos,
}

/// The locked shards of one operation.
pub(crate) struct Locked<'a> {
    guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 3]>,
}

impl Locked<'_> {
    /// The locked shard `index` (which must have been named when locking).
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
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        table: HashTable::new(),
                        last_sweep: 0,
                    }))
                })
                .collect(),
            hasher: FixedState::with_seed(0x666c_6f6f_6467_6174),
            sweep_every,
        }
    }

    /// Locates `subject`. The shard comes from middle bits of the hash: the table inside
    /// the shard uses the low bits for buckets and the top bits for its tags.
    pub(crate) fn target<'a>(&self, subject: &'a str) -> Target<'a> {
        let hash = self.hasher.hash_one(subject);
        Target {
            name: subject,
            hash,
            shard: ((hash >> 32) as usize) % SHARDS,
        }
    }

    /// Locks the shards at `indices` in ascending order (deduplicated), sweeping any that is
    /// due. A poisoned lock is taken over: every mutation leaves its shard consistent before
    /// anything that could panic, so the data is still sound.
    pub(crate) fn lock(&self, indices: &[usize], now: Nanos) -> Locked<'_> {
        let mut sorted: SmallVec<[usize; 4]> = SmallVec::from_slice(indices);
        sorted.sort_unstable();
        sorted.dedup();
        let mut guards = SmallVec::new();
        for i in sorted {
            guards.push((i, self.lock_one(i, now)));
        }
        Locked { guards }
    }

    /// Locks the one shard `index`, sweeping it if due (see [`lock`](Self::lock)).
    pub(crate) fn lock_one(&self, index: usize, now: Nanos) -> MutexGuard<'_, Shard> {
        let mut guard = self.shards[index]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if now.saturating_sub(guard.last_sweep) >= self.sweep_every {
            guard.sweep(now);
        }
        guard
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

    /// Calls `f` on every entry, one shard locked at a time (for snapshots).
    pub(crate) fn for_each_entry(&self, now: Nanos, mut f: impl FnMut(&Entry)) {
        for index in 0..SHARDS {
            let shard = self.lock_one(index, now);
            shard.table.iter().for_each(&mut f);
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
