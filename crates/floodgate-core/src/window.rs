//! The time shape of a limit: a rolling window, a calendar period, or a concurrency lease.

use crate::calendar;
use crate::clock::{Nanos, NANOS_PER_SEC};
use serde::{Deserialize, Serialize};

/// A calendar period that a quota counts over and resets at the end of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarPeriod {
    /// A UTC day (shifted by the quota's boundary offset).
    Day,
    /// A UTC calendar month (shifted by the quota's boundary offset).
    Month,
}

/// How a limit spreads over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// A smooth rolling limit (GCRA): `max` per `period`, refilling continuously, with a
    /// burst of at most `max`. Never the fixed window that admits 2x around a boundary.
    Rolling {
        /// Length of the window in nanoseconds (1 s, 60 s, 3600 s, or any other).
        period: Nanos,
    },
    /// A hard quota over a calendar period that resets all at once at the boundary.
    Calendar {
        /// Day or month.
        period: CalendarPeriod,
        /// Where the boundary sits after 00:00 UTC, in nanoseconds (less than a day).
        offset: Nanos,
    },
    /// A concurrency limit: each admitted job holds a slot under a lease that expires
    /// after `lease_ttl` unless renewed, so a vanished client never leaks a slot.
    Concurrent {
        /// How long a lease lives without renewal.
        lease_ttl: Nanos,
    },
}

impl Window {
    /// One second, rolling.
    pub const SECOND: Window = Window::Rolling {
        period: NANOS_PER_SEC,
    };
    /// One minute, rolling.
    pub const MINUTE: Window = Window::Rolling {
        period: 60 * NANOS_PER_SEC,
    };
    /// One hour, rolling.
    pub const HOUR: Window = Window::Rolling {
        period: 3600 * NANOS_PER_SEC,
    };
    /// A UTC day starting at 00:00.
    pub const DAY: Window = Window::Calendar {
        period: CalendarPeriod::Day,
        offset: 0,
    };
    /// A UTC month starting on the 1st at 00:00.
    pub const MONTH: Window = Window::Calendar {
        period: CalendarPeriod::Month,
        offset: 0,
    };

    /// The short name used in headers and summaries: `second`, `minute`, `hour`, `day`,
    /// `month`, `concurrent`, or `<n>s` for another rolling period.
    pub fn label(&self) -> String {
        match *self {
            Window::Rolling { period } => match period {
                p if p == NANOS_PER_SEC => "second".to_owned(),
                p if p == 60 * NANOS_PER_SEC => "minute".to_owned(),
                p if p == 3600 * NANOS_PER_SEC => "hour".to_owned(),
                p if p % NANOS_PER_SEC == 0 => format!("{}s", p / NANOS_PER_SEC),
                p => format!("{p}ns"),
            },
            Window::Calendar {
                period: CalendarPeriod::Day,
                ..
            } => "day".to_owned(),
            Window::Calendar {
                period: CalendarPeriod::Month,
                ..
            } => "month".to_owned(),
            Window::Concurrent { .. } => "concurrent".to_owned(),
        }
    }

    /// The nominal length in seconds, as IETF `RateLimit-Policy` wants it (`w=`).
    /// Months count as 30 days; concurrency has none.
    pub fn nominal_seconds(&self) -> Option<u64> {
        match *self {
            Window::Rolling { period } => Some(period.div_ceil(NANOS_PER_SEC)),
            Window::Calendar {
                period: CalendarPeriod::Day,
                ..
            } => Some(86_400),
            Window::Calendar {
                period: CalendarPeriod::Month,
                ..
            } => Some(30 * 86_400),
            Window::Concurrent { .. } => None,
        }
    }

    /// The `[start, end)` of the calendar period holding `now`; `None` for other windows.
    pub fn calendar_bounds(&self, now: Nanos) -> Option<(Nanos, Nanos)> {
        match *self {
            Window::Calendar { period, offset } => Some(calendar::bounds(period, offset, now)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(Window::SECOND.label(), "second");
        assert_eq!(Window::MINUTE.label(), "minute");
        assert_eq!(Window::HOUR.label(), "hour");
        assert_eq!(Window::DAY.label(), "day");
        assert_eq!(Window::MONTH.label(), "month");
        assert_eq!(
            Window::Rolling {
                period: 10 * NANOS_PER_SEC
            }
            .label(),
            "10s"
        );
    }
}
