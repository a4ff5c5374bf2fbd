//! Pacing from rate-limit headers, so that in steady state no request meets a 429.
//!
//! For each limit a route reports, the pacer keeps a mirror of the server's GCRA state (a
//! theoretical arrival time: a burst of `limit`, then one unit every `window / limit`),
//! admits a request only when the mirror says it fits, and corrects the mirror from the
//! `remaining` each answer carries. The correction is what keeps several processes
//! sharing one key inside the limit: their requests show up as less `remaining` than this
//! process accounted for. A reading consistent with the mirror (within one unit and the
//! round trip) changes nothing, so refill after a spent burst is not mistaken for
//! anything. Daily and monthly quotas are not paced: once one reports nothing left and a
//! reset ahead, requests fail at once with [`QuotaExhausted`].
//!
//! Until a route's first answer arrives, one request probes it alone: nothing is known
//! about its limits, and a blind burst is how clients meet their first 429s.

use crate::error::QuotaExhausted;
use crate::headers::{LimitHeaders, LimitUnit, Reading};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// The longest a request waits for a route's probe before probing itself, in case the
/// probe's answer is lost to a cancelled caller.
const PROBE_WAIT: Duration = Duration::from_secs(2);

/// What one request costs in each unit a limit may count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Images it generates (1 unless the caller says).
    pub images: u64,
    /// Tokens it uses (prompt estimate plus `max_tokens`), 0 if the caller does not know.
    pub tokens: u64,
}

impl Default for Cost {
    fn default() -> Self {
        Self {
            images: 1,
            tokens: 0,
        }
    }
}

impl Cost {
    /// The units of `unit` this costs; `None` when unknown (not paced on that limit).
    fn of(self, unit: LimitUnit) -> Option<u64> {
        match unit {
            LimitUnit::Requests => Some(1),
            LimitUnit::Images => Some(self.images),
            LimitUnit::Tokens => (self.tokens > 0).then_some(self.tokens),
            LimitUnit::Other => None,
        }
    }
}

/// The mirror of one rolling limit.
#[derive(Debug)]
struct Rate {
    unit: LimitUnit,
    limit: u64,
    /// Time one unit occupies: window / limit.
    emission: Duration,
    /// The whole window: a full burst's occupancy.
    tau: Duration,
    /// When the limit would be entirely free again.
    tat: Instant,
    /// Sum of every correction so far (forward minus backward, nanoseconds), so an
    /// answer is compared with the mirror as corrected since its request left.
    corrections: i128,
}

impl Rate {
    fn new(r: &Reading, window: Duration, sent: Instant) -> Self {
        let emission = window / u32::try_from(r.limit).unwrap_or(u32::MAX);
        let mut rate = Self {
            unit: r.unit,
            limit: r.limit,
            emission,
            tau: window,
            tat: sent,
            corrections: 0,
        };
        rate.tat = sent + rate.occupancy_for(r.remaining);
        rate
    }

    /// The occupancy at which the server reports `remaining`, at its upper end.
    fn occupancy_for(&self, remaining: u64) -> Duration {
        self.tau
            .saturating_sub(self.emission * u32::try_from(remaining).unwrap_or(u32::MAX))
    }

    /// Room kept free so that a request arriving a little late or early still fits.
    fn margin(&self) -> Duration {
        (self.emission / 20).min(Duration::from_millis(2))
    }

    /// How long until `units` fit at `now` (zero: they fit now).
    fn wait(&self, units: u64, now: Instant) -> Duration {
        let units = units.min(self.limit);
        let after = self.tat.max(now) + self.emission * u32::try_from(units).unwrap_or(u32::MAX);
        (after + self.margin()).saturating_duration_since(now + self.tau)
    }
}

/// A quota's last report.
#[derive(Debug)]
struct Quota {
    remaining: u64,
    /// When it resets, if the headers said.
    resets: Option<(Instant, SystemTime)>,
}

/// What the pacer knows about one route.
#[derive(Debug, Default)]
struct Route {
    /// An answer with (or without) headers has arrived.
    learned: bool,
    /// When the probe left, while it is in flight.
    probing: Option<Instant>,
    rates: HashMap<String, Rate>,
    quotas: HashMap<String, Quota>,
}

/// Proof of admission, handed back with the answer.
#[derive(Debug)]
pub struct Ticket {
    route: String,
    sent: Instant,
    /// Per rate admitted against: its occupancy right after admission, and its
    /// corrections total then.
    admitted: Vec<(String, Duration, i128)>,
}

/// Header-driven pacing for every route a client calls.
#[derive(Debug, Default)]
pub struct Pacer {
    routes: Mutex<HashMap<String, Route>>,
    learned: Notify,
}

enum Step {
    Go(Ticket),
    Sleep(Duration),
    AwaitProbe,
}

impl Pacer {
    /// Waits until a request of `cost` on `route` fits every limit known for it.
    pub async fn admit(&self, route: &str, cost: Cost) -> Result<Ticket, QuotaExhausted> {
        loop {
            let notified = self.learned.notified();
            match self.try_admit(route, cost, Instant::now())? {
                Step::Go(ticket) => return Ok(ticket),
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::AwaitProbe => {
                    let _ = tokio::time::timeout(PROBE_WAIT, notified).await;
                }
            }
        }
    }

    fn try_admit(&self, key: &str, cost: Cost, now: Instant) -> Result<Step, QuotaExhausted> {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let route = routes.entry(key.to_owned()).or_default();
        if !route.learned {
            match route.probing {
                Some(since) if now.duration_since(since) < PROBE_WAIT => {
                    return Ok(Step::AwaitProbe)
                }
                _ => route.probing = Some(now),
            }
        }
        for (name, q) in &route.quotas {
            if let (0, Some((at, at_sys))) = (q.remaining, q.resets) {
                if at > now {
                    let resets_in = at - now;
                    return Err(QuotaExhausted {
                        limit: name.clone(),
                        resets_in: Some(resets_in),
                        resets_at: Some(at_sys),
                    });
                }
            }
        }
        let wait = route
            .rates
            .values()
            .filter_map(|r| Some(r.wait(cost.of(r.unit)?, now)))
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            return Ok(Step::Sleep(wait));
        }
        let mut admitted = Vec::with_capacity(route.rates.len());
        for (name, rate) in &mut route.rates {
            let Some(units) = cost.of(rate.unit) else {
                continue;
            };
            let units = u32::try_from(units.min(rate.limit)).unwrap_or(u32::MAX);
            rate.tat = rate.tat.max(now) + rate.emission * units;
            admitted.push((name.clone(), rate.tat - now, rate.corrections));
        }
        Ok(Step::Go(Ticket {
            route: key.to_owned(),
            sent: now,
            admitted,
        }))
    }

    /// Learns from the answer to `ticket`'s request, received at `now`.
    pub fn observe(&self, ticket: &Ticket, limits: &LimitHeaders, now: Instant, wall: SystemTime) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let route = routes.entry(ticket.route.clone()).or_default();
        route.learned = true;
        route.probing = None;
        let rtt = now.saturating_duration_since(ticket.sent);
        for r in &limits.readings {
            if r.is_quota() {
                let resets = r
                    .reset_in
                    .or(limits.retry_after.filter(|_| r.remaining == 0));
                route.quotas.insert(
                    r.name.clone(),
                    Quota {
                        remaining: r.remaining,
                        resets: resets.map(|d| (now + d, wall + d)),
                    },
                );
                continue;
            }
            let Some(window) = r.window.filter(|w| !w.is_zero() && r.limit > 0) else {
                continue;
            };
            let fresh = match route.rates.get(&r.name) {
                Some(rate) => rate.limit != r.limit || rate.tau != window,
                None => true,
            };
            if fresh {
                route
                    .rates
                    .insert(r.name.clone(), Rate::new(r, window, ticket.sent));
                continue;
            }
            let Some(rate) = route.rates.get_mut(&r.name) else {
                continue;
            };
            let Some((_, occupied, corrections_then)) =
                ticket.admitted.iter().find(|(n, _, _)| *n == r.name)
            else {
                continue;
            };
            correct(rate, *occupied, *corrections_then, r.remaining, rtt);
        }
        drop(routes);
        self.learned.notify_waiters();
    }

    /// Forgets a request that got no answer, so another may probe its route.
    pub fn abandon(&self, ticket: &Ticket) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(route) = routes.get_mut(&ticket.route) {
            route.probing = None;
        }
        drop(routes);
        self.learned.notify_waiters();
    }

    /// The tightest rolling requests limit learned on any route, as (limit, window).
    pub fn allowed_rate(&self) -> Option<(u64, Duration)> {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes
            .values()
            .flat_map(|r| r.rates.values())
            .filter(|r| r.unit == LimitUnit::Requests)
            .map(|r| (r.limit, r.tau))
            .min_by(|a, b| {
                let per_sec = |(l, w): &(u64, Duration)| *l as f64 / w.as_secs_f64();
                per_sec(a).total_cmp(&per_sec(b))
            })
    }
}

/// Moves the mirror when the server's `remaining` for a request is inconsistent with what
/// the mirror said right after admitting it: forward when the server is fuller (another
/// client shares the key), back when emptier (a request was refused, or the window is
/// shorter than assumed).
fn correct(
    rate: &mut Rate,
    occupied: Duration,
    corrections_then: i128,
    remaining: u64,
    rtt: Duration,
) {
    let since = rate.corrections - corrections_then;
    let ours = occupied.as_nanos() as i128 + since;
    let top = rate.occupancy_for(remaining).as_nanos() as i128;
    let low = rate.occupancy_for(remaining.saturating_add(1)).as_nanos() as i128;
    let high = top + rtt.as_nanos() as i128;
    let shift = if ours < low {
        top - ours
    } else if ours > high {
        high - ours
    } else {
        return;
    };
    rate.corrections += shift;
    let magnitude = Duration::from_nanos(u64::try_from(shift.unsigned_abs()).unwrap_or(u64::MAX));
    rate.tat = if shift > 0 {
        rate.tat + magnitude
    } else {
        rate.tat.checked_sub(magnitude).unwrap_or(rate.tat)
    };
}

#[cfg(test)]
#[path = "pacer_tests.rs"]
mod tests;
