//! The end-to-end harness: the mock model API and the gateway, both on 127.0.0.1
//! ephemeral ports, a fake clock behind the gateway's store, and a small HTTP client.

// Each test file uses a different part of the harness.
#![allow(dead_code)]

pub(crate) mod form;
pub(crate) mod units;

use bytes::Bytes;
use floodgate_config::Config;
use floodgate_core::{Clock, FakeClock, NANOS_PER_SEC};
use floodgate_gateway::GatewayState;
use floodgate_mock::MockOptions;
use floodgate_store::MemoryStore;
use http::{HeaderMap, Method, Request};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A request body the tests can build from bytes or a custom stream.
pub(crate) type TestBody = BoxBody<Bytes, Infallible>;

/// The example config `examples/<name>.toml`.
pub(crate) fn example(name: &str) -> Config {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", name]
        .iter()
        .collect::<PathBuf>()
        .with_extension("toml");
    Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A config from TOML text, for tests that need limits of their own.
pub(crate) fn config_from(text: &str) -> Config {
    Config::from_str(text, "test.toml".as_ref()).unwrap_or_else(|e| panic!("{e}"))
}

/// A running gateway in front of a running mock.
pub(crate) struct Harness {
    /// `http://127.0.0.1:PORT` of the gateway.
    pub(crate) base: String,
    /// `http://127.0.0.1:PORT` of the mock.
    pub(crate) mock: String,
    /// The gateway store's clock.
    pub(crate) clock: FakeClock,
    /// The gateway's state.
    pub(crate) state: Arc<GatewayState>,
    /// The client the tests call with.
    pub(crate) client: Client<HttpConnector, TestBody>,
    /// Dropping these stops the servers.
    _stops: Vec<oneshot::Sender<()>>,
}

/// What came back.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// A header's value, or "" when absent.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header"))
            .unwrap_or("")
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `error.type` of a JSON error, checking the shared error shape.
    pub(crate) fn error_type(&self) -> String {
        let v = self.json();
        assert!(v["error"]["message"].is_string(), "error shape: {v}");
        v["error"]["type"].as_str().expect("error.type").to_owned()
    }
}

/// Binds 127.0.0.1 on an ephemeral port.
pub(crate) async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

/// Starts the mock model API; returns its base URL and its stop handle.
pub(crate) async fn start_mock(options: MockOptions) -> (String, oneshot::Sender<()>) {
    let (l, addr) = listener().await;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(floodgate_mock::serve(l, options, async {
        let _ = stopped.await;
    }));
    (format!("http://{addr}"), stop)
}

/// Starts the gateway with `config` (its upstream pointed at a fresh mock).
pub(crate) async fn start(config: Config) -> Harness {
    start_with(config, MockOptions::default()).await
}

/// Starts the gateway with `config` in front of a mock with `options`.
pub(crate) async fn start_with(mut config: Config, options: MockOptions) -> Harness {
    let (mock, mock_stop) = start_mock(options).await;
    config.server.upstream = Some(mock.clone());
    let mut h = start_without_mock(config).await;
    h.mock = mock;
    h._stops.push(mock_stop);
    h
}

/// Starts the gateway with `config` as it is (for upstream failure tests).
pub(crate) async fn start_without_mock(config: Config) -> Harness {
    // Noon, so that no test crosses a daily boundary by accident.
    let clock = FakeClock::new(FakeClock::at_new_year().now() + 12 * 3600 * NANOS_PER_SEC);
    let store = Arc::new(MemoryStore::new(Arc::new(clock.clone())));
    let state = Arc::new(GatewayState::with_store(config, store).expect("upstream URL"));
    serve_state(state, clock).await
}

/// Serves a gateway state the test built itself (its own store or health check);
/// `clock` is only recorded in the harness.
pub(crate) async fn serve_state(state: Arc<GatewayState>, clock: FakeClock) -> Harness {
    let (l, addr) = listener().await;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(floodgate_gateway::serve(l, Arc::clone(&state), async {
        let _ = stopped.await;
    }));
    Harness {
        base: format!("http://{addr}"),
        mock: String::new(),
        clock,
        state,
        client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        _stops: vec![stop],
    }
}

/// A body of these bytes.
pub(crate) fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).boxed()
}

/// A body of these bytes in chunks of `size`, whose length is not known up front (so it
/// goes out chunked, without Content-Length).
#[allow(dead_code)] // not every test file streams bodies
pub(crate) fn chunked(bytes: &[u8], size: usize) -> TestBody {
    let chunks: Vec<Result<http_body::Frame<Bytes>, Infallible>> = bytes
        .chunks(size)
        .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    http_body_util::StreamBody::new(futures_util::stream::iter(chunks)).boxed()
}

impl Harness {
    /// Sends `request` (its URI a path on the gateway, or a full URL).
    pub(crate) async fn send(&self, mut request: Request<TestBody>) -> Reply {
        if request.uri().scheme().is_none() {
            *request.uri_mut() = format!("{}{}", self.base, request.uri())
                .parse()
                .expect("URI");
        }
        let response = self.client.request(request).await.expect("HTTP exchange");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// POSTs a JSON `body` to `path` with `key` as a bearer token (if any) and extra
    /// headers.
    pub(crate) async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        body: &str,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/json");
        if let Some(key) = key {
            b = b.header("authorization", format!("Bearer {key}"));
        }
        for (name, value) in extra {
            b = b.header(*name, *value);
        }
        self.send(b.body(full(body.to_owned())).expect("request"))
            .await
    }

    /// GETs `path` with `key` in `x-api-key`.
    pub(crate) async fn get(&self, path: &str, key: &str) -> Reply {
        let request = Request::builder()
            .uri(path)
            .header("x-api-key", key)
            .body(full(Bytes::new()))
            .expect("request");
        self.send(request).await
    }

    /// The mock's `/mock/stats`.
    pub(crate) async fn mock_stats(&self) -> serde_json::Value {
        let request = Request::builder()
            .uri(format!("{}/mock/stats", self.mock))
            .body(full(Bytes::new()))
            .expect("request");
        self.send(request).await.json()
    }

    /// Moves the store's clock forward.
    pub(crate) fn advance_secs(&self, secs: u64) {
        self.clock.advance(std::time::Duration::from_secs(secs));
    }
}

impl Harness {
    /// Keeps `stop` (a server's stop handle) until the harness is dropped.
    pub(crate) fn keep(&mut self, stop: oneshot::Sender<()>) {
        self._stops.push(stop);
    }

    /// The store's clock in whole Unix seconds.
    pub(crate) fn clock_secs(&self) -> u64 {
        use floodgate_core::Clock as _;
        self.clock.now() / NANOS_PER_SEC
    }
}
