//! Redis killed under load behind four `floodgate serve` processes, then restarted on
//! the same port: fail-open requests are all answered (local fallback), fail-closed ones
//! all get a 503, none waits longer than the store timeout, `/healthz` says degraded
//! then healthy, and afterwards decisions are shared on Redis again.

#[path = "../../floodgate-redis/tests/support/mod.rs"]
mod redis;

mod gateways;

use gateways::{gateway, get, mock_upstream, post, scratch, Process};
use redis::{free_port, RedisServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "sk-faults";
const INSTANCES: usize = 4;
/// The store timeout in the config.
const TIMEOUT: Duration = Duration::from_millis(300);
/// What a request may take beyond the timeout: the gateway's own work and the upstream,
/// in debug builds on a machine shared with Redis and four gateways.
const SLACK: Duration = Duration::from_millis(400);
/// Concurrent callers of the load.
const CALLERS: usize = 8;

fn config(mock: &Process, redis: &RedisServer) -> String {
    format!(
        r#"
[server]
upstream = "http://{mock}"

[store]
kind = "redis"
url = "{url}"
timeout = "300ms"
probe_interval = "200ms"

[models]
open-model = {{ kind = "text" }}
closed-model = {{ kind = "text" }}
shared-model = {{ kind = "text" }}

[tiers.standard]
models.open-model.limits = [{{ unit = "requests", window = "minute", max = 100000, failure = "fail_open" }}]
models.closed-model.limits = [{{ unit = "requests", window = "minute", max = 100000, failure = "fail_closed" }}]
models.shared-model.limits = [{{ unit = "requests", window = "hour", max = 3, failure = "fail_closed" }}]

[accounts.faults]
tier = "standard"

[[keys]]
name = "faults key"
sha256 = "{hash}"
account = "faults"

[[routes]]
method = "POST"
path = "/v1/chat/completions"
model_field = "model"
"#,
        mock = mock.addr,
        url = redis.url(),
        hash = floodgate_config::KeyHash::of(KEY).to_hex(),
    )
}

fn body(model: &str) -> String {
    format!(r#"{{"model":"{model}","max_tokens":4}}"#)
}

/// One request of the load: when it was sent and answered, to which model, and the status
/// (0 when the connection failed).
#[derive(Debug, Clone)]
struct Sent {
    start: Instant,
    end: Instant,
    model: &'static str,
    status: u16,
    body: String,
}

/// Requests from `CALLERS` tasks, alternating models and instances, until `stop`.
fn load(
    instances: &[Process],
    stop: &Arc<AtomicBool>,
) -> (tokio::task::JoinSet<()>, Arc<Mutex<Vec<Sent>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for caller in 0..CALLERS {
        let addrs: Vec<String> = instances.iter().map(|p| p.addr.clone()).collect();
        let (stop, sent) = (Arc::clone(stop), Arc::clone(&sent));
        tasks.spawn(async move {
            let mut n = caller;
            while !stop.load(Ordering::Relaxed) {
                let model = if n % 2 == 0 {
                    "open-model"
                } else {
                    "closed-model"
                };
                let start = Instant::now();
                let reply = post(
                    &addrs[n % addrs.len()],
                    "/v1/chat/completions",
                    KEY,
                    &body(model),
                )
                .await;
                let (status, body) = reply.map_or((0, String::new()), |r| (r.status, r.body));
                let end = Instant::now();
                sent.lock().unwrap().push(Sent {
                    start,
                    end,
                    model,
                    status,
                    body,
                });
                n += 1;
            }
        });
    }
    (tasks, sent)
}

/// `/healthz` of every instance, until each reports `state` (within `within`).
async fn until_every_instance_is(
    instances: &[Process],
    state: &str,
    within: Duration,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    loop {
        let mut bodies = Vec::new();
        for instance in instances {
            let reply = get(&instance.addr, "/healthz")
                .await
                .expect("/healthz answers");
            assert_eq!(
                reply.status, 200,
                "/healthz is 200 while serving: {}",
                reply.body
            );
            bodies.push(reply.json());
        }
        if bodies.iter().all(|b| b["store"]["state"] == state) {
            return bodies;
        }
        assert!(Instant::now() < deadline, "not all {state}: {bodies:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dying_under_load_is_answered_per_policy_and_counting_resumes_on_it() {
    let dir = scratch("faults");
    let mut server = RedisServer::start();
    let mock = mock_upstream(&dir, free_port()).await;
    let path = dir.join("floodgate.toml");
    std::fs::write(&path, config(&mock, &server)).unwrap();
    let mut instances = Vec::new();
    for _ in 0..INSTANCES {
        instances.push(gateway(&dir, &path, free_port()).await);
    }
    let healthy = until_every_instance_is(&instances, "healthy", Duration::from_secs(5)).await;
    assert_eq!(
        healthy[0],
        serde_json::json!({"status": "ok", "store": {"kind": "redis", "state": "healthy"}})
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (mut tasks, sent) = load(&instances, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;

    server.stop();
    let killed = Instant::now();
    let degraded = until_every_instance_is(&instances, "degraded", Duration::from_secs(5)).await;
    for body in &degraded {
        assert_eq!(body["status"], "degraded");
        assert!(body["store"]["since_unix_ms"].as_u64().is_some(), "{body}");
        assert!(
            !body["store"]["error"].as_str().unwrap_or("").is_empty(),
            "{body}"
        );
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restarting = Instant::now();
    server.restart();
    until_every_instance_is(&instances, "healthy", Duration::from_secs(10)).await;
    let recovered = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(joined) = tasks.join_next().await {
        joined.expect("load task");
    }

    let sent = sent.lock().unwrap().clone();
    let during: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.start > killed && s.end < restarting)
        .collect();
    let open: Vec<&&Sent> = during.iter().filter(|s| s.model == "open-model").collect();
    let closed: Vec<&&Sent> = during
        .iter()
        .filter(|s| s.model == "closed-model")
        .collect();
    eprintln!(
        "{} requests in all, {} during the outage ({} fail_open, {} fail_closed); slowest {:?}",
        sent.len(),
        during.len(),
        open.len(),
        closed.len(),
        sent.iter()
            .map(|s| s.end - s.start)
            .max()
            .unwrap_or_default()
    );
    assert!(
        open.len() >= 10 && closed.len() >= 10,
        "too little load during the outage"
    );
    for s in &open {
        assert_eq!(
            s.status, 200,
            "fail_open is answered by the local fallback: {}",
            s.body
        );
    }
    for s in &closed {
        assert_eq!(s.status, 503, "fail_closed refuses: {}", s.body);
        assert!(
            s.body.contains("store_unavailable") && s.body.contains("fail_closed policy"),
            "{}",
            s.body
        );
    }
    for s in &sent {
        assert!(
            matches!(s.status, 200 | 503),
            "every request is answered: {s:?}"
        );
        assert!(
            s.end - s.start <= TIMEOUT + SLACK,
            "a request waited {:?}",
            s.end - s.start
        );
    }
    let after: Vec<&Sent> = sent.iter().filter(|s| s.start > recovered).collect();
    assert!(!after.is_empty(), "no load after recovery");
    for s in &after {
        assert_eq!(
            s.status, 200,
            "back on Redis, fail_closed admits again: {}",
            s.body
        );
    }

    // Counting is shared on Redis again: a limit of 3 an hour, over four instances,
    // admits exactly 3, and the restarted (empty) server holds the counters.
    let mut admitted = 0;
    for i in 0..12 {
        let reply = post(
            &instances[i % INSTANCES].addr,
            "/v1/chat/completions",
            KEY,
            &body("shared-model"),
        )
        .await
        .expect("answers");
        assert!(matches!(reply.status, 200 | 429), "{}", reply.body);
        admitted += usize::from(reply.status == 200);
    }
    assert_eq!(admitted, 3, "decisions are shared again");
    let keys = server.cli(&["--scan", "--pattern", "fg:*"]);
    assert!(
        keys.contains("fg:{faults}"),
        "the counters are on the restarted Redis: {keys:?}"
    );
}
