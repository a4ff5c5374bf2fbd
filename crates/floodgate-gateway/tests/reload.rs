//! Swapping the configuration while serving: the next request sees the new limits (the
//! per-key cache of resolved limits goes with the old configuration); counters survive.

mod common;

use common::{example, start};

#[tokio::test]
async fn a_new_tier_takes_effect_on_the_next_request() {
    let h = start(example("provider-b")).await;
    let r = h
        .post("/api/v1/txt2img", Some("sk-demo-basic"), "{}", &[])
        .await;
    assert_eq!(r.header("x-ratelimit-limit"), "3");

    let mut config = h.state.config();
    let account = config.accounts.get_mut("demo-basic").unwrap();
    account.tier = "premium".into();
    h.state.replace_config(config).unwrap();

    let r = h
        .post("/api/v1/txt2img", Some("sk-demo-basic"), "{}", &[])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-limit"), "300");
    assert!(r.headers.get("x-ratelimit-daily-limit").is_none());
    let limits = h
        .get("/api/v1/api_keys/rate_limits", "sk-demo-basic")
        .await
        .json();
    assert_eq!(limits["data"]["key"]["tier"], "premium");
}

#[tokio::test]
async fn a_removed_key_is_refused_at_once() {
    let h = start(example("provider-b")).await;
    assert_eq!(
        h.post("/api/v1/txt2img", Some("sk-demo-basic"), "{}", &[])
            .await
            .status,
        200
    );
    let mut config = h.state.config();
    config
        .keys
        .retain(|_, k| k.info.account.as_ref() != "demo-basic");
    h.state.replace_config(config).unwrap();
    assert_eq!(
        h.post("/api/v1/txt2img", Some("sk-demo-basic"), "{}", &[])
            .await
            .status,
        401
    );
}
