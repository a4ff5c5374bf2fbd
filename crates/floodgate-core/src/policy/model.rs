//! The policy's data: what a tier, a model, an account and a key say about limits.
//!
//! Every layer is a [`LimitSet`]: rules keyed by their dimension (scope, unit, window).
//! A rule in a more specific layer replaces the same dimension from a less specific one,
//! and a rule with no maximum removes the dimension ("daily: unlimited").

use crate::limit::{FailurePolicy, Scope};
use crate::unit::Unit;
use crate::window::Window;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// One rule of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitRule {
    /// Whose counter.
    pub scope: Scope,
    /// What it counts.
    pub unit: Unit,
    /// Over which time shape.
    pub window: Window,
    /// The maximum, or `None` for "unlimited" (removes the dimension).
    pub max: Option<u64>,
    /// Counter shared by every model this rule applies to, under this name; `None` gives
    /// each model its own counter.
    pub shared: Option<Arc<str>>,
    /// Evaluate and report, never enforce.
    pub shadow: bool,
    /// Behaviour while a distributed store is down.
    pub failure: FailurePolicy,
}

impl LimitRule {
    /// A per-model rule with the default failure policy.
    pub fn new(scope: Scope, unit: Unit, window: Window, max: Option<u64>) -> Self {
        Self {
            scope,
            unit,
            window,
            max,
            shared: None,
            shadow: false,
            failure: FailurePolicy::default(),
        }
    }

    /// Whether two rules speak of the same dimension (and so the later replaces the
    /// earlier).
    pub fn same_dimension(&self, other: &LimitRule) -> bool {
        self.scope == other.scope && self.unit == other.unit && self.window == other.window
    }
}

/// One layer of rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitSet {
    /// The rules, at most one per dimension.
    pub rules: Vec<LimitRule>,
}

impl LimitSet {
    /// A layer of these rules.
    pub fn new(rules: Vec<LimitRule>) -> Self {
        Self { rules }
    }

    /// Whether the layer says nothing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// A model the gateway knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// Its name (in routes and request bodies).
    pub name: Arc<str>,
    /// Its kind: text, image, video, audio, embedding, music, ...
    pub kind: Arc<str>,
    /// Its class (size class, provider class, image class, audio type), if any.
    pub class: Option<Arc<str>>,
    /// False for models that are not rate-limited at all (billed by usage instead).
    pub rate_limited: bool,
}

/// A tier's limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tier {
    /// Its name (basic, premium, partner, custom, ...).
    pub name: Arc<str>,
    /// An unlimited tier applies no tier limits (overrides still apply).
    pub unlimited: bool,
    /// Limits for every model.
    pub default: LimitSet,
    /// Limits for models of a kind, over the default.
    pub kinds: HashMap<Arc<str>, LimitSet>,
    /// Limits for models of a class, over the kind.
    pub classes: HashMap<Arc<str>, LimitSet>,
    /// Limits for one model, over its class.
    pub models: HashMap<Arc<str>, LimitSet>,
}

/// Overrides granted to an account or a key ("request a higher limit").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// For every model.
    pub all: LimitSet,
    /// For one model, over `all`.
    pub models: HashMap<Arc<str>, LimitSet>,
}

/// The account side of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountInfo {
    /// The account's id (also the subject of account-scoped counters).
    pub id: Arc<str>,
    /// Its tier.
    pub tier: Arc<str>,
    /// Its overrides.
    pub overrides: Overrides,
}

/// The key side of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's id: a prefix of its hash, never the raw key.
    pub id: Arc<str>,
    /// The account that owns it.
    pub account: Arc<str>,
    /// Its overrides.
    pub overrides: Overrides,
}

/// Everything resolution needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Tiers by name.
    pub tiers: HashMap<Arc<str>, Tier>,
    /// Models by name.
    pub models: HashMap<Arc<str>, ModelSpec>,
    /// Kinds that are never rate-limited (seed: video and music).
    pub unlimited_kinds: BTreeSet<Arc<str>>,
}
