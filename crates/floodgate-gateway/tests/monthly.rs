//! Monthly quotas beside daily ones: every header convention tells when the month's quota
//! resets (the first of the next month, at the configured time), a rejection by it says
//! so, and the quota comes back whole at the boundary.

mod common;

use common::{config_from, start, Harness};
use floodgate_config::KeyHash;

const KEY: &str = "sk-monthly-test";
/// 2026-01-01T00:00:00Z; the harness starts at noon that day.
const NEW_YEAR: u64 = 1_767_225_600;
const DAY: u64 = 86_400;

/// A model with 3 requests a month per key and 50 a month per account (resetting at
/// 06:00), 10 a day, and none a minute, in `headers`' conventions.
fn config(headers: &str) -> floodgate_config::Config {
    config_from(&format!(
        r#"
[server]
upstream = "http://127.0.0.1:1"

[responses]
headers = [{headers}]

[models]
m = {{ kind = "image" }}

[tiers.t]
limits = [
  {{ unit = "requests", window = "month", max = 3 }},
  {{ unit = "requests", window = "day", max = 10 }},
  {{ unit = "images", window = "month", max = 50, scope = "account", reset = "06:00" }},
]

[accounts.a]
tier = "t"

[[keys]]
name = "monthly test key"
sha256 = "{}"
account = "a"

[[routes]]
path = "/v1/images"
model = "m"
"#,
        KeyHash::of(KEY).to_hex()
    ))
}

async fn request(h: &Harness) -> common::Reply {
    h.post("/v1/images", Some(KEY), "{}", &[]).await
}

#[tokio::test]
async fn ietf_headers_give_the_time_to_the_months_reset() {
    let h = start(config("\"ietf\"")).await;
    let r = request(&h).await;
    assert_eq!(r.status, 200);
    // Noon on 1 January: 30.5 days to 1 February, 30.75 to its 06:00.
    let to_february = 31 * DAY - DAY / 2;
    assert_eq!(
        r.header("ratelimit-policy"),
        "\"month\";q=3;w=2592000, \"day\";q=10;w=86400, \"account-images-month\";q=50;w=2592000"
    );
    assert_eq!(
        r.header("ratelimit"),
        format!(
            "\"month\";r=2;t={to_february}, \"day\";r=9;t={}, \"account-images-month\";r=49;t={}",
            DAY / 2,
            to_february + DAY / 4
        )
    );
    // 20 February, noon: the month's boundary is 1 March.
    h.advance_secs(50 * DAY);
    let r = request(&h).await;
    assert!(
        r.header("ratelimit")
            .starts_with(&format!("\"month\";r=2;t={}, ", 9 * DAY - DAY / 2)),
        "a new month, a whole quota: {}",
        r.header("ratelimit")
    );
}

#[tokio::test]
async fn a_monthly_rejection_says_monthly_and_waits_for_the_month() {
    let h = start(config("\"classic\", \"openai\"")).await;
    for _ in 0..3 {
        let r = request(&h).await;
        assert_eq!(r.status, 200);
        // Classic headers have no monthly pair; the daily one is reported.
        assert_eq!(r.header("x-ratelimit-daily-limit"), "10");
    }
    let r = request(&h).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("x-ratelimit-type"), "monthly");
    let to_february = 31 * DAY - DAY / 2;
    assert_eq!(r.header("retry-after"), to_february.to_string());
    assert_eq!(r.header("retry-after-ms"), (to_february * 1000).to_string());
    let limits = h.get("/api/v1/api_keys/rate_limits", KEY).await.json();
    let month = &limits["data"]["models"][0]["limits"][0];
    assert_eq!(month["window"], "month");
    assert_eq!(month["reset_at"], NEW_YEAR + 31 * DAY);
    assert_eq!(month["remaining"], 0);
    // The next month, the quota is whole again.
    h.advance_secs(to_february);
    assert_eq!(request(&h).await.status, 200);
}

#[tokio::test]
async fn openai_style_headers_fall_back_to_the_monthly_quota() {
    let text = format!(
        r#"
[server]
upstream = "http://127.0.0.1:1"

[responses]
headers = ["openai"]

[models]
m = {{ kind = "image" }}

[tiers.t]
limits = [{{ unit = "requests", window = "month", max = 1000 }}]

[accounts.a]
tier = "t"

[[keys]]
name = "monthly test key"
sha256 = "{}"
account = "a"

[[routes]]
path = "/v1/images"
model = "m"
"#,
        KeyHash::of(KEY).to_hex()
    );
    let h = start(config_from(&text)).await;
    let r = request(&h).await;
    assert_eq!(r.header("x-ratelimit-limit-requests"), "1000");
    assert_eq!(r.header("x-ratelimit-remaining-requests"), "999");
    assert_eq!(
        r.header("x-ratelimit-reset-requests"),
        (NEW_YEAR + 31 * DAY).to_string(),
        "the Unix time of 1 February"
    );
}
