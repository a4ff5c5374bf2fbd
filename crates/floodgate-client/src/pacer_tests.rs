//! The pacer against a simulated GCRA server in virtual time: no sleeps, exact arrivals.

use super::*;

fn reading(name: &str, limit: u64, remaining: u64, window_ms: u64) -> Reading {
    Reading {
        name: name.into(),
        unit: LimitUnit::Requests,
        limit,
        remaining,
        window: Some(Duration::from_millis(window_ms)),
        reset_in: None,
    }
}

fn headers(readings: Vec<Reading>) -> LimitHeaders {
    LimitHeaders {
        readings,
        ..LimitHeaders::default()
    }
}

fn go(p: &Pacer, now: Instant) -> Ticket {
    match p.try_admit("r", Cost::default(), now) {
        Ok(Step::Go(t)) => t,
        Ok(Step::Sleep(d)) => panic!("asked to sleep {d:?}"),
        Ok(Step::AwaitProbe) => panic!("asked to await the probe"),
        Err(q) => panic!("{q}"),
    }
}

fn wait(p: &Pacer, now: Instant) -> Duration {
    match p.try_admit("r", Cost::default(), now) {
        Ok(Step::Sleep(d)) => d,
        Ok(Step::Go(_)) => Duration::ZERO,
        Ok(Step::AwaitProbe) => panic!("asked to await the probe"),
        Err(q) => panic!("{q}"),
    }
}

/// floodgate's GCRA, as the gateway runs it.
struct Server {
    emission: Duration,
    tau: Duration,
    tat: Instant,
}

impl Server {
    fn new(limit: u32, window: Duration, at: Instant) -> Self {
        Self {
            emission: window / limit,
            tau: window,
            tat: at,
        }
    }

    /// Admits one at `now`: the remaining after it, or `None` for a 429.
    fn decide(&mut self, now: Instant) -> Option<u64> {
        let new = self.tat.max(now) + self.emission;
        if new - now > self.tau {
            return None;
        }
        self.tat = new;
        Some(((self.tau - (new - now)).as_nanos() / self.emission.as_nanos()) as u64)
    }

    fn remaining(&self, now: Instant) -> u64 {
        let occupied = self.tat.saturating_duration_since(now);
        (self.tau.saturating_sub(occupied).as_nanos() / self.emission.as_nanos()) as u64
    }
}

#[test]
fn one_probe_then_the_burst_then_one_per_emission() {
    let p = Pacer::default();
    let t0 = Instant::now();
    let probe = go(&p, t0);
    assert!(matches!(
        p.try_admit("r", Cost::default(), t0),
        Ok(Step::AwaitProbe)
    ));
    p.observe(
        &probe,
        &headers(vec![reading("second", 5, 4, 1000)]),
        t0,
        SystemTime::now(),
    );
    // The last of a burst waits out the pacer's safety margin (2 ms at most).
    let t1 = t0 + Duration::from_millis(3);
    for _ in 0..4 {
        go(&p, t1);
    }
    let w = wait(&p, t1);
    assert!(
        w >= Duration::from_millis(195) && w <= Duration::from_millis(200),
        "{w:?}"
    );
    go(&p, t1 + w);
}

#[test]
fn a_route_without_headers_is_not_paced() {
    let p = Pacer::default();
    let t0 = Instant::now();
    let probe = go(&p, t0);
    p.observe(&probe, &LimitHeaders::default(), t0, SystemTime::now());
    for _ in 0..1000 {
        go(&p, t0);
    }
}

#[test]
fn another_client_on_the_key_pushes_the_mirror_forward() {
    let p = Pacer::default();
    let t0 = Instant::now();
    let probe = go(&p, t0);
    p.observe(
        &probe,
        &headers(vec![reading("minute", 60, 59, 60_000)]),
        t0,
        SystemTime::now(),
    );
    let t = go(&p, t0);
    // We think 58 are left; the server says 10: someone else spent 48.
    p.observe(
        &t,
        &headers(vec![reading("minute", 60, 10, 60_000)]),
        t0,
        SystemTime::now(),
    );
    let t1 = t0 + Duration::from_millis(3);
    for _ in 0..10 {
        go(&p, t1);
    }
    assert!(wait(&p, t1) >= Duration::from_millis(990));
}

#[test]
fn readings_that_agree_leave_the_mirror_alone() {
    let p = Pacer::default();
    let t0 = Instant::now();
    let probe = go(&p, t0);
    p.observe(
        &probe,
        &headers(vec![reading("second", 10, 9, 1000)]),
        t0,
        SystemTime::now(),
    );
    let mut tickets = Vec::new();
    let t1 = t0 + Duration::from_millis(3);
    for _ in 0..9 {
        tickets.push(go(&p, t1));
    }
    // Answers in any order, each with the remaining right after its own admission.
    for (i, t) in tickets.iter().enumerate().rev() {
        let r = reading("second", 10, 8 - i as u64, 1000);
        p.observe(
            t,
            &headers(vec![r]),
            t0 + Duration::from_millis(1),
            SystemTime::now(),
        );
    }
    let w = wait(&p, t1);
    assert!(
        w >= Duration::from_millis(95) && w <= Duration::from_millis(100),
        "{w:?}"
    );
}

#[test]
fn a_spent_quota_fails_fast_until_its_reset() {
    let p = Pacer::default();
    let t0 = Instant::now();
    let probe = go(&p, t0);
    let mut day = reading("day", 100, 0, 86_400_000);
    day.reset_in = Some(Duration::from_secs(3600));
    p.observe(&probe, &headers(vec![day]), t0, SystemTime::now());
    let err = match p.try_admit("r", Cost::default(), t0 + Duration::from_secs(60)) {
        Err(q) => q,
        _ => panic!("admitted past a spent quota"),
    };
    assert_eq!(err.limit, "day");
    assert_eq!(err.resets_in, Some(Duration::from_secs(3540)));
    go(&p, t0 + Duration::from_secs(3601));
}

/// An answer decided before the one that spent the quota, arriving after it, does not
/// reopen it; a new limit (a tier change) does, as does the reset passing.
#[test]
fn a_late_answer_does_not_bring_back_a_spent_quota() {
    let p = Pacer::default();
    let t0 = Instant::now();
    let day = |limit: u64, remaining: u64, reset_secs: Option<u64>| Reading {
        reset_in: reset_secs.map(Duration::from_secs),
        ..reading("day", limit, remaining, 86_400_000)
    };
    let observe = |ticket: &Ticket, reading: Reading, at: Instant| {
        p.observe(ticket, &headers(vec![reading]), at, SystemTime::now());
    };
    let probe = go(&p, t0);
    observe(&probe, day(100, 5, Some(3600)), t0);
    let (first, second, third) = (go(&p, t0), go(&p, t0), go(&p, t0));
    observe(&second, day(100, 0, Some(3600)), t0);
    observe(&first, day(100, 1, None), t0);
    assert!(
        p.try_admit("r", Cost::default(), t0).is_err(),
        "the late answer reopened a spent quota"
    );
    observe(&third, day(1_000, 900, None), t0);
    go(&p, t0);

    let left = || p.routes.lock().unwrap()["r"].quotas["day"].remaining;
    let spent = go(&p, t0);
    observe(&spent, day(1_000, 0, Some(10)), t0);
    let next_day = t0 + Duration::from_secs(11);
    let fresh = go(&p, next_day);
    observe(&fresh, day(1_000, 999, None), next_day);
    assert_eq!(left(), 999, "the reset passed: a new period");
}

/// Eight requests in flight, answers after a 3 ms round trip (decided at 1 ms), against a
/// server whose key another client also spends from at the start: no 429, and at least
/// 95% of the allowed rate once the burst is spent.
#[test]
fn steady_state_meets_no_429_at_the_full_rate() {
    let window = Duration::from_secs(1);
    let p = Pacer::default();
    let t0 = Instant::now();
    let mut server = Server::new(20, window, t0);
    for _ in 0..7 {
        server.decide(t0).unwrap();
    }
    let step = Duration::from_micros(100);
    let mut now = t0;
    let mut in_flight: Vec<(Instant, Ticket, Option<u64>)> = Vec::new();
    let (mut ok, mut refused) = (0u32, 0u32);
    let end = t0 + Duration::from_secs(30);
    while now < end {
        in_flight.retain(|(done, ticket, remaining)| {
            if *done > now {
                return true;
            }
            let r = remaining.unwrap_or(0);
            p.observe(
                ticket,
                &headers(vec![reading("second", 20, r, 1000)]),
                now,
                SystemTime::now(),
            );
            false
        });
        while in_flight.len() < 8 {
            let Ok(Step::Go(ticket)) = p.try_admit("r", Cost::default(), now) else {
                break;
            };
            let decided = server.decide(now + Duration::from_millis(1));
            match decided {
                Some(_) => ok += 1,
                None => refused += 1,
            }
            in_flight.push((now + Duration::from_millis(3), ticket, decided));
        }
        now += step;
    }
    assert_eq!(refused, 0);
    // 13 of the burst were left, then 20 a second for 30 s.
    let allowed = 13.0 + 20.0 * 30.0;
    assert!(f64::from(ok) >= 0.95 * allowed, "{ok} of {allowed}");
    assert!(server.remaining(now) <= 1);
}
