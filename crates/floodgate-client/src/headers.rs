//! Reading where a key stands from a response's headers, in every convention floodgate
//! emits: classic `X-RateLimit-*` (with `X-RateLimit-Type` on a rejection), OpenAI-style
//! `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, and the IETF draft's
//! `RateLimit` / `RateLimit-Policy` (and its older `RateLimit-Limit/-Remaining/-Reset`).

use crate::reset::{parse_reset, parse_retry_after, parse_retry_after_ms};
use http::HeaderMap;
use std::time::{Duration, SystemTime};

/// A window this long or longer is a quota (a hard cap until its reset), not a rate to
/// pace at.
pub(crate) const QUOTA_WINDOW: Duration = Duration::from_secs(86_400);

/// The window assumed for classic and OpenAI-style headers, which do not say theirs: both
/// conventions publish per-minute limits (RPM, TPM).
pub(crate) const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitUnit {
    /// Requests.
    Requests,
    /// Tokens (input, output or total).
    Tokens,
    /// Images generated.
    Images,
    /// Anything else (compute units, concurrent jobs): read, but not paced.
    Other,
}

/// One limit as a response reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The limit's name in its convention (`requests`, `tokens`, `daily`, `minute`, ...),
    /// so successive responses' readings of one limit can be matched.
    pub name: String,
    /// What it counts.
    pub unit: LimitUnit,
    /// Its maximum.
    pub limit: u64,
    /// What is left of it.
    pub remaining: u64,
    /// The period it refills over, when known.
    pub window: Option<Duration>,
    /// The time until it is entirely free again, when the headers say.
    pub reset_in: Option<Duration>,
}

impl Reading {
    /// Whether this is a daily or monthly quota rather than a rolling rate.
    pub fn is_quota(&self) -> bool {
        self.window.is_some_and(|w| w >= QUOTA_WINDOW)
    }
}

/// Everything a response said about rate limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitHeaders {
    /// Every limit reported.
    pub readings: Vec<Reading>,
    /// `retry-after-ms`, else `Retry-After` (seconds or an HTTP-date).
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Type`: which limit refused (`minute`, `daily`, `monthly`, ...).
    pub limit_type: Option<String>,
}

impl LimitHeaders {
    /// Reads `headers`, received at `now`.
    pub fn parse(headers: &HeaderMap, now: SystemTime) -> Self {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let num = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
        let (mut classic, mut openai, mut standard) = (Vec::new(), Vec::new(), Vec::new());

        // Classic (seed 002): the per-minute limit, and a daily one beside it.
        if let (Some(limit), Some(remaining)) =
            (num("x-ratelimit-limit"), num("x-ratelimit-remaining"))
        {
            classic.push(Reading {
                name: "requests".into(),
                unit: LimitUnit::Requests,
                limit,
                remaining,
                window: Some(DEFAULT_WINDOW),
                reset_in: get("x-ratelimit-reset").and_then(|v| parse_reset(v, now)),
            });
        }
        if let (Some(limit), Some(remaining)) = (
            num("x-ratelimit-daily-limit"),
            num("x-ratelimit-daily-remaining"),
        ) {
            classic.push(Reading {
                name: "daily".into(),
                unit: LimitUnit::Requests,
                limit,
                remaining,
                window: Some(QUOTA_WINDOW),
                reset_in: None,
            });
        }

        // OpenAI-style (seed 003).
        for (suffix, unit) in [
            ("requests", LimitUnit::Requests),
            ("tokens", LimitUnit::Tokens),
        ] {
            let limit = num(&format!("x-ratelimit-limit-{suffix}"));
            let remaining = num(&format!("x-ratelimit-remaining-{suffix}"));
            if let (Some(limit), Some(remaining)) = (limit, remaining) {
                openai.push(Reading {
                    name: suffix.into(),
                    unit,
                    limit,
                    remaining,
                    window: Some(DEFAULT_WINDOW),
                    reset_in: get(&format!("x-ratelimit-reset-{suffix}"))
                        .and_then(|v| parse_reset(v, now)),
                });
            }
        }

        // IETF: the structured pair, or the earlier drafts' three headers.
        if let Some(current) = get("ratelimit") {
            standard.extend(ietf(current, get("ratelimit-policy").unwrap_or("")));
        } else if let (Some(limit), Some(remaining)) =
            (num("ratelimit-limit"), num("ratelimit-remaining"))
        {
            standard.push(Reading {
                name: "ietf".into(),
                unit: LimitUnit::Requests,
                limit,
                remaining,
                window: None,
                reset_in: get("ratelimit-reset").and_then(|v| parse_reset(v, now)),
            });
        }

        // One reading per limit when several conventions describe the same ones: IETF
        // states its windows, so it wins; OpenAI-style requests and the classic pair are
        // both the shortest rolling requests limit, and the former may carry a reset.
        let readings = if !standard.is_empty() {
            standard
        } else {
            if openai.iter().any(|r| r.name == "requests") {
                classic.retain(|r| r.name != "requests");
            }
            classic.extend(openai);
            classic
        };
        let retry_after = get("retry-after-ms")
            .and_then(parse_retry_after_ms)
            .or_else(|| get("retry-after").and_then(|v| parse_retry_after(v, now)));
        Self {
            readings,
            retry_after,
            limit_type: get("x-ratelimit-type").map(|v| v.trim().to_ascii_lowercase()),
        }
    }

    /// Whether the refusal was by a daily or monthly quota, as `X-RateLimit-Type` says.
    pub fn quota_refusal(&self) -> bool {
        matches!(
            self.limit_type.as_deref(),
            Some("daily" | "monthly" | "day" | "month")
        )
    }
}

/// One item of an IETF structured list: its name and its `key=value` parameters.
fn items(list: &str) -> impl Iterator<Item = (&str, Vec<(&str, &str)>)> {
    list.split(',').filter_map(|item| {
        let mut parts = item.split(';');
        let name = parts.next()?.trim().trim_matches('"');
        let params = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            .collect();
        (!name.is_empty()).then_some((name, params))
    })
}

fn param<'a>(params: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The unit a floodgate IETF policy name (`[scope-][unit-]window`) counts.
fn ietf_unit(name: &str) -> LimitUnit {
    if name.contains("concurrent") || name.contains("compute") {
        LimitUnit::Other
    } else if name.contains("tokens") {
        LimitUnit::Tokens
    } else if name.contains("images") {
        LimitUnit::Images
    } else {
        LimitUnit::Requests
    }
}

/// The readings of `RateLimit: "n";r=R;t=T, ...` joined with
/// `RateLimit-Policy: "n";q=Q;w=W, ...` by name.
fn ietf(current: &str, policy: &str) -> Vec<Reading> {
    let policies: Vec<_> = items(policy).collect();
    items(current)
        .filter_map(|(name, params)| {
            let remaining = param(&params, "r")?.parse().ok()?;
            let policy = policies.iter().find(|(n, _)| *n == name);
            let limit = policy
                .and_then(|(_, p)| param(p, "q"))
                .and_then(|q| q.parse().ok())
                .unwrap_or(remaining);
            let window = policy
                .and_then(|(_, p)| param(p, "w"))
                .and_then(|w| w.parse::<u64>().ok())
                .map(Duration::from_secs);
            let reset_in = param(&params, "t")
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_secs);
            Some(Reading {
                name: name.to_owned(),
                unit: ietf_unit(name),
                limit,
                remaining,
                window,
                reset_in,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn map(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_784_000_000)
    }

    #[test]
    fn classic_with_a_daily_refusal() {
        let h = map(&[
            ("x-ratelimit-limit", "3"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-daily-limit", "100"),
            ("x-ratelimit-daily-remaining", "0"),
            ("x-ratelimit-type", "daily"),
            ("retry-after", "63096"),
        ]);
        let l = LimitHeaders::parse(&h, now());
        assert_eq!(l.readings.len(), 2);
        assert_eq!((l.readings[0].limit, l.readings[0].remaining), (3, 0));
        assert!(!l.readings[0].is_quota());
        assert!(l.readings[1].is_quota());
        assert!(l.quota_refusal());
        assert_eq!(l.retry_after, Some(Duration::from_secs(63096)));
    }

    #[test]
    fn openai_style_resets_as_timestamps_or_durations() {
        let h = map(&[
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-reset-requests", "1784000001"),
            ("x-ratelimit-limit-tokens", "5000000"),
            ("x-ratelimit-remaining-tokens", "4999963"),
            ("x-ratelimit-reset-tokens", "6m0s"),
            ("retry-after-ms", "250"),
            ("retry-after", "1"),
        ]);
        let l = LimitHeaders::parse(&h, now());
        assert_eq!(l.readings[0].reset_in, Some(Duration::from_secs(1)));
        assert_eq!(l.readings[1].unit, LimitUnit::Tokens);
        assert_eq!(l.readings[1].reset_in, Some(Duration::from_secs(360)));
        assert_eq!(l.retry_after, Some(Duration::from_millis(250)));
        assert!(!l.quota_refusal());
    }

    #[test]
    fn ietf_joined_with_its_policy() {
        let h = map(&[
            (
                "ratelimit-policy",
                "\"second\";q=5;w=1, \"images-minute\";q=20;w=60, \"day\";q=100;w=86400",
            ),
            (
                "ratelimit",
                "\"second\";r=3;t=1, \"images-minute\";r=12;t=24, \"day\";r=97;t=3600",
            ),
        ]);
        let l = LimitHeaders::parse(&h, now());
        let names: Vec<_> = l.readings.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["second", "images-minute", "day"]);
        assert_eq!(l.readings[0].window, Some(Duration::from_secs(1)));
        assert_eq!((l.readings[0].limit, l.readings[0].remaining), (5, 3));
        assert_eq!(l.readings[1].unit, LimitUnit::Images);
        assert!(l.readings[2].is_quota());
        assert_eq!(l.readings[2].reset_in, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn one_reading_per_limit_across_conventions() {
        let h = map(&[
            ("x-ratelimit-limit", "5"),
            ("x-ratelimit-remaining", "4"),
            ("x-ratelimit-limit-requests", "5"),
            ("x-ratelimit-remaining-requests", "4"),
        ]);
        let l = LimitHeaders::parse(&h, now());
        assert_eq!(l.readings.len(), 1);
        let mut h = h;
        h.insert("ratelimit-policy", "\"second\";q=5;w=1".parse().unwrap());
        h.insert("ratelimit", "\"second\";r=4;t=1".parse().unwrap());
        let l = LimitHeaders::parse(&h, now());
        assert_eq!(l.readings.len(), 1);
        assert_eq!(l.readings[0].window, Some(Duration::from_secs(1)));
    }

    #[test]
    fn no_headers_no_readings() {
        let l = LimitHeaders::parse(&HeaderMap::new(), now());
        assert_eq!(l, LimitHeaders::default());
        let junk = map(&[("x-ratelimit-limit", "many"), ("ratelimit", ";;,")]);
        assert!(LimitHeaders::parse(&junk, now()).readings.is_empty());
    }
}
