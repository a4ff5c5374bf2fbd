//! Upload limits per endpoint (seed 002: images 10 MB, aud2video 20 MB): 413 with the
//! limit in the message, decided from Content-Length before the body is read, or while
//! streaming a body of unknown length, without the upstream receiving the body.

mod common;

use common::{example, start, TestBody};
use http::Request;

const MB: usize = 1 << 20;

fn upload(path: &str, body: TestBody, length: Option<usize>) -> Request<TestBody> {
    let mut b = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", "Bearer sk-demo-premium")
        .header("content-type", "application/octet-stream");
    if let Some(len) = length {
        b = b.header("content-length", len);
    }
    b.body(body).unwrap()
}

fn received(stats: &serde_json::Value, path: &str) -> u64 {
    stats["received_bytes"][path].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn content_length_over_the_limit_is_413_before_any_byte_is_forwarded() {
    let h = start(example("provider-b")).await;
    let len = 10 * MB + 1;
    let r = h
        .send(upload(
            "/api/v1/img2img",
            common::full(vec![b'x'; len]),
            Some(len),
        ))
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_type(), "payload_too_large");
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("10 MB"), "{message}");
    let stats = h.mock_stats().await;
    assert!(
        stats["requests"].get("/api/v1/img2img").is_none(),
        "{stats}"
    );

    // The decision was never taken: the minute is untouched.
    let r = h
        .send(upload(
            "/api/v1/img2img",
            common::full(vec![b'x'; 1000]),
            Some(1000),
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), "299");
    assert_eq!(r.header("x-mock-received-bytes"), "1000");
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_at_the_limit() {
    let h = start(example("provider-b")).await;
    let r = h
        .send(upload(
            "/api/v1/img2img",
            common::chunked(&vec![b'x'; 12 * MB], 64 * 1024),
            None,
        ))
        .await;
    assert_eq!(r.status, 413);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("10 MB"));
    let stats = h.mock_stats().await;
    assert_eq!(received(&stats, "/api/v1/img2img"), 0, "{stats}");

    // Under the limit, a chunked body streams through whole.
    let r = h
        .send(upload(
            "/api/v1/img2img",
            common::chunked(&vec![b'x'; 3 * MB], 64 * 1024),
            None,
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-mock-received-bytes"), (3 * MB).to_string());
}

#[tokio::test]
async fn aud2video_accepts_20_mb() {
    let h = start(example("provider-b")).await;
    let len = 15 * MB;
    let r = h
        .send(upload(
            "/api/v1/aud2video",
            common::full(vec![b'x'; len]),
            Some(len),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-mock-received-bytes"), len.to_string());
    let len = 20 * MB + 1;
    let r = h
        .send(upload(
            "/api/v1/aud2video",
            common::chunked(&vec![b'x'; len], 64 * 1024),
            None,
        ))
        .await;
    assert_eq!(r.status, 413);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("20 MB"));
}
