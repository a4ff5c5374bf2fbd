//! One layer of limits: a list of `{ unit, window, max, ... }` tables -> a [`LimitSet`].
//!
//! This is where the vocabulary of a limit is checked: unit and window names, the
//! `max` value, the options that only make sense for some windows, and the rule that a
//! layer names each (scope, unit, window) dimension at most once.

use crate::error::Diagnostics;
use crate::quantity;
use crate::raw::RawLimit;
use floodgate_core::policy::{LimitRule, LimitSet};
use floodgate_core::{CalendarPeriod, FailurePolicy, Nanos, Scope, Unit, Window, NANOS_PER_SEC};
use serde_spanned::Spanned;
use std::collections::BTreeSet;

/// How long a concurrency lease lives without renewal when the config does not say.
pub(crate) const DEFAULT_LEASE_TTL: Nanos = 600 * NANOS_PER_SEC;

/// Rolling limits are GCRA with an emission interval rounded up to a whole nanosecond, so
/// `max` units per period can drift by up to `max` ns per period; limits finer than this
/// fraction of the period (1%) are refused rather than silently enforced too strictly.
const GCRA_MAX_PER_NANOS: u64 = 100;

/// Converts the limits at `path` (e.g. `tiers.basic.limits`) into a layer, reporting
/// every problem to `diags`. Rules with problems are left out of the returned layer.
/// `models` are the defined model names, which a shared counter must not reuse.
pub(crate) fn layer(
    diags: &mut Diagnostics<'_>,
    path: &str,
    raw: &[Spanned<RawLimit>],
    models: &BTreeSet<&str>,
) -> LimitSet {
    let mut rules: Vec<(usize, LimitRule)> = Vec::with_capacity(raw.len());
    for (i, limit) in raw.iter().enumerate() {
        let here = format!("{path}[{i}]");
        let Some(rule) = rule(diags, &here, limit.get_ref(), models) else {
            continue;
        };
        if let Some((j, _)) = rules.iter().find(|(_, r)| r.same_dimension(&rule)) {
            diags.at(
                &limit.span(),
                format!(
                    "{here}: a second {} {}/{} rule in the same layer (first at {path}[{j}]); \
                     a layer names each scope, unit and window once",
                    rule.scope.as_str(),
                    rule.unit,
                    rule.window.label()
                ),
            );
            continue;
        }
        rules.push((i, rule));
    }
    LimitSet::new(rules.into_iter().map(|(_, r)| r).collect())
}

fn rule(
    diags: &mut Diagnostics<'_>,
    here: &str,
    raw: &RawLimit,
    models: &BTreeSet<&str>,
) -> Option<LimitRule> {
    let before = diags.len();
    let unit = raw
        .unit
        .get_ref()
        .parse::<Unit>()
        .map_err(|e| diags.at(&raw.unit.span(), format!("{here}.unit: {e}")))
        .ok();
    let max = max(diags, here, &raw.max);
    let window = window(diags, here, raw, unit);
    let scope = raw
        .scope
        .as_ref()
        .map_or(Some(Scope::Key), |s| match s.get_ref().as_str() {
            "key" => Some(Scope::Key),
            "account" => Some(Scope::Account),
            "global" => Some(Scope::Global),
            other => {
                diags.at(
                    &s.span(),
                    format!(
                        "{here}.scope: unknown scope '{other}' (expected key, account or global)"
                    ),
                );
                None
            }
        });
    let failure = raw.failure.as_ref().map_or(Some(FailurePolicy::default()), |f| {
        match f.get_ref().as_str() {
            "fail_open" => Some(FailurePolicy::FailOpen),
            "fail_closed" => Some(FailurePolicy::FailClosed),
            other => {
                diags.at(
                    &f.span(),
                    format!("{here}.failure: unknown failure policy '{other}' (expected fail_open or fail_closed)"),
                );
                None
            }
        }
    });
    if let Some(shared) = &raw.shared {
        let name = shared.get_ref().as_str();
        if name.trim().is_empty() {
            diags.at(&shared.span(), format!("{here}.shared: must not be empty"));
        } else if models.contains(name) {
            diags.at(
                &shared.span(),
                format!("{here}.shared: '{name}' is the name of a model; a shared counter needs its own name so it never merges with that model's counters"),
            );
        }
    }
    if let (Some(Window::Rolling { period }), Some(Some(max))) = (window, max) {
        let finest = period / GCRA_MAX_PER_NANOS;
        if max > finest {
            diags.at(
                &raw.max.span(),
                format!(
                    "{here}.max: {max} per {} is finer than rolling limits can enforce within 1% (at most {finest}); use a longer window",
                    quantity::format_duration(period)
                ),
            );
        }
    }
    if diags.len() != before {
        return None;
    }
    Some(LimitRule {
        scope: scope?,
        unit: unit?,
        window: window?,
        max: max?,
        shared: raw.shared.as_ref().map(|s| s.get_ref().as_str().into()),
        shadow: raw.shadow,
        failure: failure?,
    })
}

/// `Some(Some(n))` for a number, `Some(None)` for "unlimited", `None` after an error.
fn max(diags: &mut Diagnostics<'_>, here: &str, raw: &Spanned<toml::Value>) -> Option<Option<u64>> {
    match raw.get_ref() {
        toml::Value::Integer(n) if *n >= 0 => Some(Some(n.unsigned_abs())),
        toml::Value::String(s) if s == "unlimited" => Some(None),
        other => {
            diags.at(
                &raw.span(),
                format!(
                    "{here}.max: must be a non-negative integer or \"unlimited\", found {other}"
                ),
            );
            None
        }
    }
}

fn window(
    diags: &mut Diagnostics<'_>,
    here: &str,
    raw: &RawLimit,
    unit: Option<Unit>,
) -> Option<Window> {
    let name = raw.window.get_ref().as_str();
    let span = raw.window.span();
    let reset = match &raw.reset {
        None => Some(0),
        Some(r) if matches!(name, "day" | "month") => quantity::time_of_day(r.get_ref())
            .map_err(|e| diags.at(&r.span(), format!("{here}.reset: {e}")))
            .ok(),
        Some(r) => {
            diags.at(
                &r.span(),
                format!("{here}.reset: only day and month quotas have a reset time, not window \"{name}\""),
            );
            None
        }
    };
    let lease_ttl = match &raw.lease_ttl {
        None => Some(DEFAULT_LEASE_TTL),
        Some(t) if name == "concurrent" => quantity::duration(t.get_ref())
            .map_err(|e| diags.at(&t.span(), format!("{here}.lease_ttl: {e}")))
            .ok(),
        Some(t) => {
            diags.at(
                &t.span(),
                format!("{here}.lease_ttl: only window \"concurrent\" holds leases, not window \"{name}\""),
            );
            None
        }
    };
    let window = match name {
        "second" => Window::SECOND,
        "minute" => Window::MINUTE,
        "hour" => Window::HOUR,
        "day" => Window::Calendar {
            period: CalendarPeriod::Day,
            offset: reset?,
        },
        "month" => Window::Calendar {
            period: CalendarPeriod::Month,
            offset: reset?,
        },
        "concurrent" => Window::Concurrent {
            lease_ttl: lease_ttl?,
        },
        other => match quantity::duration(other) {
            Ok(period) => Window::Rolling { period },
            Err(e) => {
                diags.at(
                    &span,
                    format!("{here}.window: expected second, minute, hour, day, month, concurrent or a rolling duration; {e}"),
                );
                return None;
            }
        },
    };
    let concurrent = matches!(window, Window::Concurrent { .. });
    match unit {
        Some(Unit::ConcurrentJobs) if !concurrent => {
            diags.at(
                &span,
                format!("{here}.window: unit concurrent_jobs counts jobs in progress and needs window \"concurrent\", found \"{name}\""),
            );
            None
        }
        Some(u) if concurrent && u != Unit::ConcurrentJobs => {
            diags.at(
                &span,
                format!("{here}.window: window \"concurrent\" is only for unit concurrent_jobs, found unit {u}"),
            );
            None
        }
        _ => Some(window),
    }
}
