//! The rate-limit log: each key's recent rejections, for
//! `GET /api/v1/api_keys/rate_limit_logs`.
//!
//! It lives in memory and is bounded twice: at most `per_key` entries per key (oldest
//! dropped first), and at most `max_keys` keys (the key whose last rejection is oldest is
//! forgotten first), so a flood of keys cannot grow it without bound.

use floodgate_core::{Limit, Nanos};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// One rejected request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// When (the store's time of the decision).
    pub at: Nanos,
    /// The model asked for.
    pub model: Arc<str>,
    /// The limit that tripped; `None` for an abuse block.
    pub limit: Option<Limit>,
    /// Whether the request was larger than that limit allows at all
    /// (`request_too_large`), rather than over what was left of it.
    pub too_large: bool,
    /// The HTTP status answered.
    pub status: u16,
    /// The wait announced to the client.
    pub retry_after: Nanos,
}

/// Recent rejections per key id.
#[derive(Debug)]
pub struct RejectionLog {
    /// Entries by key id, oldest first.
    entries: Mutex<HashMap<Arc<str>, VecDeque<Rejection>>>,
    /// Most entries kept per key.
    per_key: usize,
    /// Most keys kept.
    max_keys: usize,
}

impl Default for RejectionLog {
    fn default() -> Self {
        Self::new(100, 10_000)
    }
}

impl RejectionLog {
    /// A log keeping `per_key` entries for each of at most `max_keys` keys.
    pub fn new(per_key: usize, max_keys: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            per_key: per_key.max(1),
            max_keys: max_keys.max(1),
        }
    }

    /// Records a rejection of `key`.
    pub fn record(&self, key: &str, rejection: Rejection) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some(list) = entries.get_mut(key) {
            if list.len() >= self.per_key {
                list.pop_front();
            }
            list.push_back(rejection);
            return;
        }
        if entries.len() >= self.max_keys {
            let stalest = entries
                .iter()
                .min_by_key(|(_, list)| list.back().map_or(0, |r| r.at))
                .map(|(k, _)| Arc::clone(k));
            if let Some(k) = stalest {
                entries.remove(&k);
            }
        }
        entries.insert(key.into(), VecDeque::from([rejection]));
    }

    /// `key`'s rejections, newest first.
    pub fn recent(&self, key: &str) -> Vec<Rejection> {
        self.entries
            .lock()
            .ok()
            .and_then(|entries| entries.get(key).map(|l| l.iter().rev().cloned().collect()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: Nanos) -> Rejection {
        Rejection {
            at: t,
            model: "m".into(),
            limit: None,
            too_large: false,
            status: 429,
            retry_after: 1,
        }
    }

    #[test]
    fn bounded_per_key_and_in_keys() {
        let log = RejectionLog::new(2, 2);
        for t in 1..=3 {
            log.record("a", at(t));
        }
        assert_eq!(
            log.recent("a").iter().map(|r| r.at).collect::<Vec<_>>(),
            [3, 2]
        );
        log.record("b", at(4));
        log.record("c", at(5));
        assert!(log.recent("a").is_empty(), "a's last entry was the oldest");
        assert_eq!(log.recent("b").len(), 1);
        assert_eq!(log.recent("c").len(), 1);
        assert!(log.recent("d").is_empty());
    }
}
