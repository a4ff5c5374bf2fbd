//! The two message heads of an upstream exchange: the request's, written as bytes from
//! its parts, and the response's, parsed (httparse) into parts with the framing of its
//! body (RFC 9112, section 6).

use crate::wire::Fields;
use axum::http::{header, request, response, HeaderMap, HeaderName, HeaderValue, Method};
use axum::http::{StatusCode, Version};
use bytes::BytesMut;
use std::io;
use std::mem::MaybeUninit;

/// Most headers a response head may have.
const MOST_HEADERS: usize = 100;

/// How a request body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outgoing {
    /// No body.
    Empty,
    /// This many bytes.
    Length(u64),
    /// Chunked: the length is not known up front.
    Chunked,
}

impl Outgoing {
    /// The framing of a body of `exact` bytes if known, for a request with `method`.
    pub(super) fn of(method: &Method, exact: Option<u64>) -> Self {
        match exact {
            // a GET or HEAD without a body says nothing of one, as clients do
            Some(0)
                if matches!(
                    *method,
                    Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
                ) =>
            {
                Outgoing::Empty
            }
            Some(len) => Outgoing::Length(len),
            None => Outgoing::Chunked,
        }
    }
}

/// How a request's headers change on their way upstream, applied as its head is written
/// rather than to its header map.
pub(crate) struct Rewrite<'a> {
    /// Whether a header of the request is written.
    pub(crate) keeps: &'a (dyn Fn(&HeaderName) -> bool + Sync),
    /// Header lines (`name: value\r\n`) written after the request's own.
    pub(crate) adds: [&'a [u8]; 2],
    /// Headers the gateway adds to the answer, made room for in its map as it is built.
    pub(crate) room: usize,
}

#[cfg(test)]
impl Rewrite<'static> {
    /// Every header as it is, none added.
    pub(crate) const NONE: Self = Self {
        keeps: &|_| true,
        adds: [&[], &[]],
        room: 0,
    };
}

/// Appends the head of `parts` to `out`: its request line, its headers as `rewrite` says
/// but any framing ones, and the framing of `outgoing`.
pub(super) fn encode(
    out: &mut Vec<u8>,
    parts: &request::Parts,
    outgoing: Outgoing,
    rewrite: &Rewrite<'_>,
) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        // the body's framing is this client's to state (transfer-encoding is hop-by-hop
        // and already gone)
        if name == header::CONTENT_LENGTH || !(rewrite.keeps)(name) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for lines in rewrite.adds {
        out.extend_from_slice(lines);
    }
    match outgoing {
        Outgoing::Empty => {}
        Outgoing::Length(len) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Outgoing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// No body (a HEAD request's answer, 204, 304).
    Empty,
    /// This many bytes.
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) parts: response::Parts,
    pub(super) body: Incoming,
    /// Whether the connection can carry another request after this answer.
    pub(super) keep_alive: bool,
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Parses the response head at the start of `buf`, the answer to a `method` request, and
/// takes it out of `buf` (the header values keep its bytes, uncopied), its header map
/// with `room` for more; `None` while it is incomplete.
pub(super) fn parse(buf: &mut BytesMut, method: &Method, room: usize) -> io::Result<Option<Head>> {
    let Some(raw) = scan(buf)? else {
        return Ok(None);
    };
    let status = StatusCode::from_u16(raw.code).map_err(|_| invalid("invalid status code"))?;
    let version = if raw.minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let head = buf.split_to(raw.len).freeze();
    // Room for the rate-limit headers the gateway adds, so adding them does not grow the
    // map, and no more: a map of up to six entries is allocated on the allocator's fast
    // path for small blocks (up to 1 KiB), one of eight or more is not.
    let mut headers = HeaderMap::with_capacity(raw.fields.len() + room);
    let mut close = version == Version::HTTP_10;
    // the framing headers, noted as they go by rather than looked up again in the map
    let mut coding = None;
    let mut length = Length::None;
    for (name, value) in raw.fields {
        let (name, value) = (&head[name.range()], head.slice(value.range()));
        let name = crate::wire::name(name).map_err(|_| {
            invalid(format!(
                "invalid header name '{}'",
                String::from_utf8_lossy(name)
            ))
        })?;
        if name == header::CONNECTION {
            for token in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == Version::HTTP_10 {
                    close = false;
                }
            }
        }
        let value = HeaderValue::from_maybe_shared(value)
            .map_err(|_| invalid(format!("invalid value of header '{name}'")))?;
        if name == header::TRANSFER_ENCODING {
            coding = Some(value.clone());
        } else if name == header::CONTENT_LENGTH {
            length.add(&value);
        }
        headers.append(name, value);
    }
    let body = framing(coding.as_ref(), length, status, method)?;
    if body == Incoming::Chunked || coding.is_some() {
        // the transfer coding frames the body; a length beside it means nothing
        headers.remove(header::CONTENT_LENGTH);
    }
    let mut parts = response::Response::new(()).into_parts().0;
    parts.status = status;
    parts.version = version;
    parts.headers = headers;
    Ok(Some(Head {
        parts,
        body,
        keep_alive: !close && body != Incoming::Close,
    }))
}

/// Headers a response head usually fits in; a longer head is scanned again with room for
/// [`MOST_HEADERS`].
const USUAL_HEADERS: usize = 16;

/// A response head as httparse found it, its fields as spans of the buffer.
struct Raw {
    len: usize,
    code: u16,
    minor: u8,
    fields: Fields,
}

fn scan(buf: &[u8]) -> io::Result<Option<Raw>> {
    let mut usual = [const { MaybeUninit::uninit() }; USUAL_HEADERS];
    match scan_with(buf, &mut usual) {
        Err(httparse::Error::TooManyHeaders) => {
            let mut most = [const { MaybeUninit::uninit() }; MOST_HEADERS];
            scan_with(buf, &mut most)
        }
        scanned => scanned,
    }
    .map_err(|e| invalid(format!("invalid response head: {e}")))
}

fn scan_with<'b>(
    buf: &'b [u8],
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Option<Raw>, httparse::Error> {
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        slots,
    )?;
    let httparse::Status::Complete(len) = parsed else {
        return Ok(None);
    };
    Ok(Some(Raw {
        len,
        code: response.code.unwrap_or(0),
        minor: response.version.unwrap_or(1),
        fields: crate::wire::fields(buf, response.headers),
    }))
}

/// The `Content-Length` values of a head, as they were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    /// None was sent.
    None,
    /// Every value (a list counts as its items) said this.
    Is(u64),
    /// One was not 1*DIGIT, or two disagreed.
    Invalid(&'static str),
}

impl Length {
    /// Takes in one `Content-Length` value.
    fn add(&mut self, value: &HeaderValue) {
        for part in value.as_bytes().split(|&b| b == b',') {
            // 1*DIGIT: `parse` alone would also take a sign
            *self = match (*self, crate::wire::length(part.trim_ascii())) {
                (Length::Invalid(why), _) => Length::Invalid(why),
                (_, None) => Length::Invalid("invalid content-length"),
                (Length::Is(l), Some(n)) if l != n => {
                    Length::Invalid("conflicting content-length values")
                }
                (_, Some(n)) => Length::Is(n),
            };
        }
    }
}

/// How the body of a response ends, given the last transfer `coding` and the `length` its
/// head stated, its `status`, and the `method` of the request it answers.
fn framing(
    coding: Option<&HeaderValue>,
    length: Length,
    status: StatusCode,
    method: &Method,
) -> io::Result<Incoming> {
    if *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Incoming::Empty);
    }
    if let Some(te) = coding {
        let last = te
            .as_bytes()
            .rsplit(|&b| b == b',')
            .next()
            .unwrap_or_default();
        return Ok(if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            Incoming::Chunked
        } else {
            Incoming::Close
        });
    }
    match length {
        Length::Invalid(why) => Err(invalid(why)),
        Length::Is(0) => Ok(Incoming::Empty),
        Length::Is(n) => Ok(Incoming::Length(n)),
        Length::None => Ok(Incoming::Close),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str, method: &Method) -> Head {
        parse(&mut BytesMut::from(text), method, 0)
            .unwrap()
            .unwrap()
    }

    fn try_parse(text: &[u8], method: &Method) -> io::Result<Option<Head>> {
        parse(&mut BytesMut::from(text), method, 0)
    }

    #[test]
    fn request_heads_state_their_framing() {
        let (mut parts, ()) = request::Request::post("/v1/x?y=1")
            .header("host", "up")
            .header("content-length", "99")
            .body(())
            .unwrap()
            .into_parts();
        let mut out = Vec::new();
        encode(&mut out, &parts, Outgoing::Length(5), &Rewrite::NONE);
        assert_eq!(
            out,
            b"POST /v1/x?y=1 HTTP/1.1\r\nhost: up\r\ncontent-length: 5\r\n\r\n"
        );
        out.clear();
        parts.method = Method::GET;
        encode(
            &mut out,
            &parts,
            Outgoing::of(&Method::GET, Some(0)),
            &Rewrite::NONE,
        );
        assert_eq!(out, b"GET /v1/x?y=1 HTTP/1.1\r\nhost: up\r\n\r\n");
        out.clear();
        encode(&mut out, &parts, Outgoing::Chunked, &Rewrite::NONE);
        assert!(out.ends_with(b"transfer-encoding: chunked\r\n\r\n"));
        assert_eq!(Outgoing::of(&Method::POST, Some(0)), Outgoing::Length(0));
    }

    #[test]
    fn a_rewrite_leaves_out_and_adds_headers() {
        let (parts, ()) = request::Request::post("/v1/x")
            .header("host", "client")
            .header("x-api-key", "sk-1")
            .header("content-type", "application/json")
            .body(())
            .unwrap()
            .into_parts();
        let keeps = |name: &HeaderName| name != "host" && name != "x-api-key";
        let rewrite = Rewrite {
            keeps: &keeps,
            adds: [b"host: up\r\n", b"x-floodgate-tier: free\r\n"],
            room: 0,
        };
        let mut out = Vec::new();
        encode(&mut out, &parts, Outgoing::Length(2), &rewrite);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /v1/x HTTP/1.1\r\ncontent-type: application/json\r\nhost: up\r\n\
             x-floodgate-tier: free\r\ncontent-length: 2\r\n\r\n"
        );
    }

    #[test]
    fn response_framing() {
        let post = Method::POST;
        let mut buf =
            BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: b\r\n\r\nhello");
        let h = parse(&mut buf, &post, 2).unwrap().unwrap();
        assert_eq!((h.body, h.keep_alive), (Incoming::Length(12), true));
        assert_eq!(h.parts.headers["x-a"], "b");
        assert_eq!(buf, "hello", "the head is taken out of the buffer");
        // more headers than usual, and too many
        let many: String = (0..40).map(|i| format!("X-{i}: {i}\r\n")).collect();
        let h = head(
            &format!("HTTP/1.1 200 OK\r\n{many}Content-Length: 1\r\n\r\n"),
            &post,
        );
        assert_eq!((h.parts.headers.len(), h.body), (41, Incoming::Length(1)));
        for length in ["+1", "-1", "1 1", "0x1", ""] {
            let text = format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n");
            assert!(
                try_parse(text.as_bytes(), &post).is_err(),
                "content-length {length:?}"
            );
        }
        let too_many: String = (0..200).map(|i| format!("X-{i}: {i}\r\n")).collect();
        let text = format!("HTTP/1.1 200 OK\r\n{too_many}\r\n");
        assert!(try_parse(text.as_bytes(), &post).is_err());
        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            &post,
        );
        assert_eq!(h.body, Incoming::Chunked);
        let h = head(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            &post,
        );
        assert_eq!(h.body, Incoming::Chunked);
        assert!(!h.parts.headers.contains_key(header::CONTENT_LENGTH));
        // the coding frames the body: a broken length beside it is dropped, not an error
        let h = head(
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            &post,
        );
        assert_eq!(h.body, Incoming::Chunked);
        // the last coding of the last line decides
        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
            &post,
        );
        assert_eq!(h.body, Incoming::Close);
        let h = head(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
            &post,
        );
        assert!(!h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\n\r\n", &post);
        assert_eq!((h.body, h.keep_alive), (Incoming::Close, false));
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", &post);
        assert!(!h.keep_alive);
        let h = head(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
            &post,
        );
        assert!(h.keep_alive);
        let h = head(
            "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
            &post,
        );
        assert_eq!(h.body, Incoming::Empty);
        let h = head(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            &Method::HEAD,
        );
        assert_eq!(h.body, Incoming::Empty);
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", &post);
        assert_eq!(h.body, Incoming::Length(5));
        assert!(try_parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            &post
        )
        .is_err());
        assert!(try_parse(b"HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\n", &post).is_err());
        assert!(try_parse(b"HTTP/1.1 200 OK\r\nContent-", &post)
            .unwrap()
            .is_none());
        assert!(try_parse(b"SMTP ready\r\n\r\n", &post).is_err());
    }
}
