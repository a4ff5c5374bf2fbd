//! [`ClientError`]: every way a request can finally fail, after pacing and retries.

use bytes::Bytes;
use http::StatusCode;
use std::fmt;
use std::time::{Duration, SystemTime};

/// A daily or monthly quota (or any limit whose reset is further away than the client
/// will wait) is used up: retrying before it resets only earns more 429s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExhausted {
    /// Which limit: `daily`, `monthly`, or the name the headers gave it.
    pub limit: String,
    /// How long until it resets, when the server said.
    pub resets_in: Option<Duration>,
    /// When it resets, when the server said.
    pub resets_at: Option<SystemTime>,
}

impl QuotaExhausted {
    /// A quota refusal of `limit` received at `now`, resetting after `resets_in`.
    pub fn new(limit: impl Into<String>, resets_in: Option<Duration>, now: SystemTime) -> Self {
        Self {
            limit: limit.into(),
            resets_in,
            resets_at: resets_in.map(|d| now + d),
        }
    }
}

/// `1h 02m 03s`, `4m 05s`, `6s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, s) => format!("{h}h {m:02}m {s:02}s"),
    }
}

impl fmt::Display for QuotaExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} quota is used up", self.limit)?;
        match (self.resets_in, self.resets_at) {
            (Some(d), Some(at)) => write!(
                f,
                "; it resets in {} ({})",
                human(d),
                httpdate::fmt_http_date(at)
            ),
            _ => write!(f, "; the server did not say when it resets"),
        }
    }
}

/// A request that could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A quota is used up until a reset further away than the client waits; not retried.
    #[error("{0}")]
    QuotaExhausted(QuotaExhausted),
    /// Every attempt got a retryable status (429 or 5xx) and the retries ran out.
    #[error("gave up after {attempts} attempts: the last answer was {status}")]
    GaveUp {
        /// The last status received.
        status: StatusCode,
        /// Attempts made.
        attempts: u32,
        /// The last answer's body.
        body: Bytes,
    },
    /// The server could not be reached or the exchange broke, on the last attempt.
    #[error("gave up after {attempts} attempts: {source}")]
    Transport {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: reqwest::Error,
    },
    /// The request cannot be sent as given (a bad URL, method or header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// An async task ended without succeeding, or its answers could not be read.
    #[error("task {task}: {message}")]
    Task {
        /// The task id, or `-` before one was known.
        task: String,
        /// What went wrong.
        message: String,
    },
}

impl ClientError {
    /// The quota refusal inside, if this is one.
    pub fn quota(&self) -> Option<&QuotaExhausted> {
        match self {
            Self::QuotaExhausted(q) => Some(q),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn a_quota_error_says_when_it_resets() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_305_600 - 3723);
        let q = QuotaExhausted::new("daily", Some(Duration::from_secs(3723)), now);
        assert_eq!(
            q.to_string(),
            "the daily quota is used up; it resets in 1h 02m 03s (Sun, 22 Nov 2026 00:00:00 GMT)"
        );
        let unknown = QuotaExhausted::new("monthly", None, now);
        assert!(unknown.to_string().ends_with("did not say when it resets"));
        assert_eq!(human(Duration::from_millis(5_001)), "6s");
        assert_eq!(human(Duration::from_secs(245)), "4m 05s");
    }
}
