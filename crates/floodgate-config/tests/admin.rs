//! `[admin] token_sha256` and `[store] path`: accepted when well-formed, `FILE:LINE`
//! errors otherwise.

use floodgate_config::{Config, ConfigError, KeyHash};
use std::path::{Path, PathBuf};

const POLICY: &str = r#"
[models]
m = { kind = "text" }

[tiers.basic]
limits = [{ unit = "requests", window = "minute", max = 3 }]
"#;

fn load(head: &str) -> Result<Config, ConfigError> {
    Config::from_str(&format!("{head}\n{POLICY}"), Path::new("conf/admin.toml"))
}

fn errors(head: &str) -> Vec<String> {
    load(head)
        .expect_err("refused")
        .diagnostics()
        .iter()
        .map(|d| format!("{}: {}", d.line, d.message))
        .collect()
}

#[test]
fn admin_token_hash_and_state_file() {
    let hash = KeyHash::of("admin-secret");
    let config = load(&format!(
        "[admin]\ntoken_sha256 = \"{}\"\n[store]\npath = \"state/floodgate.redb\"",
        hash.to_hex()
    ))
    .unwrap();
    assert_eq!(config.admin.token_sha256, Some(hash));
    assert_eq!(
        config.state_file,
        Some(PathBuf::from("conf/state/floodgate.redb")),
        "relative to the config file"
    );

    let plain = load("").unwrap();
    assert_eq!(plain.admin.token_sha256, None);
    assert_eq!(plain.state_file, None);
}

#[test]
fn bad_admin_and_path_name_their_line() {
    assert_eq!(
        errors("[admin]\ntoken_sha256 = \"admin-secret\""),
        ["2: admin.token_sha256: expected the 64 hex digits of the token's SHA-256 (floodgate hash-key TOKEN)"]
    );
    let redis =
        errors("[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\npath = \"x.redb\"");
    assert_eq!(redis.len(), 1);
    assert!(
        redis[0].starts_with("4: store.path: only the memory store"),
        "{redis:?}"
    );
    assert_eq!(
        errors("[admin]\ntoken = \"x\"").len(),
        1,
        "unknown fields are refused"
    );
}
