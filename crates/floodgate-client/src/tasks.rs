//! Async jobs, as video APIs run them: submit, get a task id, poll until the task is
//! final. The job keeps its [`JobQueue`] slot from submission to the final poll, since
//! the provider counts it as running all that time.

use crate::error::ClientError;
use crate::queue::JobQueue;
use crate::request::ApiRequest;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Statuses after which a task changes no more.
const FINAL: [&str; 11] = [
    "succeeded",
    "success",
    "completed",
    "complete",
    "done",
    "failed",
    "failure",
    "error",
    "cancelled",
    "canceled",
    "expired",
];
/// The final statuses that mean it worked.
const SUCCESS: [&str; 5] = ["succeeded", "success", "completed", "complete", "done"];

/// How to poll a task.
#[derive(Debug, Clone)]
pub struct TaskPoll {
    /// The poll's path, `{id}` standing for the task id, e.g. `/v1/tasks/{id}`.
    pub path: String,
    /// Time between two polls.
    pub interval: Duration,
    /// Longest a task may take before the job fails.
    pub timeout: Duration,
    /// The submission answer's field holding the task id (`id` is tried too).
    pub id_field: String,
    /// The poll answer's field holding the status.
    pub status_field: String,
}

impl TaskPoll {
    /// Polls `path` (with `{id}`) every second, for up to 15 minutes, reading `task_id`
    /// and `status`.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(15 * 60),
            id_field: "task_id".to_owned(),
            status_field: "status".to_owned(),
        }
    }
}

/// A task that reached a final status.
#[derive(Debug, Clone)]
pub struct TaskOutcome {
    /// Its id.
    pub task_id: String,
    /// Its final status (`succeeded`, `failed`, ...).
    pub status: String,
    /// The last poll's answer.
    pub body: Value,
    /// Polls made.
    pub polls: u32,
    /// From submission to the final poll.
    pub elapsed: Duration,
}

impl TaskOutcome {
    /// Whether the final status means success.
    pub fn succeeded(&self) -> bool {
        SUCCESS.contains(&self.status.as_str())
    }
}

fn task_error(task: &str, message: impl Into<String>) -> ClientError {
    ClientError::Task {
        task: task.to_owned(),
        message: message.into(),
    }
}

impl JobQueue {
    /// Submits `submit`, then polls by `poll` until the task is final, holding one slot
    /// throughout. Submission and polls are paced and retried like any request.
    pub async fn run_task(
        &self,
        submit: &ApiRequest,
        poll: &TaskPoll,
    ) -> Result<TaskOutcome, ClientError> {
        let _slot = self.slot().await;
        let started = Instant::now();
        let answer = self.client().send(submit).await?;
        if !answer.status.is_success() {
            let body = String::from_utf8_lossy(&answer.body);
            return Err(task_error(
                "-",
                format!("submission answered {}: {body}", answer.status),
            ));
        }
        let body = answer
            .json()
            .map_err(|e| task_error("-", format!("submission answer is not JSON: {e}")))?;
        let task_id = [poll.id_field.as_str(), "id"]
            .iter()
            .find_map(|f| match body.get(*f)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| {
                task_error(
                    "-",
                    format!("no {:?} in the submission answer", poll.id_field),
                )
            })?;
        let request = ApiRequest {
            pace_as: Some(format!("GET {}", poll.path)),
            ..ApiRequest::get(poll.path.replace("{id}", &task_id))
        };
        let mut polls = 0;
        loop {
            if started.elapsed() > poll.timeout {
                return Err(task_error(
                    &task_id,
                    format!("not final after {:?}", poll.timeout),
                ));
            }
            tokio::time::sleep(poll.interval).await;
            polls += 1;
            let answer = self.client().send(&request).await?;
            if !answer.status.is_success() {
                return Err(task_error(
                    &task_id,
                    format!("poll answered {}", answer.status),
                ));
            }
            let body = answer
                .json()
                .map_err(|e| task_error(&task_id, format!("poll answer is not JSON: {e}")))?;
            let status = body
                .get(&poll.status_field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_ascii_lowercase();
            if FINAL.contains(&status.as_str()) {
                return Ok(TaskOutcome {
                    task_id,
                    status,
                    body,
                    polls,
                    elapsed: started.elapsed(),
                });
            }
        }
    }
}
