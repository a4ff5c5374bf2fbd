//! Which subjects an operation touches, located once, and which limit uses which.

use super::shards::{Shards, Target};
use crate::request::Subjects;
use floodgate_core::{Limit, Scope};
use smallvec::SmallVec;

/// The subjects one operation touches, each hashed once, and which limit uses which.
pub(super) struct Plan<'a> {
    /// Distinct subjects (a key and an account of the same name are one subject).
    pub(super) targets: SmallVec<[Target<'a>; 3]>,
    /// For each limit, its subject's index in `targets`.
    pub(super) of_limit: SmallVec<[usize; 4]>,
    /// The key's index in `targets`, when the operation needs the key itself.
    pub(super) key: Option<usize>,
}

impl<'a> Plan<'a> {
    pub(super) fn new<'l>(
        shards: &Shards,
        subjects: &Subjects<'a>,
        limits: impl IntoIterator<Item = &'l Limit>,
        with_key: bool,
    ) -> Self {
        let mut plan = Plan {
            targets: SmallVec::new(),
            of_limit: SmallVec::new(),
            key: None,
        };
        let mut by_scope = [None; 3];
        for limit in limits {
            let scope = limit.scope as usize;
            let t = match by_scope[scope] {
                Some(t) => t,
                None => {
                    let t = plan.locate(shards, subjects.for_scope(limit.scope));
                    by_scope[scope] = Some(t);
                    t
                }
            };
            plan.of_limit.push(t);
        }
        if with_key {
            plan.key = Some(match by_scope[Scope::Key as usize] {
                Some(t) => t,
                None => plan.locate(shards, subjects.key),
            });
        }
        plan
    }

    /// The index of `subject` in `targets`, added if new.
    fn locate(&mut self, shards: &Shards, subject: &'a str) -> usize {
        match self.targets.iter().position(|t| t.name == subject) {
            Some(t) => t,
            None => {
                self.targets.push(shards.target(subject));
                self.targets.len() - 1
            }
        }
    }

    pub(super) fn shards(&self) -> SmallVec<[usize; 4]> {
        self.targets.iter().map(|t| t.shard).collect()
    }

    /// The limits whose subject is `targets[t]`.
    pub(super) fn limits_of(&self, t: usize) -> impl Iterator<Item = usize> + '_ {
        self.of_limit
            .iter()
            .enumerate()
            .filter(move |(_, &of)| of == t)
            .map(|(i, _)| i)
    }
}
