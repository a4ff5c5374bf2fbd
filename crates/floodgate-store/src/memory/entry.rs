//! One subject's counters (a key, an account, or the global subject) in the memory store.

use floodgate_core::{AbuseState, CounterState, Nanos};
use std::sync::Arc;

/// Everything one subject owns. Kept small: a subject rarely has more than a handful of
/// counters, so a vector searched linearly beats a map.
#[derive(Debug, Default)]
pub(crate) struct Entry {
    /// Counters by slot name.
    pub(crate) slots: Vec<(Arc<str>, CounterState)>,
    /// Recent failures and any block, with the rule's window (to know when it is idle).
    pub(crate) abuse: Option<(AbuseState, Nanos)>,
}

impl Entry {
    /// The position of `slot`'s counter, if it exists.
    pub(crate) fn find(&self, slot: &Arc<str>) -> Option<usize> {
        self.slots
            .iter()
            .position(|(s, _)| Arc::ptr_eq(s, slot) || **s == **slot)
    }

    /// The counter of `slot` (fresh if never used).
    pub(crate) fn state(&self, slot: &Arc<str>) -> CounterState {
        self.find(slot)
            .map(|i| self.slots[i].1.clone())
            .unwrap_or_default()
    }

    /// A mutable reference to `slot`'s counter, created fresh if missing.
    pub(crate) fn state_mut(&mut self, slot: &Arc<str>) -> &mut CounterState {
        let i = match self.find(slot) {
            Some(i) => i,
            None => {
                self.slots.push((Arc::clone(slot), CounterState::Fresh));
                self.slots.len() - 1
            }
        };
        &mut self.slots[i].1
    }

    /// Drops idle counters; true if nothing is left and the entry can go.
    pub(crate) fn prune(&mut self, now: Nanos) -> bool {
        self.slots.retain(|(_, s)| !s.is_idle(now));
        if self
            .abuse
            .as_ref()
            .is_some_and(|(state, window)| state.is_idle(*window, now))
        {
            self.abuse = None;
        }
        self.slots.is_empty() && self.abuse.is_none()
    }
}
