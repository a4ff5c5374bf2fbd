//! `/healthz` and `/readyz` (no key needed) and what a request gets while the store is
//! away: the health endpoint stays 200 and says "degraded", readiness turns 503; a
//! request refused by a fail-closed limit gets a 503 JSON error that says so, never
//! reaches the upstream, and is counted as a store error in `/metrics`.

mod common;

use async_trait::async_trait;
use common::{config_from, serve_state, start, start_mock};
use floodgate_config::KeyHash;
use floodgate_core::{AbuseRule, Decision, FakeClock, LeaseId, Limit, Nanos};
use floodgate_gateway::{GatewayState, StoreHealth};
use floodgate_mock::MockOptions;
use floodgate_store::{DecideRequest, Inspection, SettleRequest, Store, StoreError, Subjects};
use serde_json::json;
use std::sync::Arc;

const KEY: &str = "sk-health-test";

fn config(upstream: &str) -> floodgate_config::Config {
    config_from(&format!(
        r#"
[server]
upstream = "{upstream}"

[models]
chat-model = {{ kind = "text" }}

[tiers.standard]
limits = [{{ unit = "requests", window = "minute", max = 5, failure = "fail_closed" }}]

[accounts.a]
tier = "standard"

[[keys]]
name = "health test key"
sha256 = "{}"
account = "a"

[[routes]]
method = "POST"
path = "/v1/chat/completions"
model_field = "model"
"#,
        KeyHash::of(KEY).to_hex()
    ))
}

/// A shared store that cannot be reached, refusing as a fallback store does for a
/// request under a fail-closed limit.
struct Unreachable;

fn down<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable(
        "the shared rate-limit store is unreachable and the limit fails closed".into(),
    ))
}

#[async_trait]
impl Store for Unreachable {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn decide(&self, _: &DecideRequest<'_>) -> Result<Decision, StoreError> {
        down()
    }
    async fn settle(&self, _: &SettleRequest<'_>) -> Result<(), StoreError> {
        down()
    }
    async fn inspect(&self, _: &Subjects<'_>, _: &[Limit]) -> Result<Inspection, StoreError> {
        down()
    }
    async fn renew_lease(
        &self,
        _: &Subjects<'_>,
        _: &[Limit],
        _: LeaseId,
    ) -> Result<bool, StoreError> {
        down()
    }
    async fn release_lease(
        &self,
        _: &Subjects<'_>,
        _: &[Limit],
        _: LeaseId,
    ) -> Result<bool, StoreError> {
        down()
    }
    async fn record_failure(&self, _: &str, _: &AbuseRule) -> Result<Option<Nanos>, StoreError> {
        down()
    }
    async fn clear_block(&self, _: &str) -> Result<(), StoreError> {
        down()
    }
}

#[tokio::test]
async fn healthz_needs_no_key_and_reports_the_memory_store_healthy() {
    let h = start(config("http://127.0.0.1:1")).await;
    let reply = h.get("/healthz", "not-a-key").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({"status": "ok", "store": {"kind": "memory", "state": "healthy"}})
    );
    let anonymous = h
        .send(
            http::Request::builder()
                .uri("/healthz")
                .body(common::full(""))
                .unwrap(),
        )
        .await;
    assert_eq!(anonymous.status, 200);
    let ready = h.get("/readyz", "").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["store"]["state"], "healthy");
}

#[tokio::test]
async fn while_the_store_is_away_healthz_is_degraded_and_fail_closed_requests_get_503() {
    let (mock, _mock_stop) = start_mock(MockOptions::default()).await;
    let state = GatewayState::with_store(config(&mock), Arc::new(Unreachable))
        .expect("upstream URL")
        .with_health_check(Arc::new(|| StoreHealth::Degraded {
            since: 1_700_000_000_000_000_000,
            error: "store timed out after 250 ms".into(),
        }));
    let mut h = serve_state(Arc::new(state), FakeClock::at_new_year()).await;
    h.mock = mock;

    let health = h.get("/healthz", "").await;
    assert_eq!(
        health.status, 200,
        "the gateway still serves under its policy"
    );
    assert_eq!(
        health.json(),
        json!({"status": "degraded", "store": {
            "kind": "redis",
            "state": "degraded",
            "since_unix_ms": 1_700_000_000_000u64,
            "error": "store timed out after 250 ms",
        }})
    );

    let ready = h.get("/readyz", "").await;
    assert_eq!(ready.status, 503, "not ready while the store is away");
    assert_eq!(ready.json()["status"], "degraded");

    let body = json!({"model": "chat-model", "max_tokens": 4}).to_string();
    let reply = h.post("/v1/chat/completions", Some(KEY), &body, &[]).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), "1");
    assert_eq!(reply.error_type(), "store_unavailable");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.starts_with("rate-limit store unavailable; request refused by fail_closed policy"),
        "{message}"
    );
    let stats = h.mock_stats().await;
    assert_eq!(
        stats["total"], 0,
        "a refused request never reaches the upstream: {stats}"
    );
    let metrics = h.get("/metrics", "").await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8_lossy(&metrics.body);
    for line in [
        "floodgate_store_degraded 1",
        "floodgate_store_errors_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}
