//! What an operator watches on a running `floodgate serve`: `/metrics` scraped over a
//! socket and parsed, JSON log lines, `/readyz`, and shadow limits end to end (counted
//! and logged as would-reject, never enforced or reported in headers). No log line and
//! no metric carries a raw API key.

mod gateways;
mod operating;

use operating::{free_port, get, post, Server};
use std::collections::HashMap;

const KEY: &str = "sk-observed-raw-key-0001";
const FAILING_KEY: &str = "sk-observed-raw-key-0002";
const UNKNOWN_KEY: &str = "sk-observed-raw-key-0003";

fn hash_of(key: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["hash-key", key])
        .output()
        .expect("hash-key runs");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn config(upstream: &str, server_extra: &str) -> String {
    format!(
        r#"[server]
upstream = "{upstream}"
{server_extra}

[responses]
headers = ["classic", "ietf"]

[abuse]
max_failures = 2
window = "30s"
block = "30s"

[models]
img = {{ kind = "image" }}
txt = {{ kind = "text" }}
err = {{ kind = "other" }}

[tiers.basic.models]
img = {{ limits = [{{ unit = "requests", window = "minute", max = 2 }}] }}
txt = {{ limits = [
  {{ unit = "requests", window = "minute", max = 100 }},
  {{ unit = "requests", window = "hour", max = 1, shadow = true }},
] }}
err = {{ limits = [{{ unit = "requests", window = "minute", max = 100 }}] }}

[accounts.acme]
tier = "basic"

[[keys]]
name = "observed key"
sha256 = "{key}"
account = "acme"

[[keys]]
name = "failing key"
sha256 = "{failing}"
account = "acme"

[[routes]]
method = "POST"
path = "/img"
model = "img"

[[routes]]
method = "POST"
path = "/txt"
model = "txt"

[[routes]]
method = "POST"
path = "/err"
model = "err"
"#,
        key = hash_of(KEY),
        failing = hash_of(FAILING_KEY),
    )
}

/// The samples of an exposition text: `name{labels}` -> value; checks every line has
/// the format's shape on the way.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("TYPE ") || comment.starts_with("HELP "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        assert!(
            series[..name_end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "{line}");
        }
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        samples.insert(series.to_owned(), value);
    }
    samples
}

fn decisions(model: &str, dimension: &str, outcome: &str) -> String {
    format!(
        "floodgate_decisions_total{{tier=\"basic\",model=\"{model}\",dimension=\"{dimension}\",outcome=\"{outcome}\"}}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_logs_readiness_and_shadow_limits() {
    let dir = gateways::scratch("observability");
    let mock = gateways::mock_upstream(&dir, free_port()).await;
    let file = dir.join("floodgate.toml");
    std::fs::write(&file, config(&format!("http://{}", mock.addr), "")).unwrap();
    let server = Server::start(&dir, &file, "trace", &["--log-format", "json"]).await;
    let addr = &server.addr;

    // img: 2 per minute, the third is refused.
    for expected in [200, 200, 429] {
        let reply = post(addr, "/img", KEY, "{}", &[]).await.unwrap();
        assert_eq!(reply.status, expected, "{}", reply.body);
    }
    // txt: the shadow limit of 1 per hour would refuse the 2nd and 3rd; nothing is
    // refused and no header speaks of it.
    for _ in 0..3 {
        let reply = post(addr, "/txt", KEY, "{}", &[]).await.unwrap();
        assert_eq!(
            reply.status, 200,
            "a shadow limit never rejects: {}",
            reply.body
        );
        assert_eq!(reply.header("x-ratelimit-limit"), Some("100"));
        let policy = reply.header("ratelimit-policy").unwrap();
        assert!(!policy.contains("hour"), "{policy}");
    }
    // Three upstream failures: the third non-success answer blocks the key.
    for _ in 0..3 {
        let reply = post(addr, "/err", FAILING_KEY, "{}", &["x-mock-status: 500"])
            .await
            .unwrap();
        assert_eq!(reply.status, 500);
    }
    let blocked = post(addr, "/err", FAILING_KEY, "{}", &[]).await.unwrap();
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    let unknown = post(addr, "/img", UNKNOWN_KEY, "{}", &[]).await.unwrap();
    assert_eq!(unknown.status, 401);

    let ready = get(addr, "/readyz").await.unwrap();
    assert_eq!(ready.status, 200, "{}", ready.body);

    let scrape = get(addr, "/metrics").await.unwrap();
    assert_eq!(scrape.status, 200);
    assert!(
        scrape
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        scrape.header("content-type")
    );
    let text = &scrape.body;
    let samples = parse(text);
    let value = |series: &str| {
        *samples
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(value(&decisions("img", "all", "allowed")), 2.0);
    assert_eq!(value(&decisions("err", "all", "allowed")), 3.0);
    assert_eq!(
        value(&decisions("img", "key:requests/minute", "rejected")),
        1.0
    );
    assert_eq!(value(&decisions("err", "abuse_block", "rejected")), 1.0);
    assert_eq!(value(&decisions("txt", "all", "allowed")), 3.0);
    assert_eq!(
        value(&decisions("txt", "key:requests/hour", "shadow_rejected")),
        2.0
    );
    assert_eq!(value("floodgate_decision_duration_seconds_count"), 10.0);
    assert!(value("floodgate_decision_duration_seconds_sum") > 0.0);
    assert_eq!(
        value("floodgate_decision_duration_seconds_bucket{le=\"+Inf\"}"),
        10.0
    );
    assert_eq!(
        value("floodgate_upstream_responses_total{status_class=\"2xx\"}"),
        5.0
    );
    assert_eq!(
        value("floodgate_upstream_responses_total{status_class=\"5xx\"}"),
        3.0
    );
    assert_eq!(value("floodgate_upstream_duration_seconds_count"), 8.0);
    assert_eq!(value("floodgate_abuse_blocks_total"), 1.0);
    assert_eq!(value("floodgate_store_errors_total"), 0.0);
    assert_eq!(value("floodgate_store_degraded"), 0.0);
    for name in [
        "floodgate_decisions_total",
        "floodgate_decision_duration_seconds",
        "floodgate_upstream_responses_total",
        "floodgate_upstream_duration_seconds",
        "floodgate_store_errors_total",
        "floodgate_store_degraded",
        "floodgate_abuse_blocks_total",
        "floodgate_config_reloads_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "no TYPE of {name}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP of {name}"
        );
    }

    // The logs: JSON lines, a request line per request and the shadow would-rejects,
    // and never a raw key (nor in the metrics).
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let key_id = &hash_of(KEY)[..16];
    let requests: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == "floodgate::access" && l["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 10, "{log}");
    assert!(requests.iter().any(|l| l["key"] == key_id
        && l["account"] == "acme"
        && l["model"] == "txt"
        && l["decision"] == "allowed"
        && l["status"] == 200
        && l["latency_us"].is_u64()));
    assert!(requests
        .iter()
        .any(|l| l["model"] == "img" && l["decision"] == "rejected" && l["status"] == 429));
    let shadow = lines
        .iter()
        .filter(|l| l["message"] == "shadow limit would reject")
        .count();
    assert_eq!(shadow, 2, "{log}");
    assert!(lines
        .iter()
        .any(|l| l["message"] == "unauthenticated" && l["status"] == 401));
    for raw in [KEY, FAILING_KEY, UNKNOWN_KEY] {
        assert!(!log.contains(raw), "a raw key in the log:\n{log}");
        assert!(!text.contains(raw), "a raw key in the metrics");
        assert!(
            !text.contains(&hash_of(raw)[..16]),
            "a key id in the metrics"
        );
    }
    assert!(!text.contains("acme"), "an account in the metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_their_own_listener() {
    let dir = gateways::scratch("metrics-listen");
    let mock = gateways::mock_upstream(&dir, free_port()).await;
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let file = dir.join("floodgate.toml");
    let extra = format!("metrics_listen = \"{metrics_addr}\"");
    std::fs::write(&file, config(&format!("http://{}", mock.addr), &extra)).unwrap();
    let server = Server::start(&dir, &file, "warn", &[]).await;

    let own = get(&metrics_addr, "/metrics").await.unwrap();
    assert_eq!(own.status, 200);
    assert!(
        own.body.contains("floodgate_store_degraded 0"),
        "{}",
        own.body
    );
    let on_gateway = get(&server.addr, "/metrics").await.unwrap();
    assert_eq!(
        on_gateway.status, 401,
        "on the gateway's listener /metrics is an ordinary proxied path"
    );
}
