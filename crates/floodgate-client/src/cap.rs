//! [`RateCap`]: the caller's own ceiling (requests, images or tokens per minute), a GCRA
//! from the `governor` crate, on top of whatever the server allows.

use crate::pacer::Cost;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

/// What a [`RateCap`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapUnit {
    /// Requests (every attempt, retries included).
    Requests,
    /// Images, as [`Cost::images`].
    Images,
    /// Tokens, as [`Cost::tokens`].
    Tokens,
}

impl FromStr for CapUnit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "requests" | "rpm" => Ok(Self::Requests),
            "images" | "ipm" => Ok(Self::Images),
            "tokens" | "tpm" => Ok(Self::Tokens),
            other => Err(format!(
                "{other:?} is not a unit to cap: requests, images or tokens"
            )),
        }
    }
}

/// At most `per_minute` units a minute, in bursts of up to `per_minute`.
pub struct RateCap {
    unit: CapUnit,
    per_minute: NonZeroU32,
    limiter: DefaultDirectRateLimiter,
}

impl fmt::Debug for RateCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RateCap({} {:?} per minute)", self.per_minute, self.unit)
    }
}

impl RateCap {
    /// A cap of `per_minute` `unit`s a minute.
    pub fn per_minute(unit: CapUnit, per_minute: NonZeroU32) -> Self {
        Self {
            unit,
            per_minute,
            limiter: RateLimiter::direct(Quota::per_minute(per_minute)),
        }
    }

    /// The cap as (unit, per minute).
    pub fn rate(&self) -> (CapUnit, NonZeroU32) {
        (self.unit, self.per_minute)
    }

    /// Waits until `cost` fits under the cap (a cost above a whole minute's worth waits
    /// for a whole minute's worth).
    pub async fn until_ready(&self, cost: Cost) {
        let units = match self.unit {
            CapUnit::Requests => 1,
            CapUnit::Images => cost.images,
            CapUnit::Tokens => cost.tokens,
        };
        let units = u32::try_from(units)
            .unwrap_or(u32::MAX)
            .min(self.per_minute.get());
        if let Some(n) = NonZeroU32::new(units) {
            // Cannot fail: n is at most the burst.
            let _ = self.limiter.until_n_ready(n).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test(flavor = "current_thread")]
    async fn a_burst_then_the_rate() {
        let cap = RateCap::per_minute(CapUnit::Images, NonZeroU32::new(600).unwrap());
        let start = Instant::now();
        let four = Cost {
            images: 4,
            tokens: 0,
        };
        for _ in 0..150 {
            cap.until_ready(four).await;
        }
        assert!(start.elapsed() < Duration::from_millis(50));
        cap.until_ready(four).await;
        assert!(
            start.elapsed() >= Duration::from_millis(350),
            "{:?}",
            start.elapsed()
        );
        assert_eq!("tpm".parse::<CapUnit>(), Ok(CapUnit::Tokens));
        assert!("bytes".parse::<CapUnit>().is_err());
    }
}
