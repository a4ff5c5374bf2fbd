//! Export and import of the memory store's state, so that an embedding process can save
//! it (e.g. to a file every second and at shutdown) and put it back after a restart.
//!
//! Times inside counter states are the store clock's nanoseconds. With
//! [`SystemClock`](floodgate_core::SystemClock) those are nanoseconds since the Unix
//! epoch, so a state saved by one process means the same instants to the next: a GCRA
//! arrival time in the past is simply idle, a quota period that has ended resets, a lease
//! that expired while the process was down is free again.

use super::entry::Entry;
use super::MemoryStore;
use floodgate_core::{AbuseState, CounterState, Nanos};
use std::sync::Arc;

/// Everything one subject (a key, an account or the global subject) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectState {
    /// The subject's name (a key id, an account id, or the global subject).
    pub subject: String,
    /// Counters by slot name.
    pub counters: Vec<(Arc<str>, CounterState)>,
    /// Abuse protection: recent failures and any block, with the rule's window (which
    /// says when the state is idle).
    pub abuse: Option<(AbuseState, Nanos)>,
}

impl SubjectState {
    fn of(entry: &Entry) -> Self {
        Self {
            subject: String::from_utf8_lossy(entry.name()).into_owned(),
            counters: entry.slots.iter().cloned().collect(),
            abuse: entry.abuse.as_deref().cloned(),
        }
    }
}

impl MemoryStore {
    /// Every subject with state that is not idle now, one shard locked at a time (a
    /// decision waits for at most one shard's copy).
    pub fn export(&self) -> Vec<SubjectState> {
        let now = self.clock.now();
        let mut out = Vec::new();
        self.shards.for_each_entry(now, |entry| {
            let mut state = SubjectState::of(entry);
            state.counters.retain(|(_, s)| !s.is_idle(now));
            if state
                .abuse
                .as_ref()
                .is_some_and(|(abuse, window)| abuse.is_idle(*window, now))
            {
                state.abuse = None;
            }
            if !state.counters.is_empty() || state.abuse.is_some() {
                out.push(state);
            }
        });
        out
    }

    /// Puts `states` back, replacing whatever the store holds for those subjects' slots.
    /// Meant for start-up, before the store decides anything.
    pub fn import(&self, states: impl IntoIterator<Item = SubjectState>) {
        let now = self.clock.now();
        for state in states {
            let target = self.shards.target(&state.subject);
            let mut shard = self.shards.lock_one(target.shard, now);
            let entry = shard.entry(&target);
            for (slot, counter) in state.counters {
                *entry.state_mut(&slot) = counter;
            }
            if let Some(abuse) = state.abuse {
                entry.abuse = Some(Box::new(abuse));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{DecideRequest, Subjects};
    use floodgate_core::{
        AbuseRule, CalendarPeriod, Costs, FakeClock, LeaseId, Limit, Scope, Unit, Window,
        NANOS_PER_SEC,
    };

    fn limits() -> Vec<Limit> {
        vec![
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 3, "m"),
            Limit::new(
                Scope::Account,
                Unit::Requests,
                Window::Calendar {
                    period: CalendarPeriod::Day,
                    offset: 0,
                },
                10,
                "m",
            ),
        ]
    }

    fn decide(store: &MemoryStore, limits: &[Limit]) -> bool {
        let request = DecideRequest {
            subjects: Subjects {
                key: "k1",
                account: "a1",
            },
            limits,
            costs: &Costs::one_request(),
            lease: LeaseId(1),
            abuse: None,
        };
        store.decide_now(&request).allowed()
    }

    #[test]
    fn a_restored_store_continues_where_the_saved_one_stopped() {
        let clock = Arc::new(FakeClock::new(1_700_000_000 * NANOS_PER_SEC));
        let first = MemoryStore::new(clock.clone());
        let limits = limits();
        for _ in 0..3 {
            assert!(decide(&first, &limits));
        }
        assert!(!decide(&first, &limits), "the minute limit is used up");
        let rule = AbuseRule {
            max_failures: 1,
            window: 30 * NANOS_PER_SEC,
            block: 30 * NANOS_PER_SEC,
        };
        first.record_failure_now("k2", &rule);
        let saved = first.export();
        assert_eq!(
            saved.len(),
            3,
            "key, account and the failing key: {saved:?}"
        );

        let second = MemoryStore::new(clock.clone());
        second.import(saved.clone());
        assert_eq!(second.export(), saved);
        assert!(
            !decide(&second, &limits),
            "the minute limit is still used up"
        );
        clock.advance(std::time::Duration::from_secs(60));
        // Three more in the next minute: the daily quota (10) has 7 left, not 10.
        for _ in 0..3 {
            assert!(decide(&second, &limits));
        }
        let account = second
            .export()
            .into_iter()
            .find(|s| s.subject == "a1")
            .unwrap();
        assert!(matches!(
            account.counters[0].1,
            CounterState::Quota { used: 6, .. }
        ));
    }

    #[test]
    fn idle_state_is_not_exported() {
        let clock = Arc::new(FakeClock::new(1_700_000_000 * NANOS_PER_SEC));
        let store = MemoryStore::new(clock.clone());
        let minute = [Limit::new(
            Scope::Key,
            Unit::Requests,
            Window::MINUTE,
            3,
            "m",
        )];
        assert!(decide(&store, &minute));
        assert_eq!(store.export().len(), 1);
        clock.advance(std::time::Duration::from_secs(61));
        assert!(store.export().is_empty());
    }
}
