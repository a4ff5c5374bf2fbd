//! Resolution: from (key, account, tier, model) to the list of limits that apply.
//!
//! Layers apply from least to most specific, each replacing the dimensions it names:
//! tier default -> tier x kind -> tier x class -> tier x model -> account override (all
//! models, then this model) -> key override (all models, then this model).
//! So the effective order of precedence is key override, account override, tier x model,
//! tier x class, tier default.

use super::model::{AccountInfo, KeyInfo, LimitRule, LimitSet, Policy};
use crate::limit::Limit;

/// Why no limits could be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The request names a model the policy does not know.
    #[error("model '{0}' is not known")]
    UnknownModel(String),
    /// The account's tier does not exist (a config or admin error).
    #[error("tier '{0}' is not defined")]
    UnknownTier(String),
}

/// The limits that apply to `key` (of `account`) calling `model`, in a stable order.
/// Empty when the model is not rate-limited.
pub fn resolve(
    policy: &Policy,
    key: &KeyInfo,
    account: &AccountInfo,
    model: &str,
) -> Result<Vec<Limit>, ResolveError> {
    let spec = policy
        .models
        .get(model)
        .ok_or_else(|| ResolveError::UnknownModel(model.to_owned()))?;
    let tier = policy
        .tiers
        .get(&account.tier)
        .ok_or_else(|| ResolveError::UnknownTier(account.tier.to_string()))?;
    if !spec.rate_limited || policy.unlimited_kinds.contains(&spec.kind) {
        return Ok(Vec::new());
    }

    let mut layers: Vec<&LimitSet> = Vec::with_capacity(8);
    if !tier.unlimited {
        layers.push(&tier.default);
        layers.extend(tier.kinds.get(&spec.kind));
        layers.extend(spec.class.as_ref().and_then(|c| tier.classes.get(c)));
        layers.extend(tier.models.get(&spec.name));
    }
    for overrides in [&account.overrides, &key.overrides] {
        layers.push(&overrides.all);
        layers.extend(overrides.models.get(&spec.name));
    }

    let mut effective: Vec<&LimitRule> = Vec::new();
    for rule in layers.into_iter().flat_map(|l| &l.rules) {
        match effective.iter_mut().find(|r| r.same_dimension(rule)) {
            Some(slot) => *slot = rule,
            None => effective.push(rule),
        }
    }

    Ok(effective
        .into_iter()
        .filter_map(|rule| {
            let max = rule.max?;
            let bucket = rule.shared.as_deref().unwrap_or(&spec.name);
            Some(
                Limit::new(rule.scope, rule.unit, rule.window, max, bucket)
                    .shadowed(rule.shadow)
                    .with_failure(rule.failure),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::Scope;
    use crate::policy::model::{ModelSpec, Overrides, Tier};
    use crate::unit::Unit;
    use crate::window::Window;
    use std::sync::Arc;

    fn rpm(max: Option<u64>) -> LimitRule {
        LimitRule::new(Scope::Key, Unit::Requests, Window::MINUTE, max)
    }
    fn tpm(max: u64) -> LimitRule {
        LimitRule::new(Scope::Key, Unit::Tokens, Window::MINUTE, Some(max))
    }
    fn set(rules: Vec<LimitRule>) -> LimitSet {
        LimitSet::new(rules)
    }
    fn model(name: &str, kind: &str, class: Option<&str>) -> (Arc<str>, ModelSpec) {
        (
            name.into(),
            ModelSpec {
                name: name.into(),
                kind: kind.into(),
                class: class.map(Into::into),
                rate_limited: true,
            },
        )
    }

    fn policy() -> Policy {
        let tier = Tier {
            name: "standard".into(),
            default: set(vec![rpm(Some(20))]),
            kinds: [("text".into(), set(vec![rpm(Some(100)), tpm(2_000_000)]))].into(),
            classes: [("xsmall".into(), set(vec![rpm(Some(500)), tpm(5_000_000)]))].into(),
            models: [("special".into(), set(vec![rpm(Some(7))]))].into(),
            ..Tier::default()
        };
        Policy {
            tiers: [("standard".into(), tier)].into(),
            models: [
                model("tiny", "text", Some("xsmall")),
                model("big", "text", None),
                model("special", "text", Some("xsmall")),
                model("pic", "image", None),
                model("clip", "video", None),
            ]
            .into(),
            unlimited_kinds: ["video".into()].into(),
        }
    }

    fn who(account: Overrides, key: Overrides) -> (KeyInfo, AccountInfo) {
        (
            KeyInfo {
                id: "k1".into(),
                account: "a1".into(),
                overrides: key,
            },
            AccountInfo {
                id: "a1".into(),
                tier: "standard".into(),
                overrides: account,
            },
        )
    }

    fn maxes(limits: &[Limit]) -> Vec<(Unit, u64)> {
        limits.iter().map(|l| (l.unit, l.max)).collect()
    }

    #[test]
    fn layers_apply_from_default_to_model() {
        let p = policy();
        let (k, a) = who(Overrides::default(), Overrides::default());
        assert_eq!(
            maxes(&resolve(&p, &k, &a, "pic").unwrap()),
            [(Unit::Requests, 20)]
        );
        assert_eq!(
            maxes(&resolve(&p, &k, &a, "big").unwrap()),
            [(Unit::Requests, 100), (Unit::Tokens, 2_000_000)]
        );
        assert_eq!(
            maxes(&resolve(&p, &k, &a, "tiny").unwrap()),
            [(Unit::Requests, 500), (Unit::Tokens, 5_000_000)]
        );
        assert_eq!(
            maxes(&resolve(&p, &k, &a, "special").unwrap()),
            [(Unit::Requests, 7), (Unit::Tokens, 5_000_000)]
        );
        assert!(resolve(&p, &k, &a, "clip").unwrap().is_empty());
    }

    #[test]
    fn key_override_beats_account_override_beats_tier() {
        let p = policy();
        let account = Overrides {
            all: set(vec![rpm(Some(1_000))]),
            ..Overrides::default()
        };
        let key = Overrides {
            models: [("big".into(), set(vec![rpm(Some(3))]))].into(),
            ..Overrides::default()
        };
        let (k, a) = who(account, key);
        assert_eq!(resolve(&p, &k, &a, "big").unwrap()[0].max, 3);
        assert_eq!(resolve(&p, &k, &a, "tiny").unwrap()[0].max, 1_000);
    }

    #[test]
    fn unlimited_removes_a_dimension() {
        let p = policy();
        let account = Overrides {
            all: set(vec![rpm(None)]),
            ..Overrides::default()
        };
        let (k, a) = who(account, Overrides::default());
        assert_eq!(
            maxes(&resolve(&p, &k, &a, "big").unwrap()),
            [(Unit::Tokens, 2_000_000)]
        );
    }

    #[test]
    fn unknown_model_and_tier_are_errors() {
        let p = policy();
        let (k, mut a) = who(Overrides::default(), Overrides::default());
        assert_eq!(
            resolve(&p, &k, &a, "nope"),
            Err(ResolveError::UnknownModel("nope".into()))
        );
        a.tier = "gold".into();
        assert_eq!(
            resolve(&p, &k, &a, "big"),
            Err(ResolveError::UnknownTier("gold".into()))
        );
    }
}
