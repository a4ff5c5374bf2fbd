//! Decisions per second through the Redis store, against the ceiling of the same server.
//!
//! Starts its own redis-server on a free loopback port (or, given `--port`, uses the one
//! listening there, which is how `bench/redis.sh` runs it with each process on its own
//! core), then measures:
//! 1. `redis-benchmark` running a one-line `EVALSHA` script with 64 clients, unpipelined
//!    (`-P 1`) and pipelined (`-P 16`): what the server does at best per script call;
//! 2. [`RedisStore::decide`] with 64 concurrent callers (or `--callers N`) on one store
//!    (one multiplexed connection), a three-dimension decision (RPM per key, TPM per
//!    account, requests per day per key), all admitted, with the callers' latency. Each
//!    caller has its own key, or with `--keys N` the callers share N keys (caller `i`
//!    uses key `i % N`; `--keys 1` is one customer's workers all on one key); key `k`
//!    belongs to account `k % 8`;
//! 3. Redis commands per decision from `INFO commandstats` (`EVALSHA` calls per decision:
//!    below 1 when concurrent decisions share a batched call), the server's time per
//!    decision, and this driver's own CPU per decision.
//!
//! ```sh
//! cargo run --release -p floodgate-redis --example throughput [seconds] [--port PORT] [--callers N] [--keys N]
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

/// The `floodgate` binary's allocator, so the driver's CPU per decision is a gateway's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Concurrent callers unless `--callers N` says otherwise.
const CALLERS: u64 = 64;

/// The server measured: one this example started, or one already listening.
enum Target {
    Own(RedisServer),
    Running(u16),
}

impl Target {
    fn port(&self) -> u16 {
        match self {
            Target::Own(server) => server.port(),
            Target::Running(port) => *port,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port())
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p"])
            .arg(self.port().to_string())
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Every command the server has run since its statistics were reset, from
/// `INFO commandstats`: name, calls and server microseconds per call. Commands a script
/// runs (`time`, `hmget`, `hset`, ...) are listed too, inside their `evalsha`.
fn command_stats(server: &Target) -> Vec<(String, u64, f64)> {
    let info = server.cli(&["info", "commandstats"]);
    info.lines()
        .filter_map(|l| l.strip_prefix("cmdstat_"))
        .filter_map(|l| {
            let (name, fields) = l.split_once(':')?;
            let field = |key: &str| {
                fields
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(key))
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            Some((
                name.to_owned(),
                field("calls=") as u64,
                field("usec_per_call="),
            ))
        })
        .filter(|(name, _, _)| !name.starts_with("config") && !name.starts_with("info"))
        .collect()
}

/// This process's CPU time so far (user + system), in microseconds, from
/// `/proc/self/stat` (clock ticks of 10 ms, Linux's `USER_HZ`).
fn own_cpu_us() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at the state.
    let rest = stat.rsplit_once(") ")?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) * 10_000.0)
}

/// Requests per second `redis-benchmark` reports for a one-line script.
fn redis_benchmark(server: &Target, sha: &str, pipeline: u32) -> f64 {
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .map(|p| p.parse::<u16>().expect("--port takes a port number"));
    let callers: u64 = args
        .iter()
        .position(|a| a == "--callers")
        .and_then(|i| args.get(i + 1))
        .map_or(CALLERS, |n| n.parse().expect("--callers takes a number"));
    let keys: u64 = args
        .iter()
        .position(|a| a == "--keys")
        .and_then(|i| args.get(i + 1))
        .map_or(callers, |n| n.parse().expect("--keys takes a number"))
        .max(1);
    let seconds: u64 = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let server = port.map_or_else(|| Target::Own(RedisServer::start()), Target::Running);
    // Against a server someone else started, `bench/redis.sh` runs redis-benchmark itself
    // (pinned to its own core) and this measures the store only.
    let ceiling = matches!(server, Target::Own(_)).then(|| {
        let sha = server
            .cli(&["script", "load", "return 1"])
            .trim()
            .to_owned();
        (
            redis_benchmark(&server, &sha, 1),
            redis_benchmark(&server, &sha, 16),
        )
    });

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
    let cpu_before = own_cpu_us();
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let (store, limits, decided) = (store.clone(), limits.clone(), decided.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("bench-key-{}", caller % keys);
            let account = format!("bench-account-{}", caller % keys % 8);
            let costs = Costs::one_request().with(Unit::Tokens, 100);
            // Each decision's latency, in microseconds.
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let asked = Instant::now();
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
                latencies.push(u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX));
                decided.fetch_add(1, Ordering::Relaxed);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("caller finished"));
    }
    latencies.sort_unstable();
    let percentile = |p: usize| latencies.get(latencies.len() * p / 100).copied();
    let elapsed = started.elapsed().as_secs_f64();
    let client_cpu = own_cpu_us()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let decisions = decided.load(Ordering::Relaxed);
    let per_second = decisions as f64 / elapsed;
    let stats = command_stats(&server);
    let (evalsha, server_usec) = stats
        .iter()
        .find(|(name, _, _)| name == "evalsha")
        .map_or((0, 0.0), |(_, calls, usec)| (*calls, *usec));
    let commands = evalsha as f64 / decisions as f64;

    println!(
        "RedisStore::decide, 3 dimensions, {callers} callers on {keys} keys, one store: {per_second:>10.0} /s"
    );
    if let (Some(p50), Some(p99)) = (percentile(50), percentile(99)) {
        println!("decision latency at the caller: p50 {p50} us, p99 {p99} us");
    }
    if let Some((unpipelined, pipelined)) = ceiling {
        println!(
            "redis-benchmark EVALSHA 'return 1', 64 clients, unpipelined: {unpipelined:>10.0} /s"
        );
        println!(
            "redis-benchmark EVALSHA 'return 1', 64 clients, -P 16:       {pipelined:>10.0} /s"
        );
        println!(
            "ratio to unpipelined EVALSHA: {:.2}",
            per_second / unpipelined
        );
        println!(
            "ratio to pipelined EVALSHA:   {:.2}",
            per_second / pipelined
        );
    }
    // Concurrent decisions share script calls (`batch.rs`): one call runs several.
    let per_call = decisions as f64 / evalsha.max(1) as f64;
    println!(
        "EVALSHA per decision: {commands:.3} ({decisions} decisions in {elapsed:.1} s, \
         {per_call:.1} decisions per script call)"
    );
    println!(
        "server time per decision (EVALSHA usec_per_call / decisions per call): {:.1} us \
         ({server_usec:.1} us per call)",
        server_usec / per_call
    );
    if let Some(cpu) = client_cpu {
        println!(
            "this driver's CPU per decision (client, callers included): {:.1} us",
            cpu / decisions as f64
        );
    }
    println!("every command the server ran, per decision (script commands inside EVALSHA):");
    for (name, calls, usec) in &stats {
        println!(
            "  {name:<10} {:>7.3} per decision, {usec:>6.2} us each",
            *calls as f64 / decisions as f64
        );
    }
}
