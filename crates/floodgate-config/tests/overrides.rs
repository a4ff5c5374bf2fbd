//! Account and key overrides resolve over the tier, in the documented order.

use floodgate_config::{Config, KeyHash};
use floodgate_core::policy::resolve;
use std::path::Path;

const TEXT: &str = r#"
[models]
a = { kind = "image" }
b = { kind = "image" }
free = { kind = "image", rate_limited = false }

[tiers.basic]
limits = [{ unit = "requests", window = "minute", max = 3 }, { unit = "requests", window = "day", max = 100 }]
models.b.limits = [{ unit = "requests", window = "minute", max = 5 }]

[tiers.enterprise]
unlimited = true

[accounts.raised]
tier = "basic"
overrides.limits = [{ unit = "requests", window = "minute", max = 30 }]
overrides.models.b.limits = [{ unit = "requests", window = "day", max = "unlimited" }]

[accounts.big]
tier = "enterprise"

[[keys]]
name = "raised key"
sha256 = "c066eeaf121c4fcf0bef6613013e8bdc07de09099d85f3a7af775f5143ab5912" # sk-demo-basic
account = "raised"
overrides.models.a.limits = [{ unit = "requests", window = "minute", max = 1 }]

[[keys]]
name = "enterprise key"
sha256 = "f77894fdfa58e447c57e077eaa9708e8e009c84dc6aba2db80461275e9b85be7" # sk-demo
account = "big"
overrides.limits = [{ unit = "requests", window = "second", max = 50, scope = "global" }]
"#;

fn maxes(raw_key: &str, model: &str) -> Vec<(String, u64)> {
    let c = Config::from_str(TEXT, Path::new("o.toml")).unwrap_or_else(|e| panic!("{e}"));
    let key = &c.keys[&KeyHash::of(raw_key)];
    let account = &c.accounts[&key.info.account];
    resolve(&c.policy, &key.info, account, model)
        .unwrap()
        .into_iter()
        .map(|l| (l.window.label(), l.max))
        .collect()
}

fn v(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|&(w, m)| (w.to_owned(), m)).collect()
}

#[test]
fn key_over_account_over_tier_model_over_tier_default() {
    // Key override on a (1/min) beats the account's 30/min; the daily limit is the tier's.
    assert_eq!(
        maxes("sk-demo-basic", "a"),
        v(&[("minute", 1), ("day", 100)])
    );
    // Account override for all models (30/min) beats tier x model (5/min); the account's
    // model override removes the daily limit.
    assert_eq!(maxes("sk-demo-basic", "b"), v(&[("minute", 30)]));
    assert_eq!(maxes("sk-demo-basic", "free"), v(&[]));
}

#[test]
fn unlimited_tier_keeps_only_overrides() {
    assert_eq!(maxes("sk-demo", "a"), v(&[("second", 50)]));
}

#[test]
fn key_ids_are_hash_prefixes() {
    let c = Config::from_str(TEXT, Path::new("o.toml")).unwrap();
    for (hash, entry) in &c.keys {
        assert_eq!(&*entry.info.id, hash.id());
        assert_eq!(entry.hash, *hash);
    }
}
