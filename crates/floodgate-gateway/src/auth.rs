//! Authentication: the API key from `Authorization: Bearer <key>` or `x-api-key`, hashed
//! and looked up by its hash, so the gateway never holds or logs a raw key.
//!
//! The lookup goes through a [`KeyIndex`] made once per configuration: each key's hash
//! with its entry and its account, on foldhash and compared a word at a time in constant
//! time ([`Hashed`]), instead of the configuration's own maps (SipHash twice, and a
//! byte-by-byte constant-time comparison) on every request.

use crate::error::GatewayError;
use axum::http::{header, HeaderMap, HeaderName};
use floodgate_config::{Config, KeyEntry, KeyHash};
use floodgate_core::policy::AccountInfo;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use subtle::ConstantTimeEq;

/// The header a key may come in besides `Authorization`.
pub(crate) const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// A key's hash as per-key maps on the hot path hold it: four words, compared in
/// constant time a word at a time (a [`KeyHash`] compares byte by byte).
#[derive(Clone, Copy)]
pub(crate) struct Hashed([u64; 4]);

impl Hashed {
    /// The words of `hash`.
    pub(crate) fn new(hash: &KeyHash) -> Self {
        let mut words = [0u64; 4];
        for (word, bytes) in words.iter_mut().zip(hash.0.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            *word = u64::from_ne_bytes(b);
        }
        Self(words)
    }
}

impl PartialEq for Hashed {
    /// Constant time: every word is compared, and the folded difference is tested once,
    /// so the time taken says nothing about where two hashes differ.
    fn eq(&self, other: &Self) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0)
            .fold(0u64, |diff, (a, b)| diff | (a ^ b));
        diff.ct_eq(&0).into()
    }
}

impl Eq for Hashed {}

impl Hash for Hashed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// A configuration's keys by hash, each with its entry and its account (`None` for an
/// account the configuration does not have).
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    keys: HashMap<Hashed, (KeyEntry, Option<AccountInfo>), foldhash::fast::RandomState>,
}

impl std::fmt::Debug for Hashed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hashed(..)")
    }
}

impl KeyIndex {
    /// The index of `config`'s keys.
    pub(crate) fn new(config: &Config) -> Self {
        let keys = config
            .keys
            .iter()
            .map(|(hash, key)| {
                let account = config.accounts.get(&key.info.account).cloned();
                (Hashed::new(hash), (key.clone(), account))
            })
            .collect();
        Self { keys }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller<'c> {
    /// The hash of the presented key (the key of per-key caches).
    pub(crate) hash: Hashed,
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
    // One pass over the request's few headers rather than two lookups by name, each of
    // which hashes its name (the second one whenever there is no `Authorization`). The
    // map yields a name's values together, first value first, as `get` returns it.
    let mut api_key = None;
    for (name, value) in headers {
        if name == header::AUTHORIZATION {
            let value = value.to_str().map_err(|_| GatewayError::UnknownKey)?;
            let (scheme, key) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(GatewayError::UnknownKey);
            }
            let key = key.trim();
            return Ok((!key.is_empty()).then_some(key));
        }
        if api_key.is_none() && name == X_API_KEY {
            api_key = Some(value);
        }
    }
    match api_key {
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

/// Authenticates a request against the keys of a configuration.
pub(crate) fn authenticate<'c>(
    keys: &'c KeyIndex,
    headers: &HeaderMap,
) -> Result<Caller<'c>, GatewayError> {
    let raw = presented_key(headers)?.ok_or(GatewayError::MissingKey)?;
    let hash = Hashed::new(&KeyHash::of(raw));
    let (key, account) = keys.keys.get(&hash).ok_or(GatewayError::UnknownKey)?;
    let account = account.as_ref().ok_or_else(|| {
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
    fn hashes_are_equal_only_when_every_byte_is() {
        let a = KeyHash::of("sk-1");
        assert!(Hashed::new(&a) == Hashed::new(&KeyHash::of("sk-1")));
        assert!(Hashed::new(&a) != Hashed::new(&KeyHash::of("sk-2")));
        for i in 0..32 {
            let mut b = a;
            b.0[i] ^= 1;
            assert!(Hashed::new(&a) != Hashed::new(&b), "byte {i}");
        }
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

    #[test]
    fn authorization_wins_wherever_it_is_and_a_name_s_first_value_counts() {
        let mut h = HeaderMap::new();
        h.append("x-api-key", HeaderValue::from_static("sk-x1"));
        h.append("x-api-key", HeaderValue::from_static("sk-x2"));
        assert_eq!(presented_key(&h).unwrap(), Some("sk-x1"));
        h.append("content-type", HeaderValue::from_static("application/json"));
        h.append("authorization", HeaderValue::from_static("Bearer sk-a1"));
        h.append("authorization", HeaderValue::from_static("Bearer sk-a2"));
        assert_eq!(presented_key(&h).unwrap(), Some("sk-a1"));
        h.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(presented_key(&h), Err(GatewayError::UnknownKey));
        let mut h = HeaderMap::new();
        h.append("x-api-key", HeaderValue::from_bytes(b"sk-\xff").unwrap());
        assert_eq!(presented_key(&h), Err(GatewayError::UnknownKey));
    }
}
