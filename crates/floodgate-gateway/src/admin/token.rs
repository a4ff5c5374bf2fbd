//! The admin token, and the API keys the admin API creates.
//!
//! The token is compared as a SHA-256 hash in constant time (the comparison of
//! [`KeyHash`]), like API keys, so the gateway needs to hold only its hash. Keys created
//! here are 40 characters from the operating system's CSPRNG (about 238 bits) behind an
//! `sk-` prefix, returned once and stored only as a hash.

use crate::admin::error::AdminError;
use axum::http::{header, HeaderMap};
use floodgate_config::KeyHash;

/// The environment variable the binary reads the admin token from.
pub const ADMIN_TOKEN_ENV: &str = "FLOODGATE_ADMIN_TOKEN";

/// Checks the request's bearer token against the accepted hashes.
pub(crate) fn check(headers: &HeaderMap, accepted: &[KeyHash]) -> Result<(), AdminError> {
    if accepted.is_empty() {
        return Err(AdminError::Disabled);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or(AdminError::Unauthorized)?;
    let presented = KeyHash::of(token);
    // Every accepted hash is compared, so the time does not say which one matched.
    let matched = accepted
        .iter()
        .fold(false, |any, hash| (*hash == presented) | any);
    if matched {
        Ok(())
    } else {
        Err(AdminError::Unauthorized)
    }
}

/// Characters of a new key.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Random characters in a new key.
const KEY_CHARS: usize = 40;

/// A new random API key.
pub(crate) fn new_key() -> Result<String, AdminError> {
    let mut key = String::with_capacity(3 + KEY_CHARS);
    key.push_str("sk-");
    while key.len() < 3 + KEY_CHARS {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes)
            .map_err(|e| AdminError::Unavailable(format!("no randomness: {e}")))?;
        // Rejection sampling keeps every character equally likely (248 = 4 x 62).
        for b in bytes {
            if b < 248 && key.len() < 3 + KEY_CHARS {
                key.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_right_bearer_token_passes() {
        let accepted = [KeyHash::of("admin-1")];
        let mut headers = HeaderMap::new();
        assert_eq!(check(&headers, &accepted), Err(AdminError::Unauthorized));
        assert_eq!(check(&headers, &[]), Err(AdminError::Disabled));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer admin-2"),
        );
        assert_eq!(check(&headers, &accepted), Err(AdminError::Unauthorized));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer admin-1"),
        );
        assert_eq!(check(&headers, &accepted), Ok(()));
        assert_eq!(check(&headers, &[]), Err(AdminError::Disabled));
    }

    #[test]
    fn new_keys_are_long_random_and_distinct() {
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_eq!(a.len(), 43);
        assert!(a.starts_with("sk-"));
        assert!(a[3..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
