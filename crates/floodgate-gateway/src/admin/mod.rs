//! The admin API (`/admin/v1/...`): keys created and revoked, accounts moved between
//! tiers, overrides set and cleared, abuse blocks lifted, all without a restart.
//!
//! Changes are [`Records`](floodgate_registry::Records) kept by a
//! [`Registry`](floodgate_registry::Registry) (the embedded store's file, or Redis) and
//! layered over the config file: the gateway installs a configuration snapshot that
//! merges both, so the very next request is authenticated and resolved under the change,
//! through the same resolution as the file's keys and accounts. A reload of the file
//! merges the records again, so it never drops an admin change.
//!
//! # Layout
//! - `merge`: the file's configuration + the records -> the configuration in force.
//! - `token`: the admin token check (constant time), and new random API keys.
//! - `error`: [`AdminError`], every refusal as a JSON 4xx/5xx.
//! - `handlers`: the router, the token check in front of it, and shared helpers;
//!   `keys` and `accounts`: the routes.
//! - `directory`: [`Directory`], the records with the lock that serialises changes.

mod accounts;
pub(crate) mod directory;
mod error;
mod handlers;
mod keys;
mod merge;
mod token;

pub use directory::Directory;
pub use error::AdminError;
pub(crate) use handlers::router;
pub(crate) use merge::merge;
pub use token::ADMIN_TOKEN_ENV;
