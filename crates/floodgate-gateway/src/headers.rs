//! Rate-limit headers in the conventions a configuration selects: classic `X-RateLimit-*`
//! (seed 002), OpenAI-style `x-ratelimit-*-{requests,tokens}` (seed 003), and the IETF
//! draft's `RateLimit` / `RateLimit-Policy`; plus `Retry-After` and `retry-after-ms` on
//! rejections. Shadow limits are never enforced, so no header reports them.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use floodgate_config::HeaderConvention;
use floodgate_core::{
    CalendarPeriod, Denial, DenialReason, DimensionStatus, Limit, Nanos, Scope, Unit, Window,
    NANOS_PER_SEC,
};
use std::fmt::Write as _;

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const DAILY_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-daily-limit");
const DAILY_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-daily-remaining");
const TYPE: HeaderName = HeaderName::from_static("x-ratelimit-type");
const LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
const REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
const RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
const LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
const REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
const RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");
const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");
const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

/// Which dimensions of a (key, model)'s limits each header reports; worked out once per
/// resolution.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderPlan {
    /// The per-minute requests dimension: the shortest rolling requests limit.
    requests: Option<usize>,
    /// The daily requests quota.
    daily: Option<usize>,
    /// The monthly requests quota, reported by OpenAI-style headers when there is neither
    /// a rolling nor a daily requests limit.
    monthly: Option<usize>,
    /// The shortest rolling token limit.
    tokens: Option<usize>,
    /// The maximum of every limit as a header value, made once rather than per response.
    maxes: Vec<HeaderValue>,
    /// The IETF policy name of every limit, quoted, in order; `None` for a shadow limit.
    ietf_names: Vec<Option<Box<str>>>,
    /// The whole `RateLimit-Policy` value, which never changes for these limits.
    ietf_policy: Option<HeaderValue>,
}

/// The shortest rolling limit among `limits` satisfying `unit_ok`, a key or account
/// limit over a global one.
fn shortest_rolling(limits: &[Limit], unit_ok: impl Fn(Unit) -> bool) -> Option<usize> {
    limits
        .iter()
        .enumerate()
        .filter(|(_, l)| unit_ok(l.unit) && !l.shadow)
        .filter_map(|(i, l)| match l.window {
            Window::Rolling { period } => Some((l.scope == Scope::Global, period, i)),
            _ => None,
        })
        .min()
        .map(|(_, _, i)| i)
}

fn ietf_name(limit: &Limit) -> String {
    let scope = match limit.scope {
        Scope::Key => "",
        Scope::Account => "account-",
        Scope::Global => "global-",
    };
    let unit = match limit.unit {
        Unit::Requests => String::new(),
        unit => format!("{unit}-"),
    };
    format!("\"{scope}{unit}{}\"", limit.window.label())
}

impl HeaderPlan {
    /// The plan for `limits`.
    pub(crate) fn new(limits: &[Limit]) -> Self {
        let quota = |period: CalendarPeriod| {
            limits
                .iter()
                .enumerate()
                .filter(|(_, l)| l.unit == Unit::Requests && !l.shadow)
                .filter(
                    |(_, l)| matches!(l.window, Window::Calendar { period: p, .. } if p == period),
                )
                .min_by_key(|(_, l)| l.scope == Scope::Global)
                .map(|(i, _)| i)
        };
        let daily = quota(CalendarPeriod::Day);
        let monthly = quota(CalendarPeriod::Month);
        let ietf_names: Vec<Option<Box<str>>> = limits
            .iter()
            .map(|l| (!l.shadow).then(|| ietf_name(l).into()))
            .collect();
        let mut policy = String::new();
        for (name, limit) in ietf_names.iter().zip(limits) {
            let Some(name) = name else { continue };
            if !policy.is_empty() {
                policy.push_str(", ");
            }
            let _ = write!(policy, "{name};q={}", limit.max);
            if let Some(w) = limit.window.nominal_seconds() {
                let _ = write!(policy, ";w={w}");
            }
        }
        Self {
            maxes: limits.iter().map(|l| HeaderValue::from(l.max)).collect(),
            requests: shortest_rolling(limits, |u| u == Unit::Requests),
            daily,
            monthly,
            tokens: shortest_rolling(limits, Unit::is_tokens),
            ietf_policy: HeaderValue::from_str(&policy)
                .ok()
                .filter(|_| !policy.is_empty()),
            ietf_names,
        }
    }
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(nanos: Nanos) -> u64 {
    nanos.div_ceil(NANOS_PER_SEC)
}

fn put(headers: &mut HeaderMap, name: HeaderName, value: u64) {
    headers.insert(name, HeaderValue::from(value));
}

impl HeaderPlan {
    /// How many headers [`apply`] adds for `conventions`, at most.
    pub(crate) fn added(&self, conventions: &[HeaderConvention]) -> usize {
        let has = |i: Option<usize>| usize::from(i.is_some());
        conventions
            .iter()
            .map(|c| match c {
                HeaderConvention::Classic => 2 * (has(self.requests) + has(self.daily)),
                HeaderConvention::OpenAi => {
                    let requests = self.requests.or(self.daily).or(self.monthly);
                    3 * (has(requests) + has(self.tokens))
                }
                HeaderConvention::Ietf => 2 * usize::from(self.ietf_policy.is_some()),
            })
            .sum()
    }

    /// Sets `name` to the maximum of limit `i`.
    fn put_max(&self, headers: &mut HeaderMap, name: HeaderName, i: usize) {
        if let Some(v) = self.maxes.get(i) {
            headers.insert(name, v.clone());
        }
    }
}

/// Adds the rate-limit headers of `conventions` describing `dims` (the statuses of
/// `limits` at `at`, the decision's time).
pub(crate) fn apply(
    headers: &mut HeaderMap,
    conventions: &[HeaderConvention],
    plan: &HeaderPlan,
    dims: &[DimensionStatus],
    at: Nanos,
) {
    let at_index = |i: Option<usize>| i.and_then(|i| Some((i, dims.get(i)?)));
    let requests = at_index(plan.requests);
    let daily = at_index(plan.daily);
    for convention in conventions {
        match convention {
            HeaderConvention::Classic => {
                if let Some((i, d)) = requests {
                    plan.put_max(headers, LIMIT, i);
                    put(headers, REMAINING, d.remaining);
                }
                if let Some((i, d)) = daily {
                    plan.put_max(headers, DAILY_LIMIT, i);
                    put(headers, DAILY_REMAINING, d.remaining);
                }
            }
            HeaderConvention::OpenAi => {
                if let Some((i, d)) = requests.or(daily).or(at_index(plan.monthly)) {
                    plan.put_max(headers, LIMIT_REQUESTS, i);
                    put(headers, REMAINING_REQUESTS, d.remaining);
                    put(
                        headers,
                        RESET_REQUESTS,
                        ceil_secs(at.saturating_add(d.reset_after)),
                    );
                }
                if let Some((i, d)) = at_index(plan.tokens) {
                    plan.put_max(headers, LIMIT_TOKENS, i);
                    put(headers, REMAINING_TOKENS, d.remaining);
                    put(headers, RESET_TOKENS, ceil_secs(d.reset_after));
                }
            }
            HeaderConvention::Ietf => {
                let Some(policy) = &plan.ietf_policy else {
                    continue;
                };
                headers.insert(POLICY, policy.clone());
                let mut value = String::with_capacity(24 * dims.len());
                for (name, d) in plan.ietf_names.iter().zip(dims) {
                    let Some(name) = name else { continue };
                    if !value.is_empty() {
                        value.push_str(", ");
                    }
                    let _ = write!(
                        value,
                        "{name};r={};t={}",
                        d.remaining,
                        ceil_secs(d.reset_after)
                    );
                }
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(RATELIMIT, v);
                }
            }
        }
    }
}

/// The wait a rejection announces: the decision's retry-after, or for a request that can
/// never fit, the time until the tripped limit is entirely free.
pub(crate) fn retry_after(denial: &Denial, dims: &[DimensionStatus]) -> Nanos {
    denial.retry_after.unwrap_or_else(|| match denial.reason {
        DenialReason::Limit(i) => dims.get(i).map_or(0, |d| d.reset_after),
        DenialReason::Blocked => 0,
    })
}

/// What `X-RateLimit-Type` says for a tripped limit: `minute`, `daily`, ...
pub(crate) fn limit_type(limit: &Limit) -> String {
    match limit.window {
        Window::Calendar {
            period: CalendarPeriod::Day,
            ..
        } => "daily".to_owned(),
        Window::Calendar {
            period: CalendarPeriod::Month,
            ..
        } => "monthly".to_owned(),
        window => window.label(),
    }
}

/// Adds the headers of a rejection: `Retry-After` (whole seconds, at least 1),
/// `retry-after-ms`, and for the classic convention which limit tripped.
pub(crate) fn apply_rejection(
    headers: &mut HeaderMap,
    conventions: &[HeaderConvention],
    tripped: Option<&Limit>,
    wait: Nanos,
) {
    put(headers, RETRY_AFTER, ceil_secs(wait).max(1));
    put(headers, RETRY_AFTER_MS, wait.div_ceil(1_000_000).max(1));
    if conventions.contains(&HeaderConvention::Classic) {
        if let Some(value) = tripped.and_then(|l| HeaderValue::from_str(&limit_type(l)).ok()) {
            headers.insert(TYPE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_b() -> Vec<Limit> {
        vec![
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 3, "txt2img"),
            Limit::new(Scope::Key, Unit::Requests, Window::DAY, 100, "txt2img"),
        ]
    }

    fn status(max: u64, remaining: u64, reset_secs: u64) -> DimensionStatus {
        DimensionStatus {
            max,
            remaining,
            reset_after: reset_secs * NANOS_PER_SEC,
        }
    }

    fn get<'h>(h: &'h HeaderMap, name: &str) -> &'h str {
        h.get(name).unwrap().to_str().unwrap()
    }

    #[test]
    fn classic_and_ietf() {
        let limits = seed_b();
        let plan = HeaderPlan::new(&limits);
        let dims = [status(3, 0, 20), status(100, 97, 3600)];
        let mut h = HeaderMap::new();
        let all = [HeaderConvention::Classic, HeaderConvention::Ietf];
        apply(&mut h, &all, &plan, &dims, 1_000 * NANOS_PER_SEC);
        assert_eq!(get(&h, "x-ratelimit-limit"), "3");
        assert_eq!(get(&h, "x-ratelimit-remaining"), "0");
        assert_eq!(get(&h, "x-ratelimit-daily-limit"), "100");
        assert_eq!(get(&h, "x-ratelimit-daily-remaining"), "97");
        assert_eq!(
            get(&h, "ratelimit-policy"),
            "\"minute\";q=3;w=60, \"day\";q=100;w=86400"
        );
        assert_eq!(
            get(&h, "ratelimit"),
            "\"minute\";r=0;t=20, \"day\";r=97;t=3600"
        );
        assert_eq!(plan.added(&all), h.len(), "room made for each header added");
        apply_rejection(&mut h, &all, Some(&limits[1]), NANOS_PER_SEC / 2);
        assert_eq!(get(&h, "x-ratelimit-type"), "daily");
        assert_eq!(get(&h, "retry-after"), "1");
        assert_eq!(get(&h, "retry-after-ms"), "500");
    }

    #[test]
    fn openai_style_with_tokens() {
        let limits = vec![
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 100, "m"),
            Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 2_000_000, "m"),
        ];
        let plan = HeaderPlan::new(&limits);
        let dims = [status(100, 99, 1), status(2_000_000, 2_000_000, 0)];
        let mut h = HeaderMap::new();
        apply(
            &mut h,
            &[HeaderConvention::OpenAi],
            &plan,
            &dims,
            1_000 * NANOS_PER_SEC,
        );
        assert_eq!(get(&h, "x-ratelimit-limit-requests"), "100");
        assert_eq!(get(&h, "x-ratelimit-remaining-requests"), "99");
        assert_eq!(get(&h, "x-ratelimit-reset-requests"), "1001");
        assert_eq!(get(&h, "x-ratelimit-limit-tokens"), "2000000");
        assert_eq!(get(&h, "x-ratelimit-reset-tokens"), "0");
        assert!(h.get("x-ratelimit-limit").is_none());
        assert_eq!(plan.added(&[HeaderConvention::OpenAi]), h.len());
    }

    #[test]
    fn shadow_limits_are_not_reported() {
        let limits = vec![
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 1, "m").shadowed(true),
            Limit::new(Scope::Key, Unit::Requests, Window::HOUR, 50, "m"),
        ];
        let plan = HeaderPlan::new(&limits);
        let dims = [status(1, 0, 60), status(50, 40, 600)];
        let mut h = HeaderMap::new();
        let all = [HeaderConvention::Classic, HeaderConvention::Ietf];
        apply(&mut h, &all, &plan, &dims, 0);
        assert_eq!(get(&h, "x-ratelimit-limit"), "50");
        assert_eq!(get(&h, "x-ratelimit-remaining"), "40");
        assert_eq!(get(&h, "ratelimit-policy"), "\"hour\";q=50;w=3600");
        assert_eq!(get(&h, "ratelimit"), "\"hour\";r=40;t=600");
    }

    #[test]
    fn no_limits_no_headers() {
        let plan = HeaderPlan::new(&[]);
        let mut h = HeaderMap::new();
        let all = [
            HeaderConvention::Classic,
            HeaderConvention::OpenAi,
            HeaderConvention::Ietf,
        ];
        apply(&mut h, &all, &plan, &[], 0);
        assert!(h.is_empty());
        assert_eq!(plan.added(&all), 0);
    }
}
