//! The Lua scripts against floodgate_core itself: random sequences of decisions and
//! settlements run on the Redis store and on the memory store side by side, and every
//! answer must match (admitted or not, which limit refused, remaining per dimension).
//!
//! Both run on real clocks, read a few hundred microseconds apart, so the rolling limits
//! span 30 days: a unit refills every 43 minutes or more, and the two stores never
//! straddle a refill. Single node and cluster both.

mod support;

use floodgate_core::{
    AbuseRule, Costs, DimensionStatus, LeaseId, Limit, Scope, SystemClock, Unit, Window,
    NANOS_PER_SEC,
};
use floodgate_redis::{RedisConfig, RedisStore};
use floodgate_store::{Adjustment, DecideRequest, MemoryStore, SettleRequest, Store, Subjects};
use std::sync::Arc;
use support::RedisServer;

/// A small deterministic generator (xorshift64*), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A rolling window of 30 days.
const SLOW: Window = Window::Rolling {
    period: 30 * 86_400 * NANOS_PER_SEC,
};

fn limits(bucket: &str) -> Vec<Limit> {
    let concurrent = Window::Concurrent {
        lease_ttl: 600 * NANOS_PER_SEC,
    };
    vec![
        Limit::new(Scope::Key, Unit::Requests, SLOW, 40, bucket),
        Limit::new(Scope::Account, Unit::Tokens, SLOW, 997, bucket),
        Limit::new(Scope::Key, Unit::Images, Window::DAY, 60, bucket),
        Limit::new(
            Scope::Account,
            Unit::ComputeUnits,
            Window::MONTH,
            500,
            bucket,
        ),
        Limit::new(Scope::Global, Unit::Requests, SLOW, 900, bucket),
        Limit::new(Scope::Key, Unit::ConcurrentJobs, concurrent, 3, bucket),
        Limit::new(Scope::Key, Unit::OutputTokens, SLOW, 100, bucket).shadowed(true),
    ]
}

/// Remaining units only: resets differ by the few microseconds between the two stores'
/// clock readings.
fn remaining(dimensions: &[DimensionStatus]) -> Vec<u64> {
    dimensions.iter().map(|d| d.remaining).collect()
}

async fn run(seed: u64, redis: &RedisStore) {
    let memory = MemoryStore::new(Arc::new(SystemClock));
    let mut rng = Rng(seed);
    let bucket = format!("diff-{seed}-{}", std::process::id());
    let limits = limits(&bucket);
    let accounts = ["acct-a", "acct-b"];
    let keys = ["key-1", "key-2", "key-3"];
    let rule = AbuseRule {
        max_failures: 1_000,
        window: NANOS_PER_SEC,
        block: NANOS_PER_SEC,
    };
    let (mut admitted, mut refused, mut shadowed) = (0, 0, 0);
    for step in 0..150 {
        let key = keys[rng.below(3) as usize];
        let key_id = format!("{bucket}-{key}");
        let account_id = format!("{bucket}-{}", accounts[usize::from(key == "key-3")]);
        let subjects = Subjects {
            key: &key_id,
            account: &account_id,
        };
        let what = format!("seed {seed} step {step}");
        if rng.below(4) == 0 {
            let adjustments: Vec<Adjustment<'_>> = limits
                .iter()
                .map(|limit| Adjustment {
                    limit,
                    delta: rng.below(121) as i64 - 60,
                })
                .collect();
            let request = SettleRequest {
                subjects,
                adjustments: &adjustments,
                reserved_at: memory.now(),
            };
            redis.settle(&request).await.unwrap();
            memory.settle(&request).await.unwrap();
        } else if rng.below(5) == 0 {
            let lease = LeaseId(rng.below(6));
            let a = redis
                .release_lease(&subjects, &limits, lease)
                .await
                .unwrap();
            let b = memory
                .release_lease(&subjects, &limits, lease)
                .await
                .unwrap();
            assert_eq!(a, b, "{what}: release");
        } else {
            let costs = Costs::one_request()
                .with(Unit::Tokens, rng.below(150))
                .with(Unit::Images, rng.below(5))
                .with(Unit::ComputeUnits, rng.below(40))
                .with(Unit::OutputTokens, rng.below(60))
                .with(Unit::ConcurrentJobs, rng.below(2));
            let request = DecideRequest {
                subjects,
                limits: &limits,
                costs: &costs,
                lease: LeaseId(rng.below(6)),
                abuse: Some(&rule),
            };
            let a = redis.decide(&request).await.unwrap();
            let b = memory.decide(&request).await.unwrap();
            assert_eq!(
                a.denial.map(|d| d.reason),
                b.denial.map(|d| d.reason),
                "{what}: decision"
            );
            assert_eq!(a.shadow_denials, b.shadow_denials, "{what}: shadow");
            if a.allowed() {
                admitted += 1;
            } else {
                refused += 1;
            }
            shadowed += usize::from(!a.shadow_denials.is_empty());
            assert_eq!(remaining(&a.dimensions), remaining(&b.dimensions), "{what}");
        }
        let a = redis.inspect(&subjects, &limits).await.unwrap();
        let b = memory.inspect(&subjects, &limits).await.unwrap();
        assert_eq!(
            remaining(&a.dimensions),
            remaining(&b.dimensions),
            "{what}: inspect"
        );
    }
    // The sequence must reach the limits, or it compares nothing interesting.
    assert!(
        admitted > 10 && refused > 10 && shadowed > 0,
        "seed {seed}: {admitted} admitted, {refused} refused, {shadowed} shadow denials"
    );
}

#[tokio::test]
async fn redis_and_memory_agree_on_random_sequences() {
    let server = RedisServer::start();
    let redis = RedisStore::connect(&RedisConfig::single(server.url()))
        .await
        .unwrap();
    for seed in [1, 7, 42, 1_234_567] {
        run(seed, &redis).await;
    }
}

#[tokio::test]
async fn redis_cluster_and_memory_agree_on_random_sequences() {
    // On a cluster, global limits are reserved in their own slot and refunded when the
    // account refuses: sequentially, that must be indistinguishable from one decision.
    let cluster = support::RedisCluster::start();
    let redis = RedisStore::connect(&RedisConfig::cluster(cluster.urls()))
        .await
        .unwrap();
    for seed in [3, 99, 2_024] {
        run(seed, &redis).await;
    }
}
