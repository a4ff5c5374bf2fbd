//! Chat completions over a real socket: usage arithmetic, the SSE stream and its timing,
//! and a cancelled stream showing up in the stats.

mod common;

use common::{json_of, start};
use floodgate_mock::MockOptions;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn request(stream: bool) -> Value {
    json!({
        "model": "mock-llm",
        "messages": [
            {"role": "system", "content": "12345678"},
            {"role": "user", "content": "1234"},
        ],
        "max_tokens": 10,
        "stream": stream,
    })
}

/// `data:` payloads of an SSE body, in order.
fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn completion_reports_usage_from_the_request() {
    let mock = start(MockOptions::default()).await;
    let response = mock
        .post_json("/api/v1/chat/completions", &request(false))
        .await;
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "mock-llm");
    // 3 priming + (4 + 2) + (4 + 1) prompt tokens; 10 completion tokens as asked.
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 14, "completion_tokens": 10, "total_tokens": 24})
    );
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(content.split(' ').count(), 10);
}

#[tokio::test]
async fn completion_length_is_capped_unless_forced() {
    let mock = start(MockOptions::default()).await;
    let big = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4000});
    let body = json_of(mock.post_json("/v1/chat/completions", &big).await).await;
    assert_eq!(body["usage"]["completion_tokens"], 64);

    let forced = mock
        .client
        .post(mock.url("/v1/chat/completions"))
        .header("x-mock-completion-tokens", "250")
        .body(json!({"messages": [], "max_tokens": 5}).to_string())
        .send()
        .await
        .unwrap();
    let body = json_of(forced).await;
    assert_eq!(body["usage"]["completion_tokens"], 250);
    assert_eq!(body["usage"]["total_tokens"], 253);
}

#[tokio::test]
async fn stream_sends_chunks_over_time_with_usage_last() {
    let interval = Duration::from_millis(30);
    let mock = start(MockOptions {
        stream_interval: interval,
        ..MockOptions::default()
    })
    .await;
    let plain = json_of(
        mock.post_json("/api/v1/chat/completions", &request(false))
            .await,
    )
    .await;

    let started = Instant::now();
    let mut response = mock
        .post_json("/api/v1/chat/completions", &request(true))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut body = String::new();
    let mut first_chunk_at = None;
    while let Some(chunk) = response.chunk().await.unwrap() {
        first_chunk_at.get_or_insert_with(|| started.elapsed());
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let total = started.elapsed();

    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let events: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|event| serde_json::from_str(event).unwrap())
        .collect();
    assert!(events.len() >= 5, "only {} events", events.len());
    let usage_event = events.last().unwrap();
    assert_eq!(usage_event["choices"], json!([]));
    assert_eq!(usage_event["usage"], plain["usage"]);
    assert!(events[..events.len() - 1]
        .iter()
        .all(|event| event["usage"].is_null()));
    let streamed: String = events
        .iter()
        .filter_map(|event| event["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, plain["choices"][0]["message"]["content"]);

    // Every event after the first waits one interval, so the stream spans them all, and
    // a client sees the first events well before the last: the answer is not buffered.
    let gaps = u32::try_from(data.len() - 1).unwrap();
    assert!(total >= interval * gaps, "stream took only {total:?}");
    let after_first = total - first_chunk_at.unwrap();
    assert!(
        after_first >= interval * 3,
        "all but {after_first:?} came at once"
    );

    let stats = mock.stats().await;
    assert_eq!(stats["streams"], json!({"completed": 1, "cancelled": 0}));
}

#[tokio::test]
async fn a_stream_the_client_drops_counts_as_cancelled() {
    let mock = start(MockOptions {
        stream_interval: Duration::from_millis(50),
        ..MockOptions::default()
    })
    .await;
    let mut response = mock
        .post_json("/api/v1/chat/completions", &request(true))
        .await;
    assert!(response.chunk().await.unwrap().is_some());
    drop(response);

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = mock.stats().await;
        if stats["streams"]["cancelled"] == 1 {
            assert_eq!(stats["streams"]["completed"], 0);
            break;
        }
        assert!(Instant::now() < deadline, "never saw the cancel: {stats}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn x_mock_usage_omit_leaves_usage_out_of_both_shapes() {
    let mock = start(MockOptions {
        stream_interval: Duration::from_millis(1),
        ..MockOptions::default()
    })
    .await;
    let send = |stream| {
        mock.client
            .post(mock.url("/api/v1/chat/completions"))
            .header("x-mock-usage", "omit")
            .body(request(stream).to_string())
            .send()
    };
    let plain = json_of(send(false).await.unwrap()).await;
    assert!(plain.get("usage").is_none(), "{plain}");
    assert_eq!(plain["choices"][0]["finish_reason"], "stop");

    let body = send(true).await.unwrap().text().await.unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert!(data[..data.len() - 1].iter().all(|event| {
        let event: Value = serde_json::from_str(event).unwrap();
        event["usage"].is_null() && !event["choices"].as_array().unwrap().is_empty()
    }));
}
