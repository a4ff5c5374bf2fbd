//! The answer to a request the store's decision rejected: 429 with the provider's body
//! (or the abuse message for a blocked key), the rate-limit headers, `Retry-After` and
//! `retry-after-ms`. The rejection is also written to the key's rate-limit log.
//!
//! A request that costs more than a limit allows at all (more images, or a larger token
//! reservation, than a whole window holds) can never be admitted, however long it waits:
//! its 429 says so and what it asked for, in place of the provider's "too many" body,
//! the way OpenAI answers a request too large for a TPM limit.

use crate::error::{error_body, json_response};
use crate::headers;
use crate::limits::Resolved;
use crate::log::{Rejection, RejectionLog};
use axum::http::StatusCode;
use axum::response::Response;
use floodgate_config::Config;
use floodgate_core::{Costs, Decision, Denial, DenialReason, Limit, Window};
use std::sync::Arc;

/// The 429 for `decision`, rejected with `denial`, of `key` asking for `model` at
/// `costs`.
#[allow(clippy::too_many_arguments)] // one call site, each argument a different thing
pub(crate) fn rejection(
    config: &Config,
    resolved: &Resolved,
    decision: &Decision,
    denial: &Denial,
    log: &RejectionLog,
    key: &str,
    model: &Arc<str>,
    costs: &Costs,
) -> Response {
    let wait = headers::retry_after(denial, &decision.dimensions);
    let tripped = match denial.reason {
        DenialReason::Limit(i) => resolved.limits.get(i),
        DenialReason::Blocked => None,
    };
    let oversized = tripped.filter(|_| denial.retry_after.is_none());
    let body = match (denial.reason, &config.abuse) {
        (DenialReason::Blocked, Some(abuse)) => error_body("abuse_blocked", &abuse.message),
        (DenialReason::Blocked, None) => error_body(
            "abuse_blocked",
            "too many failed requests; this key is blocked for a while",
        ),
        (DenialReason::Limit(_), _) => match oversized {
            Some(limit) => error_body(
                "request_too_large",
                &too_large(limit, costs.get(limit.unit), model),
            ),
            None => config.responses.rejection_body.clone(),
        },
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
            too_large: oversized.is_some(),
            status: StatusCode::TOO_MANY_REQUESTS.as_u16(),
            retry_after: wait,
        },
    );
    response
}

/// What a request that `limit` can never admit is told: what it asked for, and what the
/// limit allows at most (or, for a limit of 0, that it admits nothing).
fn too_large(limit: &Limit, cost: u64, model: &str) -> String {
    let per = match limit.window {
        Window::Concurrent { .. } => "at once".to_owned(),
        window => format!("per {}", window.label()),
    };
    if limit.max == 0 {
        return format!(
            "no request for {model} can be admitted: the {scope} limit allows no {unit} \
             {per} (its maximum is 0); ask for a higher limit",
            unit = limit.unit,
            scope = limit.scope.as_str(),
        );
    }
    format!(
        "request too large for {model}: it needs {cost} {unit}, and the {scope} limit \
         allows {max} {unit} {per} at most; it can never be admitted as it is, so make \
         it smaller (fewer images, a lower max_tokens) or ask for a higher limit",
        unit = limit.unit,
        scope = limit.scope.as_str(),
        max = limit.max,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{Scope, Unit};

    #[test]
    fn a_request_too_large_is_told_what_it_asked_and_what_the_limit_allows() {
        let tpm = Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 5_000, "m");
        assert_eq!(
            too_large(&tpm, 9_000, "llama"),
            "request too large for llama: it needs 9000 tokens, and the key limit allows \
             5000 tokens per minute at most; it can never be admitted as it is, so make it \
             smaller (fewer images, a lower max_tokens) or ask for a higher limit"
        );
        let jobs = Limit::new(
            Scope::Account,
            Unit::ConcurrentJobs,
            Window::Concurrent { lease_ttl: 1 },
            2,
            "m",
        );
        assert!(too_large(&jobs, 3, "video").contains("allows 2 concurrent_jobs at once"));
        let none = Limit::new(Scope::Key, Unit::Images, Window::DAY, 0, "m");
        assert_eq!(
            too_large(&none, 1, "flux"),
            "no request for flux can be admitted: the key limit allows no images per day \
             (its maximum is 0); ask for a higher limit"
        );
    }
}
