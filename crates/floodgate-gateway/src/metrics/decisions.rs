//! Counting decisions: one per request, by tier, model, the dimension that decided and
//! the outcome; a shadow limit that would have rejected is counted (and logged) as
//! `shadow_rejected` while the request goes on.

use super::Metrics;
use floodgate_core::{Decision, DenialReason, Limit};
use metrics::Counter;
use std::sync::{Arc, OnceLock};

/// What a decision meant for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every enforced limit had room (or none applies).
    Allowed,
    /// An enforced limit, or an abuse block, refused it.
    Rejected,
    /// A shadow limit would have refused it; it was not enforced.
    ShadowRejected,
}

impl Outcome {
    /// The `outcome` label.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Rejected => "rejected",
            Outcome::ShadowRejected => "shadow_rejected",
        }
    }
}

/// The `dimension` label of an allowed decision: no single limit decided it.
const ALL: &str = "all";
/// The `dimension` label of a rejection by abuse protection.
const ABUSE_BLOCK: &str = "abuse_block";

/// The `dimension` label of a limit: `scope:unit/window`, e.g. `key:requests/minute`.
pub(crate) fn dimension(limit: &Limit) -> String {
    format!(
        "{}:{}/{}",
        limit.scope.as_str(),
        limit.unit,
        limit.window.label()
    )
}

/// What one request's decision says, for the metrics and the log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decided<'a> {
    /// The key's id (never the raw key), for the shadow log line.
    pub(crate) key: &'a str,
    /// The account's tier.
    pub(crate) tier: &'a Arc<str>,
    /// The model asked for.
    pub(crate) model: &'a Arc<str>,
    /// The limits the decision was made on, in its dimensions' order.
    pub(crate) limits: &'a [Limit],
    /// The allowed-decisions counter of (tier, model), kept where the caller keeps its
    /// resolved limits so that most requests find it without a lookup.
    pub(crate) allowed: &'a OnceLock<Counter>,
}

impl Metrics {
    /// Counts `decision` (`None`: nothing limits this request) and logs its shadow
    /// would-rejects; returns the outcome of the request.
    pub(crate) fn decided(&self, what: Decided<'_>, decision: Option<&Decision>) -> Outcome {
        let allowed = || {
            what.allowed
                .get_or_init(|| self.allowed(what.tier, what.model))
                .increment(1);
        };
        let Some(decision) = decision else {
            allowed();
            return Outcome::Allowed;
        };
        for &i in &decision.shadow_denials {
            let Some(limit) = what.limits.get(i) else {
                continue;
            };
            let dim = dimension(limit);
            self.decisions(what.tier, what.model, &dim, Outcome::ShadowRejected)
                .increment(1);
            tracing::info!(
                key = what.key,
                tier = %what.tier,
                model = %what.model,
                limit = %limit,
                dimension = dim,
                "shadow limit would reject"
            );
        }
        match decision.denial.map(|d| d.reason) {
            None => {
                allowed();
                Outcome::Allowed
            }
            Some(DenialReason::Blocked) => {
                self.decisions(what.tier, what.model, ABUSE_BLOCK, Outcome::Rejected)
                    .increment(1);
                Outcome::Rejected
            }
            Some(DenialReason::Limit(i)) => {
                let dim = what.limits.get(i).map_or_else(String::new, dimension);
                self.decisions(what.tier, what.model, &dim, Outcome::Rejected)
                    .increment(1);
                Outcome::Rejected
            }
        }
    }

    /// The allowed-decisions counter of (tier, model), registered on first use.
    fn allowed(&self, tier: &Arc<str>, model: &Arc<str>) -> Counter {
        if let Ok(map) = self.allowed.read() {
            if let Some(counter) = map.get(tier).and_then(|m| m.get(model)) {
                return counter.clone();
            }
        }
        let counter = self.decisions(tier, model, ALL, Outcome::Allowed);
        if let Ok(mut map) = self.allowed.write() {
            map.entry(Arc::clone(tier))
                .or_default()
                .insert(Arc::clone(model), counter.clone());
        }
        counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{Denial, Scope, Unit, Window};

    fn sample(text: &str, needle: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
    }

    #[test]
    fn outcomes_by_dimension() {
        let metrics = Metrics::new();
        let limits = [
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 3, "m"),
            Limit::new(Scope::Account, Unit::Tokens, Window::DAY, 9, "m").shadowed(true),
        ];
        let (tier, model) = (Arc::from("basic"), Arc::from("m"));
        let what = Decided {
            key: "k1",
            tier: &tier,
            model: &model,
            limits: &limits,
            allowed: &OnceLock::new(),
        };
        let mut decision = Decision::new(0);
        assert_eq!(metrics.decided(what, Some(&decision)), Outcome::Allowed);
        assert_eq!(metrics.decided(what, None), Outcome::Allowed);
        decision.shadow_denials.push(1);
        assert_eq!(metrics.decided(what, Some(&decision)), Outcome::Allowed);
        decision.denial = Some(Denial {
            reason: DenialReason::Limit(0),
            retry_after: Some(1),
        });
        assert_eq!(metrics.decided(what, Some(&decision)), Outcome::Rejected);
        let text = metrics.render();
        let series = |dim: &str, outcome: &str| {
            format!(
                "floodgate_decisions_total{{tier=\"basic\",model=\"m\",dimension=\"{dim}\",outcome=\"{outcome}\"}}"
            )
        };
        assert_eq!(sample(&text, &series("all", "allowed")), 3.0);
        assert_eq!(
            sample(&text, &series("key:requests/minute", "rejected")),
            1.0
        );
        assert_eq!(
            sample(&text, &series("account:tokens/day", "shadow_rejected")),
            2.0
        );
    }
}
