//! Concurrency leases: a job holds slots until it is released or its lease expires.
//!
//! Expiry is what keeps a slot from leaking when a client vanishes or an instance dies:
//! the holder renews its lease while the job runs, and nobody has to clean up after it.

use crate::clock::Nanos;
use serde::{Deserialize, Serialize};

/// Identifies one holder of concurrency slots (a request or an async job).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeaseId(pub u64);

/// One holder's slots and when they lapse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Who holds the slots.
    pub id: LeaseId,
    /// How many slots (normally 1).
    pub slots: u64,
    /// When the slots free themselves unless renewed.
    pub expires: Nanos,
}

/// Slots held at `now` (expired leases do not count).
pub fn live_slots(leases: &[Lease], now: Nanos) -> u64 {
    leases
        .iter()
        .filter(|l| l.expires > now)
        .map(|l| l.slots)
        .sum()
}

/// Time until the earliest live lease expires, or `None` if there is none.
pub fn earliest_expiry_after(leases: &[Lease], now: Nanos) -> Option<Nanos> {
    leases
        .iter()
        .filter(|l| l.expires > now)
        .map(|l| l.expires - now)
        .min()
}

/// Drops expired leases.
pub fn purge(leases: &mut Vec<Lease>, now: Nanos) {
    leases.retain(|l| l.expires > now);
}

/// Whether `cost` more slots fit under `max` at `now`.
pub fn fits(leases: &[Lease], now: Nanos, max: u64, cost: u64) -> bool {
    live_slots(leases, now).saturating_add(cost) <= max
}

/// Takes `cost` slots for `id` until `now + ttl` (adding to a lease `id` already holds).
pub fn acquire(leases: &mut Vec<Lease>, id: LeaseId, now: Nanos, ttl: Nanos, cost: u64) {
    purge(leases, now);
    let expires = now.saturating_add(ttl);
    if let Some(lease) = leases.iter_mut().find(|l| l.id == id) {
        lease.slots += cost;
        lease.expires = expires;
    } else {
        leases.push(Lease {
            id,
            slots: cost,
            expires,
        });
    }
}

/// Extends `id`'s lease to `now + ttl`; false if it has expired or never existed.
pub fn renew(leases: &mut Vec<Lease>, id: LeaseId, now: Nanos, ttl: Nanos) -> bool {
    purge(leases, now);
    match leases.iter_mut().find(|l| l.id == id) {
        Some(lease) => {
            lease.expires = now.saturating_add(ttl);
            true
        }
        None => false,
    }
}

/// Hands `from`'s slots over to `to`, held until `now + ttl` (joining any slots `to`
/// already holds); false if `from` holds none. An async job takes its slot under the
/// request's lease and keeps it under one named after its task.
pub fn transfer(
    leases: &mut Vec<Lease>,
    from: LeaseId,
    to: LeaseId,
    now: Nanos,
    ttl: Nanos,
) -> bool {
    purge(leases, now);
    let Some(i) = leases.iter().position(|l| l.id == from) else {
        return false;
    };
    let moved = leases.swap_remove(i);
    acquire(leases, to, now, ttl, moved.slots);
    true
}

/// Gives `id`'s slots back; false if it held none (already released or expired).
pub fn release(leases: &mut Vec<Lease>, id: LeaseId, now: Nanos) -> bool {
    purge(leases, now);
    let before = leases.len();
    leases.retain(|l| l.id != id);
    leases.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acquire_renew_release_expire() {
        let mut leases = Vec::new();
        acquire(&mut leases, LeaseId(1), 0, 10, 1);
        acquire(&mut leases, LeaseId(2), 0, 10, 1);
        assert!(!fits(&leases, 5, 2, 1));
        assert!(renew(&mut leases, LeaseId(1), 8, 10));
        assert_eq!(live_slots(&leases, 12), 1, "lease 2 expired at 10");
        assert!(!renew(&mut leases, LeaseId(2), 12, 10));
        assert!(release(&mut leases, LeaseId(1), 12));
        assert!(!release(&mut leases, LeaseId(1), 12));
        assert_eq!(live_slots(&leases, 12), 0);
        assert!(leases.is_empty());
    }

    #[test]
    fn a_transfer_moves_the_slots_and_restarts_the_ttl() {
        let mut leases = Vec::new();
        acquire(&mut leases, LeaseId(1), 0, 10, 1);
        assert!(transfer(&mut leases, LeaseId(1), LeaseId(9), 5, 10));
        assert!(
            !renew(&mut leases, LeaseId(1), 6, 10),
            "the old id holds nothing"
        );
        assert_eq!(live_slots(&leases, 14), 1, "held until 15");
        assert!(!transfer(&mut leases, LeaseId(1), LeaseId(9), 6, 10));
        assert!(release(&mut leases, LeaseId(9), 14));
        assert_eq!(live_slots(&leases, 14), 0);
    }

    #[test]
    fn an_expired_lease_is_not_released() {
        let mut leases = Vec::new();
        acquire(&mut leases, LeaseId(1), 0, 10, 1);
        assert!(!release(&mut leases, LeaseId(1), 10), "expired at 10");
        assert!(leases.is_empty());
    }
}
