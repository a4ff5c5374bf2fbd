//! `GET /healthz`: whether the gateway serves, and whether its counters are shared;
//! `GET /readyz`: whether it should be sent traffic.
//!
//! The answer is 200 whenever the gateway serves requests, including while a shared store
//! (Redis) is away: then each limit's failure policy decides (fail-open limits counted on
//! this instance, fail-closed ones answered 503), and the body says `"degraded"` with
//! when and why, so load balancers keep routing while monitoring sees the outage.
//! `/readyz` is the stricter answer: 200 only while the store answers (a configuration is
//! always loaded once the gateway serves), 503 with the same JSON body while a shared
//! store is away, so an orchestrator can prefer instances whose counters are exact.
//! The gateway does not know what the store is: the binary hands it a [`HealthCheck`].

use crate::error::json_response;
use crate::state::GatewayState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use floodgate_core::Nanos;
use serde_json::json;
use std::sync::Arc;

/// Path of the health endpoint (no API key needed).
pub const HEALTH_PATH: &str = "/healthz";
/// Path of the readiness endpoint (no API key needed).
pub const READY_PATH: &str = "/readyz";

/// Where the counter store stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreHealth {
    /// Decisions are made on the store (for a shared store: exact across instances).
    Healthy,
    /// The shared store has not answered since `since`; the failure policy applies.
    Degraded {
        /// When the outage was first seen, in ns since the Unix epoch.
        since: Nanos,
        /// What the store last said.
        error: String,
    },
}

/// Reads the store's health on each `/healthz` call.
pub type HealthCheck = Arc<dyn Fn() -> StoreHealth + Send + Sync>;

/// The `/healthz` body for a store named `kind` in `health`.
pub(crate) fn body(kind: &str, health: &StoreHealth) -> serde_json::Value {
    match health {
        StoreHealth::Healthy => json!({
            "status": "ok",
            "store": { "kind": kind, "state": "healthy" },
        }),
        StoreHealth::Degraded { since, error } => json!({
            "status": "degraded",
            "store": {
                "kind": kind,
                "state": "degraded",
                "since_unix_ms": since / 1_000_000,
                "error": error,
            },
        }),
    }
}

/// `GET /healthz`.
pub(crate) async fn handler(State(state): State<Arc<GatewayState>>) -> Response {
    let health = state.store_health();
    json_response(
        StatusCode::OK,
        body(state.store().name(), &health).to_string(),
    )
}

/// `GET /readyz`.
pub(crate) async fn ready_handler(State(state): State<Arc<GatewayState>>) -> Response {
    let health = state.store_health();
    let status = match health {
        StoreHealth::Healthy => StatusCode::OK,
        StoreHealth::Degraded { .. } => StatusCode::SERVICE_UNAVAILABLE,
    };
    json_response(status, body(state.store().name(), &health).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_and_degraded_bodies() {
        assert_eq!(
            body("redis", &StoreHealth::Healthy),
            json!({"status": "ok", "store": {"kind": "redis", "state": "healthy"}})
        );
        let degraded = StoreHealth::Degraded {
            since: 1_700_000_000_123_456_789,
            error: "store timed out after 250 ms".into(),
        };
        assert_eq!(
            body("redis-cluster", &degraded),
            json!({"status": "degraded", "store": {
                "kind": "redis-cluster",
                "state": "degraded",
                "since_unix_ms": 1_700_000_000_123u64,
                "error": "store timed out after 250 ms",
            }})
        );
    }
}
