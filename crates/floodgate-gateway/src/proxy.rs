//! A proxied request from start to end: authenticate -> route -> upload size -> model and
//! cost -> one store decision -> forward (streaming) -> headers -> settle tokens and
//! release the concurrency slot when the body ends; non-success answers of an
//! authenticated key count toward abuse protection.

use crate::auth::{self, Caller};
use crate::error::GatewayError;
use crate::headers;
use crate::lease::{GuardedBody, LeaseGuard};
use crate::limits::Resolved;
use crate::reject;
use crate::routes;
use crate::settle::{Settlement, SettlingBody, DEFAULT_MAX_TOKENS};
use crate::state::{GatewayState, Snapshot};
use crate::target;
use crate::upstream;
use crate::usage::Usage;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, response, HeaderMap};
use axum::response::{IntoResponse, Response};
use floodgate_core::policy::ModelSpec;
use floodgate_core::{Costs, Decision, LeaseId, Unit};
use floodgate_store::{DecideRequest, StoreError, Subjects};
use hyper::body::Incoming;
use std::sync::Arc;

/// The handler of every route that is not one of the gateway's own endpoints.
pub(crate) async fn handle(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    let mut snapshot = state.snapshot();
    // A key another instance created is not in this snapshot yet: a shared registry is
    // asked about unknown keys.
    let unknown = matches!(
        auth::authenticate(&snapshot.config, request.headers()),
        Err(GatewayError::UnknownKey)
    );
    if let Some(hash) = auth::presented_hash(request.headers()).filter(|_| unknown) {
        if state.find_shared_key(&hash).await {
            snapshot = state.snapshot();
        }
    }
    let caller = match auth::authenticate(&snapshot.config, request.headers()) {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let response = match proxy(&state, &snapshot, &caller, request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(key = caller.key_id(), error = %e, "request refused");
            e.into_response()
        }
    };
    if response.status().as_u16() >= 400 {
        count_failure(&state, &snapshot, caller.key_id()).await;
    }
    response
}

/// Counts a non-success answer toward the key's abuse protection.
pub(crate) async fn count_failure(state: &GatewayState, snapshot: &Snapshot, key: &str) {
    let Some(abuse) = &snapshot.config.abuse else {
        return;
    };
    match state.store.record_failure(key, &abuse.rule).await {
        Ok(Some(block)) => {
            tracing::warn!(
                key,
                block_ms = block / 1_000_000,
                "key blocked after too many failures"
            );
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(key, error = %e, "counting a failure failed"),
    }
}

fn content_length(headers: &HeaderMap) -> Result<Option<u64>, GatewayError> {
    headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(GatewayError::BadContentLength)
        })
        .transpose()
}

/// What a request asks for, read from its target (whose body cannot be shared across
/// the store's await).
struct Demand<'a> {
    /// The model.
    model: &'a ModelSpec,
    /// Images requested.
    images: u64,
    /// Compute units.
    compute: u64,
    /// Tokens to reserve if the model's limits count tokens: a prompt estimate (about
    /// four bytes a token) plus the completion asked for; the answer's usage settles the
    /// difference.
    tokens: Usage,
}

/// What a request costs in every unit, with `tokens` reserved.
fn costs(demand: &Demand<'_>, tokens: Usage) -> Costs {
    Costs::one_request()
        .with(Unit::Images, demand.images)
        .with(Unit::ComputeUnits, demand.compute)
        .with(Unit::InputTokens, tokens.input)
        .with(Unit::OutputTokens, tokens.output)
        .with(Unit::Tokens, tokens.input.saturating_add(tokens.output))
}

/// The response body, wrapped to settle tokens and release the slot when it ends; one
/// allocation whatever the wrapping.
fn after_body(
    head: &response::Parts,
    body: Incoming,
    settlement: Option<Settlement>,
    guard: Option<LeaseGuard>,
) -> Body {
    match (settlement, guard) {
        (None, None) => Body::new(body),
        (None, Some(guard)) => Body::new(GuardedBody::new(body, guard)),
        (Some(settlement), guard) => {
            let sse = head
                .headers
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
            let failed = head.status.as_u16() >= 400;
            let body = SettlingBody::new(body, settlement, sse, failed);
            match guard {
                Some(guard) => Body::new(GuardedBody::new(body, guard)),
                None => Body::new(body),
            }
        }
    }
}

/// `caller`'s limits on the target's model, the tokens reserved, and the store's decision
/// (none when nothing limits the request), at the generation of the account's admin
/// records `snapshot` merged when the registry is shared.
async fn decide(
    state: &GatewayState,
    snapshot: &Snapshot,
    caller: &Caller<'_>,
    demand: &Demand<'_>,
    lease: LeaseId,
) -> Result<(Arc<Resolved>, Option<Usage>, Option<Decision>), GatewayError> {
    let config = &snapshot.config;
    let resolved = snapshot
        .limits
        .get(&config.policy, caller, demand.model)
        .map_err(|e| GatewayError::Misconfigured(e.to_string()))?;
    let abuse = config.abuse.as_ref().map(|a| &a.rule);
    let reserved = resolved.tokens.then_some(demand.tokens);
    if resolved.limits.is_empty() && abuse.is_none() {
        return Ok((resolved, reserved, None));
    }
    let costs = costs(demand, reserved.unwrap_or_default());
    let request = DecideRequest {
        subjects: Subjects {
            key: caller.key_id(),
            account: &caller.account.id,
        },
        limits: &resolved.limits,
        costs: &costs,
        lease,
        abuse,
    };
    let decision = match snapshot.generations.get(&*caller.account.id) {
        Some(&generation) => state.store.decide_at(&request, generation).await?,
        None if state.directory().shared() => state.store.decide_at(&request, 0).await?,
        None => state.store.decide(&request).await?,
    };
    Ok((resolved, reserved, Some(decision)))
}

async fn proxy(
    state: &GatewayState,
    snapshot: &Snapshot,
    caller: &Caller<'_>,
    request: Request,
) -> Result<Response, GatewayError> {
    let config = &snapshot.config;
    let (parts, body) = request.into_parts();
    let route =
        routes::find(&snapshot.routes, &parts.method, parts.uri.path()).ok_or_else(|| {
            GatewayError::NoRoute {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
            }
        })?;
    let route = &route.route;
    let length = content_length(&parts.headers)?;
    if let (Some(limit), Some(len)) = (route.max_upload_bytes, length) {
        if len > limit {
            return Err(GatewayError::PayloadTooLarge {
                limit,
                what: " for uploads to this endpoint",
            });
        }
    }
    let target = target::extract(config, route, &parts.headers, length, body).await?;
    let model = target.model;
    let lease = state.next_lease();
    let demand = Demand {
        model,
        images: target.images,
        compute: target.compute,
        tokens: Usage {
            input: target.body_len.unwrap_or(0).div_ceil(4).max(1),
            output: target.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        },
    };
    // Another instance changed the account since this snapshot: nothing was consumed; the
    // request is authenticated (a revoked key fails here) and resolved again under the
    // account's records read anew.
    let fresh_snapshot;
    let fresh_caller;
    let (caller, (resolved, reserved, decision)) =
        match decide(state, snapshot, caller, &demand, lease).await {
            Err(GatewayError::Store(StoreError::Stale)) => {
                let account = &caller.account.id;
                let seen = snapshot.generations.get(&**account).copied().unwrap_or(0);
                state.refresh_account(account, seen).await;
                fresh_snapshot = state.snapshot();
                fresh_caller = auth::authenticate(&fresh_snapshot.config, &parts.headers)?;
                let again = decide(state, &fresh_snapshot, &fresh_caller, &demand, lease).await?;
                (&fresh_caller, again)
            }
            other => (caller, other?),
        };
    if let Some(decision) = &decision {
        if let Some(denial) = &decision.denial {
            return Ok(reject::rejection(
                config,
                &resolved,
                decision,
                denial,
                &state.log,
                caller.key_id(),
                &model.name,
            ));
        }
    }
    let guard = resolved.concurrent.then(|| {
        LeaseGuard::new(
            Arc::clone(&state.store),
            Arc::clone(&caller.key.info.id),
            Arc::clone(&caller.account.id),
            Arc::clone(&resolved.limits),
            lease,
        )
    });

    let settlement = reserved
        .zip(decision.as_ref())
        .map(|(reserved, decision)| Settlement {
            store: Arc::clone(&state.store),
            key: Arc::clone(&caller.key.info.id),
            account: Arc::clone(&caller.account.id),
            limits: Arc::clone(&resolved.limits),
            reserved,
            at: decision.at,
        });

    let mut parts = parts;
    crate::identity::apply(&mut parts.headers, caller, config.server.forward_api_key);
    let forwarded = match &snapshot.upstream {
        Some(upstream) => {
            upstream::forward(
                &state.client,
                upstream,
                snapshot.upstream_timeout,
                parts,
                target.body,
                target.overflow,
                route.max_upload_bytes,
            )
            .await
        }
        None => Err(GatewayError::NoUpstream),
    };
    let response = match forwarded {
        Ok(response) => response,
        Err(e) => {
            // Nothing was generated: give every reserved token back.
            if let Some(settlement) = settlement {
                settlement.settle(Usage::default());
            }
            tracing::debug!(key = caller.key_id(), error = %e, "forwarding failed");
            // The request was counted, so the answer still says where the key stands.
            let mut response = e.into_response();
            if let Some(decision) = &decision {
                headers::apply(
                    response.headers_mut(),
                    &config.responses.headers,
                    &resolved.plan,
                    &decision.dimensions,
                    decision.at,
                );
            }
            return Ok(response);
        }
    };
    let (mut head, body) = response.into_parts();
    if let Some(decision) = &decision {
        headers::apply(
            &mut head.headers,
            &config.responses.headers,
            &resolved.plan,
            &decision.dimensions,
            decision.at,
        );
    }
    let body = after_body(&head, body, settlement, guard);
    Ok(Response::from_parts(head, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn content_length_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(content_length(&h), Ok(None));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("42"));
        assert_eq!(content_length(&h), Ok(Some(42)));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("-1"));
        assert_eq!(content_length(&h), Err(GatewayError::BadContentLength));
    }
}
