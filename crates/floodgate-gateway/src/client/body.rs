//! An upstream answer's body, read from its connection as the client's side asks for it,
//! in the framing its head announced (a length, chunks, or up to the close). Once the
//! body has been read to its end, the connection goes back to the pool; a body dropped
//! before its end closes it.

use super::conn::Conn;
use super::head::Incoming;
use super::Pool;
use bytes::{Buf, Bytes};
use http_body::{Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Longest chunk-size line or trailer line accepted.
const MOST_LINE: usize = 4096;

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// At a chunk-size line.
    Size,
    /// In a chunk's data, with this many bytes left.
    Data(u64),
    /// At the line break after a chunk's data.
    DataEnd,
    /// In the trailer section, after the last chunk.
    Trailers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes left.
    Length(u64),
    Chunked(Chunk),
    /// Until the connection closes.
    Close,
    Done,
}

/// The body of an upstream answer.
#[derive(Debug)]
pub(crate) struct ResponseBody {
    /// The connection, until the body has been read (or failed).
    conn: Option<Conn>,
    state: State,
    /// Whether the connection carries another request after this body.
    keep_alive: bool,
    /// Where the connection goes back to.
    pool: Pool,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

impl ResponseBody {
    pub(super) fn new(conn: Conn, framing: Incoming, keep_alive: bool, pool: Pool) -> Self {
        let state = match framing {
            Incoming::Empty => State::Done,
            Incoming::Length(n) => State::Length(n),
            Incoming::Chunked => State::Chunked(Chunk::Size),
            Incoming::Close => State::Close,
        };
        let mut body = Self {
            conn: Some(conn),
            state,
            keep_alive,
            pool,
        };
        if state == State::Done {
            body.finish();
        }
        body
    }

    /// The body was read to its end: the connection goes back to the pool if it can carry
    /// another request (and the upstream sent nothing past the answer).
    fn finish(&mut self) {
        self.state = State::Done;
        if let Some(conn) = self.conn.take() {
            if self.keep_alive && conn.buf.is_empty() {
                self.pool.put(conn);
            }
        }
    }

    /// Ends the body with `error`; the connection is closed.
    fn fail(&mut self, error: io::Error) -> Next {
        self.state = State::Done;
        self.conn = None;
        Next::Frame(Err(error))
    }

    /// Reads more from the connection: `Again` once bytes came, else the body's failure.
    fn fill(&mut self, cx: &mut Context<'_>, early_end: &str) -> Poll<Next> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Next::End);
        };
        Poll::Ready(match ready!(conn.poll_fill(cx)) {
            Ok(0) if self.state == State::Close => {
                self.finish();
                Next::End
            }
            Ok(0) => self.fail(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                early_end.to_owned(),
            )),
            Ok(_) => Next::Again,
            Err(e) => self.fail(e),
        })
    }

    /// One step of reading the body.
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Next::End);
        };
        let data = match self.state {
            State::Done => return Poll::Ready(Next::End),
            State::Length(_) | State::Close | State::Chunked(Chunk::Data(_))
                if conn.buf.is_empty() =>
            {
                return self.fill(
                    cx,
                    "the upstream closed the connection before the end of the body",
                );
            }
            State::Length(left) => {
                let data = take(&mut conn.buf, left);
                let left = left - data.len() as u64;
                self.state = State::Length(left);
                if left == 0 {
                    self.finish();
                }
                data
            }
            State::Close => conn.buf.split().freeze(),
            State::Chunked(Chunk::Data(left)) => {
                let data = take(&mut conn.buf, left);
                let left = left - data.len() as u64;
                self.state = State::Chunked(if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                });
                data
            }
            State::Chunked(Chunk::DataEnd) => {
                if conn.buf.len() < 2 {
                    return self.fill(
                        cx,
                        "the upstream closed the connection inside a chunked body",
                    );
                }
                if &conn.buf[..2] != b"\r\n" {
                    return Poll::Ready(
                        self.fail(invalid("chunk data not followed by a line break")),
                    );
                }
                conn.buf.advance(2);
                self.state = State::Chunked(Chunk::Size);
                return Poll::Ready(Next::Again);
            }
            State::Chunked(chunk @ (Chunk::Size | Chunk::Trailers)) => {
                let Some(end) = memchr::memmem::find(&conn.buf, b"\r\n") else {
                    if conn.buf.len() > MOST_LINE {
                        return Poll::Ready(self.fail(invalid("chunk header line too long")));
                    }
                    return self.fill(
                        cx,
                        "the upstream closed the connection inside a chunked body",
                    );
                };
                let line = conn.buf.split_to(end + 2);
                let line = &line[..end];
                if chunk == Chunk::Trailers {
                    // trailer fields are dropped; an empty line ends the body
                    if line.is_empty() {
                        self.finish();
                        return Poll::Ready(Next::End);
                    }
                    return Poll::Ready(Next::Again);
                }
                // chunk-size is 1*HEXDIG, then optional whitespace before extensions
                // (`from_str_radix` alone would also take a sign)
                let digits = line
                    .split(|&b| b == b';')
                    .next()
                    .unwrap_or_default()
                    .trim_ascii_end();
                let size = std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|d| u64::from_str_radix(d, 16).ok());
                let Some(size) = size else {
                    return Poll::Ready(self.fail(invalid("invalid chunk size")));
                };
                self.state = State::Chunked(if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                });
                return Poll::Ready(Next::Again);
            }
        };
        Poll::Ready(Next::Frame(Ok(Frame::data(data))))
    }
}

/// What a step of reading led to.
enum Next {
    Frame(Result<Frame<Bytes>, io::Error>),
    End,
    /// Step again: something was consumed or read.
    Again,
}

/// Up to `most` bytes from the front of `buf`.
fn take(buf: &mut bytes::BytesMut, most: u64) -> Bytes {
    let n = usize::try_from(most).map_or(buf.len(), |m| m.min(buf.len()));
    buf.split_to(n).freeze()
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            match ready!(this.step(cx)) {
                Next::Frame(frame) => return Poll::Ready(Some(frame)),
                Next::End => return Poll::Ready(None),
                Next::Again => {}
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Done => SizeHint::with_exact(0),
            State::Length(left) => SizeHint::with_exact(left),
            State::Chunked(_) | State::Close => SizeHint::default(),
        }
    }
}
