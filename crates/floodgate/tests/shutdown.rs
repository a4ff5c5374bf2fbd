//! Graceful shutdown of a real `floodgate serve`: on SIGTERM it stops accepting, closes
//! idle keep-alive connections at once, lets a request already in flight finish with its
//! answer, and exits 0; past `[server] shutdown_timeout` it cuts what is left and still
//! exits 0.

mod gateways;
mod operating;

use operating::{free_port, post, Server, PATIENCE};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const KEY: &str = "sk-shutdown-test";

fn hash_of(key: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_floodgate"))
        .args(["hash-key", key])
        .output()
        .expect("hash-key runs");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn config(upstream: &str, shutdown_timeout: &str) -> String {
    format!(
        r#"[server]
upstream = "{upstream}"
shutdown_timeout = "{shutdown_timeout}"

[models]
txt2img = {{ kind = "image" }}

[tiers.basic]
limits = [{{ unit = "requests", window = "minute", max = 100 }}]

[accounts.a]
tier = "basic"

[[keys]]
name = "shutdown test key"
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

async fn start(name: &str, shutdown_timeout: &str) -> (gateways::Process, Server) {
    let dir = gateways::scratch(name);
    let mock = gateways::mock_upstream(&dir, free_port()).await;
    let file = dir.join("floodgate.toml");
    std::fs::write(
        &file,
        config(&format!("http://{}", mock.addr), shutdown_timeout),
    )
    .unwrap();
    let server = Server::start(&dir, &file, "info", &[]).await;
    (mock, server)
}

/// Sends a request the upstream holds for `delay_ms`, and waits until the gateway has
/// forwarded it.
async fn slow_request(
    server: &Server,
    mock: &gateways::Process,
    delay_ms: u64,
) -> tokio::task::JoinHandle<std::io::Result<operating::Reply>> {
    let addr = server.addr.clone();
    let delay = format!("x-mock-delay-ms: {delay_ms}");
    let slow =
        tokio::spawn(
            async move { post(&addr, "/api/v1/txt2img", KEY, "{}", &[delay.as_str()]).await },
        );
    server
        .eventually("the slow request reaches the upstream", || async {
            gateways::get(&mock.addr, "/mock/stats")
                .await
                .is_ok_and(|r| r.json()["total"].as_u64() == Some(1))
        })
        .await;
    slow
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_finishes_and_new_connections_are_refused() {
    let (mock, server) = start("shutdown-drain", "10s").await;
    let slow = slow_request(&server, &mock, 1_500).await;
    let signalled = Instant::now();
    server.signal("TERM");
    server
        .eventually("new connections are refused", || async {
            TcpStream::connect(&server.addr).await.is_err()
        })
        .await;
    assert!(
        server.exit_status().is_none(),
        "still draining while the request runs"
    );
    let reply = slow
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("connection"),
        Some("close"),
        "the last answer says so: {}",
        reply.head
    );
    server
        .eventually("the process exits", || async {
            server.exit_status().is_some()
        })
        .await;
    assert_eq!(server.exit_status(), Some(0), "{}", server.log());
    assert!(signalled.elapsed() < PATIENCE);
    assert!(server.log().contains("stopped"), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_timeout_what_is_left_is_cut_and_the_exit_is_still_clean() {
    let (mock, server) = start("shutdown-timeout", "300ms").await;
    let slow = slow_request(&server, &mock, 20_000).await;
    let signalled = Instant::now();
    server.signal("TERM");
    server
        .eventually("the process exits", || async {
            server.exit_status().is_some()
        })
        .await;
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "exited after {:?}",
        signalled.elapsed()
    );
    assert_eq!(server.exit_status(), Some(0), "{}", server.log());
    assert!(
        server.log().contains("shutdown timeout"),
        "{}",
        server.log()
    );
    let cut = slow.await.unwrap();
    assert!(
        cut.is_err() || cut.as_ref().is_ok_and(|r| r.status != 200),
        "{cut:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_at_once_and_does_not_hold_the_exit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_mock, server) = start("shutdown-idle", "20s").await;
    // One request on a keep-alive connection, answered; the connection then sits idle.
    let mut idle = TcpStream::connect(&server.addr).await.unwrap();
    let request = format!(
        "POST /api/v1/txt2img HTTP/1.1\r\nhost: gw\r\nx-api-key: {KEY}\r\n\
         content-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
    );
    idle.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
        let mut chunk = [0; 4096];
        let n = idle.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the gateway answers");
        answer.extend_from_slice(&chunk[..n]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 200"));

    let signalled = Instant::now();
    server.signal("TERM");
    // The server closes the idle connection without waiting for it.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut rest = [0; 4096];
        loop {
            match idle.read(&mut rest).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection is still open");
    server
        .eventually("the process exits", || async {
            server.exit_status().is_some()
        })
        .await;
    assert_eq!(server.exit_status(), Some(0), "{}", server.log());
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "exited after {:?}, not at once",
        signalled.elapsed()
    );
    assert!(
        !server.log().contains("shutdown timeout"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_request_in_flight_is_told_its_connection_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mock, server) = start("shutdown-keep-alive", "10s").await;
    // No `Connection: close`: the client means to send more on this connection.
    let mut conn = TcpStream::connect(&server.addr).await.unwrap();
    let request = format!(
        "POST /api/v1/txt2img HTTP/1.1\r\nhost: gw\r\nx-api-key: {KEY}\r\n\
         x-mock-delay-ms: 1500\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    server
        .eventually("the request reaches the upstream", || async {
            gateways::get(&mock.addr, "/mock/stats")
                .await
                .is_ok_and(|r| r.json()["total"].as_u64() == Some(1))
        })
        .await;
    server.signal("TERM");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0; 4096];
        loop {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection was closed after the answer");
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    server
        .eventually("the process exits", || async {
            server.exit_status().is_some()
        })
        .await;
    assert_eq!(server.exit_status(), Some(0), "{}", server.log());
}
