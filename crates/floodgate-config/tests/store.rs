//! `[store]`: memory by default; Redis with a URL or cluster nodes, timeouts, and
//! `FILE:LINE` errors for a bad kind, a bad or missing URL, or a bad duration.

use floodgate_config::{
    Config, ConfigError, RedisNodes, RedisStoreConfig, StoreConfig, DEFAULT_PROBE_INTERVAL,
    DEFAULT_REDIS_TIMEOUT,
};
use std::path::Path;
use std::time::Duration;

/// A valid policy the store sections go in front of.
const POLICY: &str = r#"
[models]
m = { kind = "text" }

[tiers.basic]
limits = [{ unit = "requests", window = "minute", max = 3, failure = "fail_closed" }]
"#;

fn load(store: &str) -> Result<Config, ConfigError> {
    Config::from_str(&format!("{store}\n{POLICY}"), Path::new("store.toml"))
}

fn store(section: &str) -> StoreConfig {
    load(section).unwrap().store
}

/// The errors of `section`, as `LINE: message`.
fn errors(section: &str) -> Vec<String> {
    let err = load(section).expect_err("refused");
    err.diagnostics()
        .iter()
        .map(|d| {
            assert_eq!(d.file, Path::new("store.toml"));
            format!("{}: {}", d.line, d.message)
        })
        .collect()
}

#[test]
fn memory_is_the_default() {
    assert_eq!(store(""), StoreConfig::Memory);
    assert_eq!(store("[store]\nkind = \"memory\""), StoreConfig::Memory);
}

#[test]
fn one_redis_server_with_defaults() {
    assert_eq!(
        store("[store]\nkind = \"redis\"\nurl = \"redis://:s3cret@10.0.0.5:6379/0\""),
        StoreConfig::Redis(RedisStoreConfig {
            nodes: RedisNodes::Single("redis://:s3cret@10.0.0.5:6379/0".into()),
            timeout: DEFAULT_REDIS_TIMEOUT,
            probe_interval: DEFAULT_PROBE_INTERVAL,
        })
    );
    assert_eq!(DEFAULT_REDIS_TIMEOUT, Duration::from_millis(250));
    assert_eq!(DEFAULT_PROBE_INTERVAL, Duration::from_secs(1));
}

#[test]
fn a_cluster_over_tls_with_timeouts() {
    let section = r#"[store]
kind = "redis"
cluster = ["rediss://10.0.0.5:7000", "rediss://10.0.0.6:7000"]
timeout = "100ms"
probe_interval = "2s"
"#;
    assert_eq!(
        store(section),
        StoreConfig::Redis(RedisStoreConfig {
            nodes: RedisNodes::Cluster(vec![
                "rediss://10.0.0.5:7000".into(),
                "rediss://10.0.0.6:7000".into()
            ]),
            timeout: Duration::from_millis(100),
            probe_interval: Duration::from_secs(2),
        })
    );
    let summary = floodgate_config::summary::summary(&load(section).unwrap());
    assert!(
        summary.contains("store: redis, a cluster through 2 node(s), timeout 100 ms"),
        "{summary}"
    );
}

#[test]
fn an_unknown_kind_names_both_kinds() {
    assert_eq!(
        errors("[store]\nkind = \"memcached\""),
        ["2: store.kind: unknown store 'memcached' (expected memory or redis)"]
    );
}

#[test]
fn redis_without_a_url_says_what_to_add() {
    let found = errors("[store]\nkind = \"redis\"\ntimeout = \"1s\"");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("2: store.url: a redis store needs url"),
        "{found:?}"
    );
}

#[test]
fn a_bad_url_is_refused_on_its_line_without_its_password() {
    let found = errors("[store]\nkind = \"redis\"\n\nurl = \"http://:hunter2@10.0.0.5:6379\"");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("4: store.url: the scheme must be redis:// or rediss://"));
    assert!(found[0].contains("http://:***@10.0.0.5:6379"), "{found:?}");
    assert!(!found[0].contains("hunter2"), "{found:?}");

    let found = errors("[store]\nkind = \"redis\"\nurl = \"redis://cache:port\"");
    assert!(
        found[0].starts_with("3: store.url: the port must be"),
        "{found:?}"
    );
}

#[test]
fn a_bad_cluster_node_is_named_by_its_index() {
    let found = errors(
        "[store]\nkind = \"redis\"\ncluster = [\n  \"redis://a:7000\",\n  \"redis//b:7000\",\n]",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("5: store.cluster[1]: the scheme"),
        "{found:?}"
    );
    let found = errors("[store]\nkind = \"redis\"\ncluster = []");
    assert!(
        found[0].starts_with("3: store.cluster: list at least one node"),
        "{found:?}"
    );
}

#[test]
fn url_and_cluster_together_are_refused() {
    let found =
        errors("[store]\nkind = \"redis\"\nurl = \"redis://a:1\"\ncluster = [\"redis://b:1\"]");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("4: store.cluster: give either url"),
        "{found:?}"
    );
}

#[test]
fn bad_durations_are_refused_on_their_lines() {
    let found = errors(
        "[store]\nkind = \"redis\"\nurl = \"redis://a:1\"\ntimeout = \"fast\"\nprobe_interval = \"0s\"",
    );
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("4: store.timeout: expected a duration"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("5: store.probe_interval: must be longer than zero"),
        "{found:?}"
    );
}

#[test]
fn redis_settings_on_the_memory_store_are_refused() {
    let found = errors("[store]\nurl = \"redis://a:1\"");
    assert_eq!(
        found,
        ["2: store.url: only a redis store takes it; set kind = \"redis\""]
    );
}
