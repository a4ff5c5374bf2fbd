//! AI-native units end to end, as scenarios every store runs (memory with a fake clock,
//! Redis with real time): token reservations and their settlement, streams, concurrency
//! slots of requests and of async jobs.

use super::{config_from, full, Harness};
use floodgate_config::KeyHash;
use http::Request;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub(crate) const KEY: &str = "sk-units-test";
/// Tokens a minute.
pub(crate) const TPM: u64 = 1000;
/// Concurrent video jobs.
pub(crate) const JOBS: u64 = 2;

/// How a scenario lets time pass: a store on a fake clock is moved forward, one on real
/// time (Redis) is waited for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Time {
    Fake,
    Real,
}

impl Time {
    pub(crate) async fn pass(self, h: &Harness, by: Duration) {
        match self {
            Time::Fake => h.clock.advance(by),
            Time::Real => tokio::time::sleep(by).await,
        }
    }
}

/// A chat model with RPM, TPM and concurrency; a video model whose submissions are async
/// jobs (`lease_ttl` for both concurrency limits); a status model for the polls.
pub(crate) fn config(lease_ttl: &str) -> floodgate_config::Config {
    config_from(&format!(
        r#"
[server]
upstream = "http://127.0.0.1:1"

[responses]
headers = ["openai", "ietf"]

[store]
kind = "memory"

[models]
chat-model = {{ kind = "text" }}
video-model = {{ kind = "video", compute = {{ field = "duration_seconds", factor_field = "resolution", factor_default = "1080p", factors = {{ "720p" = 1.0, "1080p" = 2.25, "4k" = 9.0 }} }} }}
status-model = {{ kind = "status" }}

[tiers.standard]
models.chat-model.limits = [
  {{ unit = "requests", window = "minute", max = 100 }},
  {{ unit = "tokens", window = "minute", max = {TPM} }},
  {{ unit = "concurrent_jobs", window = "concurrent", max = 50, lease_ttl = "{lease_ttl}" }},
]
models.video-model.limits = [
  {{ unit = "requests", window = "minute", max = 10 }},
  {{ unit = "concurrent_jobs", window = "concurrent", max = {JOBS}, lease_ttl = "{lease_ttl}" }},
  {{ unit = "compute_units", window = "day", max = 100000 }},
]
models.status-model.limits = [{{ unit = "requests", window = "minute", max = 1000 }}]

[accounts.a]
tier = "standard"

[[keys]]
name = "units test key"
sha256 = "{hash}"
account = "a"

[[routes]]
method = "POST"
path = "/v1/chat/completions"
model_field = "model"

[[routes]]
method = "POST"
path = "/v1/videos"
model = "video-model"
job = {{ task_id = "task_id", poll = "/v1/videos/tasks/{{task_id}}", status = "status", final = ["succeeded", "failed"] }}

[[routes]]
method = "GET"
path = "/v1/videos/tasks/*"
model = "status-model"
"#,
        hash = KeyHash::of(KEY).to_hex(),
    ))
}

/// A chat request reserving `reserve` tokens: its prompt estimate (a token per four
/// bytes of body) plus a `max_tokens` that makes up the rest.
pub(crate) fn chat_reserving(reserve: u64, stream: bool) -> String {
    let body = |max: u64| {
        json!({
            "model": "chat-model",
            "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": max,
            "stream": stream,
        })
        .to_string()
    };
    // The body's length barely depends on max_tokens' digits: settle it in two steps.
    let prompt = (body(reserve).len() as u64).div_ceil(4);
    let text = body(reserve - prompt);
    assert_eq!((text.len() as u64).div_ceil(4) + reserve - prompt, reserve);
    text
}

/// The `rate_limits` dimension of `model` counting `unit`.
pub(crate) async fn dimension(h: &Harness, model: &str, unit: &str) -> Value {
    let v = h.get("/api/v1/api_keys/rate_limits", KEY).await.json();
    let models = v["data"]["models"].as_array().expect("models").clone();
    let m = models.iter().find(|m| m["model"] == model).expect("model");
    m["limits"]
        .as_array()
        .expect("limits")
        .iter()
        .find(|d| d["unit"] == unit)
        .unwrap_or_else(|| panic!("{unit} missing from {m}"))
        .clone()
}

/// Waits (up to 3 s) for every reservation of chat tokens to settle, then checks the
/// tokens used come to `want` (exactly on a fake clock; on real time, the rolling limit
/// has refilled a little meanwhile).
pub(crate) async fn settled_to(h: &Harness, time: Time, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let d = dimension(h, "chat-model", "tokens").await;
        let used = d["used"].as_u64().expect("used");
        let near = match time {
            Time::Fake => used == want,
            Time::Real => used <= want && used + 30 >= want,
        };
        if d["reserved"] == 0 && near {
            assert_eq!(d["settled"], used);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tokens {d}, expected {want} used"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// 10 requests at once, each reserving a fifth of the TPM budget: exactly 5 are
/// admitted and the counter never goes over; their settlement refunds what they did not
/// use, so a sixth fits afterwards.
pub(crate) async fn parallel_reservations_admit_exactly_five(h: &Harness, time: Time) {
    let body = chat_reserving(TPM / 5, false);
    let slow = [("x-mock-delay-ms", "400")];
    let requests = (0..10).map(|_| h.post("/v1/chat/completions", Some(KEY), &body, &slow));
    // While the admitted five are upstream, their reservations fill the budget.
    let watch = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        dimension(h, "chat-model", "tokens").await
    };
    let (replies, during) = tokio::join!(futures_util::future::join_all(requests), watch);
    let used = during["used"].as_u64().expect("used");
    assert!(used <= TPM && used + 30 >= TPM, "{during}");
    assert_eq!(during["reserved"], used, "nothing settled yet: {during}");
    let mut admitted = Vec::new();
    let mut rejected = 0;
    for r in replies {
        match r.status {
            200 => admitted.push(r.json()["usage"]["total_tokens"].as_u64().expect("usage")),
            429 => rejected += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((admitted.len(), rejected), (5, 5));
    let used: u64 = admitted.iter().sum();
    assert!(used < TPM, "the mock writes fewer tokens than reserved");
    settled_to(h, time, used).await;
    let r = h.post("/v1/chat/completions", Some(KEY), &body, &[]).await;
    assert_eq!(r.status, 200, "the refund made room for another fifth");
}

/// A streamed completion settles from the usage in its SSE stream.
pub(crate) async fn a_stream_settles_from_its_usage_event(h: &Harness, time: Time) {
    let body = chat_reserving(300, true);
    let r = h.post("/v1/chat/completions", Some(KEY), &body, &[]).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body).into_owned();
    let usage = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|v| v["usage"].is_object())
        .expect("a usage event")["usage"]["total_tokens"]
        .as_u64()
        .expect("total");
    assert!(usage < 300);
    settled_to(h, time, usage).await;
}

/// A stream the client leaves halfway gives its slot back and settles to what it carried.
pub(crate) async fn a_cancelled_stream_releases_its_slot_and_settles(h: &Harness) {
    let body = chat_reserving(300, true);
    let request = Request::builder()
        .method("POST")
        .uri(format!("{}/v1/chat/completions", h.base))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(full(body.clone()))
        .expect("request");
    let mut stream = h
        .client
        .request(request)
        .await
        .expect("response")
        .into_body();
    assert!(stream.frame().await.is_some());
    let open = dimension(h, "chat-model", "concurrent_jobs").await;
    assert_eq!(open["in_flight"], 1, "{open}");
    assert_eq!(dimension(h, "chat-model", "tokens").await["reserved"], 300);
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let slots = dimension(h, "chat-model", "concurrent_jobs").await;
        let tokens = dimension(h, "chat-model", "tokens").await;
        let settled = tokens["reserved"] == 0 && tokens["used"].as_u64() < Some(300);
        if slots["in_flight"] == 0 && settled {
            break;
        }
        assert!(Instant::now() < deadline, "{slots} {tokens}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Submits a video job of `seconds` at `resolution`; its status and task id.
pub(crate) async fn submit_video(
    h: &Harness,
    seconds: u64,
    resolution: &str,
) -> (u16, Option<String>) {
    let body = json!({"prompt": "waves", "duration_seconds": seconds, "resolution": resolution});
    let r = h
        .post("/v1/videos", Some(KEY), &body.to_string(), &[])
        .await;
    let task = (r.status == 200).then(|| r.json()["task_id"].as_str().expect("task").to_owned());
    (r.status, task)
}

/// Submits a one-second 720p video job (1 compute unit).
pub(crate) async fn submit(h: &Harness) -> (u16, Option<String>) {
    submit_video(h, 1, "720p").await
}

/// Polls a video job; its state.
pub(crate) async fn poll(h: &Harness, task: &str) -> String {
    let r = h.get(&format!("/v1/videos/tasks/{task}"), KEY).await;
    assert_eq!(r.status, 200);
    r.json()["status"].as_str().expect("status").to_owned()
}

/// A job (the mock's last `job`) holds its slot until a poll shows it done.
pub(crate) async fn a_job_holds_its_slot_until_polled_done(h: &Harness, job: Duration) {
    let started = Instant::now();
    let (_, first) = submit(h).await;
    let first = first.expect("admitted");
    assert_eq!(submit(h).await.0, 200);
    assert_eq!(submit(h).await.0, 429, "both slots are held by jobs");
    let jobs = dimension(h, "video-model", "concurrent_jobs").await;
    assert_eq!(jobs["in_flight"], JOBS);
    assert_ne!(poll(h, &first).await, "succeeded");
    assert_eq!(submit(h).await.0, 429);
    tokio::time::sleep((job + Duration::from_millis(50)).saturating_sub(started.elapsed())).await;
    assert_eq!(poll(h, &first).await, "succeeded");
    assert_eq!(submit(h).await.0, 200, "the finished job's slot is free");
}

/// A job nobody polls frees its slot once its lease (`ttl`) expires; a poll renews it.
pub(crate) async fn an_unpolled_job_frees_its_slot_at_lease_expiry(
    h: &Harness,
    time: Time,
    ttl: Duration,
) {
    let (_, first) = submit(h).await;
    assert_eq!(submit(h).await.0, 200);
    time.pass(h, ttl * 6 / 10).await;
    assert_eq!(poll(h, &first.expect("admitted")).await, "queued");
    time.pass(h, ttl * 6 / 10).await;
    assert_eq!(submit(h).await.0, 200, "the unpolled job's lease expired");
    assert_eq!(submit(h).await.0, 429, "the polled job's lease was renewed");
}

/// Compute units follow the model's formula, as in seed 004's example: "a 30-second 4K
/// video generation consumes more than a 5-second 720p generation" (270 units against 5).
pub(crate) async fn compute_units_follow_the_seeds_example(h: &Harness) {
    assert_eq!(submit_video(h, 30, "4k").await.0, 200);
    let day = dimension(h, "video-model", "compute_units").await;
    assert_eq!(day["used"], 270, "30 s x 9: {day}");
    assert_eq!(submit_video(h, 5, "720p").await.0, 200);
    let day = dimension(h, "video-model", "compute_units").await;
    assert_eq!(day["used"], 275, "5 s x 1: {day}");
}

/// A rejection for concurrency consumes no requests per minute.
pub(crate) async fn a_concurrency_rejection_leaves_rpm_untouched(h: &Harness) {
    assert_eq!(submit(h).await.0, 200);
    assert_eq!(submit(h).await.0, 200);
    for _ in 0..4 {
        assert_eq!(submit(h).await.0, 429);
    }
    let rpm = dimension(h, "video-model", "requests").await;
    assert_eq!(
        (rpm["used"].as_u64(), rpm["limit"].as_u64()),
        (Some(2), Some(10))
    );
}
