//! Resolved limits per (key, model), cached for the life of one configuration, with what
//! the response headers and the upstream request need to know about them under that
//! configuration.
//!
//! Resolution walks up to eight layers of rules and allocates the result; doing it once
//! per (key, model) keeps it off the hot path. The cache lives inside the installed
//! configuration snapshot, so swapping the configuration drops it along with the old one.

use crate::auth::{Caller, Hashed};
use crate::headers::HeaderPlan;
use crate::identity::Identity;
use floodgate_config::Config;
use floodgate_core::policy::{resolve, ModelSpec, ResolveError};
use floodgate_core::{Limit, Window};
use metrics::Counter;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// The limits of one (key, model), with what the headers need to know about them.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// The limits, in resolution order (the order of a decision's dimensions).
    pub(crate) limits: Arc<[Limit]>,
    /// Which dimensions each header family reports.
    pub(crate) plan: HeaderPlan,
    /// Whether any limit is a concurrency limit, whose slot must be released.
    pub(crate) concurrent: bool,
    /// Whether any limit counts tokens, which are reserved and then settled.
    pub(crate) tokens: bool,
    /// The key's identity headers for the upstream (none under `identity_headers = false`).
    pub(crate) identity: Identity,
    /// How many rate-limit headers the configured conventions add to an answer, made
    /// room for in the answer's header map as it is parsed.
    pub(crate) answer_headers: usize,
    /// The allowed-decisions counter of the key's tier and this model, once counted.
    pub(crate) allowed: OnceLock<Counter>,
}

impl Resolved {
    /// Prepares `limits`, those of `caller`, for use under `config`.
    pub(crate) fn new(limits: Vec<Limit>, caller: &Caller<'_>, config: &Config) -> Self {
        let concurrent = limits
            .iter()
            .any(|l| matches!(l.window, Window::Concurrent { .. }));
        let tokens = limits.iter().any(|l| l.unit.is_tokens());
        let plan = HeaderPlan::new(&limits);
        let identity = if config.server.identity_headers {
            Identity::new(caller)
        } else {
            Identity::default()
        };
        Self {
            limits: limits.into(),
            answer_headers: plan.added(&config.responses.headers),
            plan,
            concurrent,
            tokens,
            identity,
            allowed: OnceLock::new(),
        }
    }
}

/// foldhash rather than SipHash: the cache is read on every request, its keys are key
/// hashes (already uniformly spread) and model names from the configuration.
type Fast = foldhash::fast::RandomState;

/// Per-key maps of per-model resolutions; key hashes compared a word at a time.
type ByKey = HashMap<Hashed, HashMap<Arc<str>, Arc<Resolved>, Fast>, Fast>;

/// The cache. Reads take a shared lock briefly and never across an await.
#[derive(Debug, Default)]
pub(crate) struct LimitCache {
    /// Resolutions made so far.
    map: RwLock<ByKey>,
}

impl LimitCache {
    /// The limits of `caller` on `model` under `config` (the snapshot's own, whose
    /// cache this is), resolved on first use.
    pub(crate) fn get(
        &self,
        config: &Config,
        caller: &Caller<'_>,
        model: &ModelSpec,
    ) -> Result<Arc<Resolved>, ResolveError> {
        if let Ok(map) = self.map.read() {
            if let Some(hit) = map.get(&caller.hash).and_then(|m| m.get(&*model.name)) {
                return Ok(Arc::clone(hit));
            }
        }
        let limits = resolve(
            &config.policy,
            &caller.key.info,
            caller.account,
            &model.name,
        )?;
        let resolved = Arc::new(Resolved::new(limits, caller, config));
        if let Ok(mut map) = self.map.write() {
            map.entry(caller.hash)
                .or_default()
                .insert(Arc::clone(&model.name), Arc::clone(&resolved));
        }
        Ok(resolved)
    }
}
