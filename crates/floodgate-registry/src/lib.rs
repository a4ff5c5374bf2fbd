//! floodgate-registry: what the admin API changes at run time, and where it is kept.
//!
//! The config file says which keys, accounts, tiers and overrides exist; the admin API
//! adds keys, revokes them, moves accounts between tiers and grants overrides without a
//! restart. Those changes are [`Records`], kept by a [`Registry`]: the embedded store's
//! file ([`StateFile`], beside the memory store) or Redis (in `floodgate-redis`, shared by
//! every instance). The gateway layers the records over the config on every change.
//!
//! The same [`StateFile`] keeps the memory store's counters: [`CounterSaver`] writes what
//! changed at least every second and everything at shutdown, and [`restore_counters`]
//! puts it back at start-up.
//!
//! # Layout
//! - [`records`]: [`KeyRecord`], [`AccountRecord`], [`Records`]: what an admin change says.
//! - [`registry`]: the [`Registry`] trait, [`RegistryError`] and [`VolatileRegistry`]
//!   (in memory only, when no file is configured).
//! - `file`: [`StateFile`], one redb database: the registry and counter snapshots.
//! - `counters`: counter snapshots' encoding, [`CounterSaver`] and [`restore_counters`].

mod counters;
mod file;
pub mod records;
pub mod registry;

pub use counters::{restore_counters, CounterSaver, SAVE_INTERVAL};
pub use file::StateFile;
pub use records::{AccountRecord, AccountRecords, KeyRecord, Records};
pub use registry::{Registry, RegistryError, VolatileRegistry};
