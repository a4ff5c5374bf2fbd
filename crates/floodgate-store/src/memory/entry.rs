//! One subject's counters (a key, an account, or the global subject) in the memory store.
//!
//! An entry is laid out for the decision's hot path: the subject's hash and name sit
//! inline (no pointer to follow to compare names of up to 24 bytes), so do up to three
//! counters (a text model's RPM + TPM + daily quota), and the rarely used abuse state is
//! boxed so that it costs one pointer when absent.

use floodgate_core::{AbuseState, CounterState, Nanos};
use smallvec::SmallVec;
use std::sync::Arc;

/// Everything one subject owns. A subject rarely has more than a handful of counters, so
/// a vector searched linearly beats a map.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The subject name's hash, compared before the name and reused when the table grows.
    pub(crate) hash: u64,
    /// The subject's name, inline when short.
    name: SmallVec<[u8; 24]>,
    /// Counters by slot name.
    pub(crate) slots: SmallVec<[(Arc<str>, CounterState); 3]>,
    /// Recent failures and any block, with the rule's window (to know when it is idle).
    pub(crate) abuse: Option<Box<(AbuseState, Nanos)>>,
}

impl Entry {
    pub(crate) fn new(hash: u64, name: &str) -> Self {
        Self {
            hash,
            name: SmallVec::from_slice(name.as_bytes()),
            slots: SmallVec::new(),
            abuse: None,
        }
    }

    /// The subject's name.
    pub(crate) fn name(&self) -> &[u8] {
        &self.name
    }

    /// Whether this is the entry of `name` (whose hash is `hash`).
    #[inline]
    pub(crate) fn is(&self, hash: u64, name: &str) -> bool {
        self.hash == hash && same_bytes(&self.name, name.as_bytes())
    }

    /// The position of `slot`'s counter, if it exists. Limits built once share their slot
    /// names, so a pointer comparison usually settles it, and is tried on every counter
    /// before any name is compared.
    pub(crate) fn find(&self, slot: &Arc<str>) -> Option<usize> {
        self.find_near(slot, 0)
    }

    /// [`find`](Self::find), looking at position `hint` first: the `i`-th limit of a
    /// subject's requests usually created, and so sits at, its `i`-th counter.
    #[inline]
    pub(crate) fn find_near(&self, slot: &Arc<str>, hint: usize) -> Option<usize> {
        if self
            .slots
            .get(hint)
            .is_some_and(|(s, _)| Arc::ptr_eq(s, slot))
        {
            return Some(hint);
        }
        self.slots
            .iter()
            .position(|(s, _)| Arc::ptr_eq(s, slot))
            .or_else(|| self.slots.iter().position(|(s, _)| **s == **slot))
    }

    /// The counter of `slot`, if it was ever used.
    pub(crate) fn state(&self, slot: &Arc<str>) -> Option<&CounterState> {
        self.find(slot).map(|i| &self.slots[i].1)
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
            .is_some_and(|abuse| abuse.0.is_idle(abuse.1, now))
        {
            self.abuse = None;
        }
        self.slots.is_empty() && self.abuse.is_none()
    }
}

/// Whether two byte strings are equal, compared a word at a time in line: subject names
/// are short, and calling `memcmp` for one took longer than comparing them.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let word = |s: &[u8], at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    // The last word ends at the last byte, overlapping the one before it if need be.
    word(a, n - 8) == word(b, n - 8)
}

#[cfg(test)]
mod tests {
    use super::same_bytes;

    #[test]
    fn same_bytes_is_slice_equality() {
        let names: Vec<Vec<u8>> = (0..=40)
            .map(|n| (0..n).map(|i| b'a' + (i % 26) as u8).collect())
            .collect();
        for a in &names {
            for b in &names {
                assert_eq!(same_bytes(a, b), a == b);
            }
            // Every single-byte difference, at every position.
            for at in 0..a.len() {
                let mut c = a.clone();
                c[at] ^= 0x20;
                assert!(!same_bytes(a, &c), "{a:?} vs {c:?}");
            }
        }
    }
}
