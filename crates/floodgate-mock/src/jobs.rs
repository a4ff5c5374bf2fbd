//! Async jobs, the way video providers run them: a submission answers at once with a
//! task id, and polls report `queued`, then `running`, then a final `succeeded` (or
//! `failed`) once [`MockOptions::job_duration`](crate::MockOptions) has passed.

use crate::error::MockError;
use crate::SharedState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Makes the job end `failed` instead of `succeeded`, for tests of slots released on
/// failure.
const OUTCOME_HEADER: &str = "x-mock-job-outcome";

/// Every job submitted to this mock.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    /// Jobs by task id; kept for the mock's lifetime so late polls still find them.
    tasks: Mutex<HashMap<String, Job>>,
}

#[derive(Debug, Clone)]
struct Job {
    /// When it was submitted: its state follows from the time since.
    submitted: Instant,
    /// Whether it ends `failed`.
    fails: bool,
}

/// Where a job stands after `elapsed` of a job lasting `duration`: queued for the first
/// quarter, running until the end, then final.
fn status(job: &Job, elapsed: Duration, duration: Duration) -> &'static str {
    if elapsed >= duration {
        if job.fails {
            "failed"
        } else {
            "succeeded"
        }
    } else if elapsed < duration / 4 {
        "queued"
    } else {
        "running"
    }
}

pub(crate) fn submit(state: &SharedState, headers: &HeaderMap) -> Response {
    let task_id = format!("task-{:08}", state.next_id());
    let fails = headers
        .get(OUTCOME_HEADER)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"failed"));
    let job = Job {
        submitted: Instant::now(),
        fails,
    };
    state
        .jobs
        .tasks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(task_id.clone(), job);
    Json(json!({"task_id": task_id, "status": "queued"})).into_response()
}

pub(crate) fn poll(state: &SharedState, task_id: &str) -> Response {
    let job = state
        .jobs
        .tasks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(task_id)
        .cloned();
    let Some(job) = job else {
        return MockError::new(
            StatusCode::NOT_FOUND,
            format!("no task with id {task_id:?}"),
        )
        .into_response();
    };
    let duration = state.options.job_duration;
    let elapsed = job.submitted.elapsed();
    let status = status(&job, elapsed, duration);
    let progress = if duration.is_zero() {
        100
    } else {
        (elapsed.as_millis() * 100 / duration.as_millis()).min(100)
    };
    let mut body = json!({
        "task_id": task_id,
        "status": status,
        "progress_percent": progress,
    });
    let extra: Option<(&str, Value)> = match status {
        "succeeded" => Some((
            "videos",
            json!([{
                "video_url": format!("https://videos.mock.invalid/{task_id}.mp4"),
                "video_type": "mp4",
            }]),
        )),
        "failed" => Some((
            "error",
            json!({"message": format!("the mock job failed as {OUTCOME_HEADER} asked")}),
        )),
        _ => None,
    };
    if let (Some((name, value)), Some(object)) = (extra, body.as_object_mut()) {
        object.insert(name.to_owned(), value);
    }
    Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_moves_from_queued_to_running_to_final() {
        let duration = Duration::from_secs(8);
        let job = Job {
            submitted: Instant::now(),
            fails: false,
        };
        let at = |secs| status(&job, Duration::from_secs(secs), duration);
        assert_eq!(at(0), "queued");
        assert_eq!(at(1), "queued");
        assert_eq!(at(2), "running");
        assert_eq!(at(7), "running");
        assert_eq!(at(8), "succeeded");
        let failing = Job { fails: true, ..job };
        assert_eq!(status(&failing, duration, duration), "failed");
        assert_eq!(status(&failing, Duration::ZERO, Duration::ZERO), "failed");
    }
}
