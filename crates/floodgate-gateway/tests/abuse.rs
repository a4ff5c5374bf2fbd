//! Abuse protection (seed 003): more than 20 non-success responses in 30 seconds block
//! the key for 30 seconds, with the seed's message; the gateway's own 4xx count too.

mod common;

use common::{example, start};

const KEY: &str = "sk-demo-standard";
const MESSAGE: &str = "Too many failed attempts (> 20) resulting in a non-success status code. Please wait 30s and try again.";

fn chat() -> String {
    serde_json::json!({"model": "qwen3-4b", "messages": [{"role": "user", "content": "hi"}]})
        .to_string()
}

#[tokio::test]
async fn twenty_one_upstream_failures_in_30s_block_the_key_for_30s() {
    let h = start(example("provider-c")).await;
    let fail = [("x-mock-status", "500")];
    for i in 0..20 {
        let r = h
            .post("/api/v1/chat/completions", Some(KEY), &chat(), &fail)
            .await;
        assert_eq!(r.status, 500, "failure {i} is passed through");
        h.advance_secs(1);
    }
    // 20 failures are tolerated.
    let r = h
        .post("/api/v1/chat/completions", Some(KEY), &chat(), &[])
        .await;
    assert_eq!(r.status, 200);
    // The 21st within 30 s starts the block.
    let r = h
        .post("/api/v1/chat/completions", Some(KEY), &chat(), &fail)
        .await;
    assert_eq!(r.status, 500);

    let r = h
        .post("/api/v1/chat/completions", Some(KEY), &chat(), &[])
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["message"], MESSAGE);
    assert_eq!(r.json()["error"]["type"], "abuse_blocked");
    assert_eq!(r.header("retry-after"), "30");
    assert_eq!(r.header("retry-after-ms"), "30000");

    // Another key is not blocked.
    let r = h
        .post(
            "/api/v1/chat/completions",
            Some("sk-demo-partner"),
            &chat(),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);

    h.advance_secs(29);
    let r = h
        .post("/api/v1/chat/completions", Some(KEY), &chat(), &[])
        .await;
    assert_eq!(r.status, 429, "still blocked after 29 s");
    assert_eq!(r.header("retry-after"), "1");
    h.advance_secs(1);
    let r = h
        .post("/api/v1/chat/completions", Some(KEY), &chat(), &[])
        .await;
    assert_eq!(r.status, 200, "free again after 30 s");
}

#[tokio::test]
async fn the_gateways_own_errors_count_and_failures_spread_out_do_not() {
    let h = start(example("provider-c")).await;
    // 40 failures, one every 2 s: never more than 15 in a 30 s window.
    for _ in 0..40 {
        let r = h
            .post(
                "/api/v1/chat/completions",
                Some(KEY),
                r#"{"model":"nope"}"#,
                &[],
            )
            .await;
        assert_eq!(r.status, 404);
        h.advance_secs(2);
    }
    let r = h
        .post("/api/v1/chat/completions", Some(KEY), &chat(), &[])
        .await;
    assert_eq!(r.status, 200);

    // 21 quick ones of the gateway's own (bad JSON, unknown route) do block.
    for i in 0..21 {
        let path = if i % 2 == 0 {
            "/api/v1/chat/completions"
        } else {
            "/nowhere"
        };
        let r = h.post(path, Some(KEY), "{not json", &[]).await;
        assert!(r.status == 400 || r.status == 404, "{}", r.status);
    }
    let r = h
        .post("/api/v1/chat/completions", Some(KEY), &chat(), &[])
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["error"]["message"], MESSAGE);
}

#[tokio::test]
async fn unknown_keys_are_not_counted_against_anyone() {
    let h = start(example("provider-c")).await;
    for _ in 0..30 {
        let r = h
            .post("/api/v1/chat/completions", Some("sk-wrong"), &chat(), &[])
            .await;
        assert_eq!(r.status, 401);
    }
    let r = h
        .post("/api/v1/chat/completions", Some(KEY), &chat(), &[])
        .await;
    assert_eq!(r.status, 200);
}
