//! The request parser against requests generated at random and fed in random pieces, the
//! way they arrive from a socket: a plain request comes out whole and exact (method,
//! target, every header in order, the body) with what follows it left in the buffer, and
//! nothing is taken before the whole request is there; any bytes at all, cut anywhere,
//! end in a request, a wait for more, or a handoff to hyper with the buffer untouched,
//! never in a panic.

use super::request::{parse, Parsed, MOST_BODY};
use bytes::BytesMut;
use http_body_util::BodyExt;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Plain {
    method: &'static str,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Plain {
    fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if !self.body.is_empty() || self.method == "POST" {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn plain() -> impl Strategy<Value = Plain> {
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);
    let target = "/[a-z0-9/_.-]{0,30}(\\?[a-z0-9=&]{0,20})?";
    // names that are never framing or hop-by-hop, in any case; values of visible ASCII
    let name = "[A-Za-z][A-Za-z0-9-]{0,15}".prop_filter("not a framing header", |n| {
        let n = n.to_ascii_lowercase();
        !matches!(
            n.as_str(),
            "content-length" | "transfer-encoding" | "expect" | "upgrade" | "connection"
        )
    });
    let value = "[!-~]([ !-~]{0,30}[!-~])?";
    let headers = prop::collection::vec((name, value), 0..30);
    let body = prop::collection::vec(any::<u8>(), 0..2048);
    (method, target, headers, body).prop_map(|(method, target, headers, body)| Plain {
        method,
        target,
        headers,
        body,
    })
}

/// Feeds `bytes` to the parser in pieces cut at `cuts`, as reads would bring them; after
/// a handoff the rest is what hyper's server reads: the buffer, then the bytes not fed.
fn feed(bytes: &[u8], cuts: &[usize]) -> (Vec<Parsed>, BytesMut) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    let mut at = 0;
    for point in points {
        buf.extend_from_slice(&bytes[at..point]);
        at = point;
        loop {
            let before = buf.clone();
            match parse(&mut buf) {
                Parsed::Partial => {
                    assert_eq!(buf, before, "a wait consumes nothing");
                    break;
                }
                Parsed::Other => {
                    assert_eq!(buf, before, "a handoff leaves the buffer whole");
                    seen.push(Parsed::Other);
                    buf.extend_from_slice(&bytes[at..]);
                    return (seen, buf);
                }
                ready => seen.push(ready),
            }
        }
    }
    (seen, buf)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn plain_requests_come_out_exact_in_any_pieces(
        requests in prop::collection::vec(plain(), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        tail in "[A-Z]{0,3}",
    ) {
        let mut wire = Vec::new();
        for r in &requests {
            wire.extend(r.bytes());
        }
        // the start of a request not yet whole
        wire.extend_from_slice(tail.as_bytes());
        let (seen, rest) = feed(&wire, &cuts);
        prop_assert_eq!(seen.len(), requests.len());
        prop_assert_eq!(&rest[..], tail.as_bytes());
        let rt = runtime();
        for (parsed, sent) in seen.into_iter().zip(&requests) {
            let Parsed::Ready(request) = parsed else {
                return Err(TestCaseError::fail(format!("not ready: {parsed:?}")));
            };
            prop_assert_eq!(request.method().as_str(), sent.method);
            prop_assert_eq!(request.uri().to_string(), sent.target.clone());
            let got: Vec<(String, String)> = request
                .headers()
                .iter()
                .filter(|(n, _)| *n != "content-length")
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
                .collect();
            // a map groups the values of one name; compare per name, in order
            for (name, _) in &sent.headers {
                let name = name.to_ascii_lowercase();
                let want: Vec<&str> = sent
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
                    .map(|(_, v)| v.as_str())
                    .collect();
                let have: Vec<&str> = got
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .map(|(_, v)| v.as_str())
                    .collect();
                prop_assert_eq!(have, want);
            }
            let body = rt
                .block_on(request.into_body().collect())
                .expect("body")
                .to_bytes();
            prop_assert_eq!(&body[..], &sent.body[..]);
        }
    }

    #[test]
    fn any_bytes_end_in_a_request_a_wait_or_a_handoff(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        prefix in prop::sample::select(vec![
            &b""[..],
            b"POST /a HTTP/1.1\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: ",
            b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
        ]),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut wire = prefix.to_vec();
        wire.extend(bytes);
        let (seen, rest) = feed(&wire, &cuts);
        let taken: usize = seen.iter().filter(|p| matches!(p, Parsed::Ready(_))).count();
        prop_assert!(rest.len() <= wire.len());
        if taken == 0 {
            prop_assert_eq!(&rest[..], &wire[..], "nothing taken, nothing lost");
        }
    }

    #[test]
    fn a_body_over_the_cap_is_left_to_hyper(extra in 1u64..1_000_000) {
        let head = format!("POST /a HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MOST_BODY + extra);
        let (seen, rest) = feed(head.as_bytes(), &[]);
        prop_assert!(matches!(seen.as_slice(), [Parsed::Other]));
        prop_assert_eq!(&rest[..], head.as_bytes());
    }
}
