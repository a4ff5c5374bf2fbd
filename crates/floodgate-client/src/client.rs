//! [`Client`]: one request at a time, paced from the headers, retried with backoff.

use crate::backoff::RetryPolicy;
use crate::cap::RateCap;
use crate::error::{ClientError, QuotaExhausted};
use crate::headers::{LimitHeaders, LimitUnit};
use crate::pacer::Pacer;
use crate::request::{ApiRequest, ApiResponse};
use crate::stats::{ClientStats, StatsSnapshot};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The most a server's wait hint is stretched by jitter, so clients told the same
/// `Retry-After` do not all return in the same millisecond.
const HINT_JITTER: Duration = Duration::from_millis(250);

/// A client of one rate-limited API (one base URL and key). Cheap to clone; clones share
/// pacing, statistics and connections.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `scheme://host[:port]` and any path prefix, without a trailing slash.
    base: String,
    /// Sent as a bearer token; never logged.
    key: Option<String>,
    retry: RetryPolicy,
    /// `None` when pacing from headers is off (retries still honour them).
    pacer: Option<Pacer>,
    /// The caller's own rate cap, if any.
    cap: Option<RateCap>,
    stats: ClientStats,
    /// The tightest rolling requests limit any answer reported, as (limit, window), for
    /// callers comparing their rate with it (learned with pacing off too).
    allowed: Mutex<Option<(u64, Duration)>>,
    /// Requests made so far, to give each its own jitter seed from a fixed one.
    requests: AtomicU64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .field("pacing", &self.inner.pacer.is_some())
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    base: String,
    key: Option<String>,
    retry: RetryPolicy,
    pacing: bool,
    cap: Option<RateCap>,
    timeout: Duration,
}

impl ClientBuilder {
    /// Sends `key` as `Authorization: Bearer`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Retries by `policy` (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Paces from rate-limit headers (default: on). Off, requests go as fast as the caller
    /// sends them, and only 429s slow them down.
    pub fn pacing(mut self, on: bool) -> Self {
        self.pacing = on;
        self
    }

    /// Caps what this client sends, on top of what the server allows.
    pub fn rate_cap(mut self, cap: RateCap) -> Self {
        self.cap = Some(cap);
        self
    }

    /// Gives up on one attempt after `timeout` (default 5 minutes), then retries it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The client.
    pub fn build(self) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(self.timeout)
            .build()
            .map_err(|e| ClientError::InvalidRequest(format!("HTTP client: {e}")))?;
        let base = self.base.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base)
            .map_err(|e| ClientError::InvalidRequest(format!("base URL {base:?}: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                key: self.key,
                retry: self.retry,
                pacer: self.pacing.then(Pacer::default),
                cap: self.cap,
                stats: ClientStats::default(),
                allowed: Mutex::new(None),
                requests: AtomicU64::new(0),
            }),
        })
    }
}

/// Why the last attempt failed, for the error if it was the last.
enum Failure {
    Status(StatusCode, Bytes),
    Transport(reqwest::Error),
}

impl Client {
    /// A builder for the API at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn builder(base: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base.into(),
            key: None,
            retry: RetryPolicy::default(),
            pacing: true,
            cap: None,
            timeout: Duration::from_secs(300),
        }
    }

    /// What this client has seen so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// The tightest requests-per-time limit the headers reported, as (limit, window).
    pub fn allowed_rate(&self) -> Option<(u64, Duration)> {
        *self.inner.allowed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps the tightest rolling requests limit in `limits`, if tighter than the last.
    fn note_allowed(&self, limits: &LimitHeaders) {
        let per_sec = |(l, w): (u64, Duration)| l as f64 / w.as_secs_f64().max(1e-9);
        let tightest = limits
            .readings
            .iter()
            .filter(|r| r.unit == LimitUnit::Requests && !r.is_quota())
            .filter_map(|r| Some((r.limit, r.window?)))
            .min_by(|a, b| per_sec(*a).total_cmp(&per_sec(*b)));
        if let Some(t) = tightest {
            let mut allowed = self.inner.allowed.lock().unwrap_or_else(|e| e.into_inner());
            if allowed.is_none_or(|a| per_sec(t) < per_sec(a)) {
                *allowed = Some(t);
            }
        }
    }

    /// Sends `request`, paced and retried; `Ok` for any answer not worth retrying (a
    /// 2xx, or a 4xx other than 429).
    pub async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, ClientError> {
        let inner = &*self.inner;
        let method = request.http_method().map_err(ClientError::InvalidRequest)?;
        let url = if request.path.starts_with("http://") || request.path.starts_with("https://") {
            request.path.clone()
        } else {
            format!("{}{}", inner.base, request.path)
        };
        let (key, cost) = (request.pace_key(), request.cost());
        let mut policy = inner.retry.clone();
        let n = inner.requests.fetch_add(1, Ordering::Relaxed);
        policy.seed = policy.seed.map(|s| s.wrapping_add(n));
        let mut backoff = policy.backoff();
        let started = Instant::now();
        let (mut attempts, mut rate_limited) = (0u32, 0u32);
        loop {
            attempts += 1;
            if let Some(cap) = &inner.cap {
                cap.until_ready(cost).await;
            }
            let ticket = match &inner.pacer {
                Some(p) => Some(
                    p.admit(&key, cost)
                        .await
                        .map_err(ClientError::QuotaExhausted)?,
                ),
                None => None,
            };
            inner.stats.sent.fetch_add(1, Ordering::Relaxed);
            let mut builder = inner.http.request(method.clone(), &url);
            if let Some(k) = &inner.key {
                builder = builder.bearer_auth(k);
            }
            if let Some(body) = &request.body {
                builder = builder.json(body);
            }
            let (hint, failure) = match exchange(builder).await {
                Err(e) => {
                    if let (Some(p), Some(t)) = (&inner.pacer, &ticket) {
                        p.abandon(t);
                    }
                    inner.stats.transport_errors.fetch_add(1, Ordering::Relaxed);
                    if !(e.is_connect() || e.is_timeout() || e.is_request()) {
                        return Err(ClientError::Transport {
                            attempts,
                            source: e,
                        });
                    }
                    (None, Failure::Transport(e))
                }
                Ok((status, headers, body)) => {
                    let wall = SystemTime::now();
                    let limits = LimitHeaders::parse(&headers, wall);
                    if let (Some(p), Some(t)) = (&inner.pacer, &ticket) {
                        p.observe(t, &limits, Instant::now(), wall);
                    }
                    self.note_allowed(&limits);
                    if !retryable(status) || never_fits(status, &body) {
                        return Ok(ApiResponse {
                            status,
                            headers,
                            body,
                            attempts,
                            rate_limited,
                            latency: started.elapsed(),
                        });
                    }
                    let hint = if status == StatusCode::TOO_MANY_REQUESTS {
                        rate_limited += 1;
                        inner.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                        let hint = limits.retry_after.or_else(|| spent_reset(&limits));
                        if let Some(q) = quota_refusal(&limits, hint, policy.max_wait, wall) {
                            return Err(ClientError::QuotaExhausted(q));
                        }
                        hint
                    } else {
                        inner.stats.server_errors.fetch_add(1, Ordering::Relaxed);
                        limits.retry_after
                    };
                    (hint, Failure::Status(status, body))
                }
            };
            let give_up = |failure| match failure {
                Failure::Status(status, body) => ClientError::GaveUp {
                    status,
                    attempts,
                    body,
                },
                Failure::Transport(source) => ClientError::Transport { attempts, source },
            };
            let Some(step) = backoff.next() else {
                return Err(give_up(failure));
            };
            // A server's hint is waited for in full, never less; backoff is for when
            // there is none.
            let delay = match hint {
                Some(h) => h + (h / 20).min(HINT_JITTER).mul_f64(backoff.fraction()),
                None => step,
            };
            if delay > policy.max_wait {
                return Err(give_up(failure));
            }
            inner.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(attempts, ?delay, url = %url, "retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

/// One attempt: the status, headers and whole body.
async fn exchange(
    builder: reqwest::RequestBuilder,
) -> Result<(StatusCode, HeaderMap, Bytes), reqwest::Error> {
    let response = builder.send().await?;
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.bytes().await?;
    Ok((status, headers, body))
}

/// 429, and the 5xx that mean "try again" (not 501, 505, ...).
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// A 429 for a request larger than the limit allows at all (floodgate's
/// `request_too_large`): no wait makes it fit, so it is the caller's to see, not to retry.
fn never_fits(status: StatusCode, body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Answer {
        error: Option<Error>,
    }
    #[derive(serde::Deserialize)]
    struct Error {
        r#type: Option<String>,
    }
    status == StatusCode::TOO_MANY_REQUESTS
        && serde_json::from_slice::<Answer>(body)
            .ok()
            .and_then(|a| a.error?.r#type)
            .is_some_and(|t| t == "request_too_large")
}

/// The reset of a rolling limit reported spent, for a 429 without `Retry-After`.
fn spent_reset(limits: &LimitHeaders) -> Option<std::time::Duration> {
    limits
        .readings
        .iter()
        .filter(|r| r.remaining == 0)
        .filter_map(|r| r.reset_in)
        .min()
}

/// A 429 that is a quota to report rather than a wait: `X-RateLimit-Type` says daily or
/// monthly, or the wait is longer than the client waits.
fn quota_refusal(
    limits: &LimitHeaders,
    hint: Option<Duration>,
    max_wait: Duration,
    now: SystemTime,
) -> Option<QuotaExhausted> {
    let spent_quota = limits
        .readings
        .iter()
        .find(|r| r.is_quota() && r.remaining == 0)
        .map(|r| r.name.clone());
    let name = limits
        .limit_type
        .clone()
        .or(spent_quota)
        .unwrap_or_else(|| "rate".to_owned());
    let too_far = hint.is_some_and(|h| h > max_wait);
    (limits.quota_refusal() || too_far).then(|| QuotaExhausted::new(name, hint, now))
}
