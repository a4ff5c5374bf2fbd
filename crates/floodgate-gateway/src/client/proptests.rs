//! The client's reading of upstream answers, against answers generated at random and
//! written by a raw socket in random pieces: an answer in any framing (a length, chunks
//! with extensions and trailers, or up to the close) comes back exactly as it was sent,
//! and an answer cut short or with a byte changed ends in an answer or an error, never
//! in a panic or a hang; one cut before the end its framing states is an error, never
//! taken for a whole answer.

use super::*;
use bytes::Bytes;
use http_body_util::BodyExt;
use proptest::prelude::*;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// How an answer's body is framed.
#[derive(Debug, Clone)]
enum Framing {
    Length,
    /// Chunks cut at these body positions; a chunk extension on each size line; a
    /// trailer field; upper-case hex digits.
    Chunked {
        cuts: Vec<usize>,
        extension: bool,
        trailer: bool,
        upper: bool,
    },
    Close,
    /// A 204: no body and no framing header.
    NoContent,
}

#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    framing: Framing,
}

impl Answer {
    fn bytes(&self) -> Vec<u8> {
        let status = match self.framing {
            Framing::NoContent => 204,
            _ => self.status,
        };
        let mut out = format!("HTTP/1.1 {status} Whatever\r\n").into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        match &self.framing {
            Framing::Length => out.extend_from_slice(
                format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes(),
            ),
            Framing::Chunked { .. } => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n"),
            Framing::Close => out.extend_from_slice(b"Connection: close\r\n\r\n"),
            Framing::NoContent => out.extend_from_slice(b"\r\n"),
        }
        match &self.framing {
            Framing::Length | Framing::Close => out.extend_from_slice(&self.body),
            Framing::NoContent => {}
            Framing::Chunked {
                cuts,
                extension,
                trailer,
                upper,
            } => {
                let mut at = 0;
                let mut ends: Vec<usize> = cuts.iter().map(|c| c % (self.body.len() + 1)).collect();
                ends.push(self.body.len());
                ends.sort_unstable();
                ends.dedup();
                for end in ends {
                    if end == at {
                        continue;
                    }
                    let size = if *upper {
                        format!("{:X}", end - at)
                    } else {
                        format!("{:x}", end - at)
                    };
                    out.extend_from_slice(size.as_bytes());
                    if *extension {
                        out.extend_from_slice(b";name=\"va;lue\"");
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&self.body[at..end]);
                    out.extend_from_slice(b"\r\n");
                    at = end;
                }
                out.extend_from_slice(b"0\r\n");
                if *trailer {
                    out.extend_from_slice(b"x-trailer: t\r\n");
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }

    fn expected_body(&self) -> &[u8] {
        match self.framing {
            Framing::NoContent => &[],
            _ => &self.body,
        }
    }
}

fn answer() -> impl Strategy<Value = Answer> {
    let framing = prop_oneof![
        Just(Framing::Length),
        (
            prop::collection::vec(0usize..3000, 0..6),
            any::<bool>(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(cuts, extension, trailer, upper)| Framing::Chunked {
                cuts,
                extension,
                trailer,
                upper,
            }),
        Just(Framing::Close),
        Just(Framing::NoContent),
    ];
    (
        prop::sample::select(vec![200u16, 201, 400, 404, 413, 429, 500, 503]),
        prop::collection::vec(("x-[a-z]{1,12}", "[ -~&&[^ ]][ -~]{0,30}[!-~]"), 0..6),
        prop::collection::vec(any::<u8>(), 0..3000),
        framing,
    )
        .prop_map(|(status, mut headers, body, framing)| {
            // one value per name, so the check below can look each one up
            headers.sort();
            headers.dedup_by(|a, b| a.0 == b.0);
            Answer {
                status,
                headers,
                body,
                framing,
            }
        })
}

/// An upstream that reads one request head, writes `bytes` in pieces cut at `cuts`
/// (flushing and yielding between them), then closes the connection if `close`, or
/// holds it open until the test ends.
async fn raw(bytes: Vec<u8>, cuts: Vec<usize>, close: bool) -> Authority {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = listener.local_addr().unwrap().to_string().parse().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        if !super::tests::read_head(&mut tcp).await {
            return;
        }
        let mut ends: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        ends.push(bytes.len());
        ends.sort_unstable();
        let mut at = 0;
        for end in ends {
            if tcp.write_all(&bytes[at..end]).await.is_err() {
                return;
            }
            let _ = tcp.flush().await;
            at = end;
            tokio::task::yield_now().await;
        }
        if !close {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });
    authority
}

/// Sends a GET to `authority` and reads the whole answer.
async fn fetch(authority: &Authority) -> Result<(Response<()>, Bytes), String> {
    let request = Request::get("/")
        .body(UpstreamBody::full(Bytes::new()))
        .unwrap();
    let response = Pool::default()
        .send(authority, request, &Rewrite::NONE)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((Response::from_parts(parts, ()), body))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_answer_in_any_pieces_comes_back_exactly(
        answer in answer(),
        cuts in prop::collection::vec(0usize..4000, 0..8),
    ) {
        let close = matches!(answer.framing, Framing::Close);
        let (response, body) = runtime().block_on(async {
            let authority = raw(answer.bytes(), cuts, close).await;
            tokio::time::timeout(Duration::from_secs(10), fetch(&authority))
                .await
                .expect("the answer is read in time")
        }).expect("a well-formed answer is read");
        let status = if matches!(answer.framing, Framing::NoContent) { 204 } else { answer.status };
        prop_assert_eq!(response.status().as_u16(), status);
        for (name, value) in &answer.headers {
            prop_assert_eq!(
                response.headers().get(name).map(|v| v.as_bytes()),
                Some(value.as_bytes()),
                "header {}", name
            );
        }
        prop_assert_eq!(&body[..], answer.expected_body());
    }

    #[test]
    fn an_answer_cut_short_or_changed_ends_in_an_answer_or_an_error(
        answer in answer(),
        cuts in prop::collection::vec(0usize..4000, 0..4),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = answer.bytes();
        let at = at.index(bytes.len());
        // an answer whose framing says where it ends, cut before that end
        let short = truncate && !matches!(answer.framing, Framing::Close);
        if truncate {
            bytes.truncate(at);
        } else {
            bytes[at] = byte;
        }
        let outcome = runtime().block_on(async {
            // the connection closes after the bytes: every read ends, so must the fetch
            let authority = raw(bytes, cuts, true).await;
            tokio::time::timeout(Duration::from_secs(10), fetch(&authority)).await
        });
        let Ok(fetched) = outcome else {
            return Err(TestCaseError::fail("the client hung on a broken answer"));
        };
        if short {
            if let Ok((response, body)) = fetched {
                return Err(TestCaseError::fail(format!(
                    "an answer cut short was taken whole: {}, {} bytes",
                    response.status(),
                    body.len()
                )));
            }
        }
    }
}
