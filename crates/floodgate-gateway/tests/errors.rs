//! The gateway's own refusals: each a 4xx with the shared JSON error shape
//! `{"error": {"type": ..., "message": ...}}`, and none reaching the upstream.

mod common;

use bytes::Bytes;
use common::{example, full, start};
use http::Request;

#[tokio::test]
async fn no_key_and_unknown_key_are_401() {
    let h = start(example("provider-b")).await;
    let r = h.post("/api/v1/txt2img", None, "{}", &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_type(), "missing_api_key");
    assert_eq!(r.header("content-type"), "application/json");
    let r = h
        .post("/api/v1/txt2img", Some("sk-not-a-key"), "{}", &[])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_type(), "invalid_api_key");
    let r = h
        .post(
            "/api/v1/txt2img",
            None,
            "{}",
            &[("authorization", "Basic Zm9v")],
        )
        .await;
    assert_eq!(r.status, 401);
    // x-api-key works as well as a bearer token.
    let r = h
        .post(
            "/api/v1/txt2img",
            None,
            "{}",
            &[("x-api-key", "sk-demo-basic")],
        )
        .await;
    assert_eq!(r.status, 200);
    let stats = h.mock_stats().await;
    assert_eq!(stats["requests"]["/api/v1/txt2img"], 1, "{stats}");
}

#[tokio::test]
async fn bad_json_and_unknown_model_are_named() {
    let h = start(example("provider-c")).await;
    let key = Some("sk-demo-standard");
    let r = h
        .post(
            "/api/v1/chat/completions",
            key,
            r#"{"model": "qwen3-4b","#,
            &[],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "invalid_json");
    let r = h.post("/api/v1/chat/completions", key, "[1, 2]", &[]).await;
    assert_eq!(r.status, 400);
    let r = h
        .post("/api/v1/chat/completions", key, r#"{"model":"gpt-9"}"#, &[])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), "unknown_model");
    assert_eq!(r.json()["error"]["message"], "model 'gpt-9' is not known");
    let stats = h.mock_stats().await;
    assert!(
        stats["requests"].as_object().is_none_or(|m| m.is_empty()),
        "{stats}"
    );
}

#[tokio::test]
async fn no_route_is_404_and_wrong_method_too() {
    let h = start(example("provider-b")).await;
    let r = h
        .post("/api/v1/txt3img", Some("sk-demo-basic"), "{}", &[])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), "no_route");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/api/v1/txt3img"));
    let r = h.get("/api/v1/txt2img", "sk-demo-basic").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_json_body_over_the_reading_cap_is_413_and_garbage_never_panics() {
    let h = start(example("provider-c")).await;
    let big = format!(
        r#"{{"model":"qwen3-4b","pad":"{}"}}"#,
        "x".repeat(1_100_000)
    );
    let r = h
        .post(
            "/api/v1/chat/completions",
            Some("sk-demo-standard"),
            &big,
            &[],
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error_type(), "payload_too_large");
    for body in [
        "",
        "null",
        "\u{0}",
        "{\"model\":\"\\ud800\"}",
        "{\"model\":{\"a\":[1,{}]}}",
    ] {
        let r = h
            .post(
                "/api/v1/chat/completions",
                Some("sk-demo-standard"),
                body,
                &[],
            )
            .await;
        assert_eq!(r.status, 400, "{body:?}");
    }
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/chat/completions")
        .header("authorization", "Bearer sk-demo-standard")
        .header("content-length", "abc")
        .body(full(Bytes::new()))
        .unwrap();
    let r = h.send(request).await;
    assert_eq!(r.status, 400);
}
