//! What the admin guard costs a decision: [`RedisStore::decide`] against
//! [`RedisStore::decide_at`] (the same decision, with the account's admin-records
//! generation checked by the script), alternating rounds on one redis-server it starts,
//! 64 concurrent callers on one store, a three-dimension decision as in `throughput`.
//!
//! ```sh
//! cargo run --release -p floodgate-redis --example guard [seconds-per-round] [rounds]
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use floodgate_core::{Costs, LeaseId, Limit, Scope, Unit, Window};
use floodgate_redis::{RedisConfig, RedisStore};
use floodgate_store::{DecideRequest, Store, Subjects};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::RedisServer;

const CALLERS: u64 = 64;

/// Decisions per second for `seconds`, guarded or not.
async fn round(
    store: &Arc<RedisStore>,
    limits: &Arc<Vec<Limit>>,
    seconds: f64,
    guarded: bool,
) -> f64 {
    let decided = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let (store, limits, decided) =
            (Arc::clone(store), Arc::clone(limits), Arc::clone(&decided));
        tasks.push(tokio::spawn(async move {
            let key = format!("key-{caller}");
            let costs = Costs::one_request();
            while Instant::now() < until {
                let request = DecideRequest {
                    subjects: Subjects {
                        key: &key,
                        account: "acct",
                    },
                    limits: &limits,
                    costs: &costs,
                    lease: LeaseId(caller),
                    abuse: None,
                };
                let decision = if guarded {
                    store.decide_at(&request, 0).await
                } else {
                    store.decide(&request).await
                };
                assert!(decision.expect("redis answers").allowed());
                decided.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("caller");
    }
    decided.load(Ordering::Relaxed) as f64 / seconds
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    let server = RedisServer::start();
    let store = Arc::new(
        RedisStore::connect(
            &RedisConfig::single(server.url()).with_timeout(Duration::from_secs(5)),
        )
        .await
        .expect("redis"),
    );
    let limits = Arc::new(vec![
        Limit::new(
            Scope::Key,
            Unit::Requests,
            Window::MINUTE,
            1_000_000_000,
            "m",
        ),
        Limit::new(
            Scope::Account,
            Unit::Tokens,
            Window::MINUTE,
            1_000_000_000,
            "m",
        ),
        Limit::new(Scope::Key, Unit::Requests, Window::DAY, 1_000_000_000, "m"),
    ]);
    round(&store, &limits, 1.0, false).await;
    let (mut plain, mut guarded) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        plain.push(round(&store, &limits, seconds, false).await);
        guarded.push(round(&store, &limits, seconds, true).await);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("decide    /s: {}  (mean {:.0})", fmt(&plain), mean(&plain));
    println!(
        "decide_at /s: {}  (mean {:.0})",
        fmt(&guarded),
        mean(&guarded)
    );
    println!("guarded / plain: {:.3}", mean(&guarded) / mean(&plain));
}
