//! What the upstream learns about the caller.
//!
//! By default the model API behind the gateway never sees a customer's API key: the
//! gateway has already authenticated it, so the key is removed and the caller's identity
//! travels in `x-floodgate-key-id` (the non-secret hash prefix), `x-floodgate-account` and
//! `x-floodgate-tier`. Headers of that family sent by the client are always dropped, so a
//! client can never claim another identity. `[server] forward_api_key = true` keeps the key
//! for an upstream that authenticates the same keys itself.

use crate::auth::{Caller, X_API_KEY};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};

const PREFIX: &str = "x-floodgate-";
const KEY_ID: HeaderName = HeaderName::from_static("x-floodgate-key-id");
const ACCOUNT: HeaderName = HeaderName::from_static("x-floodgate-account");
const TIER: HeaderName = HeaderName::from_static("x-floodgate-tier");

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
    // One pass over the few names a request has finds what goes; the key's own header is
    // then removed by its constant name, without copying the name found.
    let (mut api_key, mut authorization, mut claimed) = (false, false, false);
    for name in headers.keys() {
        if *name == X_API_KEY {
            api_key = true;
        } else if *name == header::AUTHORIZATION {
            authorization = true;
        } else if name.as_str().starts_with(PREFIX) {
            claimed = true;
        }
    }
    if !forward_api_key {
        if api_key {
            headers.remove(X_API_KEY);
        }
        if authorization {
            headers.remove(header::AUTHORIZATION);
        }
    }
    // A client claiming an identity of its own is rare.
    if claimed {
        let names: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with(PREFIX))
            .cloned()
            .collect();
        for name in names {
            headers.remove(name);
        }
    }
    for (name, value) in &identity.values {
        if let Some(value) = value {
            headers.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            values: [
                (KEY_ID, Some(HeaderValue::from_static("abc"))),
                (ACCOUNT, Some(HeaderValue::from_static("acme"))),
                (TIER, None),
            ],
        }
    }

    fn request() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.append(X_API_KEY, HeaderValue::from_static("sk-1"));
        h.append(X_API_KEY, HeaderValue::from_static("sk-2"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk-1"),
        );
        h.insert(ACCOUNT, HeaderValue::from_static("someone-else"));
        h.insert("x-floodgate-other", HeaderValue::from_static("1"));
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        h
    }

    #[test]
    fn keys_and_claimed_identities_are_replaced() {
        let mut h = request();
        apply(&mut h, &identity(), false);
        let mut names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["content-type", "x-floodgate-account", "x-floodgate-key-id"]
        );
        assert_eq!(h[ACCOUNT], "acme");
        assert_eq!(h.get_all(ACCOUNT).iter().count(), 1);
    }

    #[test]
    fn forwarding_the_key_keeps_both_of_its_headers() {
        let mut h = request();
        apply(&mut h, &identity(), true);
        assert_eq!(h.get_all(X_API_KEY).iter().count(), 2);
        assert!(h.contains_key(header::AUTHORIZATION));
        assert!(!h.contains_key("x-floodgate-other"));
        assert_eq!(h[KEY_ID], "abc");
    }
}
