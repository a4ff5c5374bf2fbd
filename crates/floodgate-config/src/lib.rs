//! floodgate-config: one TOML file -> a validated, resolved [`Config`].
//!
//! Loading goes `from_str` -> validate -> resolve, the way pingora does it; every error
//! names the file, the line and the field ("examples/x.toml:12: accounts.demo.tier: tier
//! 'premum' is not defined"). The schema is documented in `docs/config.md`.
//!
//! # Layout
//! - [`resolved`]: the types the rest of floodgate consumes ([`Config`], [`Route`], ...).
//! - [`keys`]: API key hashing and constant-time comparison; raw keys are never stored.
//! - [`error`]: [`ConfigError`] and its `FILE:LINE: message` diagnostics.
//! - [`compute`]: [`ComputeFormula`], compute units from a request body.
//! - [`summary`]: a deterministic, human-readable account of the resolved limits.
//! - `load`: [`Config::load`] and [`Config::from_str`].
//! - `admin`: `[admin]`, and overrides sent to the admin API, checked like the file's.
//! - `raw`: the serde model of the file as written.
//! - `validate`: raw -> resolved for server, responses and abuse, and the whole pass;
//!   `store`: the `[store]` section (memory, or Redis URLs and timeouts).
//! - `policy`: models, tiers, accounts and keys; `limits`: one layer of limits;
//!   `routes`: routes and their path patterns; `jobs`: a route's async job (task id,
//!   poll path, final states); `quantity`: durations, sizes, times of day.

mod admin;
pub mod compute;
pub mod error;
mod jobs;
pub mod keys;
mod limits;
mod load;
mod policy;
mod quantity;
mod raw;
pub mod resolved;
mod routes;
mod store;
pub mod summary;
mod validate;

pub use admin::{parse_overrides, OverridesError};
pub use error::{ConfigError, Diagnostic};
pub use keys::KeyHash;
pub use resolved::*;
pub use store::{DEFAULT_PROBE_INTERVAL, DEFAULT_REDIS_TIMEOUT};
pub use validate::{
    log_format, DEFAULT_LISTEN, DEFAULT_MAX_JSON_BODY, DEFAULT_REJECTION_BODY,
    DEFAULT_SHUTDOWN_TIMEOUT_SECS, DEFAULT_UPSTREAM_TIMEOUT_SECS,
};
