//! Servers for the client's tests, all on 127.0.0.1 ephemeral ports with the real clock:
//! the gateway in front of the mock model API (or an upstream a test writes), and
//! scripted upstreams that fail on purpose.

// Each test file uses a different part of this.
#![allow(dead_code)]

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use floodgate_config::Config;
use floodgate_gateway::GatewayState;
use floodgate_mock::MockOptions;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Running servers; dropping this stops them.
pub(crate) struct Servers {
    /// `http://127.0.0.1:PORT` of the gateway (or of the scripted server).
    pub(crate) base: String,
    _stops: Vec<oneshot::Sender<()>>,
}

/// `examples/<name>.toml`.
pub(crate) fn example(name: &str) -> Config {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", name]
        .iter()
        .collect::<PathBuf>()
        .with_extension("toml");
    Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A config from TOML text.
pub(crate) fn config(text: &str) -> Config {
    Config::from_str(text, "test.toml".as_ref()).unwrap_or_else(|e| panic!("{e}"))
}

/// One key (`sk-test`, account `test`, tier `t`) on one route, `POST /api/v1/txt2img`,
/// with `limits` (a TOML array) and the header conventions `headers`.
pub(crate) fn one_route(limits: &str, headers: &str) -> Config {
    config(&format!(
        r#"
[responses]
headers = {headers}
rejection_body = {{ message = "Too Many Attempts." }}

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
        floodgate_config::KeyHash::of("sk-test").to_hex()
    ))
}

async fn bind() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", l.local_addr().expect("addr"));
    (l, base)
}

/// Serves `router` until the returned sender is dropped.
pub(crate) async fn serve_router(router: Router) -> (String, oneshot::Sender<()>) {
    let (l, base) = bind().await;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(l, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    (base, stop)
}

/// The gateway with `config`, in front of the mock model API.
pub(crate) async fn gateway(config: Config) -> Servers {
    gateway_with(config, MockOptions::default()).await
}

/// The gateway with `config`, in front of a mock with `options`.
pub(crate) async fn gateway_with(config: Config, options: MockOptions) -> Servers {
    let (l, mock) = bind().await;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(floodgate_mock::serve(l, options, async {
        let _ = stopped.await;
    }));
    let mut servers = gateway_before(config, &mock).await;
    servers._stops.push(stop);
    servers
}

/// The gateway with `config`, in front of `upstream`, with the system clock.
pub(crate) async fn gateway_before(mut config: Config, upstream: &str) -> Servers {
    config.server.upstream = Some(upstream.to_owned());
    let state = Arc::new(GatewayState::new(config).expect("upstream URL"));
    let (l, base) = bind().await;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(floodgate_gateway::serve(l, state, async {
        let _ = stopped.await;
    }));
    Servers {
        base,
        _stops: vec![stop],
    }
}

/// A JSON answer with `status` and `headers`.
pub(crate) fn answer(status: u16, headers: &[(&'static str, String)]) -> axum::response::Response {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, value.parse().expect("header value"));
    }
    let status = StatusCode::from_u16(status).expect("status");
    (
        status,
        map,
        axum::Json(serde_json::json!({"status": status.as_u16()})),
    )
        .into_response()
}

impl Servers {
    /// Wraps a scripted server's address and stop handle.
    pub(crate) fn scripted(base: String, stop: oneshot::Sender<()>) -> Self {
        Self {
            base,
            _stops: vec![stop],
        }
    }
}
