//! Serving the gateway on a listener the caller bound, until a shutdown signal; then
//! open requests finish before `serve` returns. The metrics can have a listener of
//! their own.
//!
//! Each accepted connection is served first by the gateway's own HTTP/1.1 loop
//! ([`crate::server`]), which takes the plain requests that are nearly all of its
//! traffic; from the first request it leaves, the connection goes on under hyper's HTTP/1
//! server. The gateway speaks HTTP/1 only and never upgrades a connection, so hyper's
//! server is used directly, without the protocol sniffing and per-request upgrade
//! channel of a generic one. Under hyper, proxied requests go to the proxy handler
//! without the axum [`Router`], which serves the gateway's own endpoints.

use crate::app::{app, metrics_app, own_endpoint};
use crate::proxy;
use crate::server::rewind::Rewind;
use crate::state::GatewayState;
use crate::stopping::{Stopping, Watch};
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_service::Service as _;

/// How often buffered histogram samples are folded into their buckets, and idle upstream
/// connections counted (the pool closes them after 90 s unused).
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// How long to wait before accepting again after an error such as too many open files.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves the gateway on `listener` until `shutdown` completes, then finishes the
/// requests in flight and returns.
pub async fn serve(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, store = state.store().name(), "gateway listening");
    }
    let upkeep = tokio::spawn({
        let state = Arc::clone(&state);
        async move {
            let mut every = tokio::time::interval(METRICS_UPKEEP);
            loop {
                every.tick().await;
                state.metrics().run_upkeep();
                state.client.reap();
            }
        }
    });
    let service = Routed {
        router: app(Arc::clone(&state)),
        proxy: Some(state),
    };
    run(listener, service, shutdown).await;
    upkeep.abort();
    Ok(())
}

/// Serves only `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics listening");
    }
    let service = Routed {
        router: metrics_app(state),
        proxy: None,
    };
    run(listener, service, shutdown).await;
    Ok(())
}

/// The answer to one request, as hyper awaits it.
type Answering = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// The router as a hyper service; with `proxy`, a request for any path that is not one
/// of the gateway's own endpoints goes straight to the proxy (the router's fallback),
/// skipping the router's path lookup, request conversions and its boxed handler call.
#[derive(Clone)]
struct Routed {
    /// Every request when `proxy` is `None`; the gateway's own endpoints otherwise.
    router: Router,
    /// The gateway the proxy handler serves.
    proxy: Option<Arc<GatewayState>>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Routed {
    type Response = Response;
    type Error = Infallible;
    type Future = Answering;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        match &self.proxy {
            Some(state) if !own_endpoint(request.uri().path()) => {
                let state = Arc::clone(state);
                let request = request.map(Body::new);
                Box::pin(async move { Ok(proxy::handle(State(state), request).await) })
            }
            // A router's clone is one reference count; it is always ready.
            _ => Box::pin(self.router.clone().call(request)),
        }
    }
}

/// Accepts connections until `shutdown`, then tells every open connection to finish its
/// request in flight and close, and waits for all of them.
async fn run(
    listener: TcpListener,
    service: Routed,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // The accept loop and the connections watch `stopping`; the listener waits for every
    // connection's clone of `done_rx` to be dropped.
    let stopping = Arc::new(Stopping::default());
    tokio::spawn({
        let stopping = Arc::clone(&stopping);
        async move {
            shutdown.await;
            stopping.stop();
        }
    });
    let (done_tx, done_rx) = watch::channel(());
    let mut builder = http1::Builder::new();
    // A response's head and a small body are copied into one buffer and leave in one
    // send, rather than gathered from a queue of buffers into a writev: the same one
    // system call, for fewer instructions.
    builder.half_close(false).writev(false);
    // one wait for the whole loop: its watch is made once, not per accepted connection
    let mut stopped = pin!(stopping.stopped());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped.as_mut() => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                accept_error(e).await;
                continue;
            }
        };
        // Headers and body chunks leave in separate writes when a response streams;
        // without NODELAY, Nagle's algorithm holds the second one back for the client's
        // delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let service = service.clone();
        let builder = builder.clone();
        let stopping = Arc::clone(&stopping);
        let done = done_rx.clone();
        tokio::spawn(async move {
            // Plain requests are served by the gateway's own loop; the connection goes on
            // under hyper's server from the first one that is not (see `server`).
            let io = match &service.proxy {
                Some(state) => {
                    match crate::server::serve(tcp, state, &service.router, &stopping).await {
                        Some(handed) => handed,
                        None => return drop(done),
                    }
                }
                None => Rewind::new(tcp, Bytes::new()),
            };
            let connection = builder.serve_connection(TokioIo::new(io), service);
            let mut connection = pin!(connection);
            let (mut watch, mut asked) = (None::<Watch>, false);
            let served = std::future::poll_fn(|cx| {
                stopping.keep_watching(&mut watch, cx.waker());
                if !asked && stopping.is_stopped() {
                    asked = true;
                    connection.as_mut().graceful_shutdown();
                }
                connection.as_mut().poll(cx)
            })
            .await;
            log_end(served);
            drop(watch);
            drop(done);
        });
    }
    drop(done_rx);
    drop(listener);
    done_tx.closed().await;
}

fn log_end(served: hyper::Result<()>) {
    if let Err(e) = served {
        tracing::trace!(error = %e, "connection ended with an error");
    }
}

/// A failed accept: a connection that went away before it was accepted is skipped;
/// anything else (out of file descriptors, say) is logged and waited out, rather than
/// spinning on it.
async fn accept_error(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(ACCEPT_BACKOFF).await;
}
