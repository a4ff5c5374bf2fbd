//! Hot reload of a running `floodgate serve`: a changed limit applies to the next
//! request (file watcher and SIGHUP), a broken file is rejected with its file:line in the
//! log while requests go on under the old config, and reloading while many requests run
//! fails none of them.

mod gateways;
mod operating;

use operating::{free_port, get, post, replace_file, Server};
use std::path::Path;
use std::sync::Arc;

const KEY: &str = "sk-reload-test";

fn config(upstream: &str, per_minute: &str) -> String {
    format!(
        r#"[server]
upstream = "{upstream}"

[responses]
headers = ["classic"]

[models]
txt2img = {{ kind = "image" }}

[tiers.basic.models]
txt2img = {{ limits = [{{ unit = "requests", window = "minute", max = {per_minute} }}] }}

[accounts.a]
tier = "basic"

[[keys]]
name = "reload test key"
sha256 = "{hash}"
account = "a"

[[routes]]
method = "POST"
path = "/api/v1/txt2img"
model = "txt2img"
"#,
        hash = hash_of(KEY)
    )
}

fn hash_of(key: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["hash-key", key])
        .output()
        .expect("hash-key runs");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn limit_seen(addr: &str) -> Option<String> {
    let reply = post(addr, "/api/v1/txt2img", KEY, "{}", &[]).await.ok()?;
    reply.header("x-ratelimit-limit").map(str::to_owned)
}

async fn setup(name: &str, per_minute: &str) -> (gateways::Process, Server, std::path::PathBuf) {
    let dir = gateways::scratch(name);
    let mock = gateways::mock_upstream(&dir, free_port()).await;
    let file = dir.join("floodgate.toml");
    std::fs::write(&file, config(&format!("http://{}", mock.addr), per_minute)).unwrap();
    let server = Server::start(&dir, &file, "info", &[]).await;
    (mock, server, file)
}

fn upstream_of(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("upstream = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_limit_applies_to_the_next_request() {
    let (_mock, server, file) = setup("reload-change", "3").await;
    assert_eq!(limit_seen(&server.addr).await.as_deref(), Some("3"));
    let upstream = upstream_of(&file);

    // An editor's save: a new file renamed over the old one.
    replace_file(&file, &config(&upstream, "50"));
    server
        .eventually("the watcher installs max = 50", || async {
            limit_seen(&server.addr).await.as_deref() == Some("50")
        })
        .await;

    // SIGHUP reloads too (the write also wakes the watcher; either may install it, and
    // the log says the SIGHUP one ran).
    std::fs::write(&file, config(&upstream, "70")).unwrap();
    server.signal("HUP");
    server
        .eventually("max = 70 after SIGHUP", || async {
            limit_seen(&server.addr).await.as_deref() == Some("70")
        })
        .await;
    server
        .eventually("the SIGHUP reload is logged", || async {
            server.log().contains("cause=\"SIGHUP\"") || server.log().contains("cause=SIGHUP")
        })
        .await;
    let metrics = get(&server.addr, "/metrics").await.unwrap().body;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("floodgate_config_reloads_total{result=\"ok\"} ")
                && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_is_rejected_with_its_line_and_the_old_limits_stay() {
    let (_mock, server, file) = setup("reload-broken", "3").await;
    let upstream = upstream_of(&file);
    let broken = config(&upstream, "\"lots\"");
    let line = broken.lines().position(|l| l.contains("\"lots\"")).unwrap() + 1;
    replace_file(&file, &broken);
    let expected = format!("{}:{line}: ", file.display());
    server
        .eventually("the rejection is logged with file:line", || async {
            server.log().lines().any(|l| {
                l.contains("ERROR") && l.contains("config reload rejected") && l.contains(&expected)
            })
        })
        .await;
    assert_eq!(
        limit_seen(&server.addr).await.as_deref(),
        Some("3"),
        "the old config stays in force"
    );
    server.signal("HUP");
    server
        .eventually("the SIGHUP rejection is logged too", || async {
            server.log().matches(&expected).count() >= 2
        })
        .await;
    assert_eq!(limit_seen(&server.addr).await.as_deref(), Some("3"));
    let metrics = get(&server.addr, "/metrics").await.unwrap().body;
    assert!(
        metrics
            .lines()
            .any(|l| l == "floodgate_config_reloads_total{result=\"rejected\"} 2"),
        "{metrics}"
    );

    // Fixed again: installed.
    replace_file(&file, &config(&upstream, "9"));
    server
        .eventually("the fixed file is installed", || async {
            limit_seen(&server.addr).await.as_deref() == Some("9")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_during_load_fails_no_request() {
    let (_mock, server, file) = setup("reload-load", "1000000").await;
    let upstream = upstream_of(&file);
    let addr = Arc::new(server.addr.clone());
    let mut clients = Vec::new();
    for _ in 0..8 {
        let addr = Arc::clone(&addr);
        clients.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..60 {
                let reply = post(&addr, "/api/v1/txt2img", KEY, "{}", &[]).await;
                statuses.push(reply.map(|r| r.status).map_err(|e| e.to_string()));
            }
            statuses
        }));
    }
    for round in 0..6 {
        let max = if round % 2 == 0 { "999999" } else { "1000000" };
        if round % 3 == 0 {
            std::fs::write(&file, config(&upstream, max)).unwrap();
            server.signal("HUP");
        } else {
            replace_file(&file, &config(&upstream, max));
        }
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
    let mut answered = 0;
    for client in clients {
        for status in client.await.unwrap() {
            assert_eq!(status, Ok(200), "a request failed during reloads");
            answered += 1;
        }
    }
    assert_eq!(answered, 480);
    assert!(server.log().contains("config reloaded"), "{}", server.log());
}
