//! floodgate-mock: a stand-in for a generative-AI model API.
//!
//! It answers any path with plausible JSON, chosen by the path, so floodgate's demos,
//! end-to-end tests and benchmarks have an upstream that behaves like the providers the
//! example configs describe, without a network or a GPU. Request headers steer it, so a
//! test can make the upstream fail or stall on demand.
//!
//! | path | answer |
//! | --- | --- |
//! | `.../chat/completions`, `.../completions` | OpenAI-shaped completion with `usage`; `"stream": true` streams SSE chunks, usage in the last one before `data: [DONE]` |
//! | `.../messages` | Anthropic-shaped message with `usage`; `"stream": true` streams named SSE events, the input tokens in `message_start`, the output tokens in `message_delta` |
//! | `...embeddings...` | one vector per input, with `usage`; base64 little-endian `f32`s when `encoding_format` is `base64` |
//! | `...speech...`, `.../tts`, `...2audio...`, `...music...` | audio bytes with an audio content type |
//! | `...transcriptions...`, `...translations...`, `...2txt...` | `{"text": ...}` naming the uploaded file and its size; a form's `response_format` `text`, `srt`, `vtt` or `verbose_json` is honoured; a form without a file is a 400 |
//! | any other path containing `video`, `i2v` or `t2v` | an async job: `{"task_id": ...}` |
//! | `GET .../tasks/{id}`, `GET .../jobs/{id}`, `GET ...?task_id=` | the job's `status`: `queued`, `running`, then `succeeded` (or `failed`) after [`MockOptions::job_duration`]; 404 for an unknown task |
//! | anything else | images: `n`, `image_num` or `batch_size` of them, as URLs |
//! | `GET /mock/stats` (`DELETE` resets) | requests received per path, bytes received, streams completed and cancelled |
//!
//! A `multipart/form-data` body's text fields are read as a JSON body's would be (`"2"`
//! counts as 2), so forms and JSON get the same answers.
//!
//! Request headers: `x-mock-status: NNN` answers that status (a JSON error body unless it
//! is a 2xx); `x-mock-delay-ms: N` holds the answer back; `x-mock-completion-tokens: N`
//! fixes a completion's length; `x-mock-usage: omit` leaves `usage` out of a completion;
//! `x-mock-job-outcome: failed` makes an async job fail.
//! Every answer carries `x-mock-received-bytes`, the length of the request body received.
//!
//! # Layout
//! - `route`: which kind of endpoint a method and path stand for.
//! - `control`: the middleware that counts, reads the body, delays and fails on request.
//! - `stats`: per-path counters and the `/mock/stats` endpoint.
//! - `chat`, `messages`, `tokens`: chat completions (OpenAI-shaped) and messages
//!   (Anthropic-shaped), JSON and SSE, and the token arithmetic behind them.
//! - `media`: images, embeddings, speech and transcriptions.
//! - `form`: `multipart/form-data` bodies, their text fields read like JSON fields.
//! - `jobs`: async jobs, submitted and polled.
//! - `error`: the JSON error body every failure uses.

mod chat;
mod control;
mod error;
mod form;
mod jobs;
mod media;
mod messages;
mod route;
mod stats;
mod tokens;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the mock behaves; `MockOptions::default()` suits tests and demos.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// Time from an async job's submission to its final state, so tests of concurrency
    /// slots see a job in progress before it finishes.
    pub job_duration: Duration,
    /// Latency added to every answer, to stand in for inference time in demos and
    /// benchmarks; `None` answers as fast as it can.
    pub latency: Option<Duration>,
    /// Pause between two events of a streamed completion, so a stream lasts long enough
    /// for a client to cancel it halfway.
    pub stream_interval: Duration,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            job_duration: Duration::from_secs(2),
            latency: None,
            stream_interval: Duration::from_millis(25),
        }
    }
}

/// What every handler shares.
#[derive(Debug)]
struct MockState {
    /// The options the app was built with.
    options: MockOptions,
    /// Counters behind `/mock/stats`.
    stats: stats::Stats,
    /// Async jobs submitted so far, for polls to report on.
    jobs: jobs::Jobs,
    /// Source of response ids, so two answers never share one.
    next_id: AtomicU64,
}

impl MockState {
    /// A fresh id, unique within this mock.
    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

type SharedState = Arc<MockState>;

/// Seconds since the Unix epoch, for the `created` field of answers.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The mock as an axum router, for tests that drive it without a socket or embed it in
/// another server.
pub fn app(options: MockOptions) -> Router {
    let state = Arc::new(MockState {
        options,
        stats: stats::Stats::default(),
        jobs: jobs::Jobs::default(),
        next_id: AtomicU64::new(1),
    });
    Router::new()
        .route("/mock/stats", get(stats::show).delete(stats::reset))
        .fallback(route::dispatch)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            control::control,
        ))
        // The control middleware reads bodies itself, with its own cap.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serves the mock on `listener` until `shutdown` completes, then lets answers in flight
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    options: MockOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Small answers and SSE chunks must leave at once, not wait for Nagle's algorithm:
    // latency is what the benchmarks measure.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app(options))
        .with_graceful_shutdown(shutdown)
        .await
}
