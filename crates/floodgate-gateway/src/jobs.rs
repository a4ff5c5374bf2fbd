//! Async jobs across polls: a route with a `job` submits a job whose concurrency slot
//! outlives the submission. Once the upstream's answer names the task, the slot moves to
//! a lease derived from the key and the task id, so that a poll through any instance
//! sharing the store finds it: a poll whose answer shows a final state releases it, any
//! other poll renews it, and a job nobody polls any more frees its slot when the lease's
//! TTL runs out.
//!
//! Submission and poll answers are small JSON documents; they are read whole (see
//! `answer`) before they go to the client, so a client that polls straight after its
//! submission always finds the job's lease in place.

use crate::auth::Caller;
use crate::lease::LeaseGuard;
use crate::state::{GatewayState, Snapshot};
use floodgate_config::{AsyncJob, KeyHash};
use floodgate_core::{LeaseId, Limit, Window};
use floodgate_store::Subjects;

/// The lease of `key`'s job `task`: the same on every instance, and distinct per key, so
/// one key's polls never touch another's jobs.
pub(crate) fn lease_of(key: &str, task: &str) -> LeaseId {
    let hash = KeyHash::of(&format!("floodgate-job\0{key}\0{task}"));
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.0[..8]);
    LeaseId(u64::from_be_bytes(first))
}

/// The job a request path polls, and the task it names.
pub(crate) fn polled<'s, 'p>(
    snapshot: &'s Snapshot,
    path: &'p str,
) -> Option<(&'s AsyncJob, &'p str)> {
    snapshot
        .routes
        .iter()
        .filter_map(|r| r.route.job.as_ref())
        .find_map(|job| Some((job, job.task_of(path)?)))
}

/// What a JSON answer says at `job`'s fields: (task id, state).
fn fields(job: &AsyncJob, answer: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(answer) else {
        return (None, None);
    };
    (
        AsyncJob::field(&value, &job.task_id),
        AsyncJob::field(&value, &job.status),
    )
}

/// After a successful submission: if its answer names a task that is not already over,
/// the slot moves to the task's lease; otherwise the guard comes back, to be released
/// with the response as for any request.
pub(crate) async fn submitted(
    job: &AsyncJob,
    answer: &[u8],
    key: &str,
    guard: LeaseGuard,
) -> Option<LeaseGuard> {
    let (task, state) = fields(job, answer);
    let Some(task) = task else {
        tracing::debug!(key, "a job submission named no task; its slot is released");
        return Some(guard);
    };
    if state.is_some_and(|s| job.is_final(&s)) {
        return Some(guard);
    }
    guard.transfer(lease_of(key, &task)).await
}

/// The concurrency limits of every model for `caller`, each counter once: the job's
/// slot is on one of them, and the poll does not say which model the job was for.
fn concurrency_limits(snapshot: &Snapshot, caller: &Caller<'_>) -> Vec<Limit> {
    let policy = &snapshot.config.policy;
    let mut out: Vec<Limit> = Vec::new();
    for model in policy.models.values() {
        let Ok(resolved) = snapshot.limits.get(&snapshot.config, caller, model) else {
            continue;
        };
        for limit in resolved.limits.iter() {
            let concurrent = matches!(limit.window, Window::Concurrent { .. });
            if concurrent
                && !out
                    .iter()
                    .any(|l| l.scope == limit.scope && l.slot == limit.slot)
            {
                out.push(limit.clone());
            }
        }
    }
    out
}

/// After a successful poll of `task`: a final state releases the job's slot, any other
/// renews its lease.
pub(crate) async fn polled_answer(
    state: &GatewayState,
    snapshot: &Snapshot,
    caller: &Caller<'_>,
    job: &AsyncJob,
    task: &str,
    answer: &[u8],
) {
    let (_, status) = fields(job, answer);
    let Some(status) = status else {
        return;
    };
    let limits = concurrency_limits(snapshot, caller);
    if limits.is_empty() {
        return;
    }
    let subjects = Subjects {
        key: caller.key_id(),
        account: &caller.account.id,
    };
    let lease = lease_of(caller.key_id(), task);
    let done = job.is_final(&status);
    let result = if done {
        state.store.release_lease(&subjects, &limits, lease).await
    } else {
        state.store.renew_lease(&subjects, &limits, lease).await
    };
    match result {
        Ok(held) => tracing::debug!(key = caller.key_id(), task, done, held, "job polled"),
        Err(e) => {
            tracing::warn!(key = caller.key_id(), error = %e, "a job poll could not reach its lease")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_per_key_and_task() {
        assert_eq!(lease_of("k1", "t1"), lease_of("k1", "t1"));
        assert_ne!(lease_of("k1", "t1"), lease_of("k2", "t1"));
        assert_ne!(lease_of("k1", "t1"), lease_of("k1", "t2"));
    }

    #[test]
    fn answers_are_read_at_the_jobs_fields() {
        let job = AsyncJob {
            task_id: "data.id".into(),
            poll: "/t/{task_id}".into(),
            status: "data.state".into(),
            final_states: vec!["done".into()],
        };
        let (task, state) = fields(&job, br#"{"data":{"id":"t-1","state":"queued"}}"#);
        assert_eq!(
            (task.as_deref(), state.as_deref()),
            (Some("t-1"), Some("queued"))
        );
        assert_eq!(fields(&job, b"not json"), (None, None));
    }
}
