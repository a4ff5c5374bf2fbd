//! Decisions as calls of the batched decision script (`lua/decide.lua`), and the batcher
//! that coalesces concurrent decisions into shared script calls (a call's arguments and
//! reply are laid out by [`crate::batch_args`]).
//!
//! Why: on Redis's one thread a decision's fixed costs (the command, the script's
//! prelude, `TIME`) and each hash's read and write are a large share of its time. When
//! decisions arrive while earlier ones are on the wire, the batcher sends them together:
//! the script runs them in order exactly as separate calls would (each all-or-nothing,
//! each seeing what the ones before it consumed), pays the fixed costs once, and reads
//! and writes a hash that several of them touch once.
//!
//! When: a decision that arrives while nothing is on the wire goes at once, alone or
//! with whatever else waits, so a quiet store adds no wait. While calls are on the wire,
//! a round goes out behind them once it is as large as the largest of them (or holds
//! [`MAX_BATCH`] decisions), up to [`IN_FLIGHT`] calls; anything smaller waits. So the
//! size of a round follows the load: a few callers each get a call of their own, many
//! share full ones, and a freed call slot never goes to the one or two decisions that
//! happen to be waiting while larger rounds are out, which is what made rounds small and
//! Redis's time per decision large under load (BENCHMARKS.md, "Redis store"). When a
//! call is answered, the round behind it is formed only after the callers it answered
//! have had their turn to run, so those that decide again at once ride in it.
//!
//! On a cluster every key of a script call must share one hash slot, so a round goes
//! out as one call per slot (hash tag): an account's concurrent decisions still share
//! calls.

use crate::batch_args;
use crate::link::Link;
use crate::scripts::Params;
use floodgate_store::StoreError;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most decisions in one script call: bounds how long one call holds Redis's thread.
const MAX_BATCH: usize = 32;

/// Most calls on the wire at once (see the module doc).
const IN_FLIGHT: usize = 8;

/// One limit of a decision, as the script takes it.
pub(crate) struct LimitArg {
    /// 1-based index of its hash among the decision's `keys`.
    pub(crate) key: usize,
    /// Its counter's field in the hash.
    pub(crate) field: Arc<str>,
    pub(crate) params: Params,
    /// The request's cost.
    pub(crate) amount: i64,
    pub(crate) shadow: bool,
}

/// One decision (or on a cluster, one slot's part of it) for the decision script.
pub(crate) struct Call {
    /// The hash tag every key shares (empty on a single server): calls are batched
    /// only with calls of the same tag.
    pub(crate) slot: String,
    /// The hashes it uses; indices below are 1-based into this list.
    pub(crate) keys: Vec<String>,
    /// Whether to consume when everything fits (false: an earlier part refused).
    pub(crate) consume: bool,
    /// The lease id concurrency limits record.
    pub(crate) lease: String,
    /// The key's abuse hash, 0 for none.
    pub(crate) abuse: usize,
    /// The account's admin records hash and the generation the limits were resolved
    /// under.
    pub(crate) guard: Option<(usize, u64)>,
    pub(crate) limits: Vec<LimitArg>,
}

impl Call {
    /// The 1-based index of `name` in `keys`, adding it if new.
    pub(crate) fn key_index(&mut self, name: &str) -> usize {
        match self.keys.iter().position(|k| k == name) {
            Some(i) => i + 1,
            None => {
                self.keys.push(name.to_owned());
                self.keys.len()
            }
        }
    }
}

/// A decision waiting for its batch.
struct Job {
    call: Call,
    reply: oneshot::Sender<Result<Vec<i64>, StoreError>>,
}

/// The handle of the task that batches one server's decisions; the task ends when the
/// handle (its store) is dropped.
pub(crate) struct Batcher {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Batcher {
    /// Starts the batching task on the current tokio runtime.
    pub(crate) fn start(link: Arc<Link>) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(serve(link, queue));
        Self { jobs }
    }

    /// Runs `call` in the next batch; the caller bounds the wait. `Err(call)` when the
    /// task is gone (its runtime shut down): the caller runs it alone.
    pub(crate) async fn decide(&self, call: Call) -> Result<Result<Vec<i64>, StoreError>, Call> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = self.jobs.send(Job { call, reply }) {
            return Err(job.call);
        }
        Ok(answer.await.unwrap_or_else(|_| {
            // The call may or may not have reached Redis: it is not sent again.
            Err(StoreError::Unavailable(
                "the decision batcher stopped".to_owned(),
            ))
        }))
    }
}

/// Sends the waiting decisions as rounds (one call per slot) whenever [`may_send`]
/// allows, keeping the size of each call on the wire until it is answered.
async fn serve(link: Arc<Link>, mut queue: mpsc::UnboundedReceiver<Job>) {
    let (done, mut finished) = mpsc::unbounded_channel::<usize>();
    let mut waiting: Vec<Job> = Vec::new();
    let mut on_wire: Vec<usize> = Vec::new();
    let mut answered = false;
    loop {
        if answered {
            // The callers of the call just answered were woken before this task and
            // usually decide again at once: letting them run first puts their next
            // decisions in the coming round instead of the one after it, so rounds
            // stay large and few (BENCHMARKS.md, "Letting answered callers join").
            answered = false;
            tokio::task::yield_now().await;
            while let Ok(job) = queue.try_recv() {
                waiting.push(job);
            }
        }
        waiting.retain(|job| !job.reply.is_closed());
        while may_send(waiting.len(), &on_wire) {
            let round: Vec<Job> = waiting.drain(..waiting.len().min(MAX_BATCH)).collect();
            for batch in by_slot(round) {
                on_wire.push(batch.len());
                let (link, answered) = (Arc::clone(&link), Answered(done.clone(), batch.len()));
                tokio::spawn(async move {
                    let _answered = answered;
                    run_batch(&link, batch).await;
                });
            }
        }
        tokio::select! {
            job = queue.recv() => match job {
                Some(job) => {
                    waiting.push(job);
                    while let Ok(job) = queue.try_recv() {
                        waiting.push(job);
                    }
                }
                None => return,
            },
            Some(size) = finished.recv(), if !on_wire.is_empty() => {
                if let Some(at) = on_wire.iter().position(|&s| s == size) {
                    on_wire.swap_remove(at);
                }
                answered = true;
            }
        }
    }
}

/// Tells `serve` that a call of this many decisions is off the wire when dropped: at the
/// end of its task, and also if the task panicked, so that a call slot is never lost
/// (with one lost for good, small rounds would wait behind it for ever).
struct Answered(mpsc::UnboundedSender<usize>, usize);

impl Drop for Answered {
    fn drop(&mut self) {
        // The batcher may have stopped; nothing to tell then.
        let _ = self.0.send(self.1);
    }
}

/// Whether a round may go out with `waiting` decisions waiting and calls of the sizes
/// `on_wire` unanswered (the rule of the module doc).
fn may_send(waiting: usize, on_wire: &[usize]) -> bool {
    let ahead = on_wire.iter().copied().max().unwrap_or(0);
    waiting > 0
        && (on_wire.is_empty() || (waiting >= ahead.min(MAX_BATCH) && on_wire.len() < IN_FLIGHT))
}

/// `jobs` grouped by slot, each group in arrival order.
fn by_slot(jobs: Vec<Job>) -> Vec<Vec<Job>> {
    let mut groups: Vec<Vec<Job>> = Vec::new();
    for job in jobs {
        match groups.iter_mut().find(|g| g[0].call.slot == job.call.slot) {
            Some(group) => group.push(job),
            None => groups.push(vec![job]),
        }
    }
    groups
}

/// Sends one batch and hands each decision its reply.
async fn run_batch(link: &Link, batch: Vec<Job>) {
    let calls: Vec<&Call> = batch.iter().map(|job| &job.call).collect();
    let (invocation, layout) = batch_args::invocation(&link.scripts.decide, &calls);
    let result: Result<Vec<i64>, StoreError> = link.run(&invocation).await;
    let replies = match &result {
        Ok(values) => batch_args::split(values, &calls, &layout),
        Err(error) => calls.iter().map(|_| Err(error.clone())).collect(),
    };
    drop(calls);
    for (job, reply) in batch.into_iter().zip(replies) {
        // The caller may have stopped waiting; nothing to do then.
        let _ = job.reply.send(reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_decision_goes_at_once_and_rounds_grow_with_the_calls_ahead() {
        assert!(may_send(1, &[]), "nothing on the wire: no wait");
        assert!(!may_send(0, &[]));
        assert!(may_send(1, &[1, 1]), "a few callers: a call each");
        assert!(
            !may_send(5, &[1, 8]),
            "smaller than the largest call out: it waits"
        );
        assert!(may_send(8, &[8]), "as large as the call ahead: it goes");
        assert!(
            may_send(MAX_BATCH, &[MAX_BATCH, MAX_BATCH]),
            "a full round always may"
        );
        assert!(
            !may_send(10 * MAX_BATCH, &[1; IN_FLIGHT]),
            "at most IN_FLIGHT calls"
        );
    }

    #[tokio::test]
    async fn a_call_whose_task_panics_still_frees_its_slot() {
        let (done, mut finished) = mpsc::unbounded_channel();
        let answered = Answered(done, 3);
        let task = tokio::spawn(async move {
            let _answered = answered;
            panic!("a call that fails hard");
        });
        assert!(task.await.is_err());
        assert_eq!(finished.recv().await, Some(3));
    }
}
