//! Four `floodgate serve` processes sharing one Redis, and again a 3-primary Redis
//! Cluster, receive a burst of concurrent requests for one key spread over all four:
//! exactly the limit is admitted across them, for requests per minute, a daily quota and
//! tokens per minute.

#[path = "../../floodgate-redis/tests/support/mod.rs"]
mod redis;

mod gateways;

use gateways::{gateway, mock_upstream, post, scratch, Process};
use redis::{free_port, RedisCluster, RedisServer};
use std::path::Path;
use std::time::{Duration, Instant};

const KEY: &str = "sk-exactness";
const INSTANCES: usize = 4;
/// Requests fired at once in each burst, spread round-robin over the instances.
const BURST: usize = 400;
const RPM: usize = 12;
const DAILY: usize = 15;
/// Requests' worth of tokens the TPM limit holds.
const TPM_REQUESTS: usize = 11;
/// `max_tokens` of a TPM request; the mock's completion is exactly this long (below its
/// cap of 64), so the settlement matches the reservation and changes nothing.
const MAX_TOKENS: usize = 40;

/// The body of a request to `model`.
fn body(model: &str) -> String {
    format!(r#"{{"model":"{model}","max_tokens":{MAX_TOKENS}}}"#)
}

/// Tokens one TPM request reserves: the gateway's prompt estimate (a token per four
/// bytes of body) plus `max_tokens`; the mock counts the prompt of a body without
/// messages the same way.
fn tokens_per_request() -> usize {
    body("tpm-model").len().div_ceil(4) + MAX_TOKENS
}

/// The shared config; `store` is the `url = ...` or `cluster = [...]` line. Every limit
/// fails closed, so a slow Redis could only refuse (and fail the test), never admit
/// locally; the generous timeout keeps a loaded machine from tripping it.
fn write_config(dir: &Path, store: &str, mock: &Process) -> std::path::PathBuf {
    let text = format!(
        r#"
[server]
upstream = "http://{mock}"

[store]
kind = "redis"
{store}
timeout = "3s"

[models]
rpm-model = {{ kind = "text" }}
daily-model = {{ kind = "text" }}
tpm-model = {{ kind = "text" }}
warm-model = {{ kind = "text" }}

[tiers.standard]
models.rpm-model.limits = [{{ unit = "requests", window = "minute", max = {RPM}, failure = "fail_closed" }}]
models.daily-model.limits = [{{ unit = "requests", window = "day", max = {DAILY}, failure = "fail_closed" }}]
models.tpm-model.limits = [
  {{ unit = "requests", window = "minute", max = 1000, failure = "fail_closed" }},
  {{ unit = "tokens", window = "minute", max = {tpm}, failure = "fail_closed" }},
]

models.warm-model.limits = [{{ unit = "requests", window = "minute", max = 1000, failure = "fail_closed" }}]

[accounts.exact]
tier = "standard"

[[keys]]
name = "exactness key"
sha256 = "{hash}"
account = "exact"

[[routes]]
method = "POST"
path = "/v1/chat/completions"
model_field = "model"
"#,
        mock = mock.addr,
        tpm = TPM_REQUESTS * tokens_per_request(),
        hash = floodgate_config::KeyHash::of(KEY).to_hex(),
    );
    let path = dir.join("floodgate.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

/// Fires `BURST` concurrent requests to `model`, round-robin over `instances`; returns
/// how many each instance admitted, checking every other answer is a 429.
async fn burst(instances: &[Process], model: &str) -> Vec<usize> {
    let body = body(model);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..BURST {
        let (addr, body, at) = (
            instances[i % instances.len()].addr.clone(),
            body.clone(),
            i % instances.len(),
        );
        tasks.spawn(async move { (at, post(&addr, "/v1/chat/completions", KEY, &body).await) });
    }
    let mut admitted = vec![0; instances.len()];
    while let Some(joined) = tasks.join_next().await {
        let (at, reply) = joined.expect("request task");
        let reply = reply.expect("the gateway answers");
        match reply.status {
            200 => admitted[at] += 1,
            429 => {}
            other => panic!("{model}: unexpected {other}: {}", reply.body),
        }
    }
    // A rolling limit refills one request's worth every minute / max: the burst must end
    // before that, or one more admission would be correct.
    let refill = Duration::from_secs(60) / u32::try_from(RPM.max(TPM_REQUESTS)).unwrap();
    let took = started.elapsed();
    assert!(
        took < refill,
        "the burst took {took:?}, longer than a refill ({refill:?}); the machine is too \
         loaded for this test to tell"
    );
    eprintln!("{model}: {BURST} requests answered in {took:?}");
    admitted
}

/// Starts the mock and four gateways on `store`, and checks all three limits.
async fn four_instances_admit_exactly_the_limit(store: &str, name: &str) {
    let dir = scratch(name);
    let mock = mock_upstream(&dir, free_port()).await;
    let config = write_config(&dir, store, &mock);
    let mut instances = Vec::new();
    for _ in 0..INSTANCES {
        instances.push(gateway(&dir, &config, free_port()).await);
    }
    // Each instance connects to Redis on its first decision; one request each gets that
    // done before the bursts, so no instance starts late.
    for instance in &instances {
        let reply = post(
            &instance.addr,
            "/v1/chat/completions",
            KEY,
            &body("warm-model"),
        )
        .await
        .expect("answers");
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    // Every instance receives more requests than any limit: counting alone, each would
    // admit the whole limit, and the total would be four times too high.
    const { assert!(BURST / INSTANCES > RPM && BURST / INSTANCES > DAILY) };
    for (model, limit) in [
        ("rpm-model", RPM),
        ("daily-model", DAILY),
        ("tpm-model", TPM_REQUESTS),
    ] {
        let admitted = burst(&instances, model).await;
        eprintln!("{name} {model}: admitted per instance {admitted:?} (limit {limit})");
        assert_eq!(
            admitted.iter().sum::<usize>(),
            limit,
            "{model}: admitted per instance {admitted:?}, limit {limit}"
        );
    }
    // Nothing leaked past the limits afterwards either: one more request to each is refused.
    for (i, instance) in instances.iter().enumerate() {
        for model in ["rpm-model", "daily-model", "tpm-model"] {
            let reply = post(&instance.addr, "/v1/chat/completions", KEY, &body(model))
                .await
                .expect("answers");
            assert_eq!(reply.status, 429, "instance {i}, {model}: {}", reply.body);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_gateways_on_one_redis_admit_exactly_the_limit() {
    let server = RedisServer::start();
    four_instances_admit_exactly_the_limit(&format!("url = \"{}\"", server.url()), "exact-single")
        .await;
    assert!(
        server.cli(&["dbsize"]).trim().parse::<u64>().unwrap() > 0,
        "the counters are on Redis"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_gateways_on_a_redis_cluster_admit_exactly_the_limit() {
    let cluster = RedisCluster::start();
    let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    four_instances_admit_exactly_the_limit(
        &format!("cluster = [{}]", nodes.join(", ")),
        "exact-cluster",
    )
    .await;
}
