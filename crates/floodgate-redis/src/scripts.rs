//! The Lua scripts (each the shared prelude `lib.lua`, the per-limit counters
//! `counters.lua` except for the decision script, and its own body) and how a limit
//! is passed to them.
//!
//! Scripts are called by SHA (`EVALSHA`); redis-rs loads a script and retries when a
//! server answers `NOSCRIPT` (after a restart or a failover), and [`Scripts::all`] lets
//! the store load them up front so that a decision is one command from the start.

use floodgate_core::{Limit, Nanos, Window};
use redis::{Script, ScriptInvocation};

const PRELUDE: &str = include_str!("lua/lib.lua");
/// The per-limit counters of the scripts that take one request's limits.
const COUNTERS: &str = include_str!("lua/counters.lua");

/// Lua numbers are doubles: integers above 2^53 are not exact, so amounts and times
/// handed to a script are capped there (2^53 ns is 104 days; 2^53 units is beyond any
/// real limit).
pub(crate) const LUA_MAX: u64 = 1 << 53;

/// Every script the store uses.
pub(crate) struct Scripts {
    /// A batch of all-or-nothing decisions, each over the limits of one slot.
    pub(crate) decide: Script,
    /// Read-only status of limits and of an abuse block.
    pub(crate) inspect: Script,
    /// Settlement, and refund of a reservation the rest of its decision refused.
    pub(crate) settle: Script,
    /// Lease renewal and release.
    pub(crate) lease: Script,
    /// Abuse protection's failure counter.
    pub(crate) failure: Script,
    /// Lifting an abuse block.
    pub(crate) clear: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        let with_prelude = |body: &str| Script::new(&format!("{PRELUDE}\n{COUNTERS}\n{body}"));
        Self {
            decide: Script::new(&format!("{PRELUDE}\n{}", include_str!("lua/decide.lua"))),
            inspect: with_prelude(include_str!("lua/inspect.lua")),
            settle: with_prelude(include_str!("lua/settle.lua")),
            lease: with_prelude(include_str!("lua/lease.lua")),
            failure: with_prelude(include_str!("lua/failure.lua")),
            clear: with_prelude(include_str!("lua/clear.lua")),
        }
    }

    /// Every script, to load them all.
    pub(crate) fn all(&self) -> [&Script; 6] {
        [
            &self.decide,
            &self.inspect,
            &self.settle,
            &self.lease,
            &self.failure,
            &self.clear,
        ]
    }
}

/// A count or time as a script argument, capped where doubles stop being exact.
pub(crate) fn lua_u64(value: u64) -> u64 {
    value.min(LUA_MAX)
}

/// A signed amount as a script argument, capped where doubles stop being exact.
pub(crate) fn lua_i64(value: i64) -> i64 {
    let cap = LUA_MAX as i64;
    value.clamp(-cap, cap)
}

/// How a script sees a limit: its kind and two parameters, as passed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// `r` rolling, `d` day, `m` month, `c` concurrency.
    pub(crate) kind: &'static str,
    /// Rolling: GCRA's emission interval; calendar: the boundary's offset from 00:00
    /// UTC; concurrency: the lease TTL. Capped at [`LUA_MAX`].
    pub(crate) p1: u64,
    /// Rolling: GCRA's tolerance (`max` emission intervals); 0 otherwise. Capped at
    /// [`LUA_MAX`].
    pub(crate) p2: u64,
    /// The limit's maximum, capped at [`LUA_MAX`].
    pub(crate) max: u64,
}

impl Params {
    /// Rolling limits carry GCRA's emission interval and tolerance, computed as
    /// [`floodgate_core::gcra::Gcra`] does, so both agree to the nanosecond.
    pub(crate) fn of(limit: &Limit) -> Self {
        let (kind, p1, p2): (&str, Nanos, Nanos) = match limit.window {
            Window::Rolling { period } => {
                let emission = if limit.max == 0 {
                    period.max(1)
                } else {
                    period.div_ceil(limit.max).max(1)
                };
                ("r", emission, emission.saturating_mul(limit.max))
            }
            Window::Calendar { period, offset } => {
                let kind = match period {
                    floodgate_core::CalendarPeriod::Day => "d",
                    floodgate_core::CalendarPeriod::Month => "m",
                };
                (kind, offset % floodgate_core::calendar::DAY, 0)
            }
            Window::Concurrent { lease_ttl } => ("c", lease_ttl, 0),
        };
        Self {
            kind,
            p1: lua_u64(p1),
            p2: lua_u64(p2),
            max: lua_u64(limit.max),
        }
    }
}

/// Appends one limit's 8 arguments: the index (1-based) of its hash in KEYS, its field,
/// its kind and parameters ([`Params`]), its maximum, `amount` (a cost or a delta) and
/// whether it is shadowed.
pub(crate) fn push_limit(
    invocation: &mut ScriptInvocation<'_>,
    key_index: usize,
    limit: &Limit,
    amount: i64,
) {
    let params = Params::of(limit);
    invocation
        .arg(key_index)
        .arg(&*limit.slot)
        .arg(params.kind)
        .arg(params.p1)
        .arg(params.p2)
        .arg(params.max)
        .arg(lua_i64(amount))
        .arg(if limit.shadow { "1" } else { "0" });
}

/// A cost as a signed amount.
pub(crate) fn amount(cost: u64) -> i64 {
    i64::try_from(lua_u64(cost)).unwrap_or(i64::MAX)
}
