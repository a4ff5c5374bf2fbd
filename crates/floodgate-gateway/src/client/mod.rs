//! The client that forwards requests to the upstream: keep-alive HTTP/1.1 connections of
//! its own (httparse for the answer's head), each driven by the task of the request
//! that holds it.
//!
//! Why not hyper's client: it runs each connection as a task of its own, and hands the
//! request to it and the answer back through channels, so every proxied request paid for
//! two channels, the wake-ups of two tasks and a second HTTP encoder and parser over the
//! gateway's own server connection. Here the request's task writes the request, reads the
//! answer's head and then, as the client's side asks for it, the body
//! ([`ResponseBody`]); the connection goes back to the pool when the body has been read
//! to its end, and is closed if it is dropped before.
//!
//! A request takes the most recently used idle connection to its upstream, or opens one.
//! An idle connection the upstream has closed is noticed before it is used (the runtime
//! has seen it become readable) and dropped; a request is never sent twice.

mod body;
mod conn;
mod head;

pub(crate) use body::ResponseBody;
use conn::Conn;
pub(crate) use conn::ExchangeError;
pub(crate) use head::Rewrite;

use crate::body::UpstreamBody;
use axum::http::uri::Authority;
use axum::http::{Request, Response};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

/// Idle connections are closed after this many [`Pool::reap`] rounds without use.
const IDLE_ROUNDS: u8 = 18;

/// Why a request did not get a response head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    /// No connection could be opened.
    #[error("connect: {0}")]
    Connect(#[source] io::Error),
    /// The connection failed while the request was sent or its answer awaited.
    #[error("request: {0}")]
    Request(#[source] ExchangeError),
}

/// The idle connections to the upstream; cheap to clone (one list behind an `Arc`).
#[derive(Clone, Default)]
pub(crate) struct Pool {
    /// Idle connections, most recently used last.
    idle: Arc<Mutex<Vec<Conn>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    /// Sends `request` to `authority` and returns the response head, its body streaming
    /// from the connection.
    pub(crate) async fn send(
        &self,
        authority: &Authority,
        request: Request<UpstreamBody>,
        rewrite: &Rewrite<'_>,
    ) -> Result<Response<ResponseBody>, SendError> {
        let (parts, body) = request.into_parts();
        let mut conn = match self.take(authority) {
            Some(conn) => conn,
            None => Conn::open(authority).await.map_err(SendError::Connect)?,
        };
        let head = conn
            .exchange(&parts, body, rewrite)
            .await
            .map_err(SendError::Request)?;
        let body = ResponseBody::new(conn, head.body, head.keep_alive, self.clone());
        Ok(Response::from_parts(head.parts, body))
    }

    /// Closes connections idle for [`IDLE_ROUNDS`] calls in a row, and those the
    /// upstream has closed; call it now and then.
    pub(crate) fn reap(&self) {
        self.lock().retain_mut(|c| {
            c.idle_rounds = c.idle_rounds.saturating_add(1);
            c.idle_rounds < IDLE_ROUNDS && c.is_usable()
        });
    }

    /// Puts a connection whose answer has been read back in the list.
    fn put(&self, mut conn: Conn) {
        conn.idle_rounds = 0;
        self.lock().push(conn);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle connection to `authority`, taken out of the list;
    /// closed connections met on the way are dropped.
    fn take(&self, authority: &Authority) -> Option<Conn> {
        let mut idle = self.lock();
        let mut i = idle.len();
        while i > 0 {
            i -= 1;
            let c = &mut idle[i];
            if !c.is_usable() {
                idle.swap_remove(i);
            // Byte equality, not Authority's case-insensitive comparison: every request
            // names its upstream as the configuration wrote it, and this runs per request.
            } else if c.authority.as_str() == authority.as_str() {
                return Some(idle.swap_remove(i));
            }
        }
        None
    }

    /// Idle connections in the list.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
