//! Serving the gateway on a listener the caller bound, until a shutdown signal; then
//! open requests finish before `serve` returns. The metrics can have a listener of
//! their own.

use crate::app::{app, metrics_app};
use crate::state::GatewayState;
use axum::serve::ListenerExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often buffered histogram samples are folded into their buckets.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Serves the gateway on `listener` until `shutdown` completes, then finishes the
/// requests in flight and returns.
pub async fn serve(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, store = state.store().name(), "gateway listening");
    }
    // Headers and body chunks leave in separate writes when a response streams; without
    // NODELAY, Nagle's algorithm holds the second one back for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    let upkeep = tokio::spawn({
        let state = Arc::clone(&state);
        async move {
            let mut every = tokio::time::interval(METRICS_UPKEEP);
            loop {
                every.tick().await;
                state.metrics().run_upkeep();
            }
        }
    });
    let served = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    upkeep.abort();
    served
}

/// Serves only `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "metrics listening");
    }
    axum::serve(listener, metrics_app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
