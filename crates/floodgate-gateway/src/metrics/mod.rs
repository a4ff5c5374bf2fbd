//! Prometheus metrics: what the gateway decided, how the upstream and the store behave,
//! and the `GET /metrics` endpoint that renders them.
//!
//! Each gateway owns its own recorder (no global one), so several gateways in one
//! process, as in tests, never mix their numbers. Handles are registered once and are
//! plain atomics afterwards: the per-request cost is a counter increment, a histogram
//! sample and, for the allowed-decisions counter, one lookup by (tier, model) under a
//! read lock. Labels come from the configuration only (tier, model, a limit's
//! scope/unit/window, an outcome, a status class), never from a key or an account, so
//! their number is bounded by the configuration.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `floodgate_decisions_total` | counter | `tier`, `model`, `dimension`, `outcome` |
//! | `floodgate_decision_duration_seconds` | histogram | |
//! | `floodgate_upstream_responses_total` | counter | `status_class` |
//! | `floodgate_upstream_duration_seconds` | histogram | |
//! | `floodgate_store_errors_total` | counter | |
//! | `floodgate_store_degraded` | gauge | |
//! | `floodgate_abuse_blocks_total` | counter | |
//! | `floodgate_config_reloads_total` | counter | `result` |
//!
//! `decisions` counts one decision per request by outcome (`allowed`, `rejected`,
//! `shadow_rejected`) and logs shadow would-rejects.

mod decisions;

use crate::proxy;
use crate::state::GatewayState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use floodgate_config::MetricsEndpoint;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics::{SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

pub(crate) use decisions::{Decided, Outcome};

/// Path of the metrics endpoint (no API key needed).
pub const METRICS_PATH: &str = "/metrics";

const DECISIONS: &str = "floodgate_decisions_total";
const DECISION_SECONDS: &str = "floodgate_decision_duration_seconds";
const UPSTREAM_RESPONSES: &str = "floodgate_upstream_responses_total";
const UPSTREAM_SECONDS: &str = "floodgate_upstream_duration_seconds";
const STORE_ERRORS: &str = "floodgate_store_errors_total";
const STORE_DEGRADED: &str = "floodgate_store_degraded";
const ABUSE_BLOCKS: &str = "floodgate_abuse_blocks_total";
const RELOADS: &str = "floodgate_config_reloads_total";

/// A decision takes microseconds on the memory store and up to the store timeout on Redis.
const DECISION_BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0,
];
/// Model calls take from milliseconds (embeddings) to minutes (video).
const UPSTREAM_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Status classes of upstream answers, and `error` for none (refused, timed out).
const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "error"];

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Allowed-decision counters by tier, then model.
type AllowedByTier = HashMap<Arc<str>, HashMap<Arc<str>, Counter>>;

/// The gateway's metrics.
pub struct Metrics {
    /// Where every handle's value lives, and what renders them.
    recorder: PrometheusRecorder,
    /// Time of each store decision.
    decision_seconds: Histogram,
    /// Time to the upstream's response head.
    upstream_seconds: Histogram,
    /// Upstream answers by [`STATUS_CLASSES`].
    upstream_status: [Counter; 6],
    /// Store calls that failed (the request was answered 503 or under the fallback).
    store_errors: Counter,
    /// 1 while the shared store is away and its fallback decides, set at each scrape.
    store_degraded: Gauge,
    /// Keys newly blocked by abuse protection.
    abuse_blocks: Counter,
    /// Configuration reloads: `[ok, rejected]`.
    reloads: [Counter; 2],
    /// Allowed-decision counters by tier, then model, registered on first use.
    allowed: RwLock<AllowedByTier>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics with every unlabelled series registered, so a scrape shows them at
    /// zero before anything happened.
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DECISION_SECONDS.into()), DECISION_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(UPSTREAM_SECONDS.into()), UPSTREAM_BUCKETS)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        describe(&recorder);
        let counter = |name: &'static str, labels: Vec<Label>| {
            recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
        };
        let plain = |name: &'static str| counter(name, Vec::new());
        Self {
            decision_seconds: recorder
                .register_histogram(&Key::from_static_name(DECISION_SECONDS), &METADATA),
            upstream_seconds: recorder
                .register_histogram(&Key::from_static_name(UPSTREAM_SECONDS), &METADATA),
            upstream_status: STATUS_CLASSES
                .map(|class| counter(UPSTREAM_RESPONSES, vec![Label::new("status_class", class)])),
            store_errors: plain(STORE_ERRORS),
            store_degraded: recorder
                .register_gauge(&Key::from_static_name(STORE_DEGRADED), &METADATA),
            abuse_blocks: plain(ABUSE_BLOCKS),
            reloads: ["ok", "rejected"].map(|r| counter(RELOADS, vec![Label::new("result", r)])),
            allowed: RwLock::default(),
            recorder,
        }
    }

    /// The exposition text of every metric.
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }

    /// Folds buffered histogram samples into their buckets; run it now and then so that
    /// an instance nobody scrapes does not buffer samples without bound.
    pub fn run_upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }

    /// Counts a configuration reload: installed (`ok`) or rejected.
    pub fn reload(&self, ok: bool) {
        self.reloads[usize::from(!ok)].increment(1);
    }

    /// Records how long one store decision took.
    pub(crate) fn decision_time(&self, took: Duration) {
        self.decision_seconds.record(took.as_secs_f64());
    }

    /// Records an upstream answer (`None`: no answer) and the time to its head.
    pub(crate) fn upstream(&self, status: Option<StatusCode>, took: Duration) {
        let class = status.map_or(5, |s| usize::from(s.as_u16() / 100).clamp(1, 5) - 1);
        self.upstream_status[class].increment(1);
        self.upstream_seconds.record(took.as_secs_f64());
    }

    /// Counts a failed store call.
    pub(crate) fn store_error(&self) {
        self.store_errors.increment(1);
    }

    /// Counts a key newly blocked by abuse protection.
    pub(crate) fn abuse_block(&self) {
        self.abuse_blocks.increment(1);
    }

    fn set_degraded(&self, degraded: bool) {
        self.store_degraded.set(f64::from(u8::from(degraded)));
    }

    /// A counter of `floodgate_decisions_total` with these labels.
    fn decisions(&self, tier: &str, model: &str, dimension: &str, outcome: Outcome) -> Counter {
        let labels = vec![
            Label::new("tier", tier.to_owned()),
            Label::new("model", model.to_owned()),
            Label::new("dimension", dimension.to_owned()),
            Label::new("outcome", outcome.as_str()),
        ];
        self.recorder
            .register_counter(&Key::from_parts(DECISIONS, labels), &METADATA)
    }
}

fn describe(recorder: &PrometheusRecorder) {
    let help = |name: &'static str, unit: Option<Unit>, text: &'static str| {
        recorder.describe_counter(
            KeyName::from_const_str(name),
            unit,
            SharedString::const_str(text),
        );
    };
    help(DECISIONS, None, "Rate-limit decisions by tier, model, deciding dimension and outcome (allowed, rejected, shadow_rejected).");
    help(
        DECISION_SECONDS,
        Some(Unit::Seconds),
        "Time the counter store took for one decision.",
    );
    help(
        UPSTREAM_RESPONSES,
        None,
        "Upstream answers by status class; error when none came (refused, timed out).",
    );
    help(
        UPSTREAM_SECONDS,
        Some(Unit::Seconds),
        "Time from forwarding a request to the upstream's response head.",
    );
    help(STORE_ERRORS, None, "Counter store calls that failed.");
    help(
        STORE_DEGRADED,
        None,
        "1 while the shared store (Redis) is away and each limit's failure policy applies.",
    );
    help(
        ABUSE_BLOCKS,
        None,
        "Keys blocked by abuse protection after too many failed requests.",
    );
    help(
        RELOADS,
        None,
        "Configuration reloads by result (ok, rejected).",
    );
}

/// `GET /metrics` on the gateway's listener: the metrics where the configuration puts
/// them there, otherwise an ordinary proxied path.
pub(crate) async fn handler(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    if state.snapshot().config.server.metrics != MetricsEndpoint::Gateway {
        return proxy::handle(State(state), request).await;
    }
    exposition(&state)
}

/// `GET /metrics` on a listener of its own.
pub(crate) async fn own_listener_handler(State(state): State<Arc<GatewayState>>) -> Response {
    exposition(&state)
}

fn exposition(state: &GatewayState) -> Response {
    let metrics = state.metrics();
    metrics.set_degraded(state.store_health() != crate::health::StoreHealth::Healthy);
    let mut response = (StatusCode::OK, metrics.render()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
