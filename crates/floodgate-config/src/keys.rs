//! API keys as floodgate holds them: SHA-256 hashes, never the raw key.
//!
//! Keys are high-entropy random strings, so a fast hash is enough (no password
//! stretching); what matters is that a leaked config, store or log does not hand out
//! working keys, and that comparisons take the same time whatever the input.

use sha2::{Digest, Sha256};
use std::fmt;
use std::hash::{Hash, Hasher};
use subtle::ConstantTimeEq;

/// The SHA-256 of a raw API key.
#[derive(Clone, Copy, Eq)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    /// Hashes a raw key.
    pub fn of(raw: &str) -> Self {
        Self(Sha256::digest(raw.as_bytes()).into())
    }

    /// Parses the 64-digit lowercase hex form used in config files.
    pub fn from_hex(hex_str: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_str, &mut out).ok()?;
        Some(Self(out))
    }

    /// The 64-digit hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A short, non-secret id for logs, metrics and counter names: the first 16 hex
    /// digits of the hash.
    pub fn id(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

// By hand because `PartialEq` is: equal hashes have equal bytes, so hashing the bytes
// keeps `Hash` consistent with the constant-time comparison.
impl Hash for KeyHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex() {
        let h = KeyHash::of("sk-demo");
        assert_eq!(KeyHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(h.id().len(), 16);
        assert_ne!(KeyHash::of("sk-demo-basic"), h);
        assert!(!format!("{h:?}").contains("sk-demo"));
    }
}
