//! The contract between the engine and any place counters can live.

use crate::error::StoreError;
use crate::request::{DecideRequest, Inspection, SettleRequest, Subjects};
use async_trait::async_trait;
use floodgate_core::{AbuseRule, Decision, LeaseId, Limit, Nanos};

/// A backend for counters. Every implementation follows
/// [`floodgate_core::evaluate`]'s rules exactly and passes the conformance suite.
///
/// Time is the store's own: the memory store reads its [`Clock`](floodgate_core::Clock),
/// a distributed store its server's clock, so that every instance agrees.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name for logs and metrics (`memory`, `redis`, `redis-cluster`).
    fn name(&self) -> &'static str;

    /// Checks every limit of the request and consumes all of them, or none.
    async fn decide(&self, request: &DecideRequest<'_>) -> Result<Decision, StoreError>;

    /// Adjusts earlier consumption (e.g. refunds reserved tokens that were not used).
    async fn settle(&self, request: &SettleRequest<'_>) -> Result<(), StoreError>;

    /// Reads where each limit stands, consuming nothing.
    async fn inspect(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
    ) -> Result<Inspection, StoreError>;

    /// Extends `lease` on every concurrency limit among `limits`; false if it is no
    /// longer held anywhere (expired or released).
    async fn renew_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        lease: LeaseId,
    ) -> Result<bool, StoreError>;

    /// Gives back `lease`'s slots on every concurrency limit among `limits`; false if it
    /// held none.
    async fn release_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        lease: LeaseId,
    ) -> Result<bool, StoreError>;

    /// Hands `from`'s slots on every concurrency limit among `limits` over to `to`,
    /// held for a full lease TTL from now; false if `from` held none. An async job's slot,
    /// taken by its submission, moves to a lease any instance can name from the task id.
    ///
    /// The default refuses: a store that cannot move leases leaves async jobs holding
    /// their slot only for the submission itself.
    async fn transfer_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        from: LeaseId,
        to: LeaseId,
    ) -> Result<bool, StoreError> {
        let _ = (subjects, limits, from, to);
        Err(StoreError::Backend(format!(
            "the {} store cannot transfer leases",
            self.name()
        )))
    }

    /// Counts a failed request of `key`; returns the block length if this one started a
    /// block.
    async fn record_failure(
        &self,
        key: &str,
        rule: &AbuseRule,
    ) -> Result<Option<Nanos>, StoreError>;

    /// Lifts any abuse block on `key` and forgets its failures.
    async fn clear_block(&self, key: &str) -> Result<(), StoreError>;

    /// [`decide`](Self::decide) for limits resolved under `generation` of the account's
    /// admin records. A store shared by several gateways (Redis) keeps each account's
    /// generation beside its counters and answers [`StoreError::Stale`], consuming
    /// nothing, when it differs; a store whose admin records live in this process has
    /// nothing to compare and decides.
    async fn decide_at(
        &self,
        request: &DecideRequest<'_>,
        generation: u64,
    ) -> Result<Decision, StoreError> {
        let _ = generation;
        self.decide(request).await
    }
}
