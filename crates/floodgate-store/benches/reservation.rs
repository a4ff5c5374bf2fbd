//! The cost of reserving tokens and settling them, against a plain request decision, on
//! the memory store, in one run.
//!
//! Three contenders decide for one of 10,000 keys picked in a scrambled order (every key
//! touched once before measuring), on the system clock, one thread:
//! - `request_only`: one rolling requests-per-minute limit, cost 1 request;
//! - `reserve`: requests per minute plus tokens per minute, cost 1 request + 600 tokens
//!   (the decision of a request that reserves tokens, not settled);
//! - `reserve_settle`: the same decision, then its settlement refunding 400 tokens (what
//!   the gateway does for every answered request with token limits).
//!
//! Criterion reports each; then interleaved rounds of the three (so that noise from
//! other processes falls on all of them alike) give the ratios `reserve_settle /
//! request_only` (target <= 1.5) and `reserve_settle / reserve`, printed with the spread
//! over the rounds.

use criterion::{black_box, Criterion};
use floodgate_core::{Costs, LeaseId, Limit, Scope, SystemClock, Unit, Window};
use floodgate_store::{Adjustment, DecideRequest, MemoryStore, SettleRequest, Subjects};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEYS: usize = 10_000;
/// Limits high enough that every call is admitted.
const MAX: u64 = 1 << 50;

fn pick(call: u64) -> usize {
    (call.wrapping_mul(0x9E37_79B9_7F4A_7C15) % KEYS as u64) as usize
}

/// One contender: its store, limits and costs.
struct Contender {
    store: MemoryStore,
    limits: Vec<Limit>,
    costs: Costs,
    settles: bool,
}

impl Contender {
    fn new(tokens: bool, settles: bool) -> Self {
        let mut limits = vec![Limit::new(
            Scope::Key,
            Unit::Requests,
            Window::MINUTE,
            MAX,
            "m",
        )];
        let mut costs = Costs::one_request();
        if tokens {
            limits.push(Limit::new(
                Scope::Key,
                Unit::Tokens,
                Window::MINUTE,
                MAX,
                "m",
            ));
            costs = costs.with(Unit::Tokens, 600);
        }
        Self {
            store: MemoryStore::new(Arc::new(SystemClock)),
            limits,
            costs,
            settles,
        }
    }

    fn call(&self, key: &str) -> bool {
        let subjects = Subjects { key, account: key };
        let request = DecideRequest {
            subjects,
            limits: &self.limits,
            costs: &self.costs,
            lease: LeaseId(0),
            abuse: None,
        };
        let decision = self.store.decide_now(&request);
        if self.settles {
            let refund = [Adjustment {
                limit: &self.limits[1],
                delta: -400,
            }];
            self.store.settle_now(&SettleRequest {
                subjects,
                adjustments: &refund,
                reserved_at: decision.at,
            });
        }
        decision.allowed()
    }

    /// Nanoseconds per call over `n` calls from `start`.
    fn round(&self, names: &[String], start: u64, n: u64) -> f64 {
        let t = Instant::now();
        for i in start..start + n {
            black_box(self.call(&names[pick(i)]));
        }
        t.elapsed().as_nanos() as f64 / n as f64
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Interleaved rounds of the three; prints the ratios (median, and the middle half).
fn ratios(names: &[String], contenders: &[(&str, &Contender); 3]) {
    const ROUNDS: usize = 41;
    const CALLS: u64 = 200_000;
    let mut times: [Vec<f64>; 3] = Default::default();
    for r in 0..ROUNDS {
        for (i, (_, c)) in contenders.iter().enumerate() {
            times[i].push(c.round(names, r as u64 * CALLS, CALLS));
        }
    }
    for (i, (name, _)) in contenders.iter().enumerate() {
        eprintln!("{name}: median {:.1} ns/call", median(times[i].clone()));
    }
    let ratio = |a: usize, b: usize| -> Vec<f64> {
        times[a].iter().zip(&times[b]).map(|(x, y)| x / y).collect()
    };
    for (what, a, b) in [
        ("reserve_settle / request_only", 2, 0),
        ("reserve_settle / reserve", 2, 1),
        ("reserve / request_only", 1, 0),
    ] {
        let mut r = ratio(a, b);
        r.sort_by(f64::total_cmp);
        eprintln!(
            "ratio {what}: median {:.2}x (middle half {:.2}x..{:.2}x over {ROUNDS} rounds)",
            r[r.len() / 2],
            r[r.len() / 4],
            r[3 * r.len() / 4]
        );
    }
}

fn main() {
    let names: Vec<String> = (0..KEYS).map(|i| format!("key-{i:08}")).collect();
    let request_only = Contender::new(false, false);
    let reserve = Contender::new(true, false);
    let reserve_settle = Contender::new(true, true);
    let contenders = [
        ("request_only", &request_only),
        ("reserve", &reserve),
        ("reserve_settle", &reserve_settle),
    ];
    for (name, c) in &contenders {
        assert!(
            names.iter().all(|k| c.call(k)),
            "{name}: every call admitted"
        );
    }

    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    let mut group = criterion.benchmark_group("reservation");
    for (name, c) in &contenders {
        group.bench_function(*name, |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                black_box(c.call(&names[pick(i)]))
            });
        });
    }
    group.finish();
    ratios(&names, &contenders);
    criterion.final_summary();
}
