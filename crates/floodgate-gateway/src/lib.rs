//! floodgate-gateway: the HTTP reverse proxy that enforces floodgate's limits in front
//! of a model API.
//!
//! ```no_run
//! # async fn run(config: floodgate_config::Config) -> std::io::Result<()> {
//! use std::sync::Arc;
//! let state = Arc::new(floodgate_gateway::GatewayState::new(config).expect("upstream URL"));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! # drop(stop);
//! floodgate_gateway::serve(listener, state, async {
//!     let _ = stopped.await;
//! })
//! .await
//! # }
//! ```
//!
//! # Layout
//! - [`app`](app()) / [`serve`]: the router, and serving it on a listener until shutdown.
//! - `server`: the gateway's own HTTP/1.1 loop for plain requests; anything else goes on
//!   under hyper's server.
//! - `wire`: message heads as read off the wire (field spans, header names).
//! - `state`: [`GatewayState`], the swappable configuration snapshot, store, upstream
//!   client and rate-limit log.
//! - `proxy`: one request's path: auth -> route -> upload size -> model and cost ->
//!   decision -> forward -> headers -> settlement, slot release, abuse accounting.
//! - `auth`: API keys from `Authorization: Bearer` or `x-api-key`, looked up by hash.
//! - `routes`: method and path patterns (`*`, trailing `*`).
//! - `target` / `json` / `multipart`: the model and image count, from the route or a
//!   capped JSON or `multipart/form-data` body.
//! - `body`: request bodies upstream, with the streaming upload limit.
//! - `limits`: resolved limits cached per (key, model) for one configuration.
//! - `headers`: classic, OpenAI-style and IETF rate-limit headers, `Retry-After`.
//! - `reject`: 429 answers, written to the [`RejectionLog`].
//! - `lease`: concurrency slots released when the response body ends or is dropped.
//! - `answer`: an upstream answer read whole (up to a cap) before it goes on.
//! - `jobs`: async jobs whose slot is held from submission until a poll shows a final
//!   state, under a lease any instance derives from the task id.
//! - `settle` / `usage`: token reservations settled from the JSON or SSE `usage`.
//! - `reservations`: this instance's reservations not settled yet, for `rate_limits`.
//! - `identity`: the caller's key removed (by default) and its identity passed upstream.
//! - `upstream` / `client`: forwarding, over keep-alive connections to the upstream.
//! - `health`: `/healthz` (liveness), `/readyz` (store reachable), and [`StoreHealth`]
//!   as the binary reports it for its store.
//! - `metrics`: [`Metrics`], the Prometheus counters and histograms, and `/metrics`.
//! - `self_service`: `/api/v1/api_keys/rate_limits` and `/api/v1/api_keys/rate_limit_logs`.
//! - [`admin`]: the admin API (`/admin/v1/...`): keys, tiers, overrides, blocks, kept by
//!   a registry and layered over the file's configuration.
//! - [`error`]: [`GatewayError`], every failure with its status, as one JSON shape.

pub mod admin;
mod answer;
mod app;
mod auth;
mod body;
mod client;
pub mod error;
mod headers;
mod health;
mod identity;
mod jobs;
mod json;
mod lease;
mod limits;
mod log;
mod media;
mod metrics;
mod multipart;
mod proxy;
mod reject;
mod reservations;
mod routes;
mod self_service;
mod serve;
mod server;
mod settle;
mod state;
mod stopping;
mod target;
mod upstream;
mod usage;
mod wire;

pub use app::{app, metrics_app, ADMIN_PATH, RATE_LIMITS_PATH, RATE_LIMIT_LOGS_PATH};
pub use error::GatewayError;
pub use health::{HealthCheck, StoreHealth, HEALTH_PATH, READY_PATH};
pub use log::{Rejection, RejectionLog};
pub use metrics::{Metrics, METRICS_PATH};
pub use serve::{serve, serve_metrics};
pub use state::GatewayState;
pub use upstream::BadUpstream;
