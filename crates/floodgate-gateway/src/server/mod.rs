//! The gateway's own HTTP/1.1 connection loop, for the plain requests that are nearly all
//! of its traffic: a head and a small body read into one buffer, parsed in place
//! (`request`), answered by the same handlers hyper would call, and the answer written
//! from the same task (`response`), its body streamed as it comes.
//!
//! hyper's server builds the same request, but around it runs a generic dispatcher: a body
//! channel per request, a boxed handler future, a write queue, its own date cache and
//! keep-alive state machine. On the proxied path that machinery was about a third of the
//! gateway's user-space work per request. The first request that is not plain (a
//! transfer coding, `Expect`, HTTP/1.0, a large body, a head hyper would refuse; see
//! `request`) hands the connection, with every byte read and not served, to hyper's
//! server (`rewind`), which serves it from there on exactly as before.

mod request;
mod response;
pub(crate) mod rewind;

#[cfg(test)]
mod proptests;

use crate::app::own_endpoint;
use crate::proxy;
use crate::state::GatewayState;
use crate::stopping::{Stopping, Watch};
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::Response;
use axum::Router;
use bytes::{Bytes, BytesMut};
use futures_util::future::Either;
use http_body::Body as _;
use request::Parsed;
use response::Framing;
use rewind::Rewind;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tower_service::Service as _;

/// Bytes read at a time, at least.
const READ_SIZE: usize = 16 * 1024;

/// Most bytes held unserved: a head not complete by then, or requests pipelined beyond
/// it, are hyper's to read (it refuses a head over its own limit).
const MOST_BUFFERED: usize = 128 * 1024;

/// Answer bytes gathered before they are written; a larger piece of a body is written
/// on its own rather than copied.
const GATHER: usize = 16 * 1024;

/// Serves requests on `io` until the client closes it, the server stops, or a request
/// comes that hyper's server is to serve: then the connection is returned, with the
/// bytes read and not yet served in front.
pub(crate) async fn serve(
    mut io: TcpStream,
    state: &Arc<GatewayState>,
    router: &Router,
    stopping: &Arc<Stopping>,
) -> Option<Rewind> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut watch = None;
    loop {
        let request = loop {
            match request::parse(&mut buf) {
                Parsed::Ready(request) => break request,
                Parsed::Other => return Some(Rewind::new(io, buf.freeze())),
                Parsed::Partial if buf.len() >= MOST_BUFFERED => {
                    return Some(Rewind::new(io, buf.freeze()))
                }
                Parsed::Partial => {}
            }
            match read(&mut io, &mut buf, stopping, &mut watch).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        };
        match answer(
            &mut io, &mut buf, &mut out, state, router, stopping, request,
        )
        .await
        {
            Ok(true) => {}
            _ => return None,
        }
    }
}

/// Reads more of a request into `buf`; 0 at the end of the connection, or when the server
/// stops while the connection is idle between requests.
async fn read(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    stopping: &Arc<Stopping>,
    watch: &mut Option<Watch>,
) -> io::Result<usize> {
    if buf.capacity() - buf.len() < READ_SIZE / 4 {
        buf.reserve(READ_SIZE);
    }
    poll_fn(|cx| {
        if buf.is_empty() {
            stopping.keep_watching(watch, cx.waker());
            if stopping.is_stopped() {
                return Poll::Ready(Ok(0));
            }
        }
        // the socket's own read: a short read marks it drained, so watching it for the
        // client leaving (`client_gone`) costs no read of its own while it is quiet
        tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, buf)
    })
    .await
}

/// Answers `request` and writes the answer; whether the connection can carry another.
#[allow(clippy::too_many_arguments)] // the loop's own state, passed down once
async fn answer(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    out: &mut Vec<u8>,
    state: &Arc<GatewayState>,
    router: &Router,
    stopping: &Stopping,
    request: Request<Body>,
) -> io::Result<bool> {
    let answering = if own_endpoint(request.uri().path()) {
        let routed = router.clone().call(request);
        Either::Right(async move {
            match routed.await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
    } else {
        Either::Left(proxy::handle(State(Arc::clone(state)), request))
    };
    let mut answering = pin!(answering);
    // A client that leaves while its answer is worked on takes it with it, as with
    // hyper's server: the upstream exchange is dropped, its slot released.
    let response = poll_fn(|cx| match answering.as_mut().poll(cx) {
        Poll::Ready(response) => Poll::Ready(Some(response)),
        Poll::Pending if client_gone(io, buf, cx) => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    })
    .await;
    let Some(response) = response else {
        return Ok(false);
    };
    // Stopping: this is the connection's last answer, and the client is told so, as
    // hyper's server tells it, rather than finding the connection closed under its next
    // request.
    let last = stopping.is_stopped();
    Ok(write(io, buf, out, response, last).await? && !last)
}

/// What writing an answer's body does next.
enum Step {
    /// Write what was gathered, then this piece of the body if any.
    Write(Option<Bytes>),
    /// The body ended: write what was gathered, and the end of the framing.
    End,
    /// The body failed, or the client left: close the connection.
    Stop,
}

/// Writes `response`, its body as it comes, saying `connection: close` if it is the
/// `last`; whether the connection can carry another.
async fn write(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    out: &mut Vec<u8>,
    response: Response,
    last: bool,
) -> io::Result<bool> {
    let (parts, body) = response.into_parts();
    let mut body = pin!(body);
    out.clear();
    let written = response::encode(out, &parts, body.size_hint().exact(), last);
    let (framing, keep_alive) = (written.framing, !written.closes);
    if framing == Framing::Empty {
        io.write_all(out).await?;
        return Ok(keep_alive);
    }
    let mut sent = 0u64;
    loop {
        let step = poll_fn(|cx| loop {
            match body.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    // trailers are not sent: the client did not ask for them (no `TE`)
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    sent += data.len() as u64;
                    if matches!(framing, Framing::Length(len) if sent > len) {
                        tracing::debug!("an answer's body ran past its length");
                        return Poll::Ready(Step::Stop);
                    }
                    if data.len() > GATHER {
                        return Poll::Ready(Step::Write(Some(data)));
                    }
                    response::data_into(out, &data, framing);
                    if out.len() >= GATHER {
                        return Poll::Ready(Step::Write(None));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(error = %e, "an answer's body failed while it was sent");
                    return Poll::Ready(Step::Stop);
                }
                Poll::Ready(None) => return Poll::Ready(Step::End),
                Poll::Pending if !out.is_empty() => return Poll::Ready(Step::Write(None)),
                Poll::Pending if client_gone(io, buf, cx) => return Poll::Ready(Step::Stop),
                Poll::Pending => return Poll::Pending,
            }
        })
        .await;
        match step {
            Step::Write(piece) => {
                if let Some(data) = piece {
                    if framing == Framing::Chunked {
                        crate::wire::chunk_size_into(out, data.len());
                    }
                    io.write_all(out).await?;
                    io.write_all(&data).await?;
                    out.clear();
                    if framing == Framing::Chunked {
                        out.extend_from_slice(b"\r\n");
                    }
                } else {
                    io.write_all(out).await?;
                    out.clear();
                }
            }
            Step::End => {
                if framing == Framing::Chunked {
                    out.extend_from_slice(response::LAST_CHUNK);
                }
                io.write_all(out).await?;
                out.clear();
                let whole = !matches!(framing, Framing::Length(len) if sent != len);
                if !whole {
                    tracing::debug!("an answer's body ended short of its length");
                }
                return Ok(keep_alive && whole);
            }
            Step::Stop => return Ok(false),
        }
    }
}

/// Whether the client has closed the connection (or it failed) while an answer is worked
/// on. What it sends meanwhile (a pipelined request) is kept in `buf`, up to
/// [`MOST_BUFFERED`]; past that the socket is not read until the answer is written.
fn client_gone(io: &TcpStream, buf: &mut BytesMut, cx: &mut Context<'_>) -> bool {
    loop {
        if buf.len() >= MOST_BUFFERED {
            return false;
        }
        match io.poll_read_ready(cx) {
            Poll::Pending => return false,
            Poll::Ready(Err(_)) => return true,
            Poll::Ready(Ok(())) => {
                if buf.capacity() - buf.len() < READ_SIZE / 4 {
                    buf.reserve(READ_SIZE);
                }
                match io.try_read_buf(buf) {
                    Ok(0) => return true,
                    // more may follow, or the readiness is cleared: look again
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return true,
                }
            }
        }
    }
}
