//! Policy: tiers, models with their kinds and classes, overrides, and resolution.
//!
//! See [`policy::resolve`](resolve) for the order in which layers apply.

mod model;
mod resolve;

pub use model::{AccountInfo, KeyInfo, LimitRule, LimitSet, ModelSpec, Overrides, Policy, Tier};
pub use resolve::{resolve, ResolveError};
