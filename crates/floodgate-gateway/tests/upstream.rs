//! Upstream failures become clear JSON errors: 502 when it cannot be reached, 504 when
//! its response head is late; the upstream's own statuses pass through.

mod common;

use common::{example, start, start_without_mock};

#[tokio::test]
async fn an_unreachable_upstream_is_502() {
    // Port 1 (tcpmux) is privileged and unused: connections are refused, and no other
    // test can take it between a bind and a request.
    let mut config = example("provider-b");
    config.server.upstream = Some("http://127.0.0.1:1".to_owned());
    let h = start_without_mock(config).await;
    let r = h
        .post("/api/v1/txt2img", Some("sk-demo-basic"), "{}", &[])
        .await;
    assert_eq!(r.status, 502);
    assert_eq!(r.error_type(), "upstream_unavailable");
    assert_eq!(
        r.header("x-ratelimit-remaining"),
        "2",
        "the request was counted"
    );
}

#[tokio::test]
async fn a_slow_upstream_is_504() {
    let mut config = example("provider-b");
    config.server.upstream_timeout = 200_000_000;
    let h = start(config).await;
    let started = std::time::Instant::now();
    let r = h
        .post(
            "/api/v1/txt2img",
            Some("sk-demo-basic"),
            "{}",
            &[("x-mock-delay-ms", "5000")],
        )
        .await;
    assert_eq!(r.status, 504);
    assert_eq!(r.error_type(), "upstream_timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    // A fast answer right after still goes through.
    let r = h
        .post("/api/v1/txt2img", Some("sk-demo-basic"), "{}", &[])
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn upstream_statuses_and_headers_pass_through_with_the_limit_headers() {
    let h = start(example("provider-b")).await;
    let r = h
        .post(
            "/api/v1/txt2img",
            Some("sk-demo-basic"),
            "{}",
            &[("x-mock-status", "503")],
        )
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("x-ratelimit-limit"), "3");
    assert_eq!(r.header("x-ratelimit-remaining"), "2");
    assert!(r.headers.contains_key("x-mock-received-bytes"));
}

#[tokio::test]
async fn no_upstream_configured_is_502() {
    let mut config = example("provider-b");
    config.server.upstream = None;
    let h = start_without_mock(config).await;
    let r = h
        .post("/api/v1/txt2img", Some("sk-demo-basic"), "{}", &[])
        .await;
    assert_eq!(r.status, 502);
}
