//! A `floodgate serve` process the test can signal (SIGHUP, SIGTERM) and whose standard
//! error it reads, with a mock upstream beside it, for the tests of running the gateway:
//! reload, logs, metrics, shutdown.
//!
//! Like the `gateways` helper, the process runs under a `sh` guard that kills it when
//! the guard's stdin closes (the handle dropped, or the test process gone, even by a
//! kill); the guard also writes the gateway's pid to a file so the test can signal it,
//! and its exit status once it ends by itself.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a process may take to start answering, or to do what a test waits for.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// A port nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `floodgate serve` process.
pub(crate) struct Server {
    /// `127.0.0.1:<port>`.
    pub(crate) addr: String,
    /// Its standard error.
    log: PathBuf,
    /// Holds the gateway's pid once started.
    pid_file: PathBuf,
    /// Holds the gateway's exit status once it has ended.
    status_file: PathBuf,
    guard: Child,
}

impl Server {
    /// Runs `floodgate serve --config <config> --listen <free port> <extra>` with
    /// `RUST_LOG=<rust_log>`, and waits until `/healthz` answers.
    pub(crate) async fn start(dir: &Path, config: &Path, rust_log: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let log = dir.join(format!("serve-{port}.log"));
        let pid_file = dir.join(format!("serve-{port}.pid"));
        let status_file = dir.join(format!("serve-{port}.status"));
        let guard = Command::new("sh")
            .arg("-c")
            .arg(concat!(
                "log=$1; pidfile=$2; statusfile=$3; shift 3; exec 3<&0; ",
                "\"$@\" >/dev/null 2>\"$log\" </dev/null & pid=$!; ",
                "echo $pid >\"$pidfile\"; ",
                "(cat <&3 >/dev/null; kill -9 $pid 2>/dev/null) & ",
                "wait $pid; echo $? >\"$statusfile\""
            ))
            .arg("sh")
            .arg(&log)
            .arg(&pid_file)
            .arg(&status_file)
            .arg(env!("CARGO_BIN_EXE_floodgate"))
            .args(["serve", "--config"])
            .arg(config)
            // One worker: tokio's current-thread runtime, so reload, signals, metrics and
            // shutdown are tested on it as well as on the multi-threaded one (`gateways`).
            .args(["--listen", &addr, "--threads", "1"])
            .args(extra)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        let server = Self {
            addr,
            log,
            pid_file,
            status_file,
            guard,
        };
        server
            .eventually("/healthz answers", || async {
                get(&server.addr, "/healthz")
                    .await
                    .is_ok_and(|r| r.status == 200)
            })
            .await;
        server
    }

    /// What the process wrote to standard error so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The gateway's pid.
    pub(crate) fn pid(&self) -> u32 {
        std::fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .expect("the guard wrote the pid")
    }

    /// Sends `signal` (`HUP`, `TERM`, ...) to the gateway.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// The gateway's exit status, once it has ended by itself.
    pub(crate) fn exit_status(&self) -> Option<i32> {
        std::fs::read_to_string(&self.status_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Waits until `check` holds, failing the test with the log after [`PATIENCE`].
    pub(crate) async fn eventually<F, Fut>(&self, what: &str, check: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + PATIENCE;
        while !check().await {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {PATIENCE:?}; the gateway's log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.guard.stdin.take());
        let _ = self.guard.wait();
    }
}

/// An answer: status, head lines and body.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Reply {
    /// The value of header `name`, if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
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

/// `POST path` with a JSON body, a bearer key and extra header lines (`name: value`).
pub(crate) async fn post(
    addr: &str,
    path: &str,
    key: &str,
    body: &str,
    extra: &[&str],
) -> std::io::Result<Reply> {
    let mut head = String::new();
    for line in extra {
        head.push_str(line);
        head.push_str("\r\n");
    }
    exchange(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Authorization: Bearer {key}\r\nContent-Type: application/json\r\n{head}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// One request on a fresh connection the server closes after its answer.
pub(crate) async fn exchange(addr: &str, request: &str) -> std::io::Result<Reply> {
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
    Ok(Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// Writes `text` to `path` through a new file renamed over it, as editors save.
pub(crate) fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write the new config");
    std::fs::rename(&tmp, path).expect("rename it over the old one");
}
