//! Floodgate's memory store against the `governor` crate's keyed limiter, in one run.
//!
//! For 1 and 2 threads and 1 / 10k / 1M keys (every key touched once before measuring,
//! so the maps really hold that many), four contenders decide for a key picked in a
//! scrambled order:
//! - `floodgate_1dim`: `MemoryStore::decide_now` with one rolling limit (RPM);
//! - `floodgate_3dim`: the same with RPM + TPM + a daily quota, all-or-nothing;
//! - `governor_string`: `RateLimiter::keyed` checking a `String` key (as floodgate's
//!   `&str` subjects);
//! - `governor_u64`: the same keyed by `u64`, governor's cheapest key.
//!
//! Floodgate reads the system clock on every decision; governor reads its own (quanta)
//! clock. Limits are high enough that every call is admitted; the share admitted is
//! printed once per contender so that this can be checked. With 2 threads the reported
//! time is wall time per decision across both threads (so perfect scaling halves it).

use criterion::{black_box, BenchmarkId, Criterion};
use floodgate_core::{Costs, LeaseId, Limit, Scope, SystemClock, Unit, Window};
use floodgate_store::{DecideRequest, MemoryStore, Subjects};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY_COUNTS: [usize; 3] = [1, 10_000, 1_000_000];
const THREADS: [usize; 2] = [1, 2];
/// Requests per minute per key: a burst this large is never exhausted within a run.
const RPM: u32 = 1_000_000_000;

/// The key a call number maps to: a multiplicative scramble, so consecutive calls land on
/// distant keys (and cache lines) as real traffic does.
fn pick(call: u64, keys: usize) -> usize {
    (call.wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys as u64) as usize
}

fn one_dimension() -> Vec<Limit> {
    vec![Limit::new(
        Scope::Key,
        Unit::Requests,
        Window::MINUTE,
        u64::from(RPM),
        "m",
    )]
}

fn three_dimensions() -> Vec<Limit> {
    vec![
        Limit::new(
            Scope::Key,
            Unit::Requests,
            Window::MINUTE,
            u64::from(RPM),
            "m",
        ),
        Limit::new(
            Scope::Key,
            Unit::Tokens,
            Window::MINUTE,
            1_000 * u64::from(RPM),
            "m",
        ),
        Limit::new(Scope::Key, Unit::Requests, Window::DAY, 1 << 40, "m"),
    ]
}

/// A floodgate contender: a store on the system clock and the limits of each decision.
struct Floodgate {
    store: MemoryStore,
    limits: Vec<Limit>,
    costs: Costs,
}

impl Floodgate {
    fn new(limits: Vec<Limit>) -> Self {
        Self {
            store: MemoryStore::new(Arc::new(SystemClock)),
            limits,
            costs: Costs::zero()
                .with(Unit::Requests, 1)
                .with(Unit::Tokens, 100),
        }
    }

    fn decide(&self, key: &str) -> bool {
        let request = DecideRequest {
            subjects: Subjects { key, account: key },
            limits: &self.limits,
            costs: &self.costs,
            lease: LeaseId(0),
            abuse: None,
        };
        self.store.decide_now(&request).allowed()
    }
}

fn governor<K: Hash + Eq + Clone>() -> DefaultKeyedRateLimiter<K> {
    RateLimiter::keyed(Quota::per_minute(NonZeroU32::new(RPM).expect("non-zero")))
}

/// Runs `call` `iters` times split over `threads` threads; returns the wall time.
fn timed(threads: usize, iters: u64, call: &(impl Fn(u64) + Sync)) -> Duration {
    let per_thread = iters.div_ceil(threads as u64);
    let start = Instant::now();
    if threads == 1 {
        (0..iters).for_each(call);
    } else {
        std::thread::scope(|s| {
            for t in 0..threads as u64 {
                s.spawn(move || {
                    (t * per_thread..(t + 1) * per_thread).for_each(call);
                });
            }
        });
    }
    start.elapsed()
}

/// Touches every key once, then reports which share of further calls was admitted.
fn prefill_and_share(name: &str, keys: usize, call: impl Fn(usize) -> bool) {
    (0..keys).for_each(|k| {
        call(k);
    });
    let probes = 100_000u64;
    let admitted = (0..probes).filter(|&i| call(pick(i, keys))).count();
    eprintln!(
        "{name} with {keys} keys: {:.1}% admitted",
        100.0 * admitted as f64 / probes as f64
    );
}

/// The key counts to run: all, or those listed in `FLOODGATE_BENCH_KEYS` (e.g. `1,10000`)
/// for a quicker look at one case.
fn key_counts() -> Vec<usize> {
    match std::env::var("FLOODGATE_BENCH_KEYS") {
        Ok(list) => list
            .split(',')
            .filter_map(|k| k.trim().parse().ok())
            .collect(),
        Err(_) => KEY_COUNTS.to_vec(),
    }
}

fn decisions(c: &mut Criterion) {
    for keys in key_counts() {
        let names: Vec<String> = (0..keys).map(|i| format!("key-{i:08}")).collect();
        let numbers: Vec<u64> = (0..keys as u64).collect();
        let one = Floodgate::new(one_dimension());
        let three = Floodgate::new(three_dimensions());
        let gov_string = governor::<String>();
        let gov_u64 = governor::<u64>();
        prefill_and_share("floodgate_1dim", keys, |k| one.decide(&names[k]));
        prefill_and_share("floodgate_3dim", keys, |k| three.decide(&names[k]));
        prefill_and_share("governor_string", keys, |k| {
            gov_string.check_key(&names[k]).is_ok()
        });
        prefill_and_share("governor_u64", keys, |k| {
            gov_u64.check_key(&numbers[k]).is_ok()
        });

        for threads in THREADS {
            let mut group = c.benchmark_group(format!("decision/{threads}t"));
            let id = |name: &str| BenchmarkId::new(name, keys);
            group.bench_function(id("floodgate_1dim"), |b| {
                b.iter_custom(|n| {
                    timed(threads, n, &|i| {
                        black_box(one.decide(&names[pick(i, keys)]));
                    })
                });
            });
            group.bench_function(id("floodgate_3dim"), |b| {
                b.iter_custom(|n| {
                    timed(threads, n, &|i| {
                        black_box(three.decide(&names[pick(i, keys)]));
                    })
                });
            });
            group.bench_function(id("governor_string"), |b| {
                b.iter_custom(|n| {
                    timed(threads, n, &|i| {
                        let _ = black_box(gov_string.check_key(&names[pick(i, keys)]));
                    })
                });
            });
            group.bench_function(id("governor_u64"), |b| {
                b.iter_custom(|n| {
                    timed(threads, n, &|i| {
                        let _ = black_box(gov_u64.check_key(&numbers[pick(i, keys)]));
                    })
                });
            });
            group.finish();
        }
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    decisions(&mut criterion);
    criterion.final_summary();
}
