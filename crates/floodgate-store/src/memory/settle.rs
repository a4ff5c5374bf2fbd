//! Settlements: earlier consumption adjusted after the fact (a token reservation refunded
//! or topped up to what the upstream really used).
//!
//! A settlement usually touches one subject (a key's TPM, say); it takes a path with one
//! hash, one lock and one table probe, adjusting the counters in place. A refund to a
//! subject or counter that no longer exists has nothing to give back and creates nothing.

use super::MemoryStore;
use crate::request::SettleRequest;
use floodgate_core::{settle, Limit, Nanos};
use smallvec::SmallVec;

impl MemoryStore {
    /// [`Store::settle`](crate::Store::settle), synchronously.
    pub fn settle_now(&self, request: &SettleRequest<'_>) {
        let now = self.clock.now();
        match single_subject(request) {
            Some(subject) => self.settle_single(request, subject, now),
            None => self.settle_many(request, now),
        }
    }

    fn settle_single(&self, request: &SettleRequest<'_>, subject: &str, now: Nanos) {
        let target = self.shards.target(subject);
        let mut shard = self.shards.lock_one(target.shard, now);
        let charges = request.adjustments.iter().any(|a| a.delta > 0);
        let entry = if charges {
            shard.entry(&target)
        } else {
            match shard.get_mut(&target) {
                Some(entry) => entry,
                None => return,
            }
        };
        for (i, adjustment) in request.adjustments.iter().enumerate() {
            let limit = adjustment.limit;
            let state = match entry.find_near(&limit.slot, i) {
                Some(at) => &mut entry.slots[at].1,
                None if adjustment.delta > 0 => entry.state_mut(&limit.slot),
                None => continue,
            };
            settle(limit, state, now, adjustment.delta, request.reserved_at);
        }
    }

    #[inline(never)]
    fn settle_many(&self, request: &SettleRequest<'_>, now: Nanos) {
        let limits: SmallVec<[&Limit; 4]> = request.adjustments.iter().map(|a| a.limit).collect();
        self.with_counters(&request.subjects, &limits, now, |i, _, state| {
            let adjustment = &request.adjustments[i];
            settle(
                adjustment.limit,
                state,
                now,
                adjustment.delta,
                request.reserved_at,
            );
        });
    }
}

/// The one subject every adjustment of `request` is on, if there is one.
fn single_subject<'a>(request: &SettleRequest<'a>) -> Option<&'a str> {
    let subjects = request.subjects;
    let first = subjects.for_scope(request.adjustments.first()?.limit.scope);
    request
        .adjustments
        .iter()
        .all(|a| {
            let s = subjects.for_scope(a.limit.scope);
            std::ptr::eq(s, first) || s == first
        })
        .then_some(first)
}
