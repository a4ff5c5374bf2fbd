//! `floodgate batch`, run as a user runs it, against a real gateway (in this process,
//! on 127.0.0.1 ephemeral ports, the system clock) in front of the mock model API:
//! results in input order, a spent daily quota stopping the run with every finished
//! result written, Ctrl-C, and `--resume`.

use floodgate_config::{Config, KeyHash};
use floodgate_gateway::GatewayState;
use floodgate_mock::MockOptions;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The gateway with `config` in front of a mock with `options`; its base URL. The
/// servers live as long as the test's runtime.
async fn gateway(mut config: Config, options: MockOptions) -> String {
    let mock = TcpListener::bind("127.0.0.1:0").await.unwrap();
    config.server.upstream = Some(format!("http://{}", mock.local_addr().unwrap()));
    tokio::spawn(floodgate_mock::serve(mock, options, std::future::pending()));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let state = Arc::new(GatewayState::new(config).unwrap());
    tokio::spawn(floodgate_gateway::serve(l, state, std::future::pending()));
    base
}

fn example(name: &str) -> Config {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/{name}.toml"));
    Config::load(&path).unwrap()
}

/// One key, `sk-test`, on `POST /api/v1/txt2img` with `limits`, classic headers.
fn one_route(limits: &str) -> Config {
    let text = format!(
        r#"
[responses]
headers = ["classic"]
[models]
txt2img = {{ kind = "image" }}
[tiers.t.models]
txt2img = {{ limits = {limits} }}
[accounts.test]
tier = "t"
[[keys]]
name = "test key"
sha256 = "{}"
account = "test"
[[routes]]
method = "POST"
path = "/api/v1/txt2img"
model = "txt2img"
"#,
        KeyHash::of("sk-test").to_hex()
    );
    Config::from_str(&text, "test.toml".as_ref()).unwrap()
}

/// A directory of its own for each test's files.
fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("batch")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An input of `n` txt2img requests.
fn input(dir: &std::path::Path, n: usize) -> PathBuf {
    let path = dir.join("jobs.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"method": "POST", "path": "/api/v1/txt2img", "body": {{"prompt": "job {i}"}}}}"#))
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn batch(base: &str, key: &str, dir: &std::path::Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_floodgate"));
    c.args(["batch", "--url", base, "--key", key])
        .arg("--input")
        .arg(dir.join("jobs.jsonl"))
        .arg("--output")
        .arg(dir.join("results.jsonl"))
        .args(extra);
    c
}

/// Runs the command off the runtime's threads, so the in-process gateway keeps serving.
async fn run(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn results(dir: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn lines_of(results: &[Value]) -> Vec<u64> {
    results
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_jobs_on_a_premium_key_in_order_with_no_429() {
    let base = gateway(example("provider-b"), MockOptions::default()).await;
    let d = dir("premium");
    input(&d, 200);
    let out = run(batch(
        &base,
        "sk-demo-premium",
        &d,
        &["--concurrency", "16"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r = results(&d);
    assert_eq!(lines_of(&r), (1..=200).collect::<Vec<_>>());
    assert!(r.iter().all(|r| r["status"] == 200 && r["attempts"] == 1));
    assert!(r[0]["body"].is_object() && r[0]["latency_ms"].is_number());
    assert!(
        stderr.contains("succeeded 200, failed 0, retried 0, 429s seen 0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("allowed 300.0/min (rate-limit headers)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_quota_stops_the_batch_and_resume_finishes_it() {
    let limits = r#"[{ unit = "requests", window = "minute", max = 100 }, { unit = "requests", window = "day", max = 5 }]"#;
    let base = gateway(one_route(limits), MockOptions::default()).await;
    let d = dir("daily");
    input(&d, 9);
    let out = run(batch(&base, "sk-test", &d, &["--concurrency", "2"])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("stopped: the daily quota is used up; it resets in "),
        "{stderr}"
    );
    assert!(stderr.contains("Run again with --resume"), "{stderr}");
    let r = results(&d);
    assert_eq!(r.len(), 5, "every finished result, and only those: {r:?}");
    assert!(r.iter().all(|r| r["status"] == 200));
    let mut lines = lines_of(&r);
    let written = lines.clone();
    lines.sort_unstable();
    assert_eq!(lines, written, "in input order");

    // Another day, another quota: a fresh gateway, and --resume runs only the rest.
    let base = gateway(one_route(limits), MockOptions::default()).await;
    let out = run(batch(&base, "sk-test", &d, &["--resume"])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("resume: 5 lines already in"), "{stderr}");
    assert!(stderr.contains("succeeded 4, failed 0"), "{stderr}");
    let r = results(&d);
    assert_eq!(lines_of(&r), (1..=9).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_cleanly_with_every_finished_result_written() {
    let options = MockOptions {
        latency: Some(Duration::from_millis(150)),
        ..MockOptions::default()
    };
    let base = gateway(example("provider-b"), options).await;
    let d = dir("interrupt");
    input(&d, 60);
    let mut c = batch(&base, "sk-demo-premium", &d, &["--concurrency", "2"]);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: "), "{stderr}");
    let r = results(&d);
    assert!(!r.is_empty() && r.len() < 60, "{} results", r.len());
    assert!(r.iter().all(|r| r["status"] == 200));

    let out = run(batch(
        &base,
        "sk-demo-premium",
        &d,
        &["--resume", "--concurrency", "8"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(lines_of(&results(&d)), (1..=60).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_input_line_is_named_before_anything_is_sent() {
    let d = dir("bad");
    std::fs::write(d.join("jobs.jsonl"), "{\"path\": \"/a\"}\nnot json\n").unwrap();
    let out = run(batch("http://127.0.0.1:9", "k", &d, &[])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("jobs.jsonl:2: not a request"), "{stderr}");
    assert!(!d.join("results.jsonl").exists());
}
