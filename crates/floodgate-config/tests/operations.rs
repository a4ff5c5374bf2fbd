//! `[server]` settings for running the gateway: log format, shutdown timeout, metrics.

use floodgate_config::{Config, LogFormat, MetricsEndpoint};
use std::path::Path;
use std::time::Duration;

const STORE: &str = "[store]\nkind = \"memory\"\n";

fn load(server: &str) -> Result<Config, String> {
    Config::from_str(&format!("[server]\n{server}{STORE}"), Path::new("ops.toml"))
        .map_err(|e| e.to_string())
}

#[test]
fn defaults() {
    let c = load("").unwrap();
    assert_eq!(c.server.log_format, LogFormat::Text);
    assert_eq!(c.server.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(c.server.metrics, MetricsEndpoint::Gateway);
}

#[test]
fn every_setting() {
    let c = load(
        "log_format = \"json\"\nshutdown_timeout = \"5s\"\nmetrics_listen = \"127.0.0.1:9100\"\n",
    )
    .unwrap();
    assert_eq!(c.server.log_format, LogFormat::Json);
    assert_eq!(c.server.shutdown_timeout, Duration::from_secs(5));
    assert_eq!(
        c.server.metrics,
        MetricsEndpoint::Listen("127.0.0.1:9100".parse().unwrap())
    );
    let off = load("metrics = false\nmetrics_listen = \"127.0.0.1:9100\"\n").unwrap();
    assert_eq!(off.server.metrics, MetricsEndpoint::Off);
}

#[test]
fn bad_values_name_line_and_field() {
    let e = load("log_format = \"yaml\"\n").unwrap_err();
    assert!(e.starts_with("ops.toml:2: server.log_format: "), "{e}");
    assert!(e.contains("\"yaml\""), "{e}");
    let e = load("shutdown_timeout = \"soon\"\n").unwrap_err();
    assert!(
        e.starts_with("ops.toml:2: server.shutdown_timeout: "),
        "{e}"
    );
    let e = load("metrics = true\nmetrics_listen = \"9100\"\n").unwrap_err();
    assert!(e.starts_with("ops.toml:3: server.metrics_listen: "), "{e}");
}
