//! Provider-c (seed 003) end to end: limits per model from the JSON body, OpenAI-style
//! headers on every response, models that are not rate-limited, image counts.

mod common;

use common::{example, start};

const STANDARD: &str = "sk-demo-standard";
const PARTNER: &str = "sk-demo-partner";

fn chat(model: &str) -> String {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 16,
    })
    .to_string()
}

#[tokio::test]
async fn requests_and_tokens_headers_on_a_200() {
    let h = start(example("provider-c")).await;
    let r = h
        .post(
            "/api/v1/chat/completions",
            Some(STANDARD),
            &chat("llama-3.3-70b"),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.json()["usage"].is_object(),
        "the mock's completion came through"
    );
    assert_eq!(
        r.header("x-ratelimit-limit-requests"),
        "100",
        "medium class"
    );
    assert_eq!(r.header("x-ratelimit-remaining-requests"), "99");
    let reset: u64 = r.header("x-ratelimit-reset-requests").parse().unwrap();
    let now = h.clock_secs();
    assert!(
        reset > now && reset <= now + 60,
        "a Unix timestamp within the minute: {reset}"
    );
    assert_eq!(r.header("x-ratelimit-limit-tokens"), "2000000");
    assert!(r
        .header("x-ratelimit-remaining-tokens")
        .parse::<u64>()
        .is_ok());
    assert!(r.header("x-ratelimit-reset-tokens").parse::<u64>().unwrap() <= 60);
    assert!(
        r.headers.get("x-ratelimit-limit").is_none(),
        "no classic headers"
    );

    // Each model has its own limits: x-small class, and the partner tier.
    let r = h
        .post(
            "/api/v1/chat/completions",
            Some(STANDARD),
            &chat("qwen3-4b"),
            &[],
        )
        .await;
    assert_eq!(r.header("x-ratelimit-limit-requests"), "500");
    assert_eq!(r.header("x-ratelimit-limit-tokens"), "5000000");
    let r = h
        .post(
            "/api/v1/chat/completions",
            Some(PARTNER),
            &chat("qwen3-4b"),
            &[],
        )
        .await;
    assert_eq!(r.header("x-ratelimit-limit-requests"), "2000");

    // OpenRouter: 1,000 RPM and no token limit, so no token headers.
    let r = h
        .post(
            "/api/v1/chat/completions",
            Some(STANDARD),
            &chat("gpt-5"),
            &[],
        )
        .await;
    assert_eq!(r.header("x-ratelimit-limit-requests"), "1000");
    assert!(r.headers.get("x-ratelimit-limit-tokens").is_none());
}

#[tokio::test]
async fn the_requests_limit_rejects_with_the_configured_body() {
    let h = start(example("provider-c")).await;
    let body = serde_json::json!({"model": "flux-dev", "prompt": "a cat"}).to_string();
    for i in 0..20 {
        let r = h
            .post("/api/v1/image/generate", Some(STANDARD), &body, &[])
            .await;
        assert_eq!(r.status, 200, "request {i}");
    }
    let r = h
        .post("/api/v1/image/generate", Some(STANDARD), &body, &[])
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert_eq!(r.header("x-ratelimit-remaining-requests"), "0");
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert!(r.header("retry-after-ms").parse::<u64>().unwrap() >= 1);
    // Another model of another class is not affected.
    let other = serde_json::json!({"model": "seedream-v4", "prompt": "a cat"}).to_string();
    let r = h
        .post("/api/v1/image/generate", Some(STANDARD), &other, &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-limit-requests"), "50");
}

#[tokio::test]
async fn video_models_are_not_rate_limited() {
    let h = start(example("provider-c")).await;
    let body = serde_json::json!({"model": "wan-2.5-preview", "prompt": "waves"}).to_string();
    for _ in 0..30 {
        let r = h
            .post("/api/v1/video/queue", Some(STANDARD), &body, &[])
            .await;
        assert_eq!(r.status, 200);
        assert!(r.headers.get("x-ratelimit-limit-requests").is_none());
    }
}

#[tokio::test]
async fn a_model_in_the_body_that_is_missing_or_not_a_string_is_a_400() {
    let h = start(example("provider-c")).await;
    let r = h
        .post(
            "/api/v1/chat/completions",
            Some(STANDARD),
            r#"{"messages":[]}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "invalid_request");
    let r = h
        .post(
            "/api/v1/chat/completions",
            Some(STANDARD),
            r#"{"model":3}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post(
            "/api/v1/image/generate",
            Some(STANDARD),
            r#"{"model":"flux-dev","n":"two"}"#,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'n'"));
}
