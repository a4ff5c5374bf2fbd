//! floodgate-client: calls a rate-limited model API the way its documentation asks and
//! few clients manage: it paces requests from the rate-limit headers so that in steady
//! state none meets a 429, retries 429, 5xx and connection failures with full-jitter
//! exponential backoff while honouring `Retry-After`, never retries a spent daily or
//! monthly quota nor a request larger than its limit allows at all, and runs thousands
//! of jobs under a concurrency and a rate cap.
//!
//! # Layout
//! - `headers`: every rate-limit header convention floodgate emits, read into
//!   [`LimitHeaders`]; `reset`: their time values.
//! - `pacer`: the header-driven pacing (a GCRA mirror per limit, corrected from each
//!   answer).
//! - `backoff`: the retry schedule ([`RetryPolicy`]), backon's with full jitter.
//! - `error`: [`ClientError`] and [`QuotaExhausted`].
//! - [`Client`]: one request, paced and retried.
//! - `queue`: [`JobQueue`], many requests under a concurrency and a rate cap.
//! - `tasks`: async jobs submitted and polled until final ([`TaskPoll`]).
//! - `request`: [`ApiRequest`] and [`ApiResponse`]; `cap`: [`RateCap`]; `stats`:
//!   [`StatsSnapshot`].

mod backoff;
mod cap;
mod client;
mod error;
mod headers;
mod pacer;
mod queue;
mod request;
mod reset;
mod stats;
mod tasks;

pub use backoff::{FullJitter, RetryPolicy};
pub use cap::{CapUnit, RateCap};
pub use client::{Client, ClientBuilder};
pub use error::{human, ClientError, QuotaExhausted};
pub use headers::{LimitHeaders, LimitUnit, Reading};
pub use pacer::{Cost, Pacer, Ticket};
pub use queue::JobQueue;
pub use request::{ApiRequest, ApiResponse};
pub use reset::{parse_go_duration, parse_reset, parse_retry_after, parse_retry_after_ms};
pub use stats::StatsSnapshot;
pub use tasks::{TaskOutcome, TaskPoll};
