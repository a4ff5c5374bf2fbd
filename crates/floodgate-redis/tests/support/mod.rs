//! Real `redis-server` processes for the tests: a single node or a 3-primary cluster on
//! free 127.0.0.1 ports, each in its own scratch directory, gone when the test ends.
//!
//! Each server runs under a small `sh` guard that reads its stdin: when the guard's stdin
//! closes (the server is dropped or stopped, or the test process exits, even by a panic
//! or a kill), the guard kills the server and removes its directory. Servers kept in a
//! `static` for a whole test binary are cleaned up that way too.

#![allow(dead_code, unreachable_pub)]

use floodgate_redis::{RedisConfig, RedisStore};
use floodgate_store::conformance::Harness;
use floodgate_store::Store;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a server may take to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// One `redis-server` process on 127.0.0.1.
pub struct RedisServer {
    port: u16,
    /// For a TLS-only server, the CA that signed its certificate (readiness is checked
    /// over TLS then).
    tls_ca: Option<PathBuf>,
    /// Extra `redis-server` arguments (cluster mode), kept for a restart.
    extra: Vec<String>,
    /// The guard shell; `None` while stopped.
    guard: Option<Child>,
    /// The running server's scratch directory.
    dir: PathBuf,
    /// Files read by [`Self::stop_keeping`] for the next start: (name, contents).
    kept: Vec<(String, Vec<u8>)>,
}

impl RedisServer {
    /// A plain server on a free port.
    pub fn start() -> Self {
        Self::start_with(free_port(), &[])
    }

    /// A plain server on `port` (one that a store was told about before it existed).
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    /// A server on a free port with extra `redis-server` arguments (e.g. a password).
    pub fn start_with_args(extra: &[&str]) -> Self {
        Self::start_with(free_port(), extra)
    }

    /// A server that speaks only TLS on a free port, with the certificate and key at
    /// `cert` / `key`, signed by `ca`.
    pub fn start_tls(ca: &std::path::Path, cert: &std::path::Path, key: &std::path::Path) -> Self {
        let port = free_port();
        let mut server = Self {
            port,
            tls_ca: Some(ca.to_owned()),
            extra: vec![
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                port.to_string(),
                "--tls-cert-file".into(),
                cert.display().to_string(),
                "--tls-key-file".into(),
                key.display().to_string(),
                "--tls-ca-cert-file".into(),
                ca.display().to_string(),
                "--tls-auth-clients".into(),
                "no".into(),
            ],
            guard: None,
            dir: PathBuf::new(),
            kept: Vec::new(),
        };
        server.spawn(&[]);
        server
    }

    fn start_with(port: u16, extra: &[&str]) -> Self {
        let mut server = Self {
            port,
            tls_ca: None,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            guard: None,
            dir: PathBuf::new(),
            kept: Vec::new(),
        };
        server.spawn(&[]);
        server
    }

    /// Starts the server in a new scratch directory holding `files` (name, contents).
    fn spawn(&mut self, files: &[(String, Vec<u8>)]) {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir: PathBuf = std::env::temp_dir().join(format!(
            "floodgate-redis-test-{}-{}-{}",
            std::process::id(),
            self.port,
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).expect("a file for the server");
        }
        let guard = Command::new("sh")
            .arg("-c")
            .arg(concat!(
                "dir=$1; shift; redis-server \"$@\" >\"$dir/log\" 2>&1 & pid=$!; ",
                "cat >/dev/null; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf \"$dir\""
            ))
            .arg("sh")
            .arg(&dir)
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(&self.extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        self.guard = Some(guard);
        self.dir.clone_from(&dir);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {} (is it installed? run \
                 scripts/install-deps.sh redis-server); log: {}",
                self.port,
                std::fs::read_to_string(dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers(&self) -> bool {
        match &self.tls_ca {
            None => ping(self.port),
            Some(ca) => Command::new("redis-cli")
                .args(["--tls", "--cacert"])
                .arg(ca)
                .args(["-h", "127.0.0.1", "-p"])
                .arg(self.port.to_string())
                .arg("ping")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG"),
        }
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            drop(guard.stdin.take());
            let _ = guard.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn(&[]);
    }

    /// Kills the server (as [`Self::stop`]) after reading `files` of its directory, for
    /// [`Self::resume`]: a cluster node's `nodes.conf`, with which it rejoins as itself.
    pub fn stop_keeping(&mut self, files: &[&str]) {
        self.kept = files
            .iter()
            .map(|name| {
                let contents = std::fs::read(self.dir.join(name)).expect("a file to keep");
                ((*name).to_owned(), contents)
            })
            .collect();
        self.stop();
    }

    /// Starts a server stopped by [`Self::stop_keeping`] again on the same port, with the
    /// files it kept and no data (as a node without persistence after a crash).
    pub fn resume(&mut self) {
        let kept = std::mem::take(&mut self.kept);
        self.spawn(&kept);
    }

    /// Runs `redis-cli` against this server and returns what it printed.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A `redis-cli monitor` session: every command the server runs from now on.
pub struct Monitor {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Monitor {
    /// Stops monitoring and returns the commands seen (waiting a moment for stragglers).
    pub fn finish(mut self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.lines.try_iter().filter(|l| l != "OK").collect()
    }
}

impl RedisServer {
    /// Starts a MONITOR session, returning once the server has acknowledged it.
    pub fn monitor(&self) -> Monitor {
        use std::io::BufRead;
        let mut child = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("monitor")
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-cli runs");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(START_TIMEOUT)
            .expect("MONITOR is acknowledged");
        assert_eq!(first, "OK");
        Monitor { child, lines: rx }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A 3-primary Redis Cluster without replicas.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 3 {
            let port = free_port();
            // The cluster bus listens on port + 10000.
            if port < 55_000 && bindable(port + 10_000) && !ports.contains(&port) {
                ports.push(port);
            }
        }
        let extra = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ];
        let nodes: Vec<RedisServer> = ports
            .iter()
            .map(|&p| RedisServer::start_with(p, &extra))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let deadline = Instant::now() + START_TIMEOUT;
        while !nodes
            .iter()
            .all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok"))
        {
            assert!(Instant::now() < deadline, "cluster never became ok");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// Whether a server answers on `port` (PONG, or NOAUTH when it wants a password).
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 64];
    stream.write_all(b"PING\r\n").is_ok()
        && stream
            .read(&mut reply)
            .is_ok_and(|n| reply[..n].starts_with(b"+PONG") || reply[..n].starts_with(b"-NOAUTH"))
}

fn bindable(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The conformance suite's view of a Redis store: real time, advanced by sleeping.
pub struct RedisHarness {
    pub store: Arc<RedisStore>,
}

impl RedisHarness {
    pub async fn connect(config: RedisConfig) -> Self {
        Self {
            store: Arc::new(RedisStore::connect(&config).await.expect("redis answers")),
        }
    }
}

#[async_trait::async_trait]
impl Harness for RedisHarness {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn advance(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }

    fn frozen(&self) -> bool {
        false
    }
}
