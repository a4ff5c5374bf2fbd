//! Keep-alive HTTP/1 connections to the upstream, on hyper's connection API.
//!
//! A request takes the most recently used idle connection to its upstream that is ready,
//! or opens one, sends, and puts the connection back as soon as the response head is
//! in: hyper makes the connection ready again once it has read that response's body, and
//! until then the next request passes it by. A request that never left because the
//! upstream had just closed a reused connection is sent again on another one.
//!
//! Compared with hyper-util's pooled `Client` this costs no spawned task, checkout future
//! or boxed future per request, only a short lock of the list of connections.

use crate::body::UpstreamBody;
use axum::http::uri::Authority;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::io;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpStream;

/// Probes sent on a connection idle this long, so a dead peer is noticed.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Idle connections are closed after this many [`Pool::reap`] rounds without use.
const IDLE_ROUNDS: u8 = 18;

/// A connection in the pool.
struct Pooled {
    /// The upstream it is connected to (a reload may change the upstream).
    authority: Authority,
    /// Where requests go in.
    sender: SendRequest<UpstreamBody>,
    /// Reaping rounds it has been found idle in a row.
    idle_rounds: u8,
}

/// Why a request did not get a response head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection could be opened.
    #[error("connect: {0}")]
    Connect(#[source] io::Error),
    /// The connection failed while the request was sent or its answer awaited.
    #[error("request: {0}")]
    Request(#[source] hyper::Error),
}

/// The connections to the upstream, in use or idle.
#[derive(Default)]
pub(crate) struct Pool {
    /// Every open connection, most recently used last.
    connections: Mutex<Vec<Pooled>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    /// Sends `request` to `authority` and returns the response head, its body streaming.
    pub(crate) async fn send(
        &self,
        authority: &Authority,
        mut request: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, SendError> {
        loop {
            // A connection taken out goes back with its own copy of the authority, so
            // reusing one copies nothing.
            let (mut pooled, reused) = match self.take(authority) {
                Some(pooled) => (pooled, true),
                None => {
                    let pooled = Pooled {
                        authority: authority.clone(),
                        sender: connect(authority).await?,
                        idle_rounds: 0,
                    };
                    (pooled, false)
                }
            };
            match pooled.sender.try_send_request(request).await {
                Ok(response) => {
                    pooled.idle_rounds = 0;
                    self.lock().push(pooled);
                    return Ok(response);
                }
                Err(mut failed) => match failed.take_message() {
                    // Nothing was written: the upstream closed this idle connection.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(SendError::Request(failed.into_error())),
                },
            }
        }
    }

    /// Closes connections idle for [`IDLE_ROUNDS`] calls in a row; call it now and then.
    pub(crate) fn reap(&self) {
        let mut connections = self.lock();
        connections.retain_mut(|c| {
            if c.sender.is_ready() {
                c.idle_rounds = c.idle_rounds.saturating_add(1);
            } else {
                c.idle_rounds = 0;
            }
            !c.sender.is_closed() && c.idle_rounds < IDLE_ROUNDS
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pooled>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used ready connection to `authority`, taken out of the list;
    /// closed connections met on the way are dropped.
    fn take(&self, authority: &Authority) -> Option<Pooled> {
        let mut connections = self.lock();
        let mut i = connections.len();
        while i > 0 {
            i -= 1;
            let c = &connections[i];
            if c.sender.is_closed() {
                connections.swap_remove(i);
            // Byte equality, not Authority's case-insensitive comparison: every request
            // names its upstream as the configuration wrote it, and this runs per request.
            } else if c.sender.is_ready() && c.authority.as_str() == authority.as_str() {
                return Some(connections.swap_remove(i));
            }
        }
        None
    }
}

/// Opens a connection to `authority` (port 80 unless it names one) and starts serving it.
async fn connect(authority: &Authority) -> Result<SendRequest<UpstreamBody>, SendError> {
    let port = authority.port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((authority.host(), port))
        .await
        .map_err(SendError::Connect)?;
    // The request head and a small body leave in one write, and the answer must not wait
    // for a delayed ACK.
    tcp.set_nodelay(true).map_err(SendError::Connect)?;
    let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
    if let Err(e) = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "TCP keepalive not set on an upstream connection");
    }
    // As on the gateway's own connections: head and body copied into one buffer, one
    // send per request.
    let (mut sender, connection) = http1::Builder::new()
        .writev(false)
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(SendError::Request)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    sender.ready().await.map_err(SendError::Request)?;
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::net::TcpListener;

    /// An upstream on 127.0.0.1 answering "ok" to everything; counts its connections.
    async fn upstream() -> (Authority, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let service = hyper::service::service_fn(|_| async {
                    Ok::<_, std::convert::Infallible>(Response::new(http_body_util::Full::new(
                        Bytes::from_static(b"ok"),
                    )))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        (authority, accepted)
    }

    async fn get(pool: &Pool, authority: &Authority) -> Bytes {
        let request = Request::get("/").body(UpstreamBody::full(Bytes::new()));
        let response = pool.send(authority, request.unwrap()).await.unwrap();
        response.into_body().collect().await.unwrap().to_bytes()
    }

    /// Lets the connections' tasks run until every pooled connection is ready again:
    /// hyper marks one ready once it has polled for the next request.
    async fn settle(pool: &Pool) {
        for _ in 0..100 {
            if pool.lock().iter().all(|c| c.sender.is_ready()) {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn requests_one_after_another_share_one_connection() {
        let (authority, accepted) = upstream().await;
        let pool = Pool::default();
        for _ in 0..3 {
            assert_eq!(get(&pool, &authority).await, "ok");
            settle(&pool).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.lock().len(), 1);
    }

    #[tokio::test]
    async fn another_upstream_gets_its_own_connection() {
        let (first, first_accepted) = upstream().await;
        let (second, second_accepted) = upstream().await;
        let pool = Pool::default();
        get(&pool, &first).await;
        settle(&pool).await;
        get(&pool, &second).await;
        assert_eq!(first_accepted.load(Ordering::SeqCst), 1);
        assert_eq!(second_accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn idle_connections_are_closed_after_enough_rounds() {
        let (authority, _) = upstream().await;
        let pool = Pool::default();
        get(&pool, &authority).await;
        settle(&pool).await;
        for _ in 1..IDLE_ROUNDS {
            pool.reap();
        }
        assert_eq!(pool.lock().len(), 1, "still young enough");
        pool.reap();
        assert!(pool.lock().is_empty());
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority: Authority = listener.local_addr().unwrap().to_string().parse().unwrap();
        drop(listener);
        let request = Request::get("/").body(UpstreamBody::full(Bytes::new()));
        let sent = Pool::default().send(&authority, request.unwrap()).await;
        assert!(matches!(sent, Err(SendError::Connect(_))));
    }
}
