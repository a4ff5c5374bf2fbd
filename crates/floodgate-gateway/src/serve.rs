//! Serving the gateway on a listener the caller bound, until a shutdown signal; then
//! open requests finish before `serve` returns.

use crate::app::app;
use crate::state::GatewayState;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

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
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
