//! A route's `job = { task_id, poll, status, final }` -> [`AsyncJob`], and
//! [`AsyncJob::task_of`] / [`AsyncJob::field`], how the gateway reads a poll's path and
//! the JSON answers by it.

use crate::error::Diagnostics;
use crate::raw::RawJob;
use crate::resolved::AsyncJob;
use serde_spanned::Spanned;

/// The poll path segment that stands for the task id.
const TASK_SEGMENT: &str = "{task_id}";

/// The job of a route, checked; `None` (with diagnostics) if it is malformed.
pub(crate) fn job(
    diags: &mut Diagnostics<'_>,
    here: &str,
    raw: &Spanned<RawJob>,
) -> Option<AsyncJob> {
    let before = diags.len();
    let job = raw.get_ref();
    for (name, field) in [("task_id", &job.task_id), ("status", &job.status)] {
        if let Err(e) = check_field(field.get_ref()) {
            diags.at(
                &field.span(),
                format!("{here}.{name}: {e}, found \"{}\"", field.get_ref()),
            );
        }
    }
    if let Err(e) = check_poll(job.poll.get_ref()) {
        diags.at(
            &job.poll.span(),
            format!("{here}.poll: {e}, found \"{}\"", job.poll.get_ref()),
        );
    }
    let finals = job.final_states.get_ref();
    if finals.is_empty() || finals.iter().any(|s| s.is_empty()) {
        diags.at(
            &job.final_states.span(),
            format!(
                "{here}.final: list the states that end a job, e.g. [\"succeeded\", \"failed\"]"
            ),
        );
    }
    (diags.len() == before).then(|| AsyncJob {
        task_id: job.task_id.get_ref().clone(),
        poll: job.poll.get_ref().clone(),
        status: job.status.get_ref().clone(),
        final_states: finals.clone(),
    })
}

fn check_field(field: &str) -> Result<(), &'static str> {
    if field.is_empty() || field.split('.').any(str::is_empty) {
        return Err("a JSON field is a name, or names joined by '.' (\"data.task_id\")");
    }
    Ok(())
}

fn check_poll(poll: &str) -> Result<(), &'static str> {
    let Some(rest) = poll.strip_prefix('/') else {
        return Err("a path pattern starts with '/'");
    };
    let mut tasks = 0;
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err("a path pattern has no empty segments");
        }
        if segment == TASK_SEGMENT {
            tasks += 1;
        } else if segment != "*" && (segment.contains('*') || segment.contains('{')) {
            return Err("a segment is literal, '*' or '{task_id}'");
        }
    }
    if tasks != 1 {
        return Err("the poll path has exactly one '{task_id}' segment");
    }
    Ok(())
}

impl AsyncJob {
    /// The task id in a request path, if the path is this job's poll.
    pub fn task_of<'p>(&self, path: &'p str) -> Option<&'p str> {
        let mut actual = path.split('/').filter(|s| !s.is_empty());
        let mut task = None;
        for pattern in self.poll.split('/').filter(|s| !s.is_empty()) {
            let segment = actual.next()?;
            if pattern == TASK_SEGMENT {
                task = Some(segment);
            } else if pattern != "*" && pattern != segment {
                return None;
            }
        }
        actual.next().is_none().then_some(task).flatten()
    }

    /// The string (or number, as text) at dotted `path` in `value`.
    pub fn field(value: &serde_json::Value, path: &str) -> Option<String> {
        let found = path.split('.').try_fold(value, |v, name| v.get(name))?;
        match found {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Whether `state` ends the job.
    pub fn is_final(&self, state: &str) -> bool {
        self.final_states.iter().any(|s| s == state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(poll: &str) -> AsyncJob {
        AsyncJob {
            task_id: "task_id".into(),
            poll: poll.into(),
            status: "status".into(),
            final_states: vec!["succeeded".into(), "failed".into()],
        }
    }

    #[test]
    fn poll_paths_give_their_task() {
        let j = job("/v1/tasks/{task_id}");
        assert_eq!(j.task_of("/v1/tasks/task-7"), Some("task-7"));
        assert_eq!(j.task_of("/v1/tasks/task-7/"), Some("task-7"));
        assert_eq!(j.task_of("/v1/tasks"), None);
        assert_eq!(j.task_of("/v1/tasks/a/b"), None);
        assert_eq!(j.task_of("/v2/tasks/a"), None);
        let j = job("/v1/*/{task_id}/status");
        assert_eq!(j.task_of("/v1/video/t9/status"), Some("t9"));
        assert_eq!(j.task_of("/v1/video/t9"), None);
    }

    #[test]
    fn poll_patterns_are_checked() {
        assert!(check_poll("/v1/tasks/{task_id}").is_ok());
        assert!(check_poll("/v1/tasks").is_err());
        assert!(check_poll("v1/{task_id}").is_err());
        assert!(check_poll("/v1/{task_id}/{task_id}").is_err());
        assert!(check_poll("/v1/t{task_id}").is_err());
        assert!(check_field("data.task_id").is_ok());
        assert!(check_field("data..id").is_err());
    }

    #[test]
    fn fields_by_dotted_path() {
        let v = json!({"task_id": "t1", "data": {"id": 42, "state": ""}});
        assert_eq!(AsyncJob::field(&v, "task_id").as_deref(), Some("t1"));
        assert_eq!(AsyncJob::field(&v, "data.id").as_deref(), Some("42"));
        assert_eq!(AsyncJob::field(&v, "data.state"), None);
        assert_eq!(AsyncJob::field(&v, "data.missing"), None);
        assert!(job("/t/{task_id}").is_final("failed"));
        assert!(!job("/t/{task_id}").is_final("running"));
    }
}
