//! `[models]`, `[tiers]`, `[accounts]` and `[[keys]]` -> the core [`Policy`], the model
//! costs, the accounts and the keys, with every cross-reference checked.

use crate::compute::{ComputeFormula, FACTOR_SCALE};
use crate::error::Diagnostics;
use crate::keys::KeyHash;
use crate::limits;
use crate::raw::{Name, RawAccount, RawCompute, RawKey, RawLayer, RawModel, RawOverrides, RawTier};
use crate::resolved::{KeyEntry, ModelCost};
use floodgate_core::policy::{AccountInfo, KeyInfo, LimitSet, ModelSpec, Overrides, Tier};
use serde_spanned::Spanned;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// What the model section defines, for the checks of the sections that refer to it.
pub(crate) struct Catalog<'a> {
    pub(crate) models: BTreeSet<&'a str>,
    pub(crate) kinds: BTreeSet<&'a str>,
    pub(crate) classes: BTreeSet<&'a str>,
}

impl<'a> Catalog<'a> {
    pub(crate) fn new(raw: &'a BTreeMap<Name, RawModel>) -> Self {
        Self {
            models: raw.keys().map(|k| k.get_ref().as_str()).collect(),
            kinds: raw.values().map(|m| m.kind.get_ref().as_str()).collect(),
            classes: raw
                .values()
                .filter_map(|m| m.class.as_ref().map(|c| c.get_ref().as_str()))
                .collect(),
        }
    }
}

/// Model specs (resolution input) and model costs (cost extraction).
pub(crate) fn models(
    diags: &mut Diagnostics<'_>,
    raw: &BTreeMap<Name, RawModel>,
) -> (HashMap<Arc<str>, ModelSpec>, HashMap<Arc<str>, ModelCost>) {
    let mut specs = HashMap::with_capacity(raw.len());
    let mut costs = HashMap::with_capacity(raw.len());
    for (name, model) in raw {
        let here = format!("models.{}", name.get_ref());
        if name.get_ref().trim().is_empty() {
            diags.at(&name.span(), "models: a model name must not be empty");
        }
        if model.kind.get_ref().trim().is_empty() {
            diags.at(
                &model.kind.span(),
                format!("{here}.kind: must not be empty"),
            );
        }
        let compute = model
            .compute
            .as_ref()
            .and_then(|c| compute(diags, &here, c));
        let name: Arc<str> = name.get_ref().as_str().into();
        specs.insert(
            name.clone(),
            ModelSpec {
                name: name.clone(),
                kind: model.kind.get_ref().as_str().into(),
                class: model.class.as_ref().map(|c| c.get_ref().as_str().into()),
                rate_limited: model.rate_limited.unwrap_or(true),
            },
        );
        costs.insert(
            name,
            ModelCost {
                images_field: model.images_field.clone(),
                compute,
            },
        );
    }
    (specs, costs)
}

fn compute(
    diags: &mut Diagnostics<'_>,
    model: &str,
    raw: &Spanned<RawCompute>,
) -> Option<ComputeFormula> {
    let here = format!("{model}.compute");
    let span = raw.span();
    let raw = raw.get_ref();
    let before = diags.len();
    let mut factors = BTreeMap::new();
    for (value, factor) in &raw.factors {
        if !factor.is_finite() || *factor <= 0.0 {
            diags.at(
                &span,
                format!("{here}.factors.{value}: must be a positive number, found {factor}"),
            );
            continue;
        }
        // Millionths: finer factors than that mean nothing for a cost in whole units.
        factors.insert(value.clone(), (factor * FACTOR_SCALE as f64).round() as u64);
    }
    match (&raw.factor_field, raw.factors.is_empty()) {
        (Some(f), true) => diags.at(
            &span,
            format!("{here}.factors: factor_field '{f}' needs a table of factors"),
        ),
        (None, false) => diags.at(
            &span,
            format!("{here}.factor_field: factors are given but no factor_field selects one"),
        ),
        _ => {}
    }
    if let Some(default) = &raw.factor_default {
        if !raw.factors.contains_key(default) {
            diags.at(
                &span,
                format!("{here}.factor_default: '{default}' is not one of the factors"),
            );
        }
    }
    if raw.field.trim().is_empty() {
        diags.at(&span, format!("{here}.field: must not be empty"));
    }
    (diags.len() == before).then(|| ComputeFormula {
        field: raw.field.clone(),
        factor_field: raw.factor_field.clone(),
        factors,
        factor_default: raw.factor_default.clone(),
    })
}

/// The tiers, each layer checked against the catalog.
pub(crate) fn tiers(
    diags: &mut Diagnostics<'_>,
    raw: &BTreeMap<Name, RawTier>,
    catalog: &Catalog<'_>,
) -> HashMap<Arc<str>, Tier> {
    let mut tiers = HashMap::with_capacity(raw.len());
    for (name, tier) in raw {
        let here = format!("tiers.{}", name.get_ref());
        if tier.unlimited
            && (!tier.limits.is_empty()
                || !tier.kinds.is_empty()
                || !tier.classes.is_empty()
                || !tier.models.is_empty())
        {
            diags.at(
                &name.span(),
                format!("{here}: an unlimited tier applies no limits, so it cannot also list them"),
            );
        }
        let default = limits::layer(
            diags,
            &format!("{here}.limits"),
            &tier.limits,
            &catalog.models,
        );
        let kinds = named_layers(
            diags,
            &here,
            "kinds",
            "kind",
            &tier.kinds,
            &catalog.kinds,
            catalog,
        );
        let classes = named_layers(
            diags,
            &here,
            "classes",
            "class",
            &tier.classes,
            &catalog.classes,
            catalog,
        );
        let models = named_layers(
            diags,
            &here,
            "models",
            "model",
            &tier.models,
            &catalog.models,
            catalog,
        );
        let name: Arc<str> = name.get_ref().as_str().into();
        tiers.insert(
            name.clone(),
            Tier {
                name,
                unlimited: tier.unlimited,
                default,
                kinds,
                classes,
                models,
            },
        );
    }
    tiers
}

/// Layers keyed by a kind, class or model name, each name checked against `known`.
fn named_layers(
    diags: &mut Diagnostics<'_>,
    parent: &str,
    section: &str,
    what: &str,
    raw: &BTreeMap<Name, RawLayer>,
    known: &BTreeSet<&str>,
    catalog: &Catalog<'_>,
) -> HashMap<Arc<str>, LimitSet> {
    let mut out = HashMap::with_capacity(raw.len());
    for (name, layer) in raw {
        let n = name.get_ref().as_str();
        let here = format!("{parent}.{section}.{n}");
        if !known.contains(n) {
            let why = match what {
                "model" => format!("model '{n}' is not defined"),
                _ => format!("{what} '{n}' is not the {what} of any model"),
            };
            diags.at(&name.span(), format!("{here}: {why}"));
            continue;
        }
        let set = limits::layer(
            diags,
            &format!("{here}.limits"),
            &layer.limits,
            &catalog.models,
        );
        out.insert(n.into(), set);
    }
    out
}

/// Overrides of an account or a key at `path`.
pub(crate) fn overrides(
    diags: &mut Diagnostics<'_>,
    path: &str,
    raw: &RawOverrides,
    catalog: &Catalog<'_>,
) -> Overrides {
    Overrides {
        all: limits::layer(
            diags,
            &format!("{path}.limits"),
            &raw.limits,
            &catalog.models,
        ),
        models: named_layers(
            diags,
            path,
            "models",
            "model",
            &raw.models,
            &catalog.models,
            catalog,
        ),
    }
}

/// The accounts, each on a defined tier.
pub(crate) fn accounts(
    diags: &mut Diagnostics<'_>,
    raw: &BTreeMap<Name, RawAccount>,
    tiers: &BTreeMap<Name, RawTier>,
    catalog: &Catalog<'_>,
) -> HashMap<Arc<str>, AccountInfo> {
    let mut out = HashMap::with_capacity(raw.len());
    for (id, account) in raw {
        let here = format!("accounts.{}", id.get_ref());
        let tier = account.tier.get_ref();
        if !tiers.contains_key(tier.as_str()) {
            diags.at(
                &account.tier.span(),
                format!(
                    "{here}.tier: tier '{tier}' is not defined{}",
                    defined(tiers.keys())
                ),
            );
        }
        let overrides = overrides(
            diags,
            &format!("{here}.overrides"),
            &account.overrides,
            catalog,
        );
        let id: Arc<str> = id.get_ref().as_str().into();
        out.insert(
            id.clone(),
            AccountInfo {
                id,
                tier: tier.as_str().into(),
                overrides,
            },
        );
    }
    out
}

/// The keys by hash, each of a defined account, none twice.
pub(crate) fn keys(
    diags: &mut Diagnostics<'_>,
    raw: &[Spanned<RawKey>],
    accounts: &BTreeMap<Name, RawAccount>,
    catalog: &Catalog<'_>,
) -> HashMap<KeyHash, KeyEntry> {
    let mut out: HashMap<KeyHash, KeyEntry> = HashMap::with_capacity(raw.len());
    let mut first_seen: HashMap<KeyHash, (usize, usize)> = HashMap::with_capacity(raw.len());
    for (i, key) in raw.iter().enumerate() {
        let here = format!("keys[{i}]");
        let key = key.get_ref();
        let account = key.account.get_ref();
        if !accounts.contains_key(account.as_str()) {
            diags.at(
                &key.account.span(),
                format!(
                    "{here}.account: account '{account}' is not defined{}",
                    defined(accounts.keys())
                ),
            );
        }
        let overrides = overrides(diags, &format!("{here}.overrides"), &key.overrides, catalog);
        let hex = key.sha256.get_ref();
        let well_formed =
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let Some(hash) = KeyHash::from_hex(hex).filter(|_| well_formed) else {
            diags.at(
                &key.sha256.span(),
                format!("{here}.sha256: must be 64 lowercase hex digits (the output of `floodgate hash-key KEY`), found \"{hex}\""),
            );
            continue;
        };
        if let Some((j, offset)) = first_seen.get(&hash) {
            let line = diags.line(*offset);
            diags.at(
                &key.sha256.span(),
                format!("{here}.sha256: the same key as keys[{j}] (line {line}); each key is listed once"),
            );
            continue;
        }
        first_seen.insert(hash, (i, key.sha256.span().start));
        out.insert(
            hash,
            KeyEntry {
                hash,
                name: key.name.clone(),
                info: KeyInfo {
                    id: hash.id().into(),
                    account: account.as_str().into(),
                    overrides,
                },
            },
        );
    }
    out
}

/// ` (defined: a, b)` to help fix a misspelt reference, or nothing if none are defined.
fn defined<'a>(names: impl Iterator<Item = &'a Name>) -> String {
    let names: Vec<&str> = names.map(|n| n.get_ref().as_str()).collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" (defined: {})", names.join(", "))
    }
}
