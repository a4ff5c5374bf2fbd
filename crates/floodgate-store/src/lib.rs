//! floodgate-store: where counters live.
//!
//! # Layout
//! - [`store`]: the [`Store`] trait every backend implements: one atomic all-or-nothing
//!   decision per request, settlement, concurrency leases, abuse counters, inspection.
//! - [`request`]: the arguments of those calls ([`Subjects`], [`DecideRequest`], ...).
//! - [`error`]: [`StoreError`], the failures of a backend (never a rejection: a rejection
//!   is a [`Decision`](floodgate_core::Decision)).
//! - [`memory`]: [`MemoryStore`], sharded, lock-ordered and self-evicting.
//! - `conformance` (feature `conformance`): the suite every store must pass, with its
//!   `Harness` trait and the `conformance_tests!` macro.

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod memory;
pub mod request;
pub mod store;

pub use error::StoreError;
pub use memory::MemoryStore;
pub use request::{Adjustment, DecideRequest, Inspection, SettleRequest, Subjects};
pub use store::Store;
