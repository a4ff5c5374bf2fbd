//! What a limit counts, and what one request costs in each of those units.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A dimension of consumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// One per HTTP request (RPM, RPD).
    Requests,
    /// Images generated: a request for `n` images costs `n` (IPM).
    Images,
    /// Prompt tokens.
    InputTokens,
    /// Completion tokens.
    OutputTokens,
    /// Prompt plus completion tokens (TPM).
    Tokens,
    /// A per-model formula of request fields, e.g. video seconds times a resolution factor.
    ComputeUnits,
    /// Jobs in progress at once; held under a lease, given back when the job ends.
    ConcurrentJobs,
}

impl Unit {
    /// Every unit, in a stable order (the index used by [`Costs`]).
    pub const ALL: [Unit; 7] = [
        Unit::Requests,
        Unit::Images,
        Unit::InputTokens,
        Unit::OutputTokens,
        Unit::Tokens,
        Unit::ComputeUnits,
        Unit::ConcurrentJobs,
    ];

    /// The name used in config files, headers and JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Requests => "requests",
            Unit::Images => "images",
            Unit::InputTokens => "input_tokens",
            Unit::OutputTokens => "output_tokens",
            Unit::Tokens => "tokens",
            Unit::ComputeUnits => "compute_units",
            Unit::ConcurrentJobs => "concurrent_jobs",
        }
    }

    /// Whether this unit is counted in tokens (and so reserved, then settled from usage).
    pub const fn is_tokens(self) -> bool {
        matches!(self, Unit::InputTokens | Unit::OutputTokens | Unit::Tokens)
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a unit name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown unit '{0}' (expected one of requests, images, input_tokens, output_tokens, tokens, compute_units, concurrent_jobs)")]
pub struct UnknownUnit(pub String);

impl FromStr for Unit {
    type Err = UnknownUnit;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Unit::ALL
            .into_iter()
            .find(|u| u.as_str() == s)
            .ok_or_else(|| UnknownUnit(s.to_owned()))
    }
}

/// What one request costs in every unit. Absent units cost nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Costs([u64; 7]);

impl Costs {
    /// A plain request: one request, one job slot, nothing else.
    pub const fn one_request() -> Self {
        let mut c = [0; 7];
        c[Unit::Requests.index()] = 1;
        c[Unit::ConcurrentJobs.index()] = 1;
        Costs(c)
    }

    /// Nothing at all (useful to read a decision's headers without consuming).
    pub const fn zero() -> Self {
        Costs([0; 7])
    }

    /// Sets the cost in one unit.
    #[must_use]
    pub const fn with(mut self, unit: Unit, amount: u64) -> Self {
        self.0[unit.index()] = amount;
        self
    }

    /// The cost in one unit.
    pub const fn get(&self, unit: Unit) -> u64 {
        self.0[unit.index()]
    }

    /// Sets the cost in one unit, in place.
    pub fn set(&mut self, unit: Unit, amount: u64) {
        self.0[unit.index()] = amount;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for unit in Unit::ALL {
            assert_eq!(unit.as_str().parse::<Unit>(), Ok(unit));
        }
        assert!("tokenz".parse::<Unit>().is_err());
    }

    #[test]
    fn costs_default_to_zero() {
        let c = Costs::one_request().with(Unit::Images, 4);
        assert_eq!(c.get(Unit::Requests), 1);
        assert_eq!(c.get(Unit::Images), 4);
        assert_eq!(c.get(Unit::Tokens), 0);
    }
}
