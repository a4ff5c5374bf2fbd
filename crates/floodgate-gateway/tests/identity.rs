//! What the upstream learns about the caller: never the customer's API key unless the
//! config says so, the caller's identity in `x-floodgate-*` headers unless the config says
//! not, and never a client's own attempt at those headers.

mod common;

use axum::http::HeaderMap;
use common::{example, start_without_mock, Harness};

/// An upstream that answers with the request headers it received, as a JSON object (the
/// values of a header sent more than once joined by ", ").
async fn header_echo(forward_api_key: bool) -> (Harness, String) {
    header_echo_with(forward_api_key, true).await
}

async fn header_echo_with(forward_api_key: bool, identity_headers: bool) -> (Harness, String) {
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let seen: serde_json::Map<String, serde_json::Value> = headers
            .keys()
            .map(|k| {
                let values: Vec<&str> = headers
                    .get_all(k)
                    .iter()
                    .map(|v| v.to_str().unwrap_or("<binary>"))
                    .collect();
                (
                    k.as_str().to_owned(),
                    serde_json::Value::from(values.join(", ")),
                )
            })
            .collect();
        axum::Json(seen)
    });
    let (listener, addr) = common::listener().await;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut config = example("provider-b");
    config.server.upstream = Some(format!("http://{addr}"));
    config.server.forward_api_key = forward_api_key;
    config.server.identity_headers = identity_headers;
    (start_without_mock(config).await, addr.to_string())
}

#[tokio::test]
async fn the_upstream_never_sees_the_key_but_knows_the_caller() {
    let (h, upstream) = header_echo(false).await;
    for (name, value) in [
        ("authorization", "Bearer sk-demo-basic"),
        ("x-api-key", "sk-demo-basic"),
    ] {
        let r = h
            .post(
                "/api/v1/txt2img",
                None,
                "{}",
                &[
                    (name, value),
                    ("x-floodgate-account", "someone-else"),
                    ("x-floodgate-tier", "premium"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{name}");
        let seen = r.json();
        assert!(seen.get("authorization").is_none(), "{seen}");
        assert!(seen.get("x-api-key").is_none(), "{seen}");
        assert!(
            !seen.to_string().contains("sk-demo-basic"),
            "the raw key reached the upstream: {seen}"
        );
        assert_eq!(
            seen["x-floodgate-account"], "demo-basic",
            "spoofing dropped"
        );
        assert_eq!(seen["x-floodgate-tier"], "basic");
        assert_eq!(seen["x-floodgate-key-id"], "c066eeaf121c4fcf");
        assert_eq!(seen["host"], upstream, "the upstream's own name, once");
    }
}

#[tokio::test]
async fn forward_api_key_keeps_it_for_upstreams_that_check_it() {
    let (h, upstream) = header_echo(true).await;
    let r = h
        .post("/api/v1/txt2img", Some("sk-demo-basic"), "{}", &[])
        .await;
    assert_eq!(r.status, 200);
    let seen = r.json();
    assert_eq!(seen["authorization"], "Bearer sk-demo-basic");
    assert_eq!(seen["x-floodgate-account"], "demo-basic");
    assert_eq!(seen["host"], upstream);
}

#[tokio::test]
async fn identity_headers_off_sends_none_and_still_drops_the_clients() {
    for forward_api_key in [false, true] {
        let (h, upstream) = header_echo_with(forward_api_key, false).await;
        let r = h
            .post(
                "/api/v1/txt2img",
                Some("sk-demo-basic"),
                "{}",
                &[
                    ("x-floodgate-account", "someone-else"),
                    ("x-floodgate-x", "1"),
                ],
            )
            .await;
        assert_eq!(r.status, 200);
        let seen = r.json();
        let names: Vec<&String> = seen.as_object().unwrap().keys().collect();
        assert!(
            !names.iter().any(|n| n.starts_with("x-floodgate-")),
            "forward_api_key = {forward_api_key}: {seen}"
        );
        assert_eq!(
            seen.get("authorization").is_some(),
            forward_api_key,
            "{seen}"
        );
        assert_eq!(seen["host"], upstream);
    }
}
