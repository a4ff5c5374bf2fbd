//! The in-memory store: counters in a sharded map inside this process.
//!
//! Every call is synchronous and short (a few hash lookups under at most three shard
//! locks); the async [`Store`] methods simply call the synchronous ones. Benchmarks and
//! embedded users can call the synchronous methods directly.

mod decide;
mod entry;
mod plan;
mod settle;
mod shards;
mod snapshot;

use crate::error::StoreError;
use crate::request::{DecideRequest, Inspection, SettleRequest, Subjects};
use crate::store::Store;
use async_trait::async_trait;
use floodgate_core::{
    inspect, lease, AbuseRule, Clock, CounterState, Decision, LeaseId, Limit, Nanos, Window,
};
use plan::Plan;
use shards::Shards;
use smallvec::SmallVec;
pub use snapshot::SubjectState;
use std::sync::Arc;
use std::time::Duration;

/// Counters held in this process's memory.
pub struct MemoryStore {
    /// Subjects' counters, sharded by subject.
    shards: Shards,
    /// The only source of time: real in production, fake in tests.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A store reading time from `clock`, sweeping idle subjects every 10 seconds.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_sweep_interval(clock, Duration::from_secs(10))
    }

    /// A store that sweeps idle subjects out of a shard when `every` has passed since
    /// that shard's last sweep.
    pub fn with_sweep_interval(clock: Arc<dyn Clock>, every: Duration) -> Self {
        let every = u64::try_from(every.as_nanos()).unwrap_or(u64::MAX).max(1);
        Self {
            shards: Shards::new(every),
            clock,
        }
    }

    /// The store's current time.
    pub fn now(&self) -> Nanos {
        self.clock.now()
    }

    /// Subjects (keys, accounts, global) with live state.
    pub fn subjects_held(&self) -> usize {
        self.shards.len()
    }

    /// Drops every idle subject now, rather than as shards come due.
    pub fn sweep(&self) {
        self.shards.sweep_all(self.clock.now());
    }

    /// [`Store::inspect`], synchronously.
    pub fn inspect_now(&self, subjects: &Subjects<'_>, limits: &[Limit]) -> Inspection {
        let now = self.clock.now();
        let plan = Plan::new(&self.shards, subjects, limits, true);
        let mut locked = self.shards.lock(&plan.shards(), now);
        let dimensions = limits
            .iter()
            .enumerate()
            .map(|(i, limit)| {
                let target = &plan.targets[plan.of_limit[i]];
                let shard = locked.shard(target.shard);
                let state = shard.get(target).and_then(|e| e.state(&limit.slot));
                inspect(limit, state.unwrap_or(&CounterState::Fresh), now)
            })
            .collect();
        let key = &plan.targets[plan.key.expect("planned with the key")];
        let blocked_for = locked
            .shard(key.shard)
            .get(key)
            .and_then(|e| e.abuse.as_ref())
            .and_then(|abuse| abuse.0.blocked_for(now));
        Inspection {
            at: now,
            dimensions,
            blocked_for,
        }
    }

    /// [`Store::renew_lease`], synchronously.
    pub fn renew_lease_now(&self, subjects: &Subjects<'_>, limits: &[Limit], id: LeaseId) -> bool {
        let now = self.clock.now();
        let mut held = false;
        self.with_counters(subjects, &concurrency(limits), now, |_, limit, state| {
            if let (Window::Concurrent { lease_ttl }, CounterState::Leases(leases)) =
                (limit.window, state)
            {
                held |= lease::renew(leases, id, now, lease_ttl);
            }
        });
        held
    }

    /// [`Store::release_lease`], synchronously.
    pub fn release_lease_now(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        id: LeaseId,
    ) -> bool {
        let now = self.clock.now();
        let mut held = false;
        self.with_counters(subjects, &concurrency(limits), now, |_, _, state| {
            if let CounterState::Leases(leases) = state {
                held |= lease::release(leases, id, now);
            }
        });
        held
    }

    /// [`Store::transfer_lease`], synchronously.
    pub fn transfer_lease_now(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        from: LeaseId,
        to: LeaseId,
    ) -> bool {
        let now = self.clock.now();
        let mut held = false;
        self.with_counters(subjects, &concurrency(limits), now, |_, limit, state| {
            if let (Window::Concurrent { lease_ttl }, CounterState::Leases(leases)) =
                (limit.window, state)
            {
                held |= lease::transfer(leases, from, to, now, lease_ttl);
            }
        });
        held
    }

    /// [`Store::record_failure`], synchronously.
    pub fn record_failure_now(&self, key: &str, rule: &AbuseRule) -> Option<Nanos> {
        let now = self.clock.now();
        let target = self.shards.target(key);
        let mut locked = self.shards.lock(&[target.shard], now);
        let entry = locked.shard(target.shard).entry(&target);
        let abuse = entry.abuse.get_or_insert_with(Default::default);
        abuse.1 = rule.window.max(abuse.1);
        abuse.0.record_failure(rule, now)
    }

    /// [`Store::clear_block`], synchronously.
    pub fn clear_block_now(&self, key: &str) {
        let now = self.clock.now();
        let target = self.shards.target(key);
        let mut locked = self.shards.lock(&[target.shard], now);
        if let Some(abuse) = locked.shard(target.shard).entry(&target).abuse.as_mut() {
            abuse.0.clear();
        }
    }

    /// Runs `f(i, limit, counter)` on the counter of each of `limits` under their locks.
    fn with_counters(
        &self,
        subjects: &Subjects<'_>,
        limits: &[&Limit],
        now: Nanos,
        mut f: impl FnMut(usize, &Limit, &mut CounterState),
    ) {
        let plan = Plan::new(&self.shards, subjects, limits.iter().copied(), false);
        let mut locked = self.shards.lock(&plan.shards(), now);
        for (i, limit) in limits.iter().enumerate() {
            let target = &plan.targets[plan.of_limit[i]];
            let state = locked
                .shard(target.shard)
                .entry(target)
                .state_mut(&limit.slot);
            f(i, limit, state);
        }
    }
}

fn concurrency(limits: &[Limit]) -> SmallVec<[&Limit; 4]> {
    limits
        .iter()
        .filter(|l| matches!(l.window, Window::Concurrent { .. }))
        .collect()
}

#[async_trait]
impl Store for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn decide(&self, request: &DecideRequest<'_>) -> Result<Decision, StoreError> {
        Ok(self.decide_now(request))
    }

    async fn settle(&self, request: &SettleRequest<'_>) -> Result<(), StoreError> {
        self.settle_now(request);
        Ok(())
    }

    async fn inspect(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
    ) -> Result<Inspection, StoreError> {
        Ok(self.inspect_now(subjects, limits))
    }

    async fn renew_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        lease: LeaseId,
    ) -> Result<bool, StoreError> {
        Ok(self.renew_lease_now(subjects, limits, lease))
    }

    async fn release_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        lease: LeaseId,
    ) -> Result<bool, StoreError> {
        Ok(self.release_lease_now(subjects, limits, lease))
    }

    async fn transfer_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        from: LeaseId,
        to: LeaseId,
    ) -> Result<bool, StoreError> {
        Ok(self.transfer_lease_now(subjects, limits, from, to))
    }

    async fn record_failure(
        &self,
        key: &str,
        rule: &AbuseRule,
    ) -> Result<Option<Nanos>, StoreError> {
        Ok(self.record_failure_now(key, rule))
    }

    async fn clear_block(&self, key: &str) -> Result<(), StoreError> {
        self.clear_block_now(key);
        Ok(())
    }
}
