//! Tokens (seed 003: "text models enforce both limits"): a request reserves its prompt
//! estimate plus `max_tokens`, the answer's `usage` (JSON or SSE) settles the difference,
//! and whichever of RPM and TPM runs out first answers 429.

mod common;

use common::{config_from, start_with, Harness};
use floodgate_config::KeyHash;
use floodgate_mock::MockOptions;
use http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const KEY: &str = "sk-token-test";

fn config() -> floodgate_config::Config {
    config_from(&format!(
        r#"
[server]
upstream = "http://127.0.0.1:1"

[responses]
headers = ["openai"]
rejection_body = {{ error = {{ type = "rate_limit_error", message = "slow down" }} }}

[store]
kind = "memory"

[models]
chat-model = {{ kind = "text" }}

[tiers.standard]
limits = [
  {{ unit = "requests", window = "minute", max = 100 }},
  {{ unit = "tokens", window = "minute", max = 1000 }},
]

[accounts.a]
tier = "standard"

[[keys]]
name = "token test key"
sha256 = "{}"
account = "a"

[[routes]]
method = "POST"
path = "/v1/chat/completions"
model_field = "model"

[[routes]]
method = "POST"
path = "/v1/messages"
model_field = "model"
"#,
        KeyHash::of(KEY).to_hex()
    ))
}

async fn start() -> Harness {
    let options = MockOptions {
        stream_interval: Duration::from_millis(50),
        ..MockOptions::default()
    };
    start_with(config(), options).await
}

fn chat(max_tokens: u64, stream: bool) -> String {
    json!({
        "model": "chat-model",
        "messages": [{"role": "user", "content": "hello there"}],
        "max_tokens": max_tokens,
        "stream": stream,
    })
    .to_string()
}

fn total(usage: &Value) -> u64 {
    usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
}

/// Tokens used in the current minute, as the key's rate_limits endpoint reports them.
async fn tokens_used(h: &Harness) -> u64 {
    let v = h.get("/api/v1/api_keys/rate_limits", KEY).await.json();
    let limits = v["data"]["models"][0]["limits"].as_array().unwrap().clone();
    let tokens = limits.iter().find(|d| d["unit"] == "tokens").unwrap();
    tokens["used"].as_u64().unwrap()
}

/// Waits for the background settlement to bring usage to `want`.
/// The JSON data of a streamed answer's events (`data: [DONE]` and the like left out).
fn sse_events(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

async fn wait_for_used(h: &Harness, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let used = tokens_used(h).await;
        if used == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tokens used {used}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_json_answer_settles_the_reservation_to_its_usage() {
    let h = start().await;
    let body = chat(500, false);
    let r = h.post("/v1/chat/completions", Some(KEY), &body, &[]).await;
    assert_eq!(r.status, 200);
    let reserved = (body.len() as u64).div_ceil(4) + 500;
    let used = total(&r.json()["usage"]);
    assert!(used < reserved);
    assert_eq!(
        r.header("x-ratelimit-remaining-tokens"),
        (1000 - used).to_string(),
        "the headers show the settled usage, not the reservation"
    );
    wait_for_used(&h, used).await;
}

#[tokio::test]
async fn a_streamed_answers_headers_show_its_reservation() {
    let h = start().await;
    let body = chat(300, true);
    let r = h.post("/v1/chat/completions", Some(KEY), &body, &[]).await;
    assert_eq!(r.status, 200);
    let reserved = (body.len() as u64).div_ceil(4) + 300;
    assert_eq!(
        r.header("x-ratelimit-remaining-tokens"),
        (1000 - reserved).to_string(),
        "a stream's headers go out before its usage exists"
    );
}

#[tokio::test]
async fn usage_beyond_the_reservation_is_charged_and_tpm_then_rejects() {
    let h = start().await;
    let long = [("x-mock-completion-tokens", "900")];
    let r = h
        .post("/v1/chat/completions", Some(KEY), &chat(100, false), &long)
        .await;
    assert_eq!(r.status, 200);
    let used = total(&r.json()["usage"]);
    assert!(used > 900);
    wait_for_used(&h, used).await;

    let r = h
        .post("/v1/chat/completions", Some(KEY), &chat(100, false), &[])
        .await;
    assert_eq!(r.status, 429, "TPM is exhausted though RPM is not");
    assert_eq!(r.header("x-ratelimit-remaining-requests"), "99");
    assert_eq!(
        r.header("x-ratelimit-remaining-tokens"),
        (1000 - used).to_string()
    );
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    let logs = h.get("/api/v1/api_keys/rate_limit_logs", KEY).await.json();
    assert_eq!(logs["data"][0]["limit"]["unit"], "tokens");
    // A request small enough for what is left still fits.
    let r = h
        .post("/v1/chat/completions", Some(KEY), &chat(1, false), &[])
        .await;
    assert_eq!(r.status, 200);
}

/// A reservation larger than the whole TPM can never be admitted: its 429 says so and
/// what it asked for, not the provider's "slow down", and it consumes nothing.
#[tokio::test]
async fn a_request_larger_than_its_limit_is_told_it_can_never_fit() {
    let h = start().await;
    let r = h
        .post("/v1/chat/completions", Some(KEY), &chat(5_000, false), &[])
        .await;
    assert_eq!(r.status, 429);
    let error = &r.json()["error"];
    assert_eq!(error["type"], "request_too_large");
    let message = error["message"].as_str().unwrap();
    // max_tokens plus the prompt estimate, a quarter of the body's bytes
    let needs = 5_000 + chat(5_000, false).len().div_ceil(4);
    assert!(
        message.starts_with(&format!(
            "request too large for chat-model: it needs {needs} tokens"
        )) && message.contains("allows 1000 tokens per minute at most"),
        "{message}"
    );
    assert_eq!(r.header("x-ratelimit-remaining-tokens"), "1000");
    let logs = h.get("/api/v1/api_keys/rate_limit_logs", KEY).await.json();
    assert_eq!(logs["data"][0]["reason"], "request_too_large");
    let r = h
        .post("/v1/chat/completions", Some(KEY), &chat(900, false), &[])
        .await;
    assert_eq!(r.status, 200, "a request that fits still does");
}

#[tokio::test]
async fn the_usage_event_of_a_stream_settles_it() {
    let h = start().await;
    let r = h
        .post("/v1/chat/completions", Some(KEY), &chat(200, true), &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "text/event-stream");
    let usage = sse_events(&r.body)
        .into_iter()
        .find(|v| v["usage"].is_object())
        .expect("a usage event")["usage"]
        .clone();
    wait_for_used(&h, total(&usage)).await;
}

/// An Anthropic-style stream (the mock's `/v1/messages`) states the input tokens in
/// `message_start` and the output tokens in `message_delta`: the request is settled to
/// both, not to the output alone.
#[tokio::test]
async fn an_anthropic_style_stream_settles_its_input_and_its_output() {
    let h = start().await;
    let r = h
        .post("/v1/messages", Some(KEY), &chat(200, true), &[])
        .await;
    assert_eq!(r.status, 200);
    let events = sse_events(&r.body);
    let of = |kind: &str| {
        events
            .iter()
            .find(|e| e["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} event in {events:?}"))
            .clone()
    };
    let input = of("message_start")["message"]["usage"]["input_tokens"]
        .as_u64()
        .unwrap();
    let output = of("message_delta")["usage"]["output_tokens"]
        .as_u64()
        .unwrap();
    assert!(input > 1 && output > 1, "{input} and {output}");
    wait_for_used(&h, input + output).await;
}

#[tokio::test]
async fn a_failed_answer_refunds_everything() {
    let h = start().await;
    let r = h
        .post(
            "/v1/chat/completions",
            Some(KEY),
            &chat(300, false),
            &[("x-mock-status", "503")],
        )
        .await;
    assert_eq!(r.status, 503);
    wait_for_used(&h, 0).await;
}

/// Bytes of the delta text in the complete events of `sse`.
fn content_bytes(sse: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(sse);
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::len))
        .sum::<usize>() as u64
}

#[tokio::test]
async fn a_stream_left_before_its_usage_settles_what_it_produced() {
    let h = start().await;
    let body = chat(200, true);
    let request = Request::builder()
        .method("POST")
        .uri(format!("{}/v1/chat/completions", h.base))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(common::full(body.clone()))
        .unwrap();
    let response = h.client.request(request).await.unwrap();
    let mut stream = response.into_body();
    let mut seen = Vec::new();
    // Two content events, then leave (the mock sends one every 50 ms).
    while content_bytes(&seen) == 0 || seen.iter().filter(|&&b| b == b'\n').count() < 6 {
        let frame = stream.frame().await.unwrap().unwrap();
        seen.extend_from_slice(frame.data_ref().unwrap());
    }
    drop(stream);
    let produced = content_bytes(&seen);
    assert!(produced > 0);
    let prompt = (body.len() as u64).div_ceil(4);
    wait_for_used(&h, prompt + produced.div_ceil(4)).await;
    assert!(
        prompt + produced.div_ceil(4) < prompt + 200,
        "unused tokens came back"
    );
}

#[tokio::test]
async fn a_stream_without_usage_is_charged_the_text_it_carried() {
    let h = start().await;
    let body = chat(200, true);
    let r = h
        .post(
            "/v1/chat/completions",
            Some(KEY),
            &body,
            &[("x-mock-usage", "omit")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(!String::from_utf8_lossy(&r.body).contains("\"usage\":{"));
    let produced = content_bytes(&r.body);
    let prompt = (body.len() as u64).div_ceil(4);
    wait_for_used(&h, prompt + produced.div_ceil(4)).await;
}
