//! floodgate-config: one TOML file -> a validated, resolved [`Config`].
//!
//! Loading goes `from_str` -> validate -> resolve, the way pingora does it; every error
//! names the file, the line and the field ("examples/x.toml:12: tier 'premum' is not
//! defined").
//!
//! # Layout
//! - [`resolved`]: the types the rest of floodgate consumes ([`Config`], [`Route`], ...).
//! - [`keys`]: API key hashing and constant-time comparison; raw keys are never stored.
//! - [`error`]: [`ConfigError`] with its file:line.

pub mod keys;
pub mod resolved;

pub use keys::KeyHash;
pub use resolved::*;
