//! The admin API over a real socket: every route refuses without the admin token; a key
//! created through it works on the next request and a revoked one gets 401; a tier change
//! and an override apply to the very next request (an override to its one model only);
//! an abuse block is lifted; a reload of the file keeps every admin change.

mod common;

use common::{config_from, example, full, start, Harness};
use floodgate_config::{Config, KeyHash};
use http::{Method, Request};
use serde_json::{json, Value};

const TOKEN: &str = "admin-token-for-tests";

fn with_token(mut config: Config) -> Config {
    config.admin.token_sha256 = Some(KeyHash::of(TOKEN));
    config
}

async fn admin(
    h: &Harness,
    method: Method,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> common::Reply {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        b = b.header("authorization", format!("Bearer {token}"));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    h.send(b.body(full(body)).expect("request")).await
}

async fn call(h: &Harness, method: Method, path: &str, body: Option<Value>) -> common::Reply {
    admin(h, method, path, body, Some(TOKEN)).await
}

async fn txt2img(h: &Harness, key: &str) -> u16 {
    h.post("/api/v1/txt2img", Some(key), r#"{"prompt":"x"}"#, &[])
        .await
        .status
}

async fn img2img(h: &Harness, key: &str) -> u16 {
    h.post("/api/v1/img2img", Some(key), r#"{"prompt":"x"}"#, &[])
        .await
        .status
}

/// Creates a key on a new account of `tier`; returns (raw key, id).
async fn create(h: &Harness, account: &str, tier: &str) -> (String, String) {
    let r = call(
        h,
        Method::POST,
        "/admin/v1/keys",
        Some(json!({"account": account, "tier": tier, "name": "ci"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    let key = v["key"].as_str().unwrap().to_owned();
    assert_eq!(v["sha256"], KeyHash::of(&key).to_hex());
    (key, v["id"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn every_admin_route_answers_401_without_the_admin_token() {
    let h = start(with_token(example("provider-b"))).await;
    let routes = [
        (Method::POST, "/admin/v1/keys"),
        (Method::DELETE, "/admin/v1/keys/0123456789abcdef"),
        (Method::PUT, "/admin/v1/keys/0123456789abcdef/overrides"),
        (Method::DELETE, "/admin/v1/keys/0123456789abcdef/overrides"),
        (Method::DELETE, "/admin/v1/keys/0123456789abcdef/block"),
        (Method::GET, "/admin/v1/accounts/demo-basic/keys"),
        (Method::PUT, "/admin/v1/accounts/demo-basic/tier"),
        (Method::PUT, "/admin/v1/accounts/demo-basic/overrides"),
        (Method::DELETE, "/admin/v1/accounts/demo-basic/overrides"),
        (Method::GET, "/admin/v1/nothing-here"),
        (Method::PATCH, "/admin/v1/keys"),
    ];
    for (method, path) in routes {
        for token in [None, Some("wrong"), Some("sk-demo-basic")] {
            let r = admin(
                &h,
                method.clone(),
                path,
                Some(json!({"tier": "premium"})),
                token,
            )
            .await;
            assert_eq!(r.status, 401, "{method} {path} with {token:?}");
            assert_eq!(r.error_type(), "invalid_admin_token", "{method} {path}");
        }
    }
    // With the token: the unknown route is a 404 and the account is still basic.
    assert_eq!(
        call(&h, Method::GET, "/admin/v1/nothing-here", None)
            .await
            .status,
        404
    );
    let list = call(&h, Method::GET, "/admin/v1/accounts/demo-basic/keys", None).await;
    assert_eq!(list.json()["tier"], "basic");

    // No token configured at all: the admin API is closed.
    let closed = start(example("provider-b")).await;
    let r = admin(
        &closed,
        Method::GET,
        "/admin/v1/accounts/demo-basic/keys",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_type(), "admin_disabled");
}

#[tokio::test]
async fn a_created_key_works_at_once_a_revoked_one_gets_401_and_lists_show_no_key() {
    let h = start(with_token(example("provider-b"))).await;
    let (key, id) = create(&h, "acme", "basic").await;
    assert!(key.starts_with("sk-") && key.len() >= 35);
    assert_eq!(txt2img(&h, &key).await, 200);

    let list = call(&h, Method::GET, "/admin/v1/accounts/acme/keys", None).await;
    assert_eq!(list.status, 200);
    let text = String::from_utf8_lossy(&list.body).into_owned();
    assert!(!text.contains(&key), "a list never shows a raw key: {text}");
    let v = list.json();
    assert_eq!(v["tier"], "basic");
    assert_eq!(v["keys"][0]["id"], id);
    assert_eq!(v["keys"][0]["revoked"], false);

    let r = call(&h, Method::DELETE, &format!("/admin/v1/keys/{id}"), None).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = h
        .post("/api/v1/txt2img", Some(&key), r#"{"prompt":"x"}"#, &[])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error_type(), "invalid_api_key");
    let v = call(&h, Method::GET, "/admin/v1/accounts/acme/keys", None)
        .await
        .json();
    assert_eq!(v["keys"][0]["revoked"], true);

    // A key of the file can be revoked too, by its sha256.
    let file_key = KeyHash::of("sk-demo-premium").to_hex();
    assert_eq!(
        call(
            &h,
            Method::DELETE,
            &format!("/admin/v1/keys/{file_key}"),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(txt2img(&h, "sk-demo-premium").await, 401);

    // Bad input: 4xx JSON saying what is wrong.
    let bad = [
        (json!({"account": "new"}), "give its \"tier\""),
        (
            json!({"account": "new", "tier": "gold"}),
            "tier 'gold' is not defined",
        ),
        (
            json!({"account": "demo-basic", "tier": "premium"}),
            "exists",
        ),
        (json!({"acount": "x"}), "unknown field"),
    ];
    for (body, says) in bad {
        let r = call(&h, Method::POST, "/admin/v1/keys", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(
        call(&h, Method::DELETE, "/admin/v1/keys/ffffffffffffffff", None)
            .await
            .status,
        404
    );
    assert_eq!(
        call(&h, Method::GET, "/admin/v1/accounts/nobody/keys", None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_tier_change_lifts_the_limit_on_the_very_next_request() {
    let h = start(with_token(example("provider-b"))).await;
    let (key, _) = create(&h, "shop", "basic").await;
    for _ in 0..3 {
        assert_eq!(txt2img(&h, &key).await, 200);
    }
    assert_eq!(txt2img(&h, &key).await, 429, "basic: 3 a minute");
    let r = call(
        &h,
        Method::PUT,
        "/admin/v1/accounts/shop/tier",
        Some(json!({"tier": "premium"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["previous"], "basic");
    assert_eq!(txt2img(&h, &key).await, 200, "premium: 300 a minute");
    // The file's accounts move the same way.
    let r = call(
        &h,
        Method::PUT,
        "/admin/v1/accounts/demo-basic/tier",
        Some(json!({"tier": "nope"})),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn an_override_raises_one_model_only_and_clearing_it_restores_the_tier() {
    let h = start(with_token(example("provider-b"))).await;
    let (key, id) = create(&h, "studio", "basic").await;
    let raise = json!({"models": {"txt2img": {"limits": [{"unit": "requests", "window": "minute", "max": 6}]}}});
    let r = call(
        &h,
        Method::PUT,
        "/admin/v1/accounts/studio/overrides",
        Some(raise),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    for i in 0..6 {
        assert_eq!(txt2img(&h, &key).await, 200, "txt2img request {i}");
    }
    assert_eq!(txt2img(&h, &key).await, 429);
    for _ in 0..3 {
        assert_eq!(img2img(&h, &key).await, 200);
    }
    assert_eq!(img2img(&h, &key).await, 429, "img2img keeps the tier's 3");

    // A key override beats the account's, for that key.
    let key_raise = json!({"models": {"txt2img": {"limits": [{"unit": "requests", "window": "minute", "max": 8}]}}});
    let r = call(
        &h,
        Method::PUT,
        &format!("/admin/v1/keys/{id}/overrides"),
        Some(key_raise),
    )
    .await;
    assert_eq!(r.status, 200);
    // A new rate is a counter of its own: 8 now.
    for i in 0..8 {
        assert_eq!(txt2img(&h, &key).await, 200, "key override request {i}");
    }
    assert_eq!(txt2img(&h, &key).await, 429);

    // Cleared: back to the tier's 3 (already used up).
    assert_eq!(
        call(
            &h,
            Method::DELETE,
            &format!("/admin/v1/keys/{id}/overrides"),
            None
        )
        .await
        .status,
        200
    );
    assert_eq!(
        call(
            &h,
            Method::DELETE,
            "/admin/v1/accounts/studio/overrides",
            None
        )
        .await
        .status,
        200
    );
    h.advance_secs(60);
    for _ in 0..3 {
        assert_eq!(txt2img(&h, &key).await, 200);
    }
    assert_eq!(txt2img(&h, &key).await, 429);

    // Overrides are checked like the file's.
    let bad = json!({"models": {"txt2imgg": {"limits": []}}});
    let r = call(
        &h,
        Method::PUT,
        "/admin/v1/accounts/studio/overrides",
        Some(bad),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("model 'txt2imgg' is not defined"));
}

#[tokio::test]
async fn an_abuse_block_is_lifted_and_a_reload_keeps_admin_changes() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/provider-b.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let config = with_token(config_from(&format!(
        "[abuse]\nmax_failures = 1\nwindow = \"30s\"\nblock = \"30s\"\n{text}"
    )));
    let h = start(config.clone()).await;
    let (key, id) = create(&h, "noisy", "basic").await;
    for _ in 0..2 {
        let r = h.post("/api/v1/no-such-route", Some(&key), "{}", &[]).await;
        assert_eq!(r.status, 404);
    }
    let r = h
        .post("/api/v1/txt2img", Some(&key), r#"{"prompt":"x"}"#, &[])
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.error_type(), "abuse_blocked");
    let r = call(
        &h,
        Method::DELETE,
        &format!("/admin/v1/keys/{id}/block"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(txt2img(&h, &key).await, 200);

    call(
        &h,
        Method::PUT,
        "/admin/v1/accounts/noisy/tier",
        Some(json!({"tier": "premium"})),
    )
    .await;
    let mut reloaded = config;
    reloaded.server.upstream = Some(h.mock.clone());
    h.state.replace_config(reloaded).unwrap();
    assert_eq!(txt2img(&h, &key).await, 200, "the key survives a reload");
    let v = call(&h, Method::GET, "/admin/v1/accounts/noisy/keys", None)
        .await
        .json();
    assert_eq!(v["tier"], "premium", "and so does the tier change");
}
