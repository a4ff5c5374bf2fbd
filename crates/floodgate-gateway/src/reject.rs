//! The answer to a request the store's decision rejected: 429 with the provider's body
//! (or the abuse message for a blocked key), the rate-limit headers, `Retry-After` and
//! `retry-after-ms`. The rejection is also written to the key's rate-limit log.

use crate::error::{error_body, json_response};
use crate::headers;
use crate::limits::Resolved;
use crate::log::{Rejection, RejectionLog};
use axum::http::StatusCode;
use axum::response::Response;
use floodgate_config::Config;
use floodgate_core::{Decision, Denial, DenialReason};
use std::sync::Arc;

/// The 429 for `decision`, rejected with `denial`, of `key` asking for `model`.
pub(crate) fn rejection(
    config: &Config,
    resolved: &Resolved,
    decision: &Decision,
    denial: &Denial,
    log: &RejectionLog,
    key: &str,
    model: &Arc<str>,
) -> Response {
    let wait = headers::retry_after(denial, &decision.dimensions);
    let tripped = match denial.reason {
        DenialReason::Limit(i) => resolved.limits.get(i),
        DenialReason::Blocked => None,
    };
    let body = match (denial.reason, &config.abuse) {
        (DenialReason::Blocked, Some(abuse)) => error_body("abuse_blocked", &abuse.message),
        (DenialReason::Blocked, None) => error_body(
            "abuse_blocked",
            "too many failed requests; this key is blocked for a while",
        ),
        (DenialReason::Limit(_), _) => config.responses.rejection_body.clone(),
    };
    let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, body);
    let conventions = &config.responses.headers;
    headers::apply(
        response.headers_mut(),
        conventions,
        &resolved.plan,
        &decision.dimensions,
        decision.at,
    );
    headers::apply_rejection(response.headers_mut(), conventions, tripped, wait);
    // Debug, not info: under a flood of rejections the log must not become the load.
    tracing::debug!(
        key,
        model = %model,
        limit = tripped.map(tracing::field::display),
        retry_after_ms = wait / 1_000_000,
        "rejected"
    );
    log.record(
        key,
        Rejection {
            at: decision.at,
            model: Arc::clone(model),
            limit: tripped.cloned(),
            status: StatusCode::TOO_MANY_REQUESTS.as_u16(),
            retry_after: wait,
        },
    );
    response
}
