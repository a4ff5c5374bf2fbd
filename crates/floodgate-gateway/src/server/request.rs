//! Request heads for the gateway's own connection loop: parsed with httparse into an
//! `http::Request` whose header values share the read buffer, with the body that came
//! with them. Only the plain case is taken: an HTTP/1.1 request in origin form, its body
//! framed by one `Content-Length` of at most [`MOST_BODY`] bytes, with no `Expect`,
//! transfer coding, upgrade or `Connection` option but `keep-alive`, and not `HEAD` or
//! `CONNECT`. Anything else, a head httparse or `http` refuses included, is left to
//! hyper's server, which answers it (a 400, a 100 Continue, a close) as it always has.

use crate::wire::{self, Fields, Span};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Uri, Version};
use bytes::{Bytes, BytesMut};
use std::mem::MaybeUninit;

/// Largest body read whole before the request is served (nginx buffers up to 16 KiB by
/// default); a larger one streams through hyper's server.
pub(super) const MOST_BODY: u64 = 64 * 1024;

/// Headers a request head usually fits in; a longer head is scanned again with room for
/// [`MOST_HEADERS`], hyper's own limit.
const USUAL_HEADERS: usize = 32;
const MOST_HEADERS: usize = 100;

/// What the start of the buffer holds.
// One per request, returned and matched at once: boxing the request would add the
// allocation per request this loop exists to avoid.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Parsed {
    /// A whole request, taken out of the buffer.
    Ready(Request<Body>),
    /// The start of a request this loop can serve, not all of it yet.
    Partial,
    /// A request hyper's server is to serve (with everything after it).
    Other,
}

/// A head as httparse found it, its parts as spans of the buffer.
struct Raw {
    len: usize,
    method: Span,
    target: Span,
    fields: Fields,
    body: u64,
}

/// Parses the request at the start of `buf` and, when it is whole, takes it out.
pub(super) fn parse(buf: &mut BytesMut) -> Parsed {
    if buf.is_empty() {
        return Parsed::Partial;
    }
    let raw = match scan(buf) {
        Scan::Plain(raw) => raw,
        Scan::Partial => return Parsed::Partial,
        Scan::Other => return Parsed::Other,
    };
    let body_len = raw.body as usize; // at most MOST_BODY
    if buf.len() - raw.len < body_len {
        return Parsed::Partial;
    }
    let head = buf.split_to(raw.len).freeze();
    let body = buf.split_to(body_len).freeze();
    match build(&head, &raw) {
        Some(request) => Parsed::Ready(request.map(|()| {
            if body.is_empty() {
                Body::empty()
            } else {
                Body::from(body)
            }
        })),
        None => {
            // Put back as it was, for hyper to read (and refuse) itself; rare enough that
            // the copy does not matter.
            let mut whole = BytesMut::with_capacity(head.len() + body.len() + buf.len());
            whole.extend_from_slice(&head);
            whole.extend_from_slice(&body);
            whole.extend_from_slice(buf);
            *buf = whole;
            Parsed::Other
        }
    }
}

/// The request from its head's bytes: `None` if `http` refuses a part of it.
fn build(head: &Bytes, raw: &Raw) -> Option<Request<()>> {
    let method = Method::from_bytes(&head[raw.method.range()]).ok()?;
    let uri = Uri::from_maybe_shared(head.slice(raw.target.range())).ok()?;
    // Exactly the request's own: what goes upstream is added as its head is written, and a
    // map of up to six entries is allocated on the allocator's fast path for small blocks.
    let mut headers = HeaderMap::with_capacity(raw.fields.len());
    for &(name, value) in &raw.fields {
        let name = wire::name(&head[name.range()]).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice(value.range())).ok()?;
        headers.append(name, value);
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    Some(request)
}

/// What a scan of the buffer found.
#[allow(clippy::large_enum_variant)] // as `Parsed`
enum Scan {
    Plain(Raw),
    Partial,
    Other,
}

fn scan(buf: &[u8]) -> Scan {
    let mut usual = [const { MaybeUninit::uninit() }; USUAL_HEADERS];
    match scan_with(buf, &mut usual) {
        Err(httparse::Error::TooManyHeaders) => {
            let mut most = [const { MaybeUninit::uninit() }; MOST_HEADERS];
            scan_with(buf, &mut most).unwrap_or(Scan::Other)
        }
        scanned => scanned.unwrap_or(Scan::Other),
    }
}

fn scan_with<'b>(
    buf: &'b [u8],
    slots: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Scan, httparse::Error> {
    let mut request = httparse::Request::new(&mut []);
    let httparse::Status::Complete(len) = request.parse_with_uninit_headers(buf, slots)? else {
        return Ok(Scan::Partial);
    };
    let (Some(method), Some(target), Some(1)) = (request.method, request.path, request.version)
    else {
        return Ok(Scan::Other);
    };
    if !target.starts_with('/') || matches!(method, "HEAD" | "CONNECT") {
        return Ok(Scan::Other);
    }
    let mut body = None;
    if !request
        .headers
        .iter()
        .all(|field| plain_field(field, &mut body))
    {
        return Ok(Scan::Other);
    }
    let body = body.unwrap_or(0);
    if body > MOST_BODY {
        return Ok(Scan::Other);
    }
    Ok(Scan::Plain(Raw {
        len,
        method: Span::of(buf, method.as_bytes()),
        target: Span::of(buf, target.as_bytes()),
        fields: wire::fields(buf, request.headers),
        body,
    }))
}

/// Whether a header leaves the request plain, noting its `Content-Length` in `body`; a
/// second length, even an equal one, is hyper's to judge.
fn plain_field(field: &httparse::Header<'_>, body: &mut Option<u64>) -> bool {
    let name = field.name.as_bytes();
    if name.eq_ignore_ascii_case(header::CONTENT_LENGTH.as_str().as_bytes()) {
        if body.is_some() {
            return false;
        }
        *body = wire::length(field.value);
        return body.is_some();
    }
    if name.eq_ignore_ascii_case(b"connection") {
        return field
            .value
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .all(|token| token.eq_ignore_ascii_case(b"keep-alive"));
    }
    !(name.eq_ignore_ascii_case(b"transfer-encoding")
        || name.eq_ignore_ascii_case(b"expect")
        || name.eq_ignore_ascii_case(b"upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    fn parsed(text: &[u8]) -> (Parsed, BytesMut) {
        let mut buf = BytesMut::from(text);
        (parse(&mut buf), buf)
    }

    fn ready(text: &[u8]) -> (Request<Body>, BytesMut) {
        match parsed(text) {
            (Parsed::Ready(request), rest) => (request, rest),
            (other, _) => panic!("{other:?} for {}", String::from_utf8_lossy(text)),
        }
    }

    #[test]
    fn a_plain_request_is_taken_with_its_body_and_nothing_after_it() {
        let text = b"POST /api/v1/txt2img?x=1 HTTP/1.1\r\nHost: h\r\nx-api-key: k\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n";
        let (request, rest) = ready(text);
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), "/api/v1/txt2img");
        assert_eq!(request.uri().query(), Some("x=1"));
        assert_eq!(request.headers()["x-api-key"], "k");
        assert_eq!(request.headers().len(), 3);
        assert_eq!(request.body().size_hint().exact(), Some(5));
        assert_eq!(&rest[..], b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn no_length_is_an_empty_body() {
        let (request, rest) = ready(b"GET /v1/models HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(request.body().size_hint().exact(), Some(0));
        assert!(rest.is_empty());
    }

    #[test]
    fn an_unfinished_head_or_body_waits_and_consumes_nothing() {
        for text in [
            &b"POST /a HTTP/1.1\r\nContent-Le"[..],
            b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nhalf",
        ] {
            let (parsed, rest) = parsed(text);
            assert!(matches!(parsed, Parsed::Partial), "{parsed:?}");
            assert_eq!(&rest[..], text);
        }
    }

    #[test]
    fn anything_but_the_plain_case_goes_to_hyper_untouched() {
        for text in [
            &b"POST /a HTTP/1.0\r\nContent-Length: 1\r\n\r\nx"[..],
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"POST /a HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
            b"POST /a HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",
            b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
            b"GET /a HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n",
            b"HEAD /a HTTP/1.1\r\n\r\n",
            b"CONNECT h:443 HTTP/1.1\r\n\r\n",
            b"GET http://h/a HTTP/1.1\r\n\r\n",
            b"POST /a HTTP/1.1\r\nContent-Length: 65537\r\n\r\n",
            b"GET /a HTTP/1.1\r\nbad header\r\n\r\n",
            b"GET /a\x01 HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ] {
            let (parsed, rest) = parsed(text);
            assert!(
                matches!(parsed, Parsed::Other),
                "{parsed:?} for {}",
                String::from_utf8_lossy(text)
            );
            assert_eq!(&rest[..], text, "the buffer is left whole");
        }
    }

    #[test]
    fn keep_alive_is_plain_and_header_names_are_any_case() {
        let (request, _) =
            ready(b"POST /a HTTP/1.1\r\nCONNECTION: Keep-Alive\r\ncontent-LENGTH: 2\r\n\r\nhi");
        assert_eq!(request.body().size_hint().exact(), Some(2));
        assert_eq!(request.headers()["connection"], "Keep-Alive");
    }

    #[test]
    fn many_headers_are_scanned_with_room_for_hyper_s_limit() {
        let mut text = b"GET /a HTTP/1.1\r\n".to_vec();
        for i in 0..60 {
            text.extend_from_slice(format!("x-h{i}: {i}\r\n").as_bytes());
        }
        text.extend_from_slice(b"\r\n");
        let (request, _) = ready(&text);
        assert_eq!(request.headers().len(), 60);
        let mut text = b"GET /a HTTP/1.1\r\n".to_vec();
        for i in 0..101 {
            text.extend_from_slice(format!("x-h{i}: {i}\r\n").as_bytes());
        }
        text.extend_from_slice(b"\r\n");
        assert!(matches!(parsed(&text).0, Parsed::Other));
    }
}
