//! The configuration in force: the file's, with the admin records layered over it.
//!
//! A record that no longer fits the file (its tier or a model of its overrides was
//! removed by a reload) is left out with a warning instead of failing the reload: the
//! file's own settings for that account or key stay in force.

use floodgate_config::{parse_overrides, Config, KeyEntry, KeyHash};
use floodgate_core::policy::{AccountInfo, KeyInfo, Overrides};
use floodgate_registry::Records;
use std::sync::Arc;

/// Overrides of a record, or `fallback` when it has none or they no longer check.
fn overrides(
    config: &Config,
    path: &str,
    json: Option<&serde_json::Value>,
    fallback: Overrides,
) -> Overrides {
    match json.map(|json| parse_overrides(config, path, json)) {
        None => fallback,
        Some(Ok(overrides)) => overrides,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "admin overrides no longer fit the config; left out");
            fallback
        }
    }
}

/// `base` with `records` applied.
pub(crate) fn merge(base: &Config, records: &Records) -> Config {
    let mut config = base.clone();
    for record in records.accounts.values() {
        let id: Arc<str> = record.id.as_str().into();
        let tier = record
            .tier
            .as_deref()
            .filter(|tier| {
                let known = base.policy.tiers.contains_key(*tier);
                if !known {
                    tracing::warn!(account = %id, tier, "admin tier is not defined in the config; left out");
                }
                known
            })
            .map(Arc::<str>::from)
            .or_else(|| base.accounts.get(&id).map(|a| Arc::clone(&a.tier)));
        let Some(tier) = tier else {
            continue;
        };
        let file_overrides = base
            .accounts
            .get(&id)
            .map(|a| a.overrides.clone())
            .unwrap_or_default();
        let path = format!("accounts.{id}.overrides");
        let overrides = overrides(base, &path, record.overrides.as_ref(), file_overrides);
        config.accounts.insert(
            Arc::clone(&id),
            AccountInfo {
                id,
                tier,
                overrides,
            },
        );
    }
    for record in records.keys.values() {
        let Some(hash) = KeyHash::from_hex(&record.sha256) else {
            continue;
        };
        if record.revoked {
            config.keys.remove(&hash);
            continue;
        }
        let account: Arc<str> = record.account.as_str().into();
        if !config.accounts.contains_key(&account) {
            tracing::warn!(key = %hash.id(), account = %account, "admin key's account is not defined; left out");
            config.keys.remove(&hash);
            continue;
        }
        let file_overrides = base
            .keys
            .get(&hash)
            .map(|k| k.info.overrides.clone())
            .unwrap_or_default();
        let path = format!("keys.{}.overrides", hash.id());
        let overrides = overrides(base, &path, record.overrides.as_ref(), file_overrides);
        config.keys.insert(
            hash,
            KeyEntry {
                hash,
                name: record.name.clone(),
                info: KeyInfo {
                    id: hash.id().into(),
                    account,
                    overrides,
                },
            },
        );
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_registry::{AccountRecord, KeyRecord};

    fn base() -> Config {
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

    fn key(raw: &str, account: &str, revoked: bool) -> KeyRecord {
        KeyRecord {
            sha256: KeyHash::of(raw).to_hex(),
            account: account.into(),
            name: String::new(),
            overrides: None,
            revoked,
            created: 0,
        }
    }

    #[test]
    fn records_layer_over_the_file_and_what_no_longer_fits_is_left_out() {
        let base = base();
        let mut records = Records::default();
        let account = |id: &str, tier: &str| AccountRecord {
            id: id.into(),
            tier: Some(tier.into()),
            overrides: None,
        };
        records
            .accounts
            .insert("demo-basic".into(), account("demo-basic", "premium"));
        records
            .accounts
            .insert("ghost".into(), account("ghost", "gold"));
        records
            .accounts
            .insert("new".into(), account("new", "basic"));
        for k in [
            key("sk-new", "new", false),
            key("sk-demo-premium", "demo-premium", true),
            key("sk-orphan", "ghost", false),
        ] {
            records.keys.insert(k.sha256.clone(), k);
        }
        let merged = merge(&base, &records);
        assert_eq!(&*merged.accounts["demo-basic"].tier, "premium");
        assert!(
            !merged.accounts.contains_key("ghost"),
            "its tier is not defined"
        );
        assert!(merged.keys.contains_key(&KeyHash::of("sk-new")));
        assert!(
            !merged.keys.contains_key(&KeyHash::of("sk-demo-premium")),
            "revoked"
        );
        assert!(
            !merged.keys.contains_key(&KeyHash::of("sk-orphan")),
            "no account"
        );
        assert!(
            merged.keys.contains_key(&KeyHash::of("sk-demo-basic")),
            "the file's stay"
        );
        assert_eq!(
            merge(&base, &Records::default()).keys.len(),
            base.keys.len()
        );
    }
}
