//! Retries over real sockets: Retry-After waited in full, 503s and refused connections
//! ridden out, retries that run out, answers not worth retrying (a request larger than
//! its limit among them).

mod support;

use axum::routing::any;
use axum::Router;
use floodgate_client::{ApiRequest, Client, ClientError, JobQueue, RetryPolicy};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use support::{answer, example, gateway_before, serve_router};

fn quick(max_retries: usize) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
        max_wait: Duration::from_secs(10),
        seed: Some(3),
    }
}

/// A server answering the n-th request (from 0) with `script(n)`.
async fn scripted(
    script: impl Fn(u32) -> axum::response::Response + Clone + Send + Sync + 'static,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let count = Arc::new(AtomicU32::new(0));
    let router = Router::new().fallback(any(move || {
        let script = script.clone();
        let n = count.fetch_add(1, Ordering::SeqCst);
        async move { script(n) }
    }));
    serve_router(router).await
}

fn job() -> ApiRequest {
    ApiRequest::post("/api/v1/txt2img", json!({"prompt": "x"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_two_seconds_is_waited_for_in_full() {
    let (base, _stop) = scripted(|n| match n {
        0 => answer(429, &[("retry-after", "2".into())]),
        _ => answer(200, &[]),
    })
    .await;
    let client = Client::builder(base).retry(quick(3)).build().unwrap();
    let start = Instant::now();
    let r = client.send(&job()).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(
        start.elapsed() < Duration::from_millis(2_600),
        "{:?}",
        start.elapsed()
    );
    assert_eq!((r.status.as_u16(), r.attempts, r.rate_limited), (200, 2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_as_an_http_date_is_waited_for() {
    let (base, _stop) = scripted(|n| match n {
        0 => {
            let at = SystemTime::now() + Duration::from_secs(3);
            answer(503, &[("retry-after", httpdate::fmt_http_date(at))])
        }
        _ => answer(200, &[]),
    })
    .await;
    let client = Client::builder(base).retry(quick(3)).build().unwrap();
    let start = Instant::now();
    let r = client.send(&job()).await.unwrap();
    // An HTTP-date has whole seconds: between 2 and 3 s from now.
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!((r.status.as_u16(), r.attempts), (200, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_answering_503_for_a_while_is_ridden_out_through_the_gateway() {
    let since = Instant::now();
    let (upstream, _stop) = scripted(move |_| {
        if since.elapsed() < Duration::from_millis(800) {
            answer(503, &[])
        } else {
            answer(200, &[])
        }
    })
    .await;
    let servers = gateway_before(example("provider-b"), &upstream).await;
    let client = Client::builder(&servers.base)
        .key("sk-demo-premium")
        .retry(quick(10))
        .build()
        .unwrap();
    let queue = JobQueue::new(client.clone(), 4);
    let results: Vec<_> = queue.run_all((0..8).map(|_| job())).collect().await;
    for (i, r) in &results {
        let r = r.as_ref().unwrap_or_else(|e| panic!("job {i}: {e}"));
        assert_eq!(r.status.as_u16(), 200);
    }
    let stats = client.stats();
    assert!(
        stats.server_errors > 0 && stats.retries == stats.server_errors,
        "{stats:?}"
    );
    assert_eq!(stats.rate_limited, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_retried_until_the_server_is_up() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let l = tokio::net::TcpListener::bind(addr).await.unwrap();
        let router = Router::new().fallback(any(|| async { answer(200, &[]) }));
        axum::serve(l, router).await
    });
    let client = Client::builder(format!("http://{addr}"))
        .retry(quick(12))
        .build()
        .unwrap();
    let r = client.send(&job()).await.unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert!(r.attempts > 1);
    assert_eq!(client.stats().transport_errors, u64::from(r.attempts - 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_out_and_the_last_answer_is_reported() {
    let (base, _stop) = scripted(|_| answer(502, &[])).await;
    let client = Client::builder(base).retry(quick(3)).build().unwrap();
    match client.send(&job()).await {
        Err(ClientError::GaveUp {
            status, attempts, ..
        }) => {
            assert_eq!((status.as_u16(), attempts), (502, 4));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_not_worth_retrying_come_back_at_once() {
    let (base, _stop) = scripted(|n| answer(if n == 0 { 400 } else { 501 }, &[])).await;
    let client = Client::builder(base).retry(quick(3)).build().unwrap();
    for status in [400, 501] {
        let r = client.send(&job()).await.unwrap();
        assert_eq!((r.status.as_u16(), r.attempts), (status, 1));
    }
    assert_eq!(client.stats().retries, 0);
}

/// provider-c's TPM is 5,000,000 for the standard key: a reservation past it is answered
/// `request_too_large` by the gateway, which no wait mends, so it comes back at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_larger_than_its_limit_comes_back_at_once() {
    let servers = support::gateway(example("provider-c")).await;
    let client = Client::builder(&servers.base)
        .key("sk-demo-standard")
        .retry(quick(3))
        .build()
        .unwrap();
    let request = ApiRequest::post(
        "/api/v1/chat/completions",
        json!({"model": "llama-3.2-3b", "max_tokens": 9_000_000, "messages": []}),
    );
    let r = client.send(&request).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (429, 1));
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"]["type"], "request_too_large");
    assert_eq!(client.stats().retries, 0);
}
