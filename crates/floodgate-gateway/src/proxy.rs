//! A proxied request from start to end: authenticate -> route -> upload size -> model and
//! cost -> one store decision -> forward (streaming) -> headers -> settle tokens and
//! release the concurrency slot when the body ends; non-success answers of an
//! authenticated key count toward abuse protection. Each request is counted in the
//! metrics and gets one `floodgate::access` debug line (key id, never the key).

use crate::answer::Answer;
use crate::auth::{self, Caller};
use crate::error::GatewayError;
use crate::headers;
use crate::identity;
use crate::lease::{GuardedBody, LeaseGuard};
use crate::limits::Resolved;
use crate::metrics::{Decided, Outcome};
use crate::reject;
use crate::routes;
use crate::settle::{Settlement, SettlingBody, DEFAULT_MAX_TOKENS};
use crate::state::{GatewayState, Snapshot};
use crate::target;
use crate::upstream;
use crate::usage::Usage;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, response, HeaderMap, HeaderName};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use floodgate_core::policy::ModelSpec;
use floodgate_core::{Costs, Decision, LeaseId, Unit};
use floodgate_store::{DecideRequest, StoreError, Subjects};
use http_body_util::Either;
use std::sync::Arc;
// The CPU's counter (calibrated by quanta), not `std::time::Instant`: a request times its
// decision and its upstream call, and each OS clock read costs about 80 ns on a virtual
// machine, against 10-20 ns for the counter.
use quanta::Instant;

/// What the access log line says beyond the caller and the status.
#[derive(Debug, Default)]
struct Seen {
    /// The model, once known.
    model: Option<Arc<str>>,
    /// The decision, once made.
    outcome: Option<Outcome>,
}

/// The handler of every route that is not one of the gateway's own endpoints.
pub(crate) async fn handle(State(state): State<Arc<GatewayState>>, request: Request) -> Response {
    // Only the access log reads the request's start: a clock read costs 25-85 ns on a
    // virtual machine, and a request already makes several for the metrics and timers.
    let started =
        tracing::enabled!(target: "floodgate::access", tracing::Level::DEBUG).then(Instant::now);
    let snapshot = state.snapshot();
    let refreshed;
    let authenticated = match auth::authenticate(&snapshot.keys, request.headers()) {
        // A key another instance created is not in this snapshot yet: a shared registry
        // is asked about unknown keys.
        Err(GatewayError::UnknownKey) => match auth::presented_hash(request.headers()) {
            Some(hash) if state.find_shared_key(&hash).await => {
                refreshed = state.snapshot();
                auth::authenticate(&refreshed.keys, request.headers())
                    .map(|caller| (&refreshed, caller))
            }
            _ => Err(GatewayError::UnknownKey),
        },
        other => other.map(|caller| (&snapshot, caller)),
    };
    let (snapshot, caller) = match authenticated {
        Ok(found) => found,
        Err(e) => {
            let response = e.into_response();
            tracing::debug!(target: "floodgate::access", status = response.status().as_u16(), path = request.uri().path(), "unauthenticated");
            return response;
        }
    };
    let mut seen = Seen::default();
    let response = match proxy(&state, snapshot, &caller, request, &mut seen).await {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(key = caller.key_id(), error = %e, "request refused");
            e.into_response()
        }
    };
    if response.status().as_u16() >= 400 {
        count_failure(&state, snapshot, caller.key_id()).await;
    }
    tracing::debug!(
        target: "floodgate::access",
        key = caller.key_id(),
        account = %caller.account.id,
        tier = %caller.account.tier,
        model = seen.model.as_deref(),
        decision = seen.outcome.map(Outcome::as_str),
        status = response.status().as_u16(),
        latency_us = started.map(|s| u64::try_from(s.elapsed().as_micros()).unwrap_or(u64::MAX)),
        "request"
    );
    response
}

/// Counts a non-success answer toward the key's abuse protection.
pub(crate) async fn count_failure(state: &GatewayState, snapshot: &Snapshot, key: &str) {
    let Some(abuse) = &snapshot.config.abuse else {
        return;
    };
    match state.store.record_failure(key, &abuse.rule).await {
        Ok(Some(block)) => {
            state.metrics().abuse_block();
            tracing::warn!(
                key,
                block_ms = block / 1_000_000,
                "key blocked after too many failures"
            );
        }
        Ok(None) => {}
        Err(e) => {
            state.metrics().store_error();
            tracing::warn!(key, error = %e, "counting a failure failed");
        }
    }
}

/// The request's `Content-Length`: digits only, as both servers in front of this (the
/// gateway's own loop and hyper's) already required before the request got here.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, GatewayError> {
    headers
        .get(header::CONTENT_LENGTH)
        .map(|v| crate::wire::length(v.as_bytes()).ok_or(GatewayError::BadContentLength))
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
fn after_body<B>(
    head: &response::Parts,
    body: B,
    settlement: Option<Settlement>,
    guard: Option<LeaseGuard>,
) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<axum::BoxError>,
{
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
        .get(config, caller, demand.model)
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
    let started = Instant::now();
    let decided = match snapshot.generations.get(&*caller.account.id) {
        Some(&generation) => state.store.decide_at(&request, generation).await,
        None if state.directory().shared() => state.store.decide_at(&request, 0).await,
        None => state.store.decide(&request).await,
    };
    state.metrics().decision_time(started.elapsed());
    let decision = match decided {
        // A stale generation is not a failure of the store: the caller decides again.
        Err(StoreError::Stale) => return Err(StoreError::Stale.into()),
        other => other.inspect_err(|_| state.metrics().store_error())?,
    };
    Ok((resolved, reserved, Some(decision)))
}

async fn proxy(
    state: &GatewayState,
    snapshot: &Snapshot,
    caller: &Caller<'_>,
    request: Request,
    seen: &mut Seen,
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
    let (route, prepared) = (&route.route, route.fixed.as_ref());
    let poll =
        crate::jobs::polled(snapshot, parts.uri.path()).map(|(j, task)| (j, task.to_owned()));
    let length = content_length(&parts.headers)?;
    if let (Some(limit), Some(len)) = (route.max_upload_bytes, length) {
        if len > limit {
            return Err(GatewayError::PayloadTooLarge {
                limit,
                what: " for uploads to this endpoint",
            });
        }
    }
    let target = target::extract(config, route, prepared, &parts.headers, length, body).await?;
    let model = target.model;
    seen.model = Some(Arc::clone(&model.name));
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
                fresh_caller = auth::authenticate(&fresh_snapshot.keys, &parts.headers)?;
                let again = decide(state, &fresh_snapshot, &fresh_caller, &demand, lease).await?;
                (&fresh_caller, again)
            }
            other => (caller, other?),
        };
    let decided = Decided {
        key: caller.key_id(),
        tier: &caller.account.tier,
        model: &model.name,
        limits: &resolved.limits,
        allowed: &resolved.allowed,
    };
    seen.outcome = Some(state.metrics().decided(decided, decision.as_ref()));
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
                &costs(&demand, reserved.unwrap_or_default()),
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
            open: state.reservations.open(
                &caller.key.info.id,
                &caller.account.id,
                &resolved.limits,
                reserved,
            ),
        });

    let forwarding = Instant::now();
    let forwarded = match &snapshot.upstream {
        Some(upstream) => {
            let forwarded = upstream::forward(
                &state.client,
                upstream,
                snapshot.upstream_timeout,
                parts,
                target.body,
                target.cutoff,
                &|name: &HeaderName| identity::passes(name, config.server.forward_api_key),
                resolved.identity.lines(),
                resolved.answer_headers,
            )
            .await;
            state.metrics().upstream(
                forwarded.as_ref().ok().map(Response::status),
                forwarding.elapsed(),
            );
            forwarded
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
    // An async job's submission and polls, and a JSON answer with tokens to settle, are
    // read whole first: the slot follows the job, the token headers show settled usage.
    let submits = route.job.as_ref().filter(|_| guard.is_some());
    let settles_first = settlement.is_some() && crate::settle::read_first(&head);
    let wanted = submits.is_some() || poll.is_some() || settles_first;
    let body = if head.status.is_success() && wanted {
        let read = crate::answer::read(body)
            .await
            .map_err(|e| GatewayError::UpstreamUnavailable(e.to_string()))?;
        match read {
            Answer::Whole(answer) => {
                let guard = match (submits, guard) {
                    (Some(job), Some(guard)) => {
                        crate::jobs::submitted(job, &answer, caller.key_id(), guard).await
                    }
                    (_, guard) => guard,
                };
                if let Some((job, task)) = &poll {
                    crate::jobs::polled_answer(state, snapshot, caller, job, task, &answer).await;
                }
                let mut dims = decision.as_ref().map(|d| d.dimensions.clone());
                let settlement = match settlement {
                    Some(s) if settles_first => s.settle_read(&answer, dims.as_deref_mut()),
                    s => s,
                };
                if let (Some(decision), Some(dims)) = (&decision, &dims) {
                    let conventions = &config.responses.headers;
                    headers::apply(
                        &mut head.headers,
                        conventions,
                        &resolved.plan,
                        dims,
                        decision.at,
                    );
                }
                let body = after_body(&head, http_body_util::Full::new(answer), settlement, guard);
                return Ok(Response::from_parts(head, body));
            }
            // Too long to read whole: it goes on as a stream, its slot held to its end.
            Answer::Partial(read) => Either::Right(read),
        }
    } else {
        Either::Left(body)
    };
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
        for bad in ["-1", "+1", "1 2", "0x10", "", "99999999999999999999"] {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static(bad));
            assert_eq!(
                content_length(&h),
                Err(GatewayError::BadContentLength),
                "{bad}"
            );
        }
    }
}
