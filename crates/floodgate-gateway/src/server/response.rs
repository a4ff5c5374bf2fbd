//! Response heads for the gateway's own connection loop, written as hyper's server writes
//! them: the status line, the headers as they are, a `Date` if the answer has none, and
//! the body's framing (RFC 9112, section 6): the length when it is known, chunked when it
//! is not, none for the statuses that have no body.

use axum::http::{header, response, StatusCode};
use floodgate_core::clock::{Clock, SystemClock};
use std::cell::RefCell;
use std::time::{Duration, UNIX_EPOCH};

/// How the body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body at all (1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked: the length is not known up front.
    Chunked,
}

/// The end of a chunked body.
pub(super) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What the head written says of the connection and the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written {
    /// How the body goes.
    pub(super) framing: Framing,
    /// Whether the connection closes after this answer (`connection: close`).
    pub(super) closes: bool,
}

/// Appends the head of `parts` to `out`, for a body of `exact` bytes if that is known,
/// with `connection: close` if it is the connection's `last` answer.
pub(super) fn encode(
    out: &mut Vec<u8>,
    parts: &response::Parts,
    exact: Option<u64>,
    last: bool,
) -> Written {
    let status = parts.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let framing = framing(parts, status, exact);
    let (mut dated, mut closes) = (false, last);
    for (name, value) in &parts.headers {
        // the framing is this server's to state
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        dated |= name == header::DATE;
        if name == header::CONNECTION {
            closes |= value
                .as_bytes()
                .split(|&b| b == b',')
                .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
            if last {
                // said once, below
                continue;
            }
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !dated {
        out.extend_from_slice(b"date: ");
        DATE.with_borrow_mut(|date| out.extend_from_slice(date.now().as_bytes()));
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Empty if status == StatusCode::NOT_MODIFIED => {
            // a 304 may state the length the full answer would have
            if let Some(length) = parts.headers.get(header::CONTENT_LENGTH) {
                out.extend_from_slice(b"content-length: ");
                out.extend_from_slice(length.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        Framing::Empty => {}
        Framing::Length(len) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    if last {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Written { framing, closes }
}

fn framing(parts: &response::Parts, status: StatusCode, exact: Option<u64>) -> Framing {
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Framing::Empty;
    }
    if let Some(len) = exact {
        return Framing::Length(len);
    }
    // A body whose wrapping hides its size (settlement, a held slot) still has the
    // length the upstream stated; the loop checks the body keeps to it.
    let mut lengths = parts.headers.get_all(header::CONTENT_LENGTH).iter();
    match (
        lengths
            .next()
            .and_then(|v| crate::wire::length(v.as_bytes())),
        lengths.next(),
    ) {
        (Some(len), None) if !parts.headers.contains_key(header::TRANSFER_ENCODING) => {
            Framing::Length(len)
        }
        _ => Framing::Chunked,
    }
}

/// Appends one piece of a body to `out` in its framing.
pub(super) fn data_into(out: &mut Vec<u8>, data: &[u8], framing: Framing) {
    if framing == Framing::Chunked {
        crate::wire::chunk_into(out, data);
    } else {
        out.extend_from_slice(data);
    }
}

thread_local! {
    /// This thread's `Date` value, made again when the second changes.
    static DATE: RefCell<CachedDate> = RefCell::new(CachedDate::default());
}

/// An IMF-fixdate, with the second it was made for.
#[derive(Default)]
struct CachedDate {
    second: u64,
    text: String,
}

impl CachedDate {
    fn now(&mut self) -> &str {
        // The engine's wall clock reads the CPU's counter: an OS clock read per answer
        // costs about 80 ns on a virtual machine.
        let nanos = SystemClock.now();
        let second = nanos / 1_000_000_000;
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_nanos(nanos));
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Response;

    fn head(response: Response<()>, exact: Option<u64>) -> (String, Framing) {
        let (parts, ()) = response.into_parts();
        let mut out = Vec::new();
        let written = encode(&mut out, &parts, exact, false);
        assert!(!written.closes);
        (String::from_utf8(out).unwrap(), written.framing)
    }

    #[test]
    fn a_known_length_is_stated_and_the_upstream_s_replaced() {
        let response = Response::builder()
            .status(429)
            .header("content-type", "application/json")
            .header("content-length", "999")
            .header("date", "Mon, 07 Dec 2026 04:00:00 GMT")
            .header("x-ratelimit-remaining", "0")
            .body(())
            .unwrap();
        let (text, framing) = head(response, Some(12));
        assert_eq!(framing, Framing::Length(12));
        assert_eq!(
            text,
            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
             date: Mon, 07 Dec 2026 04:00:00 GMT\r\nx-ratelimit-remaining: 0\r\n\
             content-length: 12\r\n\r\n"
        );
    }

    #[test]
    fn a_date_is_added_when_the_answer_has_none() {
        let (text, _) = head(Response::new(()), Some(0));
        let date = text
            .lines()
            .find_map(|l| l.strip_prefix("date: "))
            .expect("a date");
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.ends_with("content-length: 0\r\n\r\n"));
    }

    #[test]
    fn an_unknown_length_is_the_upstream_s_or_chunked() {
        let stated = Response::builder()
            .header("content-length", "42")
            .body(())
            .unwrap();
        assert_eq!(head(stated, None).1, Framing::Length(42));
        let (text, framing) = head(Response::new(()), None);
        assert_eq!(framing, Framing::Chunked);
        assert!(
            text.ends_with("transfer-encoding: chunked\r\n\r\n"),
            "{text}"
        );
        let twice = Response::builder()
            .header("content-length", "42")
            .header("content-length", "43")
            .body(())
            .unwrap();
        assert_eq!(head(twice, None).1, Framing::Chunked);
        let signed = Response::builder()
            .header("content-length", "+42")
            .body(())
            .unwrap();
        assert_eq!(head(signed, None).1, Framing::Chunked);
    }

    #[test]
    fn statuses_without_a_body_have_no_framing() {
        let no_content = Response::builder()
            .status(204)
            .header("content-length", "0")
            .body(())
            .unwrap();
        let (text, framing) = head(no_content, Some(0));
        assert_eq!(framing, Framing::Empty);
        assert!(!text.contains("content-length"), "{text}");
        let not_modified = Response::builder()
            .status(304)
            .header("content-length", "120")
            .body(())
            .unwrap();
        let (text, framing) = head(not_modified, None);
        assert_eq!(framing, Framing::Empty);
        assert!(text.contains("content-length: 120\r\n"), "{text}");
    }

    #[test]
    fn the_last_answer_says_close_once_and_a_close_is_noticed() {
        let (parts, ()) = Response::builder()
            .header("connection", "keep-alive")
            .body(())
            .unwrap()
            .into_parts();
        let mut out = Vec::new();
        let written = encode(&mut out, &parts, Some(0), true);
        let text = String::from_utf8(out).unwrap();
        assert!(written.closes);
        assert_eq!(text.matches("connection:").count(), 1, "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        let (parts, ()) = Response::builder()
            .header("connection", "Upgrade, Close")
            .body(())
            .unwrap()
            .into_parts();
        assert!(encode(&mut Vec::new(), &parts, Some(0), false).closes);
    }

    #[test]
    fn chunks_are_framed_in_hex_and_empty_data_is_skipped() {
        let mut out = Vec::new();
        data_into(&mut out, b"hello", Framing::Chunked);
        data_into(&mut out, b"", Framing::Chunked);
        data_into(&mut out, &[b'x'; 300], Framing::Chunked);
        let mut expected = b"5\r\nhello\r\n12c\r\n".to_vec();
        expected.extend_from_slice(&[b'x'; 300]);
        expected.extend_from_slice(b"\r\n");
        assert_eq!(out, expected);
        let mut plain = Vec::new();
        data_into(&mut plain, b"abc", Framing::Length(3));
        assert_eq!(plain, b"abc");
    }
}
