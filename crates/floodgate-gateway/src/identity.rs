//! What the upstream learns about the caller.
//!
//! By default the model API behind the gateway never sees a customer's API key: the
//! gateway has already authenticated it, so the key is removed and the caller's identity
//! travels in `x-floodgate-key-id` (the non-secret hash prefix), `x-floodgate-account` and
//! `x-floodgate-tier`. Headers of that family sent by the client are always dropped, so a
//! client can never claim another identity. `[server] forward_api_key = true` keeps the key
//! for an upstream that authenticates the same keys itself; `[server] identity_headers =
//! false` leaves the identity out, for an upstream that has no use for it (each header is
//! one more for the upstream to parse on every request, and a third-party API need not
//! learn the gateway's account and tier names).

use crate::auth::{Caller, X_API_KEY};
use axum::http::{header, HeaderName, HeaderValue};
use bytes::Bytes;

const PREFIX: &str = "x-floodgate-";
const KEY_ID: &str = "x-floodgate-key-id";
const ACCOUNT: &str = "x-floodgate-account";
const TIER: &str = "x-floodgate-tier";

/// A caller's identity headers, made once per key and configuration (they are kept with
/// its resolved limits) rather than per request, as the lines of a request head: they
/// are written after the request's own headers as it goes upstream, with no change to
/// its header map.
///
/// The default is no headers at all, for `[server] identity_headers = false`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity {
    /// `name: value\r\n` for the key id, account and tier.
    lines: Bytes,
}

impl Identity {
    /// The headers telling the upstream who `caller` is.
    pub(crate) fn new(caller: &Caller<'_>) -> Self {
        let mut lines = Vec::new();
        for (name, value) in [
            (KEY_ID, caller.key_id()),
            (ACCOUNT, &*caller.account.id),
            (TIER, &*caller.account.tier),
        ] {
            // Ids come from the config, which may hold characters a header cannot carry;
            // such a value is left out rather than failing the request.
            if HeaderValue::from_str(value).is_ok() {
                lines.extend_from_slice(name.as_bytes());
                lines.extend_from_slice(b": ");
                lines.extend_from_slice(value.as_bytes());
                lines.extend_from_slice(b"\r\n");
            }
        }
        Self {
            lines: lines.into(),
        }
    }

    /// The header lines, to write after the request's own.
    pub(crate) fn lines(&self) -> &[u8] {
        &self.lines
    }
}

/// Whether a header of the client's request goes upstream: never one of the identity
/// family (a client cannot claim an identity), and the key's own headers only when
/// `[server] forward_api_key` says so.
pub(crate) fn passes(name: &HeaderName, forward_api_key: bool) -> bool {
    if *name == X_API_KEY || *name == header::AUTHORIZATION {
        return forward_api_key;
    }
    !name.as_str().starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<HeaderName> {
        [
            "x-api-key",
            "authorization",
            "x-floodgate-account",
            "x-floodgate-other",
            "content-type",
            "x-floodgatekeeper",
        ]
        .iter()
        .map(|n| HeaderName::from_static(n))
        .collect()
    }

    fn passing(forward_api_key: bool) -> Vec<String> {
        names()
            .iter()
            .filter(|n| passes(n, forward_api_key))
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn keys_and_claimed_identities_are_left_out() {
        assert_eq!(passing(false), ["content-type", "x-floodgatekeeper"]);
    }

    #[test]
    fn forwarding_the_key_keeps_both_of_its_headers() {
        assert_eq!(
            passing(true),
            [
                "x-api-key",
                "authorization",
                "content-type",
                "x-floodgatekeeper"
            ]
        );
    }
}
