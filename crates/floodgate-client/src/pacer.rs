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
    /// Units ever admitted, so an answer can tell how many were admitted after its
    /// request (and may have reached the server first).
    admitted: u64,
    /// Units admitted and not yet answered.
    in_flight: u64,
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
            admitted: 0,
            in_flight: 0,
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

/// What the answers have said of a quota in its current period.
#[derive(Debug, Clone, Copy)]
struct Quota {
    limit: u64,
    /// The least any answer of the period reported left (the latest reading, while no
    /// reset is known).
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
    admitted: Vec<Admission>,
}

/// One rate's part of a [`Ticket`].
#[derive(Debug)]
struct Admission {
    name: String,
    /// The mirror's occupancy right after admitting the request.
    occupied: Duration,
    /// The rate's corrections total at admission.
    corrections: i128,
    /// The mirror had slack (its TAT was in the past): the server, deciding a little
    /// later, starts its refill from that later moment and is ahead of the mirror by up
    /// to the request's trip.
    slack: bool,
    /// Units it took.
    units: u64,
    /// The rate's units admitted before it.
    admitted_before: u64,
    /// The rate's units in flight when it left: they may reach the server after it.
    in_flight_before: u64,
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
            let slack = rate.tat <= now;
            rate.tat = rate.tat.max(now) + rate.emission * units;
            admitted.push(Admission {
                name: name.clone(),
                occupied: rate.tat - now,
                corrections: rate.corrections,
                slack,
                units: u64::from(units),
                admitted_before: rate.admitted,
                in_flight_before: rate.in_flight,
            });
            rate.admitted += u64::from(units);
            rate.in_flight += u64::from(units);
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
        landed(route, ticket);
        let rtt = now.saturating_duration_since(ticket.sent);
        for r in &limits.readings {
            if r.is_quota() {
                let resets = r
                    .reset_in
                    .or(limits.retry_after.filter(|_| r.remaining == 0))
                    .map(|d| (now + d, wall + d));
                // Answers arrive in any order, but within a period a quota only falls:
                // one decided before another that spent the last unit, arriving after
                // it, must not bring that unit back. So while a known period runs (its
                // reset ahead), a reading of the same limit counts only if it reports
                // less; a new limit (a tier change) or a passed reset starts afresh. A
                // period whose reset nobody stated cannot be told from the next, so its
                // latest reading stands (it blocks nothing without a reset anyway).
                let current = route
                    .quotas
                    .get(&r.name)
                    .copied()
                    .filter(|q| q.limit == r.limit && q.resets.is_some_and(|(at, _)| now < at));
                let remaining = current.map_or(r.remaining, |q| q.remaining.min(r.remaining));
                // An answer that says nothing is left but not when it resets (classic
                // headers on a success) keeps a reset an earlier refusal announced.
                let resets = resets.or(current.and_then(|q| q.resets).filter(|_| remaining == 0));
                let quota = Quota {
                    limit: r.limit,
                    remaining,
                    resets,
                };
                route.quotas.insert(r.name.clone(), quota);
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
                // The server decided somewhere between sending and now: the later is the
                // safe assumption.
                route
                    .rates
                    .insert(r.name.clone(), Rate::new(r, window, now));
                continue;
            }
            let Some(rate) = route.rates.get_mut(&r.name) else {
                continue;
            };
            let Some(a) = ticket.admitted.iter().find(|a| a.name == r.name) else {
                continue;
            };
            if !correct(rate, a, r.remaining, rtt) && a.slack {
                let behind = rtt.as_nanos() as i128 - (rate.corrections - a.corrections);
                shift(rate, behind.max(0));
            }
        }
        drop(routes);
        self.learned.notify_waiters();
    }

    /// Forgets a request that got no answer, so another may probe its route.
    pub fn abandon(&self, ticket: &Ticket) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(route) = routes.get_mut(&ticket.route) {
            route.probing = None;
            landed(route, ticket);
        }
        drop(routes);
        self.learned.notify_waiters();
    }
}

/// Takes `ticket`'s units out of flight.
fn landed(route: &mut Route, ticket: &Ticket) {
    for a in &ticket.admitted {
        if let Some(rate) = route.rates.get_mut(&a.name) {
            rate.in_flight = rate.in_flight.saturating_sub(a.units);
        }
    }
}

/// Moves the mirror when the server's `remaining` for a request is inconsistent with what
/// the mirror said right after admitting it: forward when the server is fuller (another
/// client shares the key), back when emptier (a request was refused, or the window is
/// shorter than assumed). Our own requests in flight around it may have reached the
/// server in another order, so each widens the consistent range by what it took.
/// Whether it moved.
fn correct(rate: &mut Rate, a: &Admission, remaining: u64, rtt: Duration) -> bool {
    let nanos = |d: Duration| d.as_nanos() as i128;
    let units = |n: u64| nanos(rate.emission) * i128::from(n);
    let since = rate.corrections - a.corrections;
    let ours = nanos(a.occupied) + since;
    let top = nanos(rate.occupancy_for(remaining));
    let overtaken = rate.admitted.saturating_sub(a.admitted_before + a.units);
    let low = top - units(overtaken + 1);
    let high = top + nanos(rtt) + units(a.in_flight_before);
    let by = if ours < low {
        top - units(overtaken) - ours
    } else if ours > high {
        high - ours
    } else {
        return false;
    };
    shift(rate, by);
    true
}

/// Moves the mirror's TAT by `by` nanoseconds (later when positive), and records it.
fn shift(rate: &mut Rate, by: i128) {
    if by == 0 {
        return;
    }
    rate.corrections += by;
    let magnitude = Duration::from_nanos(u64::try_from(by.unsigned_abs()).unwrap_or(u64::MAX));
    rate.tat = if by > 0 {
        rate.tat + magnitude
    } else {
        rate.tat.checked_sub(magnitude).unwrap_or(rate.tat)
    };
}

#[cfg(test)]
#[path = "pacer_tests.rs"]
mod tests;
