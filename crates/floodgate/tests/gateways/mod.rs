//! `floodgate serve` and `floodgate mock-upstream` as separate processes on 127.0.0.1,
//! and a plain HTTP/1.1 client to call them, for the tests of several instances sharing
//! one Redis.
//!
//! Each process runs under a small `sh` guard reading its stdin, as the Redis servers of
//! `floodgate-redis`'s test support do: when the guard's stdin closes (the handle is
//! dropped, or the test process ends, even by a panic or a kill), the guard kills it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a process may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// One floodgate process on a loopback port.
pub(crate) struct Process {
    /// `127.0.0.1:<port>`.
    pub(crate) addr: String,
    /// Where its standard error goes, shown when it fails to start.
    log: PathBuf,
    guard: Child,
}

impl Process {
    /// Runs `floodgate <args>` (the binary this package built).
    fn spawn(args: &[String], addr: String, log: PathBuf) -> Self {
        let guard = Command::new("sh")
            .arg("-c")
            .arg(concat!(
                "log=$1; shift; \"$@\" >/dev/null 2>\"$log\" & pid=$!; ",
                "cat >/dev/null; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null"
            ))
            .arg("sh")
            .arg(&log)
            .arg(env!("CARGO_BIN_EXE_floodgate"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        Self { addr, log, guard }
    }

    /// What the process wrote to standard error so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
    }
}

/// A scratch directory for configs and logs, unique to this test process and test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// `floodgate mock-upstream` on a free port, answering.
pub(crate) async fn mock_upstream(dir: &Path, port: u16) -> Process {
    let addr = format!("127.0.0.1:{port}");
    let args = ["mock-upstream", "--listen", &addr, "--threads", "1"].map(str::to_owned);
    let process = Process::spawn(&args, addr, dir.join("mock.log"));
    wait_until(&process, "/mock/stats").await;
    process
}

/// `floodgate serve --config <config>` on a free port, answering `/healthz`.
pub(crate) async fn gateway(dir: &Path, config: &Path, port: u16) -> Process {
    let addr = format!("127.0.0.1:{port}");
    let args = [
        "serve",
        "--config",
        &config.display().to_string(),
        "--listen",
        &addr,
        "--threads",
        "2",
    ]
    .map(str::to_owned);
    let process = Process::spawn(&args, addr, dir.join(format!("gateway-{port}.log")));
    wait_until(&process, "/healthz").await;
    process
}

async fn wait_until(process: &Process, path: &str) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(reply) = get(&process.addr, path).await {
            if reply.status == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} did not answer {path}; its log:\n{}",
            process.addr,
            process.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An answer: status and body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
}

impl Reply {
    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `GET path` on `addr`.
pub(crate) async fn get(addr: &str, path: &str) -> std::io::Result<Reply> {
    exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// `GET path` on `addr` with a bearer key.
pub(crate) async fn get_as(addr: &str, path: &str, key: &str) -> std::io::Result<Reply> {
    exchange(
        addr,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Authorization: Bearer {key}\r\n\r\n"
        ),
    )
    .await
}

/// `POST path` with a JSON body and a bearer key.
pub(crate) async fn post(addr: &str, path: &str, key: &str, body: &str) -> std::io::Result<Reply> {
    exchange(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Authorization: Bearer {key}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// One request on a fresh connection the server closes after its answer.
async fn exchange(addr: &str, request: &str) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Reply { status, body })
}

/// The payload of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
