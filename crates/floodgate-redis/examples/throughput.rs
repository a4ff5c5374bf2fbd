//! Decisions per second through the Redis store, against the ceiling of the same server.
//!
//! Starts its own redis-server on a free loopback port, then measures:
//! 1. `redis-benchmark` running a one-line `EVALSHA` script with 64 clients, unpipelined
//!    (`-P 1`) and pipelined (`-P 16`): what the server does at best per script call;
//! 2. [`RedisStore::decide`] with 64 concurrent callers on one store (one multiplexed
//!    connection), a three-dimension decision (RPM per key, TPM per account, requests
//!    per day per key), all admitted;
//! 3. Redis commands per decision from `INFO commandstats` (`EVALSHA` calls per decision),
//!    and the server's time per decision script.
//!
//! ```sh
//! cargo run --release -p floodgate-redis --example throughput [seconds]
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use floodgate_core::{Costs, LeaseId, Limit, Scope, Unit, Window};
use floodgate_redis::{RedisConfig, RedisStore};
use floodgate_store::{DecideRequest, Store, Subjects};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::RedisServer;

const CALLERS: u64 = 64;

/// `EVALSHA` calls the server has run since its statistics were reset, and the
/// microseconds each took on the server, from `INFO commandstats`.
fn evalsha_stats(server: &RedisServer) -> (u64, f64) {
    let info = server.cli(&["info", "commandstats"]);
    let Some(line) = info
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:"))
    else {
        return (0, 0.0);
    };
    let field = |name: &str| {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field("calls=") as u64, field("usec_per_call="))
}

/// Requests per second `redis-benchmark` reports for a one-line script.
fn redis_benchmark(server: &RedisServer, sha: &str, pipeline: u32) -> f64 {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p"])
        .arg(server.port().to_string())
        .args(["-c", "64", "-n", "200000", "-q", "-P"])
        .arg(pipeline.to_string())
        .args(["evalsha", sha, "0"])
        .output()
        .expect("redis-benchmark runs (Debian package redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .zip(text.split_whitespace().skip(1))
        .find(|(_, unit)| *unit == "requests")
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected redis-benchmark output: {text}"))
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let server = RedisServer::start();
    let sha = server
        .cli(&["script", "load", "return 1"])
        .trim()
        .to_owned();
    let unpipelined = redis_benchmark(&server, &sha, 1);
    let pipelined = redis_benchmark(&server, &sha, 16);

    let store = Arc::new(
        RedisStore::connect(
            &RedisConfig::single(server.url()).with_timeout(Duration::from_secs(2)),
        )
        .await
        .expect("redis answers"),
    );
    let limits = Arc::new(vec![
        Limit::new(
            Scope::Key,
            Unit::Requests,
            Window::MINUTE,
            1_000_000_000,
            "bench",
        ),
        Limit::new(
            Scope::Account,
            Unit::Tokens,
            Window::MINUTE,
            1_000_000_000_000,
            "bench",
        ),
        Limit::new(
            Scope::Key,
            Unit::Requests,
            Window::DAY,
            1_000_000_000_000,
            "bench",
        ),
    ]);
    let decided = Arc::new(AtomicU64::new(0));
    server.cli(&["config", "resetstat"]);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..CALLERS {
        let (store, limits, decided) = (store.clone(), limits.clone(), decided.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("bench-key-{caller}");
            let account = format!("bench-account-{}", caller % 8);
            let costs = Costs::one_request().with(Unit::Tokens, 100);
            while Instant::now() < deadline {
                let request = DecideRequest {
                    subjects: Subjects {
                        key: &key,
                        account: &account,
                    },
                    limits: &limits,
                    costs: &costs,
                    lease: LeaseId(caller),
                    abuse: None,
                };
                let decision = store.decide(&request).await.expect("redis answers");
                assert!(decision.allowed());
                decided.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.expect("caller finished");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let decisions = decided.load(Ordering::Relaxed);
    let per_second = decisions as f64 / elapsed;
    let (evalsha, server_usec) = evalsha_stats(&server);
    let commands = evalsha as f64 / decisions as f64;

    println!("redis-benchmark EVALSHA 'return 1', 64 clients, unpipelined: {unpipelined:>10.0} /s");
    println!("redis-benchmark EVALSHA 'return 1', 64 clients, -P 16:       {pipelined:>10.0} /s");
    println!(
        "RedisStore::decide, 3 dimensions, {CALLERS} callers, one store: {per_second:>10.0} /s"
    );
    println!(
        "ratio to unpipelined EVALSHA: {:.2}",
        per_second / unpipelined
    );
    println!(
        "ratio to pipelined EVALSHA:   {:.2}",
        per_second / pipelined
    );
    println!("EVALSHA per decision: {commands:.3} ({decisions} decisions in {elapsed:.1} s)");
    println!("server time per decision (EVALSHA usec_per_call): {server_usec:.1} us");
}
