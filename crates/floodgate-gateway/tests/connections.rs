//! Client connections at the byte level, over a real socket: plain requests are served by
//! the gateway's own loop, pipelined ones in order; the first request it leaves to
//! hyper's server (a chunked body, `Expect`, HTTP/1.0, a malformed head) is answered
//! there, with the bytes already read, and the connection goes on; the gateway's own
//! endpoints share a connection with proxied requests.

mod common;

use common::{example, start, Harness};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "sk-demo-premium";
const BODY: &str = r#"{"prompt": "a lighthouse"}"#;

/// One answer as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A client connection that reads answers with a minimal HTTP/1.1 parser of its own.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Wire {
    async fn open(h: &Harness) -> Self {
        let addr = h.base.trim_start_matches("http://");
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads more; false at the end of the connection.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    async fn answer(&mut self) -> Answer {
        let end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            assert!(
                self.fill().await,
                "closed before an answer: {:?}",
                self.text()
            );
        };
        let head = String::from_utf8(self.buf.drain(..end).collect()).unwrap();
        let status = head[9..12].parse().unwrap();
        let mut answer = Answer {
            status,
            head,
            body: Vec::new(),
        };
        if status == 100 {
            return answer;
        }
        if let Some(len) = answer.header("content-length") {
            let len: usize = len.parse().unwrap();
            while self.buf.len() < len {
                assert!(self.fill().await, "closed in a body");
            }
            answer.body = self.buf.drain(..len).collect();
        } else if answer.header("transfer-encoding") == Some("chunked") {
            loop {
                let line_end = loop {
                    if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break at;
                    }
                    assert!(self.fill().await, "closed in a chunk");
                };
                let size = std::str::from_utf8(&self.buf[..line_end]).unwrap();
                let size = usize::from_str_radix(size, 16).unwrap();
                while self.buf.len() < line_end + 2 + size + 2 {
                    assert!(self.fill().await, "closed in a chunk");
                }
                answer
                    .body
                    .extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                self.buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        }
        answer
    }

    /// Whether the gateway closed the connection (with nothing more sent).
    async fn closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill().await
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

fn plain(path: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
}

fn chunked(path: &str) -> Vec<u8> {
    let (a, b) = BODY.split_at(10);
    format!(
        "POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    )
    .into_bytes()
}

fn remaining(answer: &Answer) -> u32 {
    answer
        .header("x-ratelimit-remaining")
        .unwrap_or_else(|| panic!("no remaining: {answer:?}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let h = start(example("provider-b")).await;
    let mut wire = Wire::open(&h).await;
    let mut three = plain("/api/v1/txt2img");
    three.extend(plain("/api/v1/img2img"));
    three.extend(plain("/api/v1/txt2img"));
    wire.send(&three).await;
    let mut left = Vec::new();
    for _ in 0..3 {
        let answer = wire.answer().await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.header("date").is_some(), "{answer:?}");
        left.push(remaining(&answer));
    }
    // each endpoint has its own minute (seed 002: the limit is per endpoint)
    assert_eq!(left, [299, 299, 298]);
    // the received sizes show each body went upstream whole, and only its own
    let stats = h.mock_stats().await;
    assert_eq!(stats["requests"]["/api/v1/txt2img"], 2, "{stats}");
    assert_eq!(stats["requests"]["/api/v1/img2img"], 1, "{stats}");
}

#[tokio::test]
async fn a_request_left_to_hyper_is_answered_and_the_connection_goes_on() {
    let h = start(example("provider-b")).await;
    let mut wire = Wire::open(&h).await;
    wire.send(&plain("/api/v1/txt2img")).await;
    assert_eq!(remaining(&wire.answer().await), 299);
    // a chunked body, with a plain request pipelined behind it
    let mut two = chunked("/api/v1/txt2img");
    two.extend(plain("/api/v1/txt2img"));
    wire.send(&two).await;
    let answer = wire.answer().await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("x-mock-received-bytes"), Some("26"));
    assert_eq!(remaining(&answer), 298);
    assert_eq!(remaining(&wire.answer().await), 297);
    wire.send(&plain("/api/v1/txt2img")).await;
    assert_eq!(remaining(&wire.answer().await), 296);
}

#[tokio::test]
async fn expect_100_continue_gets_its_interim_answer() {
    let h = start(example("provider-b")).await;
    let mut wire = Wire::open(&h).await;
    let head = format!(
        "POST /api/v1/txt2img HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        BODY.len()
    );
    wire.send(head.as_bytes()).await;
    let interim = wire.answer().await;
    assert_eq!(interim.status, 100, "{interim:?}");
    wire.send(BODY.as_bytes()).await;
    let answer = wire.answer().await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(remaining(&answer), 299);
}

#[tokio::test]
async fn a_malformed_head_gets_hyper_s_400_and_nothing_is_counted() {
    let h = start(example("provider-b")).await;
    let mut wire = Wire::open(&h).await;
    wire.send(b"POST /api/v1/txt2img HTTP/1.1\r\nHost: gateway\r\nbad header\r\n\r\n")
        .await;
    let answer = wire.answer().await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(wire.closed().await);
    let mut wire = Wire::open(&h).await;
    wire.send(&plain("/api/v1/txt2img")).await;
    assert_eq!(remaining(&wire.answer().await), 299);
}

#[tokio::test]
async fn http_1_0_and_connection_close_end_the_connection_after_the_answer() {
    let h = start(example("provider-b")).await;
    let mut wire = Wire::open(&h).await;
    let old = String::from_utf8(plain("/api/v1/txt2img"))
        .unwrap()
        .replacen("HTTP/1.1", "HTTP/1.0", 1);
    wire.send(old.as_bytes()).await;
    assert_eq!(remaining(&wire.answer().await), 299);
    assert!(wire.closed().await);

    let mut wire = Wire::open(&h).await;
    let closing = String::from_utf8(plain("/api/v1/txt2img"))
        .unwrap()
        .replacen(
            "Host: gateway\r\n",
            "Host: gateway\r\nConnection: close\r\n",
            1,
        );
    wire.send(closing.as_bytes()).await;
    assert_eq!(remaining(&wire.answer().await), 298);
    assert!(wire.closed().await);
}

#[tokio::test]
async fn own_endpoints_and_proxied_requests_share_a_connection() {
    let h = start(example("provider-b")).await;
    let mut wire = Wire::open(&h).await;
    let mut requests = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n".to_vec();
    requests.extend(plain("/api/v1/txt2img"));
    requests.extend(
        format!(
            "GET /api/v1/api_keys/rate_limits HTTP/1.1\r\nHost: gateway\r\n\
             Authorization: Bearer {KEY}\r\n\r\n"
        )
        .as_bytes(),
    );
    wire.send(&requests).await;
    let health = wire.answer().await;
    assert_eq!(health.status, 200, "{health:?}");
    assert_eq!(remaining(&wire.answer().await), 299);
    let limits = wire.answer().await;
    assert_eq!(limits.status, 200, "{limits:?}");
    let limits: serde_json::Value = serde_json::from_slice(&limits.body).unwrap();
    assert!(limits.to_string().contains("\"used\":1"), "{limits}");
}

#[tokio::test]
async fn a_streamed_answer_is_sent_chunked_as_it_comes() {
    let h = start(example("provider-c")).await;
    let mut wire = Wire::open(&h).await;
    let body = r#"{"model": "llama-3.2-3b", "stream": true, "messages": [{"role": "user", "content": "hi"}]}"#;
    let request = format!(
        "POST /api/v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n\
         Authorization: Bearer sk-demo-standard\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    wire.send(request.as_bytes()).await;
    let answer = wire.answer().await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("transfer-encoding"), Some("chunked"));
    let text = String::from_utf8(answer.body).unwrap();
    assert!(text.contains("data: [DONE]"), "{text}");
    assert!(
        answer.head.contains("x-ratelimit-remaining-requests"),
        "{}",
        answer.head
    );
}
