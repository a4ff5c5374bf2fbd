//! floodgate-core: the sans-io heart of floodgate.
//!
//! Nothing in this crate performs I/O or reads a clock, a file or an environment variable:
//! time always arrives as a [`Nanos`] argument, usually taken from a [`Clock`] by the caller.
//!
//! # Layout
//! - [`clock`]: the `Clock` trait, the system clock and a fake clock for tests.
//! - [`unit`]: what a limit counts (requests, images, tokens, compute units, jobs) and a
//!   request's [`Costs`].
//! - [`window`]: rolling windows, calendar periods and concurrency leases.
//! - [`calendar`]: UTC calendar arithmetic for daily and monthly quota boundaries.
//! - [`gcra`], [`quota`], [`lease`]: the three limit algorithms, each a pure function of
//!   `(state, now, cost)`.
//! - [`abuse`]: the sliding failure counter that blocks a key after too many failures.
//! - [`limit`]: a resolved [`Limit`] (scope, unit, window, maximum) and its counter state.
//! - [`decision`] / [`evaluate`]: the all-or-nothing multi-dimension decision.
//! - [`policy`]: tiers, model kinds and classes, overrides, and the pure resolution function.

pub mod abuse;
pub mod calendar;
pub mod clock;
pub mod decision;
pub mod evaluate;
pub mod gcra;
pub mod lease;
pub mod limit;
pub mod policy;
pub mod quota;
mod reciprocal;
pub mod unit;
pub mod window;

pub use abuse::{AbuseRule, AbuseState};
pub use clock::{Clock, FakeClock, Nanos, SystemClock, NANOS_PER_SEC};
pub use decision::{Decision, Denial, DenialReason, DimensionStatus, Dimensions};
pub use evaluate::{evaluate, evaluate_into, inspect, settle, Check, Counters};
pub use lease::LeaseId;
pub use limit::{CounterState, FailurePolicy, Limit, Scope};
pub use unit::{Costs, Unit};
pub use window::{CalendarPeriod, Window};
