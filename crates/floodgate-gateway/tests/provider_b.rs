//! Provider-b (seed 002) end to end: per-endpoint minute and daily limits of the basic
//! tier, 300/minute everywhere for premium, and the classic `X-RateLimit-*` headers.

mod common;

use common::{example, start};

const BASIC: &str = "sk-demo-basic";
const PREMIUM: &str = "sk-demo-premium";

#[tokio::test]
async fn basic_txt2img_admits_three_a_minute_then_429_with_the_seed_headers() {
    let h = start(example("provider-b")).await;
    for i in 0..3u64 {
        let r = h
            .post("/api/v1/txt2img", Some(BASIC), r#"{"prompt":"a cat"}"#, &[])
            .await;
        assert_eq!(
            r.status,
            200,
            "request {i}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("x-ratelimit-limit"), "3");
        assert_eq!(r.header("x-ratelimit-remaining"), (2 - i).to_string());
        assert_eq!(r.header("x-ratelimit-daily-limit"), "100");
        assert_eq!(
            r.header("x-ratelimit-daily-remaining"),
            (99 - i).to_string()
        );
        assert!(r.json()["data"].is_array() || r.json().is_object());
    }
    let r = h
        .post("/api/v1/txt2img", Some(BASIC), r#"{"prompt":"a cat"}"#, &[])
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-ratelimit-type"), "minute");
    assert_eq!(r.header("x-ratelimit-limit"), "3");
    assert_eq!(r.header("x-ratelimit-remaining"), "0");
    assert_eq!(r.header("x-ratelimit-daily-limit"), "100");
    assert_eq!(r.header("x-ratelimit-daily-remaining"), "97");
    let retry: u64 = r
        .header("retry-after")
        .parse()
        .expect("integer Retry-After");
    assert!(
        (1..=20).contains(&retry),
        "one request frees after 20 s, got {retry}"
    );
    let retry_ms: u64 = r
        .header("retry-after-ms")
        .parse()
        .expect("integer retry-after-ms");
    assert!(retry_ms <= retry * 1000 && retry_ms > (retry - 1) * 1000);
    assert_eq!(
        r.json(),
        serde_json::json!({"message": "Too Many Attempts."})
    );
    assert_eq!(r.header("content-type"), "application/json");

    // The rejection consumed nothing, and the limit is per endpoint.
    let other = h.post("/api/v1/img2img", Some(BASIC), "{}", &[]).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("x-ratelimit-daily-remaining"), "99");

    // A rolling minute: after Retry-After one request fits again.
    h.advance_secs(retry);
    let r = h.post("/api/v1/txt2img", Some(BASIC), "{}", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-daily-remaining"), "96");
}

#[tokio::test]
async fn exhausting_the_daily_limit_says_daily() {
    let h = start(example("provider-b")).await;
    // txt2video: 1 per minute, 15 per day.
    for i in 0..15u64 {
        let r = h.post("/api/v1/txt2video", Some(BASIC), "{}", &[]).await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(
            r.header("x-ratelimit-daily-remaining"),
            (14 - i).to_string()
        );
        h.advance_secs(60);
    }
    let r = h.post("/api/v1/txt2video", Some(BASIC), "{}", &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-ratelimit-type"), "daily");
    assert_eq!(r.header("x-ratelimit-daily-limit"), "15");
    assert_eq!(r.header("x-ratelimit-daily-remaining"), "0");
    assert_eq!(r.header("x-ratelimit-remaining"), "1", "the minute is free");
    let retry: u64 = r.header("retry-after").parse().unwrap();
    // The store's clock stands at 12:15 UTC: the quota resets at midnight.
    assert!(retry > 11 * 3600 && retry <= 12 * 3600, "{retry}");

    // At 00:00 UTC the quota is back.
    h.advance_secs(retry);
    let r = h.post("/api/v1/txt2video", Some(BASIC), "{}", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-daily-remaining"), "14");
}

#[tokio::test]
async fn premium_gets_300_a_minute_on_every_endpoint_and_no_daily_limit() {
    let h = start(example("provider-b")).await;
    for path in [
        "/api/v1/txt2video",
        "/api/v1/prompt/enhance",
        "/api/v1/img-upscale",
    ] {
        let r = h.post(path, Some(PREMIUM), "{}", &[]).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("x-ratelimit-limit"), "300", "{path}");
        assert_eq!(r.header("x-ratelimit-remaining"), "299", "{path}");
        assert!(r.headers.get("x-ratelimit-daily-limit").is_none(), "{path}");
    }
    for i in 1..300u64 {
        let r = h.post("/api/v1/txt2img", Some(PREMIUM), "{}", &[]).await;
        assert_eq!(r.status, 200, "request {i}");
    }
    let r = h.post("/api/v1/txt2img", Some(PREMIUM), "{}", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining"), "0");
    let r = h.post("/api/v1/txt2img", Some(PREMIUM), "{}", &[]).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-ratelimit-type"), "minute");
    assert!(r.headers.get("x-ratelimit-daily-remaining").is_none());
}

#[tokio::test]
async fn prompt_wildcard_routes_share_one_counter() {
    let h = start(example("provider-b")).await;
    let a = h
        .post("/api/v1/prompt/enhance", Some(BASIC), "{}", &[])
        .await;
    let b = h
        .post("/api/v1/prompt/translate", Some(BASIC), "{}", &[])
        .await;
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(a.header("x-ratelimit-limit"), "10");
    assert_eq!(b.header("x-ratelimit-remaining"), "8");
}
