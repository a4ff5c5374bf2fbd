//! The control headers, the stats endpoint and graceful shutdown, over a real socket.

mod common;

use common::{json_of, start};
use floodgate_mock::MockOptions;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn x_mock_status_answers_that_status_with_a_json_error() {
    let mock = start(MockOptions::default()).await;
    for status in [400_u16, 429, 500, 503] {
        let response = mock
            .client
            .post(mock.url("/api/v1/txt2img"))
            .header("x-mock-status", status.to_string())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status);
        let retry_after = response.headers().get("retry-after").cloned();
        assert_eq!(
            retry_after.is_some(),
            matches!(status, 429 | 503),
            "{status}"
        );
        let body = json_of(response).await;
        assert_eq!(body["error"]["code"], status);
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-mock-status"));
    }
}

#[tokio::test]
async fn a_success_status_keeps_the_endpoint_answer() {
    let mock = start(MockOptions::default()).await;
    let response = mock
        .client
        .post(mock.url("/api/v1/txt2img"))
        .header("x-mock-status", "201")
        .body(json!({"n": 2}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(json_of(response).await["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_malformed_control_header_is_a_400() {
    let mock = start(MockOptions::default()).await;
    let response = mock
        .client
        .get(mock.url("/api/v1/txt2img"))
        .header("x-mock-delay-ms", "soon")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(json_of(response).await["error"]["message"]
        .as_str()
        .unwrap()
        .contains("x-mock-delay-ms"));
}

#[tokio::test]
async fn x_mock_delay_ms_and_the_latency_option_hold_the_answer_back() {
    let mock = start(MockOptions {
        latency: Some(Duration::from_millis(100)),
        ..MockOptions::default()
    })
    .await;
    let started = Instant::now();
    let response = mock.get("/api/v1/txt2img").await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(100));

    let started = Instant::now();
    let response = mock
        .client
        .get(mock.url("/api/v1/txt2img"))
        .header("x-mock-delay-ms", "250")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(350));
}

#[tokio::test]
async fn every_answer_tells_how_many_body_bytes_arrived() {
    let mock = start(MockOptions::default()).await;
    for (status, length) in [(None, 12_345_usize), (Some("502"), 777)] {
        let mut request = mock
            .client
            .post(mock.url("/api/v1/audio/transcriptions"))
            .body(vec![1_u8; length]);
        if let Some(status) = status {
            request = request.header("x-mock-status", status);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["x-mock-received-bytes"],
            length.to_string().as_str()
        );
    }
    let empty = mock.get("/api/v1/txt2img").await;
    assert_eq!(empty.headers()["x-mock-received-bytes"], "0");
}

#[tokio::test]
async fn stats_count_requests_and_bytes_per_path_and_reset() {
    let mock = start(MockOptions::default()).await;
    assert_eq!(mock.stats().await["total"], 0);
    for _ in 0..3 {
        mock.post_json("/api/v1/txt2img", &json!({"n": 1})).await;
    }
    mock.client
        .post(mock.url("/api/v1/embeddings"))
        .header("x-mock-status", "500")
        .body("12345")
        .send()
        .await
        .unwrap();

    let stats = mock.stats().await;
    assert_eq!(stats["total"], 4);
    assert_eq!(
        stats["requests"],
        json!({"/api/v1/txt2img": 3, "/api/v1/embeddings": 1})
    );
    assert_eq!(stats["received_bytes"]["/api/v1/embeddings"], 5);
    assert_eq!(stats["received_bytes"]["/api/v1/txt2img"], 3 * 7);
    assert!(stats["received_bytes"].get("/mock/stats").is_none());

    let reset = mock
        .client
        .delete(mock.url("/mock/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    let stats = mock.stats().await;
    assert_eq!(stats["total"], 0);
    assert_eq!(stats["requests"], json!({}));
}

#[tokio::test]
async fn serve_stops_on_its_shutdown_signal() {
    let mock = start(MockOptions::default()).await;
    let url = mock.url("/api/v1/txt2img");
    assert_eq!(mock.get("/api/v1/txt2img").await.status(), 200);
    mock.stop().await.unwrap();
    let fresh = reqwest::Client::new();
    assert!(fresh.get(url).send().await.is_err());
}
