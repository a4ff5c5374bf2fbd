//! The key owner's own endpoints: `GET /api/v1/api_keys/rate_limits` (limits, usage,
//! remaining and reset of every dimension of every model, consuming nothing) and
//! `GET /api/v1/api_keys/rate_limit_logs` (recent rejections). Each answers only about
//! the key that calls it.

use crate::auth::{self, Caller};
use crate::error::{json_response, GatewayError};
use crate::headers::ceil_secs;
use crate::log::Rejection;
use crate::state::{GatewayState, Snapshot};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use floodgate_core::calendar::{civil_from_days, DAY};
use floodgate_core::{DimensionStatus, Limit, Nanos, Unit, NANOS_PER_SEC};
use floodgate_store::Subjects;
use serde_json::{json, Value};
use std::sync::Arc;

/// `2026-01-01T00:00:00Z` for a time in nanoseconds since the epoch.
pub(crate) fn rfc3339(at: Nanos) -> String {
    let days = i64::try_from(at / DAY).unwrap_or(0);
    let (y, m, d) = civil_from_days(days);
    let secs = (at % DAY) / NANOS_PER_SEC;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn limit_json(limit: &Limit) -> Value {
    json!({
        "scope": limit.scope.as_str(),
        "unit": limit.unit.as_str(),
        "window": limit.window.label(),
        "window_seconds": limit.window.nominal_seconds(),
        "counter": &*limit.bucket,
        "shadow": limit.shadow,
    })
}

fn dimension_json(limit: &Limit, status: &DimensionStatus, at: Nanos) -> Value {
    let mut v = limit_json(limit);
    if let Value::Object(map) = &mut v {
        map.insert("limit".into(), status.max.into());
        map.insert("used".into(), status.used().into());
        map.insert("remaining".into(), status.remaining.into());
        map.insert("reset_seconds".into(), ceil_secs(status.reset_after).into());
        map.insert(
            "reset_at".into(),
            ceil_secs(at.saturating_add(status.reset_after)).into(),
        );
    }
    v
}

/// What of a dimension's use is still in flight: for tokens, `reserved` (admitted
/// requests not settled yet, on this instance) and `settled`; for concurrent jobs,
/// `in_flight` (the slots held).
fn in_flight(
    v: &mut Value,
    state: &GatewayState,
    subjects: &Subjects<'_>,
    limit: &Limit,
    status: &DimensionStatus,
) {
    let Value::Object(map) = v else {
        return;
    };
    let used = status.used();
    if limit.unit.is_tokens() {
        let reserved = state.reservations.of(subjects, limit).min(used);
        map.insert("reserved".into(), reserved.into());
        map.insert("settled".into(), (used - reserved).into());
    } else if limit.unit == Unit::ConcurrentJobs {
        map.insert("in_flight".into(), used.into());
    }
}

async fn rate_limits(
    state: &GatewayState,
    snapshot: &Snapshot,
    caller: &Caller<'_>,
) -> Result<Value, GatewayError> {
    let config = &snapshot.config;
    let mut models: Vec<_> = config.policy.models.values().collect();
    models.sort_by(|a, b| a.name.cmp(&b.name));
    let mut per_model = Vec::with_capacity(models.len());
    let mut all: Vec<Limit> = Vec::new();
    for model in models {
        let resolved = snapshot
            .limits
            .get(config, caller, model)
            .map_err(|e| GatewayError::Misconfigured(e.to_string()))?;
        let start = all.len();
        all.extend(resolved.limits.iter().cloned());
        per_model.push((model, start..all.len()));
    }
    let subjects = Subjects {
        key: caller.key_id(),
        account: &caller.account.id,
    };
    let inspection = state.store.inspect(&subjects, &all).await?;
    let at = inspection.at;
    let models: Vec<Value> = per_model
        .into_iter()
        .map(|(model, range)| {
            // A store answering fewer dimensions than asked shows fewer, never panics.
            let dims = inspection.dimensions.get(range.clone()).unwrap_or_default();
            let limits: Vec<Value> = all[range]
                .iter()
                .zip(dims)
                .map(|(l, s)| {
                    let mut v = dimension_json(l, s, at);
                    in_flight(&mut v, state, &subjects, l, s);
                    v
                })
                .collect();
            json!({
                "model": &*model.name,
                "kind": &*model.kind,
                "class": model.class.as_deref(),
                "rate_limited": !limits.is_empty(),
                "limits": limits,
            })
        })
        .collect();
    Ok(json!({ "data": {
        "key": {
            "id": caller.key_id(),
            "name": caller.key.name,
            "account": &*caller.account.id,
            "tier": &*caller.account.tier,
        },
        "at": rfc3339(at),
        "blocked_for_seconds": inspection.blocked_for.map(ceil_secs),
        "models": models,
    }}))
}

fn rejection_json(r: &Rejection) -> Value {
    json!({
        "timestamp": rfc3339(r.at),
        "unix": r.at / NANOS_PER_SEC,
        "model": &*r.model,
        "reason": match (&r.limit, r.too_large) {
            (Some(_), true) => "request_too_large",
            (Some(_), false) => "rate_limit",
            (None, _) => "abuse_block",
        },
        "limit": r.limit.as_ref().map(|l| {
            let mut v = limit_json(l);
            if let Value::Object(map) = &mut v {
                map.insert("limit".into(), l.max.into());
            }
            v
        }),
        "status": r.status,
        "retry_after_seconds": ceil_secs(r.retry_after).max(1),
    })
}

fn ok_json(value: &Value) -> Response {
    json_response(StatusCode::OK, value.to_string())
}

/// `GET /api/v1/api_keys/rate_limits`.
pub(crate) async fn rate_limits_handler(
    State(state): State<Arc<GatewayState>>,
    request: Request,
) -> Response {
    // A key another instance created is found in the shared registry.
    let snapshot = state.snapshot_for(request.headers()).await;
    let caller = match auth::authenticate(&snapshot.keys, request.headers()) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    match rate_limits(&state, &snapshot, &caller).await {
        Ok(v) => ok_json(&v),
        Err(e) => e.into_response(),
    }
}

/// `GET /api/v1/api_keys/rate_limit_logs`.
pub(crate) async fn rate_limit_logs_handler(
    State(state): State<Arc<GatewayState>>,
    request: Request,
) -> Response {
    // A key another instance created is found in the shared registry.
    let snapshot = state.snapshot_for(request.headers()).await;
    let caller = match auth::authenticate(&snapshot.keys, request.headers()) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let entries: Vec<Value> = state
        .log
        .recent(caller.key_id())
        .iter()
        .map(rejection_json)
        .collect();
    ok_json(&json!({ "data": entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_767_225_600 * NANOS_PER_SEC + 3_723 * NANOS_PER_SEC),
            "2026-01-01T01:02:03Z"
        );
    }
}
