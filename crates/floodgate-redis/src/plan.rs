//! Splitting a request's limits into parts that each run as one script in one hash slot.
//!
//! On a single server every limit (and the abuse hash) goes to one part: one script, one
//! round trip. On a cluster, limits are grouped by hash tag: every key- and
//! account-scoped limit in the account's part, global limits in one part per bucket.
//! Global parts come first, so that capacity is reserved before the account's counters
//! are touched (see `docs/redis.md`).

use crate::keys;
use floodgate_core::{Limit, Scope};
use floodgate_store::Subjects;

/// Limits whose counters share one hash slot.
#[derive(Debug, Default)]
pub(crate) struct Part {
    /// The hash tag of the part's slot (empty on a single server).
    pub(crate) tag: String,
    /// Whether the part holds global limits (the reservations of a cluster decision).
    pub(crate) global: bool,
    /// Hash names, in `KEYS` order.
    pub(crate) keys: Vec<String>,
    /// Each limit of the part: its index among the request's limits, and the 1-based
    /// index of its hash in `keys`.
    pub(crate) limits: Vec<(usize, usize)>,
}

impl Part {
    /// The 1-based `KEYS` index of `name`, adding it if new.
    pub(crate) fn key_index(&mut self, name: String) -> usize {
        match self.keys.iter().position(|k| *k == name) {
            Some(i) => i + 1,
            None => {
                self.keys.push(name);
                self.keys.len()
            }
        }
    }
}

/// Splits `limits` (with their indices in the request) into parts. Never returns no
/// part: a request without limits still needs a script call for the server's time.
pub(crate) fn split<'l>(
    subjects: &Subjects<'_>,
    limits: impl Iterator<Item = (usize, &'l Limit)>,
    cluster: bool,
) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    for (index, limit) in limits {
        let tag = if cluster {
            keys::tag(subjects, limit)
        } else {
            String::new()
        };
        let global = cluster && limit.scope == Scope::Global;
        let at = match parts.iter().position(|p| p.tag == tag) {
            Some(at) => at,
            None => {
                parts.push(Part {
                    tag,
                    global,
                    ..Part::default()
                });
                parts.len() - 1
            }
        };
        let part = &mut parts[at];
        let key_index = part.key_index(keys::counter_hash(subjects, limit));
        part.limits.push((index, key_index));
    }
    if parts.is_empty() {
        parts.push(Part::default());
    }
    // Stable: global parts keep their order, the account's part goes last.
    parts.sort_by_key(|p| !p.global);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{Unit, Window};

    const SUBJECTS: Subjects<'static> = Subjects {
        key: "k1",
        account: "acme",
    };

    fn limits() -> Vec<Limit> {
        vec![
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 10, "m1"),
            Limit::new(Scope::Global, Unit::Requests, Window::MINUTE, 1000, "m1"),
            Limit::new(Scope::Account, Unit::Tokens, Window::MINUTE, 10, "m1"),
            Limit::new(Scope::Global, Unit::Tokens, Window::MINUTE, 1000, "m1"),
            Limit::new(Scope::Global, Unit::Requests, Window::MINUTE, 1000, "m2"),
        ]
    }

    #[test]
    fn a_single_server_runs_everything_in_one_part() {
        let limits = limits();
        let parts = split(&SUBJECTS, limits.iter().enumerate(), false);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].limits.len(), 5);
        assert_eq!(parts[0].keys.len(), 4);
    }

    #[test]
    fn a_cluster_reserves_global_buckets_first_and_the_account_last() {
        let limits = limits();
        let parts = split(&SUBJECTS, limits.iter().enumerate(), true);
        let members: Vec<Vec<usize>> = parts
            .iter()
            .map(|p| p.limits.iter().map(|(i, _)| *i).collect())
            .collect();
        assert_eq!(members, vec![vec![1, 3], vec![4], vec![0, 2]]);
        assert_eq!(parts[2].keys, vec!["fg:{acme}:k:k1", "fg:{acme}:a"]);
        assert!(parts[0].global && parts[1].global && !parts[2].global);
    }

    #[test]
    fn no_limits_still_make_one_part() {
        assert_eq!(split(&SUBJECTS, std::iter::empty(), true).len(), 1);
    }
}
