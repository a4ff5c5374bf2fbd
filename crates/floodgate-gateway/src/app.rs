//! The gateway's router: health, readiness, metrics, the key owner's endpoints, the admin
//! API, and every other request proxied; and the router of a metrics-only listener.

use crate::admin;
use crate::health::{self, HEALTH_PATH, READY_PATH};
use crate::metrics::{self, METRICS_PATH};
use crate::proxy;
use crate::self_service;
use crate::state::GatewayState;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// Path of the calling key's limits and usage.
pub const RATE_LIMITS_PATH: &str = "/api/v1/api_keys/rate_limits";
/// Path of the calling key's recent rejections.
pub const RATE_LIMIT_LOGS_PATH: &str = "/api/v1/api_keys/rate_limit_logs";

/// Where the admin API is (`/admin/v1/...`).
pub const ADMIN_PATH: &str = "/admin";

/// The gateway as an axum [`Router`], ready to serve or to call in tests.
pub fn app(state: Arc<GatewayState>) -> Router {
    Router::new()
        .route(HEALTH_PATH, get(health::handler))
        .route(READY_PATH, get(health::ready_handler))
        .route(METRICS_PATH, get(metrics::handler))
        .route(RATE_LIMITS_PATH, get(self_service::rate_limits_handler))
        .route(
            RATE_LIMIT_LOGS_PATH,
            get(self_service::rate_limit_logs_handler),
        )
        .nest(ADMIN_PATH, admin::router(Arc::clone(&state)))
        .fallback(proxy::handle)
        .with_state(state)
}

/// Whether `path` is one of the gateway's own endpoints (health, readiness, metrics, the
/// key owner's endpoints, anything under the admin API), which [`app`] routes; every other
/// path goes to its fallback, the proxy. The server hands such paths to the proxy directly,
/// without the router's path lookup and boxed service call; keep this in step with [`app`].
pub(crate) fn own_endpoint(path: &str) -> bool {
    matches!(
        path,
        HEALTH_PATH | READY_PATH | METRICS_PATH | RATE_LIMITS_PATH | RATE_LIMIT_LOGS_PATH
    ) || path.starts_with(ADMIN_PATH)
}

/// The router of a listener that serves only `/metrics` (`[server] metrics_listen`).
pub fn metrics_app(state: Arc<GatewayState>) -> Router {
    Router::new()
        .route(METRICS_PATH, get(metrics::own_listener_handler))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_endpoints_go_to_the_router_and_everything_else_to_the_proxy() {
        for own in [
            HEALTH_PATH,
            READY_PATH,
            METRICS_PATH,
            RATE_LIMITS_PATH,
            RATE_LIMIT_LOGS_PATH,
            "/admin",
            "/admin/v1/keys",
            "/admin/v1/nothing-here",
        ] {
            assert!(own_endpoint(own), "{own}");
        }
        // The router matches exact paths only: these reach its fallback, the proxy.
        for proxied in [
            "/api/v1/txt2img",
            "/healthz/",
            "/metrics/x",
            "/",
            "",
            "/v1/admin",
        ] {
            assert!(!own_endpoint(proxied), "{proxied}");
        }
    }
}
