//! The vocabulary of a limit: units, windows, max, scope, shared counters, shadow,
//! failure policy, reset times and lease TTLs, and what each refuses.

use floodgate_config::Config;
use floodgate_core::policy::{LimitRule, LimitSet};
use floodgate_core::{CalendarPeriod, FailurePolicy, Scope, Unit, Window, NANOS_PER_SEC};
use std::path::Path;

/// A config whose tier `t` has the given default limits (written on line 5 onwards).
fn config(limits: &str) -> String {
    format!("[models]\nm = {{ kind = \"video\", compute = {{ field = \"seconds\" }} }}\n\n[tiers.t]\nlimits = [\n{limits}\n]\n")
}

fn rules(limits: &str) -> Vec<LimitRule> {
    let c =
        Config::from_str(&config(limits), Path::new("l.toml")).unwrap_or_else(|e| panic!("{e}"));
    let LimitSet { rules } = c.policy.tiers["t"].default.clone();
    rules
}

fn error(limits: &str) -> String {
    match Config::from_str(&config(limits), Path::new("l.toml")) {
        Ok(_) => panic!("accepted: {limits}"),
        Err(e) => {
            assert_eq!(e.diagnostics().len(), 1, "{e}");
            e.to_string()
        }
    }
}

#[test]
fn every_unit_and_named_window() {
    let r = rules(
        r#"{ unit = "requests", window = "second", max = 1 },
{ unit = "images", window = "minute", max = 2 },
{ unit = "input_tokens", window = "hour", max = 3 },
{ unit = "output_tokens", window = "day", max = 4 },
{ unit = "tokens", window = "month", max = 5 },
{ unit = "compute_units", window = "10s", max = 6 },
{ unit = "concurrent_jobs", window = "concurrent", max = 7 },"#,
    );
    let got: Vec<_> = r.iter().map(|r| (r.unit, r.window, r.max)).collect();
    assert_eq!(
        got,
        [
            (Unit::Requests, Window::SECOND, Some(1)),
            (Unit::Images, Window::MINUTE, Some(2)),
            (Unit::InputTokens, Window::HOUR, Some(3)),
            (Unit::OutputTokens, Window::DAY, Some(4)),
            (Unit::Tokens, Window::MONTH, Some(5)),
            (
                Unit::ComputeUnits,
                Window::Rolling {
                    period: 10 * NANOS_PER_SEC
                },
                Some(6)
            ),
            (
                Unit::ConcurrentJobs,
                Window::Concurrent {
                    lease_ttl: 600 * NANOS_PER_SEC
                },
                Some(7)
            ),
        ]
    );
    assert!(r.iter().all(|r| r.scope == Scope::Key
        && r.shared.is_none()
        && !r.shadow
        && r.failure == FailurePolicy::FailOpen));
}

#[test]
fn rolling_durations_equal_to_a_named_window_are_that_window() {
    let r = rules(r#"{ unit = "requests", window = "1m", max = 5 }"#);
    assert_eq!(r[0].window, Window::MINUTE);
}

#[test]
fn options() {
    let r = rules(
        r#"{ unit = "requests", window = "day", max = 100, reset = "06:30", scope = "account", shared = "all-endpoints", shadow = true, failure = "fail_closed" },
{ unit = "concurrent_jobs", window = "concurrent", max = 2, lease_ttl = "15m", scope = "global" },
{ unit = "tokens", window = "minute", max = "unlimited" },"#,
    );
    assert_eq!(
        r[0].window,
        Window::Calendar {
            period: CalendarPeriod::Day,
            offset: (6 * 60 + 30) * 60 * NANOS_PER_SEC
        }
    );
    assert_eq!(r[0].scope, Scope::Account);
    assert_eq!(r[0].shared.as_deref(), Some("all-endpoints"));
    assert!(r[0].shadow);
    assert_eq!(r[0].failure, FailurePolicy::FailClosed);
    assert_eq!(
        r[1].window,
        Window::Concurrent {
            lease_ttl: 15 * 60 * NANOS_PER_SEC
        }
    );
    assert_eq!(r[1].scope, Scope::Global);
    assert_eq!(r[2].max, None);
}

#[test]
fn unknown_names() {
    let e = error(r#"{ unit = "tokenz", window = "minute", max = 1 }"#);
    assert!(
        e.starts_with("l.toml:6: tiers.t.limits[0].unit: unknown unit 'tokenz'"),
        "{e}"
    );
    let e = error(r#"{ unit = "tokens", window = "fortnight", max = 1 }"#);
    assert!(e.starts_with("l.toml:6: tiers.t.limits[0].window: "), "{e}");
    assert!(e.contains("fortnight"), "{e}");
    let e = error(r#"{ unit = "tokens", window = "minute", max = 1, scope = "user" }"#);
    assert!(
        e.starts_with("l.toml:6: tiers.t.limits[0].scope: unknown scope 'user'"),
        "{e}"
    );
    let e = error(r#"{ unit = "tokens", window = "minute", max = 1, failure = "open" }"#);
    assert!(
        e.starts_with("l.toml:6: tiers.t.limits[0].failure: "),
        "{e}"
    );
}

#[test]
fn window_and_unit_must_agree_on_concurrency() {
    let e = error(r#"{ unit = "concurrent_jobs", window = "minute", max = 1 }"#);
    assert!(
        e.starts_with("l.toml:6: tiers.t.limits[0].window: unit concurrent_jobs"),
        "{e}"
    );
    let e = error(r#"{ unit = "requests", window = "concurrent", max = 1 }"#);
    assert!(e.starts_with("l.toml:6: tiers.t.limits[0].window: window \"concurrent\" is only for unit concurrent_jobs"), "{e}");
}

#[test]
fn reset_and_lease_ttl_only_where_they_mean_something() {
    let e = error(r#"{ unit = "requests", window = "minute", max = 1, reset = "06:00" }"#);
    assert!(
        e.starts_with("l.toml:6: tiers.t.limits[0].reset: only day and month"),
        "{e}"
    );
    let e = error(r#"{ unit = "requests", window = "day", max = 1, reset = "25:00" }"#);
    assert!(e.starts_with("l.toml:6: tiers.t.limits[0].reset: "), "{e}");
    let e = error(r#"{ unit = "requests", window = "day", max = 1, lease_ttl = "1m" }"#);
    assert!(
        e.starts_with("l.toml:6: tiers.t.limits[0].lease_ttl: only window \"concurrent\""),
        "{e}"
    );
    let e = error(
        r#"{ unit = "concurrent_jobs", window = "concurrent", max = 1, lease_ttl = "forever" }"#,
    );
    assert!(
        e.starts_with("l.toml:6: tiers.t.limits[0].lease_ttl: "),
        "{e}"
    );
}

#[test]
fn rolling_limits_finer_than_one_percent_of_gcra_precision_are_refused() {
    // 1 s = 1e9 ns: at most 1e7 per second keeps the rounding under 1%.
    rules(r#"{ unit = "tokens", window = "second", max = 10_000_000 }"#);
    let e = error(r#"{ unit = "tokens", window = "second", max = 10_000_001 }"#);
    assert!(
        e.starts_with("l.toml:6: tiers.t.limits[0].max: 10000001 per 1s is finer"),
        "{e}"
    );
    // Calendar quotas count exactly and have no such bound.
    rules(r#"{ unit = "tokens", window = "day", max = 1_000_000_000_000 }"#);
}

#[test]
fn a_layer_names_each_dimension_once() {
    let e = error(
        r#"{ unit = "requests", window = "minute", max = 1 },
{ unit = "requests", window = "minute", max = 2 },"#,
    );
    assert!(
        e.starts_with("l.toml:7: tiers.t.limits[1]: a second key requests/minute rule"),
        "{e}"
    );
    assert!(e.contains("tiers.t.limits[0]"), "{e}");
    // Different scopes, windows or reset times are different dimensions.
    let r = rules(
        r#"{ unit = "requests", window = "minute", max = 1 },
{ unit = "requests", window = "minute", max = 5, scope = "account" },
{ unit = "requests", window = "day", max = 10 },
{ unit = "requests", window = "day", max = 20, reset = "12:00" },"#,
    );
    assert_eq!(r.len(), 4);
}

#[test]
fn a_shared_counter_never_takes_a_model_name() {
    let e = error(r#"{ unit = "requests", window = "minute", max = 1, shared = "m" }"#);
    assert!(
        e.starts_with("l.toml:6: tiers.t.limits[0].shared: 'm' is the name of a model"),
        "{e}"
    );
}

#[test]
fn unlimited_tier_lists_no_limits() {
    let text = "[models]\nm = { kind = \"video\" }\n\n[tiers.t]\nunlimited = true\nlimits = [{ unit = \"requests\", window = \"minute\", max = 1 }]\n";
    let e = Config::from_str(text, Path::new("l.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("l.toml:4: tiers.t: an unlimited tier"), "{e}");
}
