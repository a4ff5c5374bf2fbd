//! The key owner's endpoints: `rate_limits` reads every dimension without consuming any,
//! `rate_limit_logs` lists the key's own rejections, and neither shows another key's data.

mod common;

use common::{example, start};
use serde_json::Value;

const BASIC: &str = "sk-demo-basic";
const PREMIUM: &str = "sk-demo-premium";
const LIMITS: &str = "/api/v1/api_keys/rate_limits";
const LOGS: &str = "/api/v1/api_keys/rate_limit_logs";

fn model<'v>(limits: &'v Value, name: &str) -> &'v Value {
    limits["data"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == name)
        .unwrap_or_else(|| panic!("{name} missing from {limits}"))
}

fn dimension<'v>(model: &'v Value, window: &str) -> &'v Value {
    model["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["window"] == window)
        .unwrap_or_else(|| panic!("{window} missing from {model}"))
}

#[tokio::test]
async fn rate_limits_reports_usage_and_consumes_nothing() {
    let h = start(example("provider-b")).await;
    let r = h.post("/api/v1/txt2img", Some(BASIC), "{}", &[]).await;
    assert_eq!(r.status, 200);
    for _ in 0..5 {
        let r = h.get(LIMITS, BASIC).await;
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["data"]["key"]["tier"], "basic");
        assert!(!v.to_string().contains(BASIC), "the raw key never appears");
        let txt2img = model(&v, "txt2img");
        assert_eq!(txt2img["rate_limited"], true);
        let minute = dimension(txt2img, "minute");
        assert_eq!(minute["unit"], "requests");
        assert_eq!(minute["window_seconds"], 60);
        assert_eq!(minute["limit"], 3);
        assert_eq!(minute["used"], 1);
        assert_eq!(minute["remaining"], 2);
        assert_eq!(minute["reset_seconds"], 20);
        assert_eq!(
            minute["reset_at"].as_u64().unwrap(),
            h.clock_secs() + 20,
            "Unix time of the reset"
        );
        let day = dimension(txt2img, "day");
        assert_eq!(
            (day["limit"].as_u64(), day["remaining"].as_u64()),
            (Some(100), Some(99))
        );
        assert_eq!(dimension(model(&v, "img2img"), "minute")["used"], 0);
    }
    let r = h.post("/api/v1/txt2img", Some(BASIC), "{}", &[]).await;
    assert_eq!(
        r.header("x-ratelimit-remaining"),
        "1",
        "reading consumed nothing"
    );
}

#[tokio::test]
async fn models_that_are_not_rate_limited_say_so() {
    let h = start(example("provider-c")).await;
    let v = h.get(LIMITS, "sk-demo-standard").await.json();
    assert_eq!(v["data"]["key"]["tier"], "standard");
    let video = model(&v, "wan-2.5-preview");
    assert_eq!(video["rate_limited"], false);
    assert_eq!(video["limits"].as_array().unwrap().len(), 0);
    let text = model(&v, "qwen3-4b");
    let units: Vec<&str> = text["limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["unit"].as_str().unwrap())
        .collect();
    assert_eq!(units, ["requests", "tokens"]);
}

#[tokio::test]
async fn logs_list_a_keys_own_rejections_only() {
    let h = start(example("provider-b")).await;
    for _ in 0..5 {
        h.post("/api/v1/txt2img", Some(BASIC), "{}", &[]).await;
    }
    let v = h.get(LOGS, BASIC).await.json();
    let entries = v["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{v}");
    let e = &entries[0];
    assert_eq!(e["model"], "txt2img");
    assert_eq!(e["status"], 429);
    assert_eq!(e["limit"]["unit"], "requests");
    assert_eq!(e["limit"]["window"], "minute");
    assert_eq!(e["limit"]["limit"], 3);
    assert!(e["retry_after_seconds"].as_u64().unwrap() >= 1);
    assert!(e["timestamp"]
        .as_str()
        .unwrap()
        .starts_with("2026-01-01T12:00:00"));

    // The premium key sees none of it, in either endpoint.
    let other = h.get(LOGS, PREMIUM).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.json()["data"], serde_json::json!([]));
    let limits = h.get(LIMITS, PREMIUM).await.json();
    assert_eq!(limits["data"]["key"]["tier"], "premium");
    assert_eq!(dimension(model(&limits, "txt2img"), "minute")["used"], 0);
}

#[tokio::test]
async fn the_endpoints_require_a_key() {
    let h = start(example("provider-b")).await;
    for path in [LIMITS, LOGS] {
        let r = h.get(path, "sk-unknown").await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.error_type(), "invalid_api_key");
    }
}
