//! What reached the mock: requests and body bytes per path, and how streams ended.
//!
//! Gateway tests read `GET /mock/stats` to prove that a rejected request never reached
//! the upstream, that an oversized upload was cut off, or that a stream the client
//! cancelled was cancelled upstream too.

use crate::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counters since the mock started or was last reset.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Everything behind one lock: the mock is not what a benchmark measures, and one
    /// lock keeps a snapshot consistent.
    inner: Mutex<Counters>,
}

#[derive(Debug, Default, Clone)]
struct Counters {
    /// Requests that arrived, per path, counted before their body is read.
    requests: BTreeMap<String, u64>,
    /// Request body bytes received in full, per path.
    received_bytes: BTreeMap<String, u64>,
    /// Streams that sent every event.
    streams_completed: u64,
    /// Streams dropped before their last event, because the client went away.
    streams_cancelled: u64,
}

impl Stats {
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        // A panic while holding the lock cannot leave the counters half-updated in a
        // way that matters, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record_request(&self, path: &str) {
        let mut counters = self.counters();
        match counters.requests.get_mut(path) {
            Some(count) => *count += 1,
            None => {
                counters.requests.insert(path.to_owned(), 1);
            }
        }
    }

    pub(crate) fn record_body(&self, path: &str, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let mut counters = self.counters();
        match counters.received_bytes.get_mut(path) {
            Some(total) => *total = total.saturating_add(bytes),
            None => {
                counters.received_bytes.insert(path.to_owned(), bytes);
            }
        }
    }

    pub(crate) fn record_stream_end(&self, completed: bool) {
        let mut counters = self.counters();
        if completed {
            counters.streams_completed += 1;
        } else {
            counters.streams_cancelled += 1;
        }
    }

    fn snapshot(&self) -> Value {
        let counters = self.counters().clone();
        json!({
            "total": counters.requests.values().sum::<u64>(),
            "requests": counters.requests,
            "received_bytes": counters.received_bytes,
            "streams": {
                "completed": counters.streams_completed,
                "cancelled": counters.streams_cancelled,
            },
        })
    }
}

/// `GET /mock/stats`.
pub(crate) async fn show(State(state): State<SharedState>) -> Json<Value> {
    Json(state.stats.snapshot())
}

/// `DELETE /mock/stats`: starts counting afresh, for a test that shares one mock across
/// several cases.
pub(crate) async fn reset(State(state): State<SharedState>) -> StatusCode {
    *state.stats.counters() = Counters::default();
    StatusCode::NO_CONTENT
}
