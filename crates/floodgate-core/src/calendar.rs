//! UTC calendar arithmetic for quota boundaries, without a date library.
//!
//! Days since the epoch convert to civil dates with Howard Hinnant's `days_from_civil`
//! algorithms, which are exact for the proleptic Gregorian calendar.

use crate::clock::{Nanos, NANOS_PER_SEC};
use crate::window::CalendarPeriod;

/// One day in nanoseconds.
pub const DAY: Nanos = 86_400 * NANOS_PER_SEC;

/// The `[start, end)` of the `period` holding `now`, whose boundary lies `offset` after
/// 00:00 UTC (`offset < DAY`).
pub fn bounds(period: CalendarPeriod, offset: Nanos, now: Nanos) -> (Nanos, Nanos) {
    let offset = offset % DAY;
    let shifted = now.saturating_sub(offset);
    match period {
        CalendarPeriod::Day => {
            let start = shifted - shifted % DAY + offset;
            (start, start + DAY)
        }
        CalendarPeriod::Month => {
            let days = i64::try_from(shifted / DAY).unwrap_or(i64::MAX);
            let (y, m, _) = civil_from_days(days);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let start = day_start(days_from_civil(y, m, 1)) + offset;
            let end = day_start(days_from_civil(ny, nm, 1)) + offset;
            (start, end)
        }
    }
}

fn day_start(days: i64) -> Nanos {
    u64::try_from(days).unwrap_or(0) * DAY
}

/// Days since 1970-01-01 for a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NEW_YEAR_2026: Nanos = 1_767_225_600 * NANOS_PER_SEC;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2026, 1, 1), 20_454);
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn day_bounds_at_and_around_midnight() {
        let (s, e) = bounds(CalendarPeriod::Day, 0, NEW_YEAR_2026);
        assert_eq!((s, e), (NEW_YEAR_2026, NEW_YEAR_2026 + DAY));
        let (s, _) = bounds(CalendarPeriod::Day, 0, NEW_YEAR_2026 - 1);
        assert_eq!(s, NEW_YEAR_2026 - DAY);
    }

    #[test]
    fn day_bounds_with_offset() {
        let eight_hours = 8 * 3600 * NANOS_PER_SEC;
        let (s, e) = bounds(CalendarPeriod::Day, eight_hours, NEW_YEAR_2026 + 1);
        assert_eq!(s, NEW_YEAR_2026 - DAY + eight_hours);
        assert_eq!(e, NEW_YEAR_2026 + eight_hours);
    }

    #[test]
    fn month_bounds_know_february() {
        let feb_10_2028 = day_start(days_from_civil(2028, 2, 10));
        let (s, e) = bounds(CalendarPeriod::Month, 0, feb_10_2028);
        assert_eq!(s, day_start(days_from_civil(2028, 2, 1)));
        assert_eq!((e - s) / DAY, 29);
        let (s, e) = bounds(
            CalendarPeriod::Month,
            0,
            day_start(days_from_civil(2026, 12, 31)),
        );
        assert_eq!(s, day_start(days_from_civil(2026, 12, 1)));
        assert_eq!(e, day_start(days_from_civil(2027, 1, 1)));
    }

    proptest! {
        #[test]
        fn civil_round_trip(days in -100_000i64..200_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn bounds_contain_now(now in 0u64..(4_000_000_000 * NANOS_PER_SEC), off in 0u64..DAY, month in any::<bool>()) {
            let period = if month { CalendarPeriod::Month } else { CalendarPeriod::Day };
            let (s, e) = bounds(period, off, now);
            if now >= off {
                prop_assert!(s <= now && now < e, "{s} <= {now} < {e}");
            }
            prop_assert!(e > s);
        }
    }
}
