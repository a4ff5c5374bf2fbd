//! Message heads as they are read off the wire, in requests from clients and answers from
//! the upstream, and the framing of chunked bodies both ways: where httparse found each field, kept compactly on the stack until the
//! head's bytes are frozen and shared by the header values; and the header names. The
//! few names every message carries are matched, in any case, to `http`'s constants:
//! `HeaderName::from_bytes` lowercases and looks up every name it is given, which was
//! several hundred instructions for each of them.

use axum::http::header::{self, HeaderName, InvalidHeaderName};
use smallvec::SmallVec;
use std::ops::Range;

/// Fields a head usually has; more are kept on the heap.
const USUAL_FIELDS: usize = 16;

/// A part of a head: its offset and length in the head's bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span(u32, u32);

impl Span {
    /// Where `part`, a slice of `head`, is in it.
    pub(crate) fn of(head: &[u8], part: &[u8]) -> Self {
        let from = part.as_ptr() as usize - head.as_ptr() as usize;
        // heads are read into buffers far smaller than 4 GiB
        Self(from as u32, part.len() as u32)
    }

    /// The range it covers.
    pub(crate) fn range(self) -> Range<usize> {
        let from = self.0 as usize;
        from..from + self.1 as usize
    }
}

/// The name and value of each field of a head.
pub(crate) type Fields = SmallVec<[(Span, Span); USUAL_FIELDS]>;

/// The fields httparse found in `head`.
pub(crate) fn fields(head: &[u8], found: &[httparse::Header<'_>]) -> Fields {
    found
        .iter()
        .map(|h| (Span::of(head, h.name.as_bytes()), Span::of(head, h.value)))
        .collect()
}

/// The name `raw` spells (case-insensitive), as `HeaderName::from_bytes` would give it.
pub(crate) fn name(raw: &[u8]) -> Result<HeaderName, InvalidHeaderName> {
    let known = match raw.len() {
        4 if raw.eq_ignore_ascii_case(b"host") => Some(header::HOST),
        4 if raw.eq_ignore_ascii_case(b"date") => Some(header::DATE),
        6 if raw.eq_ignore_ascii_case(b"accept") => Some(header::ACCEPT),
        9 if raw.eq_ignore_ascii_case(b"x-api-key") => Some(X_API_KEY),
        10 if raw.eq_ignore_ascii_case(b"user-agent") => Some(header::USER_AGENT),
        10 if raw.eq_ignore_ascii_case(b"connection") => Some(header::CONNECTION),
        12 if raw.eq_ignore_ascii_case(b"content-type") => Some(header::CONTENT_TYPE),
        13 if raw.eq_ignore_ascii_case(b"authorization") => Some(header::AUTHORIZATION),
        14 if raw.eq_ignore_ascii_case(b"content-length") => Some(header::CONTENT_LENGTH),
        _ => None,
    };
    known.map_or_else(|| HeaderName::from_bytes(raw), Ok)
}

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Appends `data` as one chunk of a chunked body: its size line, the bytes, CRLF; nothing
/// for no bytes, since an empty chunk would end the body.
pub(crate) fn chunk_into(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    chunk_size_into(out, data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends a chunk's size line (lower-case hex, CRLF).
pub(crate) fn chunk_size_into(out: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = len;
    loop {
        at -= 1;
        digits[at] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// A `Content-Length` value: decimal digits only (no sign, no space, no list), short
/// enough not to overflow.
pub(crate) fn length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_names_as_http_gives() {
        for raw in [
            &b"Host"[..],
            b"DATE",
            b"accept",
            b"X-Api-Key",
            b"User-Agent",
            b"Connection",
            b"Content-Type",
            b"authorization",
            b"CONTENT-LENGTH",
            b"x-mock-received-bytes",
            b"Hosts",
            b"hos",
            b"content-typf",
        ] {
            assert_eq!(
                name(raw).unwrap(),
                HeaderName::from_bytes(raw).unwrap(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(name(b"bad name").is_err());
        assert!(name(b"").is_err());
    }

    #[test]
    fn chunk_sizes_are_lower_case_hex() {
        let mut size = Vec::new();
        chunk_size_into(&mut size, 0);
        chunk_size_into(&mut size, 0x1_0000);
        chunk_size_into(&mut size, 0xab);
        assert_eq!(size, b"0\r\n10000\r\nab\r\n");
        let mut chunk = Vec::new();
        chunk_into(&mut chunk, b"");
        chunk_into(&mut chunk, b"hi");
        assert_eq!(chunk, b"2\r\nhi\r\n");
    }

    #[test]
    fn lengths_are_digits_only() {
        assert_eq!(length(b"0"), Some(0));
        assert_eq!(length(b"65536"), Some(65536));
        assert_eq!(length(b""), None);
        assert_eq!(length(b"-1"), None);
        assert_eq!(length(b"+1"), None);
        assert_eq!(length(b"1e3"), None);
        assert_eq!(length(b"1, 1"), None);
        assert_eq!(length(b"9999999999999999999"), None);
    }
}
