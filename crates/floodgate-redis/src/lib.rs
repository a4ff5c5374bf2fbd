//! floodgate-redis: the [`Store`](floodgate_store::Store) on Redis and Redis Cluster,
//! exact across any number of floodgate instances.
//!
//! Every decision is one Lua script that checks and consumes all of a request's limits
//! atomically, on the server's clock (`TIME`), never an instance's. On a cluster, the
//! counters of a key and its account share one hash slot, so their decision stays one
//! script; global (per-model) limits are reserved first in their own slots and refunded
//! if the account's script refuses. [`FallbackStore`] keeps enforcing per limit failure
//! policy while Redis cannot be reached. `docs/redis.md` describes the design.
//!
//! # Layout
//! - [`config`]: [`RedisConfig`]: server URL or cluster nodes, and the call timeout.
//! - `connection`: multiplexed, self-reconnecting connections; calls bounded in time.
//! - `keys`: which hash holds which counter, and the hash tags that pick slots.
//! - `plan`: splitting a request's limits into per-slot parts.
//! - `scripts` and `lua/`: the scripts and how limits are passed to them.
//! - `reply`: reading script replies; choosing the denial as the engine does.
//! - `decide`: one decision, with reserve-then-refund across cluster slots.
//! - `batch`: decisions as calls of the batched decision script, and the batcher that
//!   sends concurrent decisions on one server as one call.
//! - `link`: the connection, scripts and timeout the store and its batcher share.
//! - `store`: [`RedisStore`] and the other store calls.
//! - [`registry`]: [`RedisRegistry`], the admin records on Redis, and the generation the
//!   decision script checks so that every instance decides under the latest records.
//! - [`fallback`]: [`FallbackStore`], the failure policy and its health report.
//! - [`error`]: [`ConnectError`], and how Redis errors become store errors.

mod batch;
mod batch_args;
pub mod config;
mod connection;
mod decide;
pub mod error;
pub mod fallback;
mod keys;
mod link;
mod plan;
pub mod registry;
mod reply;
mod scripts;
mod store;

pub use config::{RedisConfig, RedisTarget, DEFAULT_TIMEOUT};
pub use error::ConnectError;
pub use fallback::{FallbackStore, Health};
pub use registry::RedisRegistry;
pub use store::RedisStore;
