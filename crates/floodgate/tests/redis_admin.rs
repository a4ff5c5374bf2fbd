//! Admin changes on two `floodgate serve` processes sharing one Redis (and a Redis
//! Cluster): a key created on instance A works on instance B at once, a tier change made
//! on A lifts the limit on B's very next request, and a key revoked on A gets 401 on B.
//! `floodgate keys` drives instance A's admin API.

#[path = "../../floodgate-redis/tests/support/mod.rs"]
mod redis;

mod gateways;

use gateways::{gateway, get_as, mock_upstream, post, scratch, Process};
use redis::{free_port, RedisCluster, RedisServer};
use std::path::{Path, PathBuf};
use std::process::Command;

const TOKEN: &str = "redis-admin-token";

fn write_config(dir: &Path, store: &str, mock: &Process) -> PathBuf {
    let text = format!(
        r#"
[server]
upstream = "http://{mock}"

[store]
kind = "redis"
{store}
timeout = "3s"

[admin]
token_sha256 = "{hash}"

[models]
txt2img = {{ kind = "image" }}

[tiers.basic]
limits = [{{ unit = "requests", window = "minute", max = 3, failure = "fail_closed" }}]

[tiers.premium]
limits = [{{ unit = "requests", window = "minute", max = 300, failure = "fail_closed" }}]

[[routes]]
method = "POST"
path = "/api/v1/txt2img"
model = "txt2img"
"#,
        mock = mock.addr,
        hash = floodgate_config::KeyHash::of(TOKEN).to_hex()
    );
    let path = dir.join("floodgate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `floodgate keys <args>` against `addr`; its stdout as JSON.
fn keys(addr: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .arg("keys")
        .args(["--url", &format!("http://{addr}"), "--token", TOKEN])
        .args(args)
        .output()
        .expect("floodgate keys runs");
    assert!(
        out.status.success(),
        "keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

async fn txt2img(instance: &Process, key: &str) -> u16 {
    post(&instance.addr, "/api/v1/txt2img", key, "{}")
        .await
        .expect("gateway answers")
        .status
}

async fn changes_on_a_are_seen_by_b_at_once(store: &str, name: &str) {
    let dir = scratch(name);
    let mock = mock_upstream(&dir, free_port()).await;
    let config = write_config(&dir, store, &mock);
    let a = gateway(&dir, &config, free_port()).await;
    let b = gateway(&dir, &config, free_port()).await;

    // Created on A (through the API, as a client would): works on B at once.
    let created = post(
        &a.addr,
        "/admin/v1/keys",
        TOKEN,
        r#"{"account": "shop", "tier": "basic"}"#,
    )
    .await
    .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.json()["key"].as_str().unwrap().to_owned();
    let id = created.json()["id"].as_str().unwrap().to_owned();
    // B's self-service endpoint knows it before B has proxied anything for it.
    let limits = get_as(&b.addr, "/api/v1/api_keys/rate_limits", &key)
        .await
        .unwrap();
    assert_eq!(limits.status, 200, "{}", limits.body);
    assert_eq!(limits.json()["data"]["key"]["tier"], "basic");
    assert_eq!(txt2img(&b, &key).await, 200, "B knows A's new key");
    assert_eq!(txt2img(&a, &key).await, 200);
    assert_eq!(txt2img(&b, &key).await, 200);
    assert_eq!(
        txt2img(&b, &key).await,
        429,
        "basic: 3 a minute across both"
    );

    // Moved to premium on A: B's very next request is admitted.
    let moved = keys(&a.addr, &["tier", "shop", "premium"]);
    assert_eq!(moved["previous"], "basic");
    assert_eq!(
        txt2img(&b, &key).await,
        200,
        "B sees the tier change at once"
    );
    assert_eq!(txt2img(&a, &key).await, 200);
    // And back: B's next request is under basic again, whose 3 of this minute are gone.
    keys(&a.addr, &["tier", "shop", "basic"]);
    assert_eq!(txt2img(&b, &key).await, 429, "B sees the downgrade at once");
    assert_eq!(keys(&b.addr, &["list", "shop"])["tier"], "basic");

    // Revoked on A: 401 on B's next request.
    keys(&a.addr, &["revoke", &id]);
    assert_eq!(txt2img(&b, &key).await, 401, "B refuses the revoked key");
    assert_eq!(txt2img(&a, &key).await, 401);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_redis_see_each_others_admin_changes_at_once() {
    let server = RedisServer::start();
    changes_on_a_are_seen_by_b_at_once(&format!("url = \"{}\"", server.url()), "admin-single")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_a_redis_cluster_see_each_others_admin_changes_at_once() {
    let cluster = RedisCluster::start();
    let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    changes_on_a_are_seen_by_b_at_once(
        &format!("cluster = [{}]", nodes.join(", ")),
        "admin-cluster",
    )
    .await;
}
