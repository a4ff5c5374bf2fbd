//! Multi-image requests against images per minute, per day and per month together: a
//! request for n images fits whole or is refused whole, consuming nothing anywhere.

mod common;

use common::{config_from, start, Harness};
use floodgate_config::KeyHash;
use serde_json::Value;

const KEY: &str = "sk-images-test";

fn config() -> floodgate_config::Config {
    config_from(&format!(
        r#"
[server]
upstream = "http://127.0.0.1:1"

[models]
gen = {{ kind = "image", images_field = "n" }}

[tiers.t]
limits = [
  {{ unit = "requests", window = "minute", max = 100 }},
  {{ unit = "images", window = "minute", max = 10 }},
  {{ unit = "images", window = "day", max = 14 }},
  {{ unit = "images", window = "month", max = 16, scope = "account" }},
]

[accounts.a]
tier = "t"

[[keys]]
name = "images test key"
sha256 = "{}"
account = "a"

[[routes]]
path = "/v1/images"
model = "gen"
"#,
        KeyHash::of(KEY).to_hex()
    ))
}

async fn generate(h: &Harness, n: u64) -> u16 {
    h.post("/v1/images", Some(KEY), &format!(r#"{{"n":{n}}}"#), &[])
        .await
        .status
}

/// (requests, images a minute, images a day, images a month) used.
async fn used(h: &Harness) -> [u64; 4] {
    let v = h.get("/api/v1/api_keys/rate_limits", KEY).await.json();
    let limits: Vec<Value> = v["data"]["models"][0]["limits"].as_array().unwrap().clone();
    let mut out = [0; 4];
    for (o, d) in out.iter_mut().zip(&limits) {
        *o = d["used"].as_u64().unwrap();
    }
    out
}

#[tokio::test]
async fn a_multi_image_request_fits_whole_or_not_at_all() {
    let h = start(config()).await;
    assert_eq!(generate(&h, 8).await, 200);
    assert_eq!(used(&h).await, [1, 8, 8, 8]);
    // 8 + 4 > 10 a minute: refused, and neither the day nor the month is charged.
    assert_eq!(generate(&h, 4).await, 429);
    assert_eq!(used(&h).await, [1, 8, 8, 8]);
    assert_eq!(generate(&h, 2).await, 200);
    assert_eq!(used(&h).await, [2, 10, 10, 10]);

    // A minute later the minute is whole, but 10 + 5 > 14 a day: refused whole.
    h.advance_secs(60);
    assert_eq!(generate(&h, 5).await, 429);
    assert_eq!(used(&h).await[2..], [10, 10]);
    assert_eq!(generate(&h, 4).await, 200);

    // The next day: 14 + 3 > 16 a month for the account, whatever the day allows.
    h.advance_secs(86_400);
    assert_eq!(generate(&h, 3).await, 429);
    assert_eq!(used(&h).await[2..], [0, 14]);
    assert_eq!(generate(&h, 2).await, 200);
    assert_eq!(used(&h).await[2..], [2, 16]);
}
