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

/// A caller's identity headers, made once per key and configuration (they are kept with
/// its resolved limits) rather than per request.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// Key id, account and tier; `None` for an id a header cannot carry.
    values: [(HeaderName, Option<HeaderValue>); 3],
}

impl Identity {
    /// The headers telling the upstream who `caller` is.
    pub(crate) fn new(caller: &Caller<'_>) -> Self {
        // Ids come from the config, which may hold characters a header cannot carry;
        // such a value is left out rather than failing the request.
        let value = |v: &str| HeaderValue::from_str(v).ok();
        Self {
            values: [
                (KEY_ID, value(caller.key_id())),
                (ACCOUNT, value(&caller.account.id)),
                (TIER, value(&caller.account.tier)),
            ],
        }
    }
}

/// Rewrites a request's headers for the upstream.
pub(crate) fn apply(headers: &mut HeaderMap, identity: &Identity, forward_api_key: bool) {
    let dropped = |name: &HeaderName| {
        name.as_str().starts_with(PREFIX)
            || (!forward_api_key && (name == header::AUTHORIZATION || name == X_API_KEY))
    };
    // One pass over the few names a request has finds what goes, rather than a lookup
    // per name that might be there.
    while let Some(name) = headers.keys().find(|name| dropped(name)).cloned() {
        headers.remove(name);
    }
    for (name, value) in &identity.values {
        if let Some(value) = value {
            headers.insert(name.clone(), value.clone());
        }
    }
}
