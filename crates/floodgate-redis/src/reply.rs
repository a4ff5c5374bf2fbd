//! Reading script replies, and assembling a [`Decision`] from the checks of its parts.

use crate::scripts::Params;
use floodgate_core::{
    Decision, Denial, DenialReason, DimensionStatus, Limit, Nanos, Window, NANOS_PER_SEC,
};
use floodgate_store::StoreError;

/// How one limit took the request, as a script reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// The cost fits.
    Fits,
    /// It fits after this wait.
    Wait(Nanos),
    /// It never fits (the cost exceeds the maximum).
    Never,
}

impl Check {
    fn from_reply(value: i64) -> Self {
        match value {
            -1 => Check::Fits,
            v if v < 0 => Check::Never,
            v => Check::Wait(v.unsigned_abs()),
        }
    }
}

/// A reply's integers, read in order.
pub(crate) struct Reader<'a> {
    values: &'a [i64],
    next: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(values: &'a [i64]) -> Self {
        Self { values, next: 0 }
    }

    fn int(&mut self) -> Result<i64, StoreError> {
        let value = self.values.get(self.next).copied().ok_or_else(|| {
            StoreError::Backend(format!(
                "script reply too short: {} values",
                self.values.len()
            ))
        })?;
        self.next += 1;
        Ok(value)
    }

    fn unsigned(&mut self) -> Result<u64, StoreError> {
        Ok(self.int()?.max(0).unsigned_abs())
    }

    /// The server's time, sent as seconds and microseconds.
    pub(crate) fn time(&mut self) -> Result<Nanos, StoreError> {
        let seconds = self.unsigned()?;
        let micros = self.unsigned()?;
        Ok(seconds * NANOS_PER_SEC + micros * 1_000)
    }

    pub(crate) fn flag(&mut self) -> Result<bool, StoreError> {
        Ok(self.int()? == 1)
    }

    /// A duration where -1 means none.
    pub(crate) fn optional_wait(&mut self) -> Result<Option<Nanos>, StoreError> {
        let value = self.int()?;
        Ok((value >= 0).then(|| value.unsigned_abs()))
    }

    pub(crate) fn check(&mut self) -> Result<Check, StoreError> {
        Ok(Check::from_reply(self.int()?))
    }

    /// One limit's remaining and reset, from the standing a script reports (see
    /// `standing` in `lua/lib.lua`), by the rules of [`floodgate_core`]'s `inspect`.
    pub(crate) fn status(&mut self, limit: &Limit) -> Result<DimensionStatus, StoreError> {
        let first = self.unsigned()?;
        let second = self.unsigned()?;
        let params = Params::of(limit);
        let (remaining, reset_after) = match limit.window {
            // The TAT's lead over now, and 0: what is left of the tolerance, in whole
            // emission intervals (`Params` keeps the interval at least 1).
            Window::Rolling { .. } => {
                let remaining = if first < params.p2 {
                    ((params.p2 - first) / params.p1.max(1)).min(params.max)
                } else {
                    0
                };
                (remaining, first)
            }
            // Units used or slots held, and the period's end or the earliest expiry.
            Window::Calendar { .. } | Window::Concurrent { .. } => {
                (params.max.saturating_sub(first), second)
            }
        };
        Ok(DimensionStatus {
            max: limit.max,
            remaining,
            reset_after,
        })
    }
}

/// The decision over `limits` given each one's check, exactly as
/// [`floodgate_core::evaluate`] chooses: a block comes first; otherwise the enforced
/// limit with the longest wait (one that never fits beats any wait, the first of equals
/// wins) names the denial, and shadowed limits that would have refused are listed.
pub(crate) fn decision(
    limits: &[Limit],
    checks: &[Check],
    dimensions: Vec<DimensionStatus>,
    blocked: Option<Nanos>,
    at: Nanos,
) -> Decision {
    if let Some(wait) = blocked {
        return Decision {
            at,
            dimensions: dimensions.into(),
            denial: Some(Denial {
                reason: DenialReason::Blocked,
                retry_after: Some(wait),
            }),
            shadow_denials: Vec::new(),
        };
    }
    let mut denial: Option<Denial> = None;
    let mut shadow_denials = Vec::new();
    for (i, (limit, check)) in limits.iter().zip(checks).enumerate() {
        let wait = match *check {
            Check::Fits => continue,
            Check::Wait(w) => Some(w),
            Check::Never => None,
        };
        if limit.shadow {
            shadow_denials.push(i);
            continue;
        }
        let worse = match denial {
            None => true,
            Some(Denial {
                retry_after: None, ..
            }) => false,
            Some(Denial {
                retry_after: Some(current),
                ..
            }) => wait.is_none_or(|w| w > current),
        };
        if worse {
            denial = Some(Denial {
                reason: DenialReason::Limit(i),
                retry_after: wait,
            });
        }
    }
    Decision {
        at,
        dimensions: dimensions.into(),
        denial,
        shadow_denials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{Scope, Unit, Window};

    fn limit(shadow: bool) -> Limit {
        Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 1, "m").shadowed(shadow)
    }

    #[test]
    fn denial_choice_matches_the_engine() {
        let limits = [limit(false), limit(true), limit(false), limit(false)];
        let checks = [Check::Wait(5), Check::Never, Check::Wait(9), Check::Wait(9)];
        let d = decision(&limits, &checks, Vec::new(), None, 0);
        assert_eq!(
            d.denial,
            Some(Denial {
                reason: DenialReason::Limit(2),
                retry_after: Some(9)
            })
        );
        assert_eq!(d.shadow_denials, vec![1]);
        let d = decision(
            &limits,
            &[Check::Wait(5), Check::Fits, Check::Never, Check::Never],
            Vec::new(),
            None,
            0,
        );
        assert_eq!(d.denial.map(|x| x.reason), Some(DenialReason::Limit(2)));
        assert!(decision(&limits, &[Check::Fits; 4], Vec::new(), Some(3), 0)
            .denial
            .is_some_and(|x| x.reason == DenialReason::Blocked));
    }

    #[test]
    fn replies_read_in_order() {
        let values = [1_767_225_600, 250, 1, -1, -2, 3, 4];
        let mut r = Reader::new(&values);
        assert_eq!(r.time().unwrap(), 1_767_225_600 * NANOS_PER_SEC + 250_000);
        assert!(r.flag().unwrap());
        assert_eq!(r.optional_wait().unwrap(), None);
        assert_eq!(r.check().unwrap(), Check::Never);
        let quota = Limit::new(Scope::Key, Unit::Requests, Window::DAY, 10, "m");
        let s = r.status(&quota).unwrap();
        assert_eq!(
            (s.remaining, s.reset_after),
            (7, 4),
            "3 used of 10, 4 ns left"
        );
        assert!(r.flag().is_err(), "a short reply is an error");
    }

    #[test]
    fn a_rolling_limit_stands_as_the_engine_says() {
        // 10 per second: one unit every 100 ms. A TAT 250 ms ahead of now leaves 7 whole
        // units of the second's tolerance, and the limit is entirely free in 250 ms.
        let limit = Limit::new(Scope::Key, Unit::Requests, Window::SECOND, 10, "m");
        let ahead = 250_000_000;
        let s = r_status(&limit, ahead);
        let gcra = floodgate_core::gcra::Gcra::new(10, NANOS_PER_SEC);
        let now = 5 * NANOS_PER_SEC;
        assert_eq!(s.remaining, gcra.remaining(now + ahead.unsigned_abs(), now));
        assert_eq!((s.remaining, s.reset_after), (7, 250_000_000));
        let full = r_status(&limit, NANOS_PER_SEC as i64 + 1);
        assert_eq!(
            full.remaining, 0,
            "a debt beyond the tolerance leaves nothing"
        );
    }

    fn r_status(limit: &Limit, ahead: i64) -> DimensionStatus {
        Reader::new(&[ahead, 0]).status(limit).unwrap()
    }
}
