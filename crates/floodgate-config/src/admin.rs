//! `[admin]` (the admin token's hash), and overrides that arrive through the admin API
//! rather than the file: they are checked by the same code as the file's, against the
//! models of the configuration in force.

use crate::error::Diagnostics;
use crate::keys::KeyHash;
use crate::policy::{self, Catalog};
use crate::raw::{RawAdmin, RawOverrides};
use crate::resolved::{AdminConfig, Config};
use floodgate_core::policy::Overrides;
use std::collections::BTreeSet;
use std::path::Path;

/// Checks `[admin]`.
pub(crate) fn admin(d: &mut Diagnostics<'_>, raw: &RawAdmin) -> AdminConfig {
    let token_sha256 = raw.token_sha256.as_ref().and_then(|hash| {
        let parsed = KeyHash::from_hex(hash.get_ref().trim());
        if parsed.is_none() {
            d.at(
                &hash.span(),
                "admin.token_sha256: expected the 64 hex digits of the token's SHA-256 (floodgate hash-key TOKEN)",
            );
        }
        parsed
    });
    AdminConfig { token_sha256 }
}

/// Overrides given as JSON (`{"limits": [...], "models": {"m": {"limits": [...]}}}`, the
/// shape of an account's `overrides` table) that fail the file's checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OverridesError(pub String);

/// Checks and resolves overrides given as JSON against `config`'s models, exactly as the
/// same table would be checked in the file; `path` names them in messages
/// (`accounts.acme.overrides`).
pub fn parse_overrides(
    config: &Config,
    path: &str,
    json: &serde_json::Value,
) -> Result<Overrides, OverridesError> {
    // Through TOML text, so that the file's parser (and its spans) check it.
    let text = toml::to_string(json)
        .map_err(|e| OverridesError(format!("{path}: not an overrides table: {e}")))?;
    let raw: RawOverrides = toml::from_str(&text)
        .map_err(|e| OverridesError(format!("{path}: {}", e.message().trim_end())))?;
    let models: BTreeSet<&str> = config.policy.models.keys().map(|m| &**m).collect();
    let kinds: BTreeSet<&str> = config.policy.models.values().map(|m| &*m.kind).collect();
    let classes: BTreeSet<&str> = config
        .policy
        .models
        .values()
        .filter_map(|m| m.class.as_deref())
        .collect();
    let catalog = Catalog {
        models,
        kinds,
        classes,
    };
    let file = Path::new("overrides");
    let mut diags = Diagnostics::new(file, &text);
    let overrides = policy::overrides(&mut diags, path, &raw, &catalog);
    diags.finish().map_err(|e| {
        OverridesError(
            e.diagnostics()
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
        let path: std::path::PathBuf = [
            env!("CARGO_MANIFEST_DIR"),
            "..",
            "..",
            "examples",
            "provider-b.toml",
        ]
        .iter()
        .collect();
        Config::load(path).unwrap()
    }

    #[test]
    fn overrides_are_checked_like_the_file() {
        let config = config();
        let model = config.policy.models.keys().next().unwrap().to_string();
        let ok = parse_overrides(
            &config,
            "accounts.a.overrides",
            &json!({"models": {model.clone(): {"limits": [{"unit": "requests", "window": "minute", "max": 50}]}}}),
        )
        .unwrap();
        assert!(ok.all.is_empty());
        assert_eq!(ok.models[&*model].rules[0].max, Some(50));

        let unknown = parse_overrides(
            &config,
            "accounts.a.overrides",
            &json!({"models": {"nope": {"limits": []}}}),
        )
        .unwrap_err();
        assert!(
            unknown.0.contains("model 'nope' is not defined"),
            "{unknown}"
        );
        let bad_unit = parse_overrides(
            &config,
            "keys.k.overrides",
            &json!({"limits": [{"unit": "bananas", "window": "minute", "max": 1}]}),
        )
        .unwrap_err();
        assert!(
            bad_unit.0.contains("keys.k.overrides.limits[0].unit"),
            "{bad_unit}"
        );
        assert!(parse_overrides(&config, "x", &json!({"limitz": []})).is_err());
        assert!(parse_overrides(&config, "x", &json!([1])).is_err());
    }
}
