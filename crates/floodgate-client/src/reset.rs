//! Time values as rate-limit headers write them: `Retry-After` in seconds or as an
//! HTTP-date, `retry-after-ms`, and resets as seconds, Unix timestamps or Go-style duration
//! strings (`6m0s`, `20ms`, `1.5s`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A plain number at least this large is a Unix timestamp, not a number of seconds: no
/// limit resets 30 years from now, and no Unix time is this small any more.
const UNIX_TIME_THRESHOLD: f64 = 1_000_000_000.0;

/// The wait a `Retry-After` value asks for at `now`: delay-seconds or an HTTP-date (a date
/// in the past means no wait).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(secs) = parse_seconds(value) {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait a `retry-after-ms` value asks for.
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    let ms: f64 = value.trim().parse().ok()?;
    (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0))
}

/// The time until a reset a header announces at `now`: a duration string (`6m0s`), a
/// Unix timestamp, or seconds from now.
pub fn parse_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let number: Option<f64> = value.parse().ok();
    match number {
        Some(n) if n.is_finite() && n >= UNIX_TIME_THRESHOLD => {
            let at = UNIX_EPOCH + Duration::from_secs_f64(n);
            Some(at.duration_since(now).unwrap_or(Duration::ZERO))
        }
        Some(_) => parse_seconds(value),
        None => parse_go_duration(value),
    }
}

/// Non-negative seconds, possibly fractional.
fn parse_seconds(value: &str) -> Option<Duration> {
    let secs: f64 = value.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// A Go `time.Duration` string as OpenAI-style headers send it: `1h2m3.5s`, `6m0s`,
/// `20ms`, `150us`.
pub fn parse_go_duration(value: &str) -> Option<Duration> {
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn retry_after_as_seconds_or_http_date() {
        let now = at(1_784_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 20 ", now),
            Some(Duration::from_secs(20))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(90)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(
            parse_retry_after_ms("1500"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after_ms("x"), None);
    }

    #[test]
    fn resets_in_every_notation() {
        let now = at(1_784_000_000);
        assert_eq!(parse_reset("6m0s", now), Some(Duration::from_secs(360)));
        assert_eq!(parse_reset("20ms", now), Some(Duration::from_millis(20)));
        assert_eq!(parse_reset("1.5s", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_reset("1h2m3s", now), Some(Duration::from_secs(3723)));
        assert_eq!(parse_reset("17", now), Some(Duration::from_secs(17)));
        assert_eq!(
            parse_reset("1784000042", now),
            Some(Duration::from_secs(42))
        );
        assert_eq!(parse_reset("1783999999", now), Some(Duration::ZERO));
        assert_eq!(parse_reset("6x", now), None);
        assert_eq!(parse_reset("", now), None);
        assert_eq!(parse_reset("m", now), None);
    }
}
