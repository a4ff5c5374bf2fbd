//! What the upstream learns about the caller.
//!
//! By default the model API behind the gateway never sees a customer's API key: the
//! gateway has already authenticated it, so the key is removed and the caller's identity
//! travels in `x-floodgate-key-id` (the non-secret hash prefix), `x-floodgate-account` and
//! `x-floodgate-tier`. Headers of that family sent by the client are always dropped, so a
//! client can never claim another identity. `[server] forward_api_key = true` keeps the key
//! for an upstream that authenticates the same keys itself.

use crate::auth::Caller;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};

const PREFIX: &str = "x-floodgate-";
const KEY_ID: HeaderName = HeaderName::from_static("x-floodgate-key-id");
const ACCOUNT: HeaderName = HeaderName::from_static("x-floodgate-account");
const TIER: HeaderName = HeaderName::from_static("x-floodgate-tier");
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Rewrites a request's headers for the upstream.
pub(crate) fn apply(headers: &mut HeaderMap, caller: &Caller<'_>, forward_api_key: bool) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(PREFIX))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    if !forward_api_key {
        headers.remove(header::AUTHORIZATION);
        headers.remove(X_API_KEY);
    }
    for (name, value) in [
        (KEY_ID, caller.key_id()),
        (ACCOUNT, &*caller.account.id),
        (TIER, &*caller.account.tier),
    ] {
        // Ids come from the config, which may hold characters a header cannot carry;
        // such a value is left out rather than failing the request.
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
}
