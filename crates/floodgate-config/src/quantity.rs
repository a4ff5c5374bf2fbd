//! Parsing of the human-friendly quantities a config file writes as strings: durations
//! (`"30s"`, `"10m"`), byte sizes (`"10MB"`) and times of day (`"06:30"`).
//!
//! Each parser returns a message fragment on failure; the caller adds file, line and field.

use floodgate_core::{Nanos, NANOS_PER_SEC};

/// Parses `"<n><unit>"` with unit `ms`, `s`, `m` or `h` into nanoseconds. Zero is refused:
/// no setting of floodgate means anything with a zero duration.
pub(crate) fn duration(text: &str) -> Result<Nanos, String> {
    let bad = || {
        format!(
            "expected a duration such as \"500ms\", \"30s\", \"10m\" or \"2h\", found \"{text}\""
        )
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let per: Nanos = match unit.trim() {
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(format!("must be longer than zero, found \"{text}\""));
    }
    n.checked_mul(per).ok_or_else(bad)
}

/// Parses a byte size: `"512"`, `"64KB"`, `"10MB"`, `"1GB"` (binary multiples: 1 MB is
/// 1,048,576 bytes, the way upload limits are usually meant; `KiB`/`MiB`/`GiB` are
/// accepted as the same).
pub(crate) fn size(text: &str) -> Result<u64, String> {
    let bad =
        || format!("expected a size such as \"512KB\", \"10MB\" or \"1GB\", found \"{text}\"");
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let per: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(per).ok_or_else(bad)
}

/// Renders a byte count the way [`size`] reads it, in the largest exact unit.
pub(crate) fn format_size(bytes: u64) -> String {
    for (per, unit) in [(1u64 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")] {
        if bytes >= per && bytes.is_multiple_of(per) {
            return format!("{} {unit}", bytes / per);
        }
    }
    format!("{bytes} B")
}

/// Renders nanoseconds the way [`duration`] reads them, in the largest exact unit.
pub(crate) fn format_duration(nanos: Nanos) -> String {
    for (per, unit) in [
        (3600 * NANOS_PER_SEC, "h"),
        (60 * NANOS_PER_SEC, "m"),
        (NANOS_PER_SEC, "s"),
        (1_000_000, "ms"),
    ] {
        if nanos >= per && nanos.is_multiple_of(per) {
            return format!("{}{unit}", nanos / per);
        }
    }
    format!("{nanos}ns")
}

/// Parses `"HH:MM"` (UTC) into nanoseconds after midnight.
pub(crate) fn time_of_day(text: &str) -> Result<Nanos, String> {
    let bad = || format!("expected a UTC time \"HH:MM\" such as \"00:00\", found \"{text}\"");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u64 = h.parse().map_err(|_| bad())?;
    let m: u64 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok((h * 60 + m) * 60 * NANOS_PER_SEC)
}

/// Renders nanoseconds after midnight as `"HH:MM"`.
pub(crate) fn format_time_of_day(nanos: Nanos) -> String {
    let minutes = nanos / (60 * NANOS_PER_SEC);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("30s"), Ok(30 * NANOS_PER_SEC));
        assert_eq!(duration("10m"), Ok(600 * NANOS_PER_SEC));
        assert_eq!(duration("2h"), Ok(7200 * NANOS_PER_SEC));
        assert_eq!(duration("250ms"), Ok(250_000_000));
        assert!(duration("0s").unwrap_err().contains("longer than zero"));
        for bad in ["", "s", "10", "10d", "-5s", "1.5s", "ten s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(600 * NANOS_PER_SEC), "10m");
        assert_eq!(format_duration(90 * NANOS_PER_SEC), "90s");
    }

    #[test]
    fn sizes() {
        assert_eq!(size("10MB"), Ok(10 * 1024 * 1024));
        assert_eq!(size("10 MB"), Ok(10 * 1024 * 1024));
        assert_eq!(size("64KiB"), Ok(64 * 1024));
        assert_eq!(size("512"), Ok(512));
        for bad in ["", "MB", "10TB", "-1MB", "1.5MB"] {
            assert!(size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_size(20 * 1024 * 1024), "20 MB");
        assert_eq!(format_size(1000), "1000 B");
    }

    #[test]
    fn times_of_day() {
        assert_eq!(time_of_day("00:00"), Ok(0));
        assert_eq!(time_of_day("06:30"), Ok(390 * 60 * NANOS_PER_SEC));
        for bad in ["24:00", "6:30", "06:60", "0630", "aa:bb"] {
            assert!(time_of_day(bad).is_err(), "{bad}");
        }
        assert_eq!(format_time_of_day(390 * 60 * NANOS_PER_SEC), "06:30");
    }
}
