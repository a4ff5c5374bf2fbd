//! One keep-alive HTTP/1.1 connection to the upstream, driven by the task of the request
//! that holds it: the request is written, the answer's head read and its body streamed
//! from the same task, with no connection task, channel or wake-up in between.

use super::head::{self, Head, Outgoing, Rewrite};
use crate::body::UpstreamBody;
use axum::http::uri::Authority;
use axum::http::{request, Method};
use bytes::BytesMut;
use futures_util::FutureExt;
use http_body::Body as _;
use http_body_util::BodyExt;
use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Probes sent on a connection idle this long, so a dead peer is noticed.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Longest response head read.
const MOST_HEAD: usize = 64 * 1024;

/// A small body leaves in the same write as the head up to this size.
const WITH_HEAD: usize = 64 * 1024;

/// The end of a chunked body.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Bytes read at a time, at least.
const READ_SIZE: usize = 16 * 1024;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// The connection failed, or the upstream broke the protocol.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The request body stopped (a limit, or the client went away).
    #[error("request body: {0}")]
    Body(#[from] crate::body::BodyError),
}

/// A connection to the upstream.
#[derive(Debug)]
pub(crate) struct Conn {
    io: TcpStream,
    /// The upstream it is connected to (a reload may change the upstream).
    pub(super) authority: Authority,
    /// Bytes read and not yet consumed.
    pub(super) buf: BytesMut,
    /// Bytes to write, reused from request to request.
    out: Vec<u8>,
    /// Reaping rounds it has been found idle in a row.
    pub(super) idle_rounds: u8,
}

impl Conn {
    /// Opens a connection to `authority` (port 80 unless it names one).
    pub(super) async fn open(authority: &Authority) -> io::Result<Self> {
        let port = authority.port_u16().unwrap_or(80);
        let io = TcpStream::connect((authority.host(), port)).await?;
        // The request head and a small body leave in one write, and the answer must not
        // wait for a delayed ACK.
        io.set_nodelay(true)?;
        let keepalive = socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE);
        if let Err(e) = socket2::SockRef::from(&io).set_tcp_keepalive(&keepalive) {
            tracing::debug!(error = %e, "TCP keepalive not set on an upstream connection");
        }
        Ok(Self {
            io,
            authority: authority.clone(),
            buf: BytesMut::new(),
            out: Vec::new(),
            idle_rounds: 0,
        })
    }

    /// Whether this idle connection can carry a request: not if the upstream has closed
    /// it or sent on it unasked. Costs a read only when the runtime holds the socket
    /// readable: something arrived since the last answer (a close, stray bytes), or that
    /// answer's last read filled the buffer exactly, so no short read marked it drained.
    pub(super) fn is_usable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.io.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0; 1];
                matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Sends the request and reads the answer's head; the body is then read with
    /// [`Conn::poll_fill`].
    pub(super) async fn exchange(
        &mut self,
        parts: &request::Parts,
        mut body: UpstreamBody,
        rewrite: &Rewrite<'_>,
    ) -> Result<Head, ExchangeError> {
        let outgoing = Outgoing::of(&parts.method, body.size_hint().exact());
        self.out.clear();
        head::encode(&mut self.out, parts, outgoing, rewrite);
        // The body's first bytes, when they are already here (a body the gateway read, or
        // one that came with the client's head), leave in the same write as the head.
        let mut rest = None;
        if outgoing != Outgoing::Empty {
            if let Some(frame) = body.frame().now_or_never().flatten() {
                if let Ok(data) = frame?.into_data() {
                    if data.len() <= WITH_HEAD {
                        frame_into(&mut self.out, &data, outgoing);
                    } else {
                        rest = Some(data);
                    }
                }
            }
        }
        let ended = rest.is_none() && body.is_end_stream();
        let method = &parts.method;
        if ended {
            if outgoing == Outgoing::Chunked {
                self.out.extend_from_slice(LAST_CHUNK);
            }
            // the whole request in one write, then its answer
            let written = self.io.write_all(&self.out).await;
            drop(body);
            let answer = read_head(&mut self.io, &mut self.buf, method, rewrite.room).await;
            return match written {
                Ok(()) => answer,
                Err(e) => after_failed_send(answer, e),
            };
        }
        // A body that streams is sent while the answer is watched for: an upstream may
        // refuse the upload before it has read it all, and then stop reading.
        let (mut reader, mut writer) = self.io.split();
        let mut sending = pin!(send(&mut writer, &mut self.out, &mut body, rest, outgoing));
        let mut answering = pin!(read_head(&mut reader, &mut self.buf, method, rewrite.room));
        let first = tokio::select! {
            biased;
            sent = sending.as_mut() => First::Sent(sent),
            answer = answering.as_mut() => First::Answered(answer),
        };
        match first {
            First::Sent(Ok(())) => answering.await,
            First::Sent(Err(ExchangeError::Io(e))) => after_failed_send(answering.await, e),
            First::Sent(Err(e)) => Err(e),
            First::Answered(Ok(mut head)) => {
                // A refusal stops the sending; an answer that goes on reading the body
                // gets all of it. Either way the connection is not reused: the upstream
                // answered out of turn.
                let refused = head.parts.status.as_u16() >= 400 || !head.keep_alive;
                head.keep_alive = false;
                if !refused {
                    if let Err(e @ ExchangeError::Body(_)) = sending.await {
                        return Err(e);
                    }
                }
                Ok(head)
            }
            First::Answered(Err(e)) => Err(e),
        }
    }

    /// Reads what the upstream has sent into `buf`: the number of bytes, 0 at its end.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        poll_fill(&mut self.io, &mut self.buf, cx)
    }
}

/// What ended first while a streaming body was sent: the sending, or the answer's head.
enum First {
    Sent(Result<(), ExchangeError>),
    Answered(Result<Head, ExchangeError>),
}

/// Reads what `io` has into `buf`: the number of bytes, 0 at its end.
fn poll_fill<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    if buf.capacity() - buf.len() < READ_SIZE / 4 {
        buf.reserve(READ_SIZE);
    }
    // the socket's own read: a short read tells it the socket is drained, so an idle
    // connection needs no read of its own to be known quiet (see `Conn::is_usable`)
    tokio_util::io::poll_read_buf(Pin::new(io), cx, buf)
}

/// Reads the answer's head (past any interim answer) from `io`, through `buf`, with
/// `room` for the headers the gateway adds to it.
async fn read_head<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    method: &Method,
    room: usize,
) -> Result<Head, ExchangeError> {
    loop {
        if !buf.is_empty() {
            if let Some(head) = head::parse(buf, method, room)? {
                // an interim answer (100 Continue, 103 Early Hints): the final one follows
                if head.parts.status.is_informational() {
                    continue;
                }
                return Ok(head);
            }
            if buf.len() > MOST_HEAD {
                return Err(
                    io::Error::new(io::ErrorKind::InvalidData, "response head too large").into(),
                );
            }
        }
        if std::future::poll_fn(|cx| poll_fill(io, buf, cx)).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the upstream closed the connection before answering",
            )
            .into());
        }
    }
}

/// The outcome of an exchange whose request could not be written whole (`failed`): an
/// upstream may answer before it has read the whole request (refusing an upload) and
/// close, and its answer, if it came, is the one to pass on.
fn after_failed_send(
    answer: Result<Head, ExchangeError>,
    failed: io::Error,
) -> Result<Head, ExchangeError> {
    match answer {
        Ok(mut head) => {
            head.keep_alive = false;
            Ok(head)
        }
        Err(_) => Err(failed.into()),
    }
}

/// Writes `out` (the head, and the body's first bytes), then `rest` and the rest of
/// `body`; `out` is then the scratch buffer of each chunk's framing.
async fn send<W: AsyncWrite + Unpin>(
    io: &mut W,
    out: &mut Vec<u8>,
    body: &mut UpstreamBody,
    rest: Option<bytes::Bytes>,
    outgoing: Outgoing,
) -> Result<(), ExchangeError> {
    io.write_all(out).await?;
    if let Some(data) = rest {
        write_data(io, out, &data, outgoing).await?;
    }
    while let Some(frame) = body.frame().await {
        // trailers are not forwarded
        if let Ok(data) = frame?.into_data() {
            write_data(io, out, &data, outgoing).await?;
        }
    }
    if outgoing == Outgoing::Chunked {
        io.write_all(LAST_CHUNK).await?;
    }
    Ok(())
}

async fn write_data<W: AsyncWrite + Unpin>(
    io: &mut W,
    out: &mut Vec<u8>,
    data: &[u8],
    outgoing: Outgoing,
) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    if outgoing == Outgoing::Chunked {
        // one write per chunk, its framing around it
        out.clear();
        frame_into(out, data, outgoing);
        io.write_all(out).await
    } else {
        io.write_all(data).await
    }
}

/// Appends `data` to `out` as the body's framing sends it.
fn frame_into(out: &mut Vec<u8>, data: &[u8], outgoing: Outgoing) {
    if data.is_empty() {
        return;
    }
    if outgoing == Outgoing::Chunked {
        crate::wire::chunk_into(out, data);
    } else {
        out.extend_from_slice(data);
    }
}
