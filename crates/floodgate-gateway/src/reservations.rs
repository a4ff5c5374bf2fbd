//! Token reservations in flight on this instance: what admitted requests reserved and
//! have not settled yet, per counter. The store holds the sum of settled usage and open
//! reservations; this is how `rate_limits` tells the two apart. Each instance knows only
//! its own requests, so with several instances on one store a key's `reserved` covers the
//! requests of the instance that answers.

use crate::usage::Usage;
use floodgate_core::{Limit, Unit};
use floodgate_store::Subjects;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A counter: its subject and its slot.
type Counter = (Arc<str>, Arc<str>);

/// Open reservations per counter.
#[derive(Debug)]
pub(crate) struct Reservations {
    /// Tokens reserved and not yet settled, per counter; entries leave at zero.
    open: Mutex<HashMap<Counter, u64>>,
    /// The subject of global counters, allocated once.
    global: Arc<str>,
}

impl Default for Reservations {
    fn default() -> Self {
        Self {
            open: Mutex::default(),
            global: Subjects {
                key: "",
                account: "",
            }
            .for_scope(floodgate_core::Scope::Global)
            .into(),
        }
    }
}

/// Tokens of `usage` counted in `unit`.
pub(crate) fn in_unit(unit: Unit, usage: Usage) -> u64 {
    match unit {
        Unit::InputTokens => usage.input,
        Unit::OutputTokens => usage.output,
        Unit::Tokens => usage.input.saturating_add(usage.output),
        _ => 0,
    }
}

impl Reservations {
    /// Records `reserved` on the token limits among `limits`, until the returned guard
    /// is dropped (when the request settles, or keeps its reservation).
    pub(crate) fn open(
        self: &Arc<Self>,
        key: &Arc<str>,
        account: &Arc<str>,
        limits: &[Limit],
        reserved: Usage,
    ) -> Open {
        let entries: Vec<(Counter, u64)> = limits
            .iter()
            .filter(|l| l.unit.is_tokens())
            .map(|l| {
                let subject = match l.scope {
                    floodgate_core::Scope::Key => Arc::clone(key),
                    floodgate_core::Scope::Account => Arc::clone(account),
                    floodgate_core::Scope::Global => Arc::clone(&self.global),
                };
                ((subject, Arc::clone(&l.slot)), in_unit(l.unit, reserved))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if let Ok(mut open) = self.open.lock() {
            for (counter, n) in &entries {
                let total = open.entry(counter.clone()).or_default();
                *total = total.saturating_add(*n);
            }
        }
        Open {
            reservations: Arc::clone(self),
            entries,
        }
    }

    /// Tokens reserved and not settled on `limit`'s counter for `subjects`.
    pub(crate) fn of(&self, subjects: &Subjects<'_>, limit: &Limit) -> u64 {
        let counter: Counter = (
            subjects.for_scope(limit.scope).into(),
            Arc::clone(&limit.slot),
        );
        self.open
            .lock()
            .map_or(0, |open| open.get(&counter).copied().unwrap_or(0))
    }
}

/// One request's open reservation, closed on drop.
#[derive(Debug)]
pub(crate) struct Open {
    /// Where it is recorded.
    reservations: Arc<Reservations>,
    /// What it reserved, per counter.
    entries: Vec<(Counter, u64)>,
}

impl Drop for Open {
    fn drop(&mut self) {
        let Ok(mut open) = self.reservations.open.lock() else {
            return;
        };
        for (counter, n) in &self.entries {
            if let Some(total) = open.get_mut(counter) {
                *total = total.saturating_sub(*n);
                if *total == 0 {
                    open.remove(counter);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{Scope, Window};

    #[test]
    fn open_reservations_add_up_and_close_on_drop() {
        let r = Arc::new(Reservations::default());
        let limits = [
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 10, "m"),
            Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 1000, "m"),
            Limit::new(Scope::Account, Unit::OutputTokens, Window::DAY, 1000, "m"),
        ];
        let (key, account): (Arc<str>, Arc<str>) = ("k".into(), "a".into());
        let subjects = Subjects {
            key: "k",
            account: "a",
        };
        let usage = Usage {
            input: 10,
            output: 100,
        };
        let first = r.open(&key, &account, &limits, usage);
        let second = r.open(&key, &account, &limits, usage);
        assert_eq!(r.of(&subjects, &limits[1]), 220);
        assert_eq!(r.of(&subjects, &limits[2]), 200);
        assert_eq!(r.of(&subjects, &limits[0]), 0);
        drop(first);
        assert_eq!(r.of(&subjects, &limits[1]), 110);
        drop(second);
        assert_eq!(r.of(&subjects, &limits[1]), 0);
        assert!(r.open.lock().unwrap().is_empty());
    }
}
