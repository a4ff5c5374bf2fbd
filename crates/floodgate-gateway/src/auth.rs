//! Authentication: the API key from `Authorization: Bearer <key>` or `x-api-key`, hashed
//! and looked up by its hash, so the gateway never holds or logs a raw key.

use crate::error::GatewayError;
use axum::http::{header, HeaderMap};
use floodgate_config::{Config, KeyEntry, KeyHash};
use floodgate_core::policy::AccountInfo;

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller<'c> {
    /// The hash of the presented key (the key of per-key caches).
    pub(crate) hash: KeyHash,
    /// The key's entry in the configuration.
    pub(crate) key: &'c KeyEntry,
    /// The account that owns the key.
    pub(crate) account: &'c AccountInfo,
}

impl Caller<'_> {
    /// The key's non-secret id: the subject of its counters and its logs.
    pub(crate) fn key_id(&self) -> &str {
        &self.key.info.id
    }
}

/// The raw key a request presents, if any. `Ok(None)` means no key at all; a header that
/// is present but unreadable is an unknown key.
fn presented_key(headers: &HeaderMap) -> Result<Option<&str>, GatewayError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| GatewayError::UnknownKey)?;
        let (scheme, key) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(GatewayError::UnknownKey);
        }
        let key = key.trim();
        return Ok((!key.is_empty()).then_some(key));
    }
    match headers.get("x-api-key") {
        Some(value) => {
            let key = value.to_str().map_err(|_| GatewayError::UnknownKey)?.trim();
            Ok((!key.is_empty()).then_some(key))
        }
        None => Ok(None),
    }
}

/// The hash of the key a request presents, if any.
pub(crate) fn presented_hash(headers: &HeaderMap) -> Option<KeyHash> {
    presented_key(headers).ok().flatten().map(KeyHash::of)
}

/// Authenticates a request against `config`.
pub(crate) fn authenticate<'c>(
    config: &'c Config,
    headers: &HeaderMap,
) -> Result<Caller<'c>, GatewayError> {
    let raw = presented_key(headers)?.ok_or(GatewayError::MissingKey)?;
    let hash = KeyHash::of(raw);
    let key = config.keys.get(&hash).ok_or(GatewayError::UnknownKey)?;
    let account = config.accounts.get(&key.info.account).ok_or_else(|| {
        GatewayError::Misconfigured(format!("key {} has no account", key.info.id))
    })?;
    Ok(Caller { hash, key, account })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn bearer_and_x_api_key() {
        assert_eq!(
            presented_key(&headers("authorization", "Bearer sk-1")).unwrap(),
            Some("sk-1")
        );
        assert_eq!(
            presented_key(&headers("authorization", "bearer  sk-1 ")).unwrap(),
            Some("sk-1")
        );
        assert_eq!(
            presented_key(&headers("x-api-key", "sk-2")).unwrap(),
            Some("sk-2")
        );
        assert_eq!(presented_key(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            presented_key(&headers("authorization", "Bearer ")).unwrap(),
            None
        );
        assert_eq!(
            presented_key(&headers("authorization", "Basic abc")),
            Err(GatewayError::UnknownKey)
        );
    }
}
