//! Streaming: responses stream through without buffering, and a concurrency slot taken
//! for a streamed response is given back when the client goes away mid-stream.

mod common;

use bytes::Bytes;
use common::{config_from, full, start_with, Harness};
use floodgate_config::KeyHash;
use floodgate_mock::MockOptions;
use http::Request;
use http_body_util::BodyExt;
use std::time::{Duration, Instant};

const KEY: &str = "sk-stream-test";

fn config() -> floodgate_config::Config {
    config_with_ttl("15m")
}

fn config_with_ttl(ttl: &str) -> floodgate_config::Config {
    config_from(&format!(
        r#"
[server]
upstream = "http://127.0.0.1:1"

[responses]
headers = ["ietf"]
rejection_body = {{ message = "slow down" }}

[store]
kind = "memory"

[models]
chat-model = {{ kind = "text" }}

[tiers.basic]
limits = [
  {{ unit = "concurrent_jobs", window = "concurrent", max = 1, lease_ttl = "{ttl}" }},
  {{ unit = "requests", window = "minute", max = 100 }},
]

[accounts.a]
tier = "basic"

[[keys]]
name = "stream test key"
sha256 = "{}"
account = "a"

[[routes]]
method = "POST"
path = "/v1/chat/completions"
model_field = "model"
"#,
        KeyHash::of(KEY).to_hex(),
    ))
}

/// A mock whose streams last seconds, so a test acts while one is open.
async fn start() -> Harness {
    start_config(config()).await
}

async fn start_config(config: floodgate_config::Config) -> Harness {
    let options = MockOptions {
        stream_interval: Duration::from_millis(500),
        ..MockOptions::default()
    };
    start_with(config, options).await
}

fn stream_request() -> Request<common::TestBody> {
    Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .header("x-mock-completion-tokens", "400")
        .body(full(
            r#"{"model":"chat-model","stream":true,"messages":[]}"#,
        ))
        .unwrap()
}

async fn open_stream(h: &Harness) -> http::Response<hyper::body::Incoming> {
    let mut request = stream_request();
    *request.uri_mut() = format!("{}/v1/chat/completions", h.base).parse().unwrap();
    h.client.request(request).await.unwrap()
}

#[tokio::test]
async fn events_arrive_before_the_stream_ends() {
    let h = start().await;
    let response = open_stream(&h).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("ratelimit"));
    let started = Instant::now();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    let first: Bytes = first.into_data().unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("data:"),
        "an SSE event"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "streamed, not buffered"
    );
}

#[tokio::test]
async fn a_client_leaving_mid_stream_gives_its_slot_back() {
    let h = start().await;
    let response = open_stream(&h).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    assert!(body.frame().await.is_some());

    let r = h.send(stream_request()).await;
    assert_eq!(r.status, 429, "the only slot is held by the open stream");

    drop(body);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let request = Request::builder()
            .method("POST")
            .uri("/v1/chat/completions")
            .header("authorization", format!("Bearer {KEY}"))
            .header("content-type", "application/json")
            .body(full(r#"{"model":"chat-model","messages":[]}"#))
            .unwrap();
        let r = h.send(request).await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 429);
        assert!(Instant::now() < deadline, "the slot was never released");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The upstream's stream was cancelled too, not left running.
    let deadline = Instant::now() + Duration::from_secs(3);
    while h.mock_stats().await["streams"]["cancelled"] != 1 {
        assert!(Instant::now() < deadline, "{}", h.mock_stats().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stream_longer_than_the_lease_ttl_keeps_its_slot() {
    let h = start_config(config_with_ttl("1s")).await;
    let response = open_stream(&h).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    assert!(body.frame().await.is_some());

    // The lease lapses 1 s into the store's time unless renewed; renewals run every 0.5 s
    // of real time. Move the store's clock to 0.8 s, give a renewal time to run, then
    // move it past the original expiry.
    h.clock.advance(Duration::from_millis(800));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    h.clock.advance(Duration::from_millis(800));
    let r = h.send(stream_request()).await;
    assert_eq!(r.status, 429, "the renewed lease still holds the only slot");
    drop(body);
}
