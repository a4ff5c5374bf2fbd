//! The embedded store across restarts of real `floodgate serve` processes: a graceful stop
//! (SIGTERM) loses nothing, a `kill -9` under load loses at most the last second of
//! counter updates and no acknowledged admin change; `floodgate keys` drives the admin
//! API of the running process.

mod gateways;

use gateways::{get, post, scratch};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "persistence-admin-token";
/// The daily quota of the graceful test (the kill test uses a larger one).
const DAILY: u64 = 40;
const DAILY_UNDER_LOAD: u64 = 400;

/// `floodgate serve` as a child this test can signal.
struct Serve {
    child: Child,
    addr: String,
}

impl Serve {
    async fn start(config: &Path, port: u16, log: &Path) -> Self {
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_floodgate"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", &addr, "--threads", "2"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("floodgate runs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !get(&addr, "/healthz").await.is_ok_and(|r| r.status == 200) {
            assert!(
                Instant::now() < deadline,
                "no answer; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, addr }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill9(mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A mock model API in this process.
async fn mock() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(floodgate_mock::serve(
        listener,
        floodgate_mock::MockOptions::default(),
        std::future::pending::<()>(),
    ));
    format!("http://{addr}")
}

/// A config with a daily quota of `daily` on txt2img and the state file in `dir`.
fn config(dir: &Path, upstream: &str, daily: u64) -> PathBuf {
    let path = dir.join("floodgate.toml");
    let text = format!(
        r#"
[server]
upstream = "{upstream}"

[store]
path = "state/floodgate.redb"

[admin]
token_sha256 = "{hash}"

[models]
txt2img = {{ kind = "image" }}

[tiers.basic]
limits = [
  {{ unit = "requests", window = "minute", max = 100000 }},
  {{ unit = "requests", window = "day", max = {daily} }},
]

[[routes]]
method = "POST"
path = "/api/v1/txt2img"
model = "txt2img"
"#,
        hash = floodgate_config::KeyHash::of(TOKEN).to_hex()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `floodgate keys <args>` against `addr`; its stdout as JSON.
fn keys(addr: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .arg("keys")
        .args(["--url", &format!("http://{addr}")])
        .args(args)
        .env("FLOODGATE_ADMIN_TOKEN", TOKEN)
        .output()
        .expect("floodgate keys runs");
    assert!(
        out.status.success(),
        "keys {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

async fn txt2img(addr: &str, key: &str) -> u16 {
    post(addr, "/api/v1/txt2img", key, r#"{"prompt":"x"}"#)
        .await
        .expect("gateway answers")
        .status
}

/// Requests until the first 429; how many were admitted.
async fn admitted_until_refused(addr: &str, key: &str, daily: u64) -> u64 {
    let mut n = 0;
    loop {
        match txt2img(addr, key).await {
            200 => n += 1,
            429 => return n,
            other => panic!("unexpected {other}"),
        }
        assert!(n <= daily, "more than the daily quota");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_keeps_quota_usage_and_admin_changes() {
    let dir = scratch("persist-graceful");
    let _ = std::fs::remove_dir_all(dir.join("state"));
    let config = config(&dir, &mock().await, DAILY);
    let port = free_port();
    let first = Serve::start(&config, port, &dir.join("first.log")).await;

    let created = keys(
        &first.addr,
        &[
            "create",
            "--account",
            "acme",
            "--tier",
            "basic",
            "--name",
            "ci",
        ],
    );
    let key = created["key"].as_str().unwrap().to_owned();
    for _ in 0..15 {
        assert_eq!(txt2img(&first.addr, &key).await, 200);
    }
    let status = first.stop();
    assert!(status.success(), "exit 0 after SIGTERM, got {status}");
    let log = std::fs::read_to_string(dir.join("first.log")).unwrap();
    assert!(
        log.contains("admin: key created"),
        "the admin change is logged: {log}"
    );
    assert!(
        !log.contains(&key) && !log.contains(TOKEN),
        "no log line holds a raw key or the admin token: {log}"
    );

    let second = Serve::start(&config, port, &dir.join("second.log")).await;
    let listed = keys(&second.addr, &["list", "acme"]);
    assert_eq!(listed["keys"][0]["id"], created["id"]);
    assert_eq!(listed["tier"], "basic");
    assert_eq!(
        admitted_until_refused(&second.addr, &key, DAILY).await,
        DAILY - 15,
        "remaining is unchanged"
    );

    keys(&second.addr, &["revoke", created["id"].as_str().unwrap()]);
    assert!(second.stop().success());
    let third = Serve::start(&config, port, &dir.join("third.log")).await;
    assert_eq!(
        txt2img(&third.addr, &key).await,
        401,
        "the revocation survived too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_at_most_the_last_second_and_no_admin_change() {
    let dir = scratch("persist-kill");
    let _ = std::fs::remove_dir_all(dir.join("state"));
    let config = config(&dir, &mock().await, DAILY_UNDER_LOAD);
    let port = free_port();
    let first = Serve::start(&config, port, &dir.join("first.log")).await;
    let key = keys(
        &first.addr,
        &["create", "--account", "load", "--tier", "basic"],
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // Load for about 2.5 s, then an admin change acknowledged just before the kill.
    let started = Instant::now();
    let mut admitted = 0u64;
    let mut last_second = std::collections::VecDeque::new();
    while started.elapsed() < Duration::from_millis(2500) && admitted < DAILY_UNDER_LOAD - 5 {
        if txt2img(&first.addr, &key).await == 200 {
            admitted += 1;
            last_second.push_back(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let late = keys(
        &first.addr,
        &["create", "--account", "late", "--tier", "basic"],
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let killed_at = Instant::now();
    first.kill9();
    // The window: what was admitted in the last save interval (1 s) plus a save's time.
    let window = last_second
        .iter()
        .filter(|t| killed_at.duration_since(**t) <= Duration::from_millis(1300))
        .count() as u64;

    let second = Serve::start(&config, port, &dir.join("second.log")).await;
    assert_eq!(
        txt2img(&second.addr, &late).await,
        200,
        "the acknowledged key survived"
    );
    let after = admitted_until_refused(&second.addr, &key, DAILY_UNDER_LOAD).await;
    let lost = (admitted + after).saturating_sub(DAILY_UNDER_LOAD);
    eprintln!("admitted {admitted}, {window} in the last 1.3 s, lost {lost}");
    assert!(
        lost <= window,
        "admitted {admitted} before the kill, {after} after: {lost} updates lost, more than the {window} of the last second"
    );
    assert!(
        admitted + after >= DAILY_UNDER_LOAD,
        "never fewer than the quota"
    );
    assert!(lost < admitted, "something was saved");
}
