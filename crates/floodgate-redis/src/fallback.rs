//! [`FallbackStore`]: the per-limit failure policy while the shared store is unreachable.
//!
//! Calls go to the shared store (Redis). When it fails to answer (unreachable or past its
//! timeout), the store turns degraded: from then on calls are answered at once on this
//! instance, without waiting on Redis, by a local [`MemoryStore`] for requests whose
//! limits all fail open, and refused with [`StoreError::Unavailable`] (a 503) for any
//! request that a `fail_closed` limit applies to. Once per probe interval one call tries
//! Redis again; when it answers, the store is healthy and every call goes back to Redis.
//! The local store keeps per-instance counters only: with N instances, a fail-open limit
//! admits up to N times its maximum during an outage, which is the price of staying up.
//! It holds only the subjects active during the outage (the memory store drops idle
//! ones), so its size stays bounded.

use crate::store::RedisStore;
use async_trait::async_trait;
use floodgate_core::{AbuseRule, Clock, Decision, FailurePolicy, LeaseId, Limit, Nanos};
use floodgate_store::{
    DecideRequest, Inspection, MemoryStore, SettleRequest, Store, StoreError, Subjects,
};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often a degraded store tries the shared store again, by default.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Whether decisions are shared or local, for `/healthz` and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The shared store answers; every decision is exact across instances.
    Healthy,
    /// The shared store has not answered since `since`: fail-open limits are enforced
    /// per instance, fail-closed limits refuse.
    Degraded {
        /// When the outage was first seen (ns since the epoch, on this instance's clock).
        since: Nanos,
        /// The error that started it.
        error: String,
    },
}

/// An outage in progress.
struct Outage {
    since: Nanos,
    error: String,
    /// When the next call may try the shared store again.
    next_probe: Instant,
}

/// Where one call goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Shared,
    Probe,
    Local,
}

/// The shared store with a local fallback and a per-limit failure policy.
pub struct FallbackStore {
    /// The shared store (normally a [`RedisStore`]).
    shared: Arc<dyn Store>,
    /// This instance's counters while the shared store is away.
    local: MemoryStore,
    /// Reads the start of an outage.
    clock: Arc<dyn Clock>,
    /// How often a degraded store tries the shared store again.
    probe_every: Duration,
    /// `None` while healthy.
    outage: Mutex<Option<Outage>>,
    /// Lets one call at a time probe, so an outage costs one timeout per interval.
    probing: AtomicBool,
}

impl std::fmt::Debug for FallbackStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FallbackStore")
            .field("shared", &self.shared.name())
            .field("health", &self.health())
            .finish_non_exhaustive()
    }
}

impl FallbackStore {
    /// Falls back from `redis` to local counters on `clock` (the system clock in
    /// production, which also times the fallback's windows).
    pub fn new(redis: RedisStore, clock: Arc<dyn Clock>) -> Self {
        Self::over(Arc::new(redis), clock)
    }

    /// Falls back from any shared store.
    pub fn over(shared: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            shared,
            local: MemoryStore::new(Arc::clone(&clock)),
            clock,
            probe_every: DEFAULT_PROBE_INTERVAL,
            outage: Mutex::new(None),
            probing: AtomicBool::new(false),
        }
    }

    /// The same, trying the shared store again every `every` while degraded.
    #[must_use]
    pub fn with_probe_interval(mut self, every: Duration) -> Self {
        self.probe_every = every;
        self
    }

    /// Whether decisions are currently shared or local.
    pub fn health(&self) -> Health {
        match &*self.lock() {
            None => Health::Healthy,
            Some(outage) => Health::Degraded {
                since: outage.since,
                error: outage.error.clone(),
            },
        }
    }

    /// The local fallback's counters (for inspection and tests).
    pub fn local(&self) -> &MemoryStore {
        &self.local
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Outage>> {
        self.outage.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn route(&self) -> Route {
        match &*self.lock() {
            None => Route::Shared,
            Some(outage) if Instant::now() >= outage.next_probe => {
                if self.probing.swap(true, Ordering::AcqRel) {
                    Route::Local
                } else {
                    Route::Probe
                }
            }
            Some(_) => Route::Local,
        }
    }

    fn recovered(&self) {
        if let Some(outage) = self.lock().take() {
            let down_ms = self.clock.now().saturating_sub(outage.since) / 1_000_000;
            tracing::info!(
                store = self.shared.name(),
                down_ms,
                "shared store answers again; decisions are shared again"
            );
        }
    }

    fn failed(&self, error: &StoreError) {
        let mut outage = self.lock();
        let next_probe = Instant::now() + self.probe_every;
        match &mut *outage {
            Some(current) => current.next_probe = next_probe,
            None => {
                tracing::warn!(
                    store = self.shared.name(),
                    %error,
                    "shared store unreachable; fail_open limits are enforced on this \
                     instance alone, fail_closed limits refuse"
                );
                *outage = Some(Outage {
                    since: self.clock.now(),
                    error: error.to_string(),
                    next_probe,
                });
            }
        }
    }

    /// Runs `shared` unless degraded, and `local` when degraded or when `shared` fails
    /// for lack of the shared store. Other errors (a bad reply) pass through.
    async fn call<T>(
        &self,
        shared: impl Future<Output = Result<T, StoreError>>,
        local: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let route = self.route();
        if route == Route::Local {
            return local();
        }
        let result = shared.await;
        if route == Route::Probe {
            self.probing.store(false, Ordering::Release);
        }
        match result {
            Ok(value) => {
                self.recovered();
                Ok(value)
            }
            Err(error @ (StoreError::Unavailable(_) | StoreError::Timeout(_))) => {
                self.failed(&error);
                local()
            }
            Err(error) => Err(error),
        }
    }

    /// A local decision, or a refusal when a fail-closed limit applies.
    fn decide_locally(&self, request: &DecideRequest<'_>) -> Result<Decision, StoreError> {
        let closed = request
            .limits
            .iter()
            .find(|l| l.failure == FailurePolicy::FailClosed && !l.shadow);
        if let Some(limit) = closed {
            return Err(StoreError::Unavailable(format!(
                "the shared rate-limit store is unreachable and the limit {limit} fails closed"
            )));
        }
        Ok(self.local.decide_now(request))
    }
}

#[async_trait]
impl Store for FallbackStore {
    fn name(&self) -> &'static str {
        self.shared.name()
    }

    async fn decide(&self, request: &DecideRequest<'_>) -> Result<Decision, StoreError> {
        self.call(self.shared.decide(request), || self.decide_locally(request))
            .await
    }

    async fn decide_at(
        &self,
        request: &DecideRequest<'_>,
        generation: u64,
    ) -> Result<Decision, StoreError> {
        self.call(self.shared.decide_at(request, generation), || {
            self.decide_locally(request)
        })
        .await
    }

    async fn settle(&self, request: &SettleRequest<'_>) -> Result<(), StoreError> {
        self.call(self.shared.settle(request), || {
            self.local.settle_now(request);
            Ok(())
        })
        .await
    }

    async fn inspect(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
    ) -> Result<Inspection, StoreError> {
        self.call(self.shared.inspect(subjects, limits), || {
            Ok(self.local.inspect_now(subjects, limits))
        })
        .await
    }

    async fn renew_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        lease: LeaseId,
    ) -> Result<bool, StoreError> {
        self.call(self.shared.renew_lease(subjects, limits, lease), || {
            Ok(self.local.renew_lease_now(subjects, limits, lease))
        })
        .await
    }

    async fn release_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        lease: LeaseId,
    ) -> Result<bool, StoreError> {
        self.call(self.shared.release_lease(subjects, limits, lease), || {
            Ok(self.local.release_lease_now(subjects, limits, lease))
        })
        .await
    }

    async fn transfer_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        from: LeaseId,
        to: LeaseId,
    ) -> Result<bool, StoreError> {
        self.call(
            self.shared.transfer_lease(subjects, limits, from, to),
            || Ok(self.local.transfer_lease_now(subjects, limits, from, to)),
        )
        .await
    }

    async fn record_failure(
        &self,
        key: &str,
        rule: &AbuseRule,
    ) -> Result<Option<Nanos>, StoreError> {
        self.call(self.shared.record_failure(key, rule), || {
            Ok(self.local.record_failure_now(key, rule))
        })
        .await
    }

    async fn clear_block(&self, key: &str) -> Result<(), StoreError> {
        self.call(self.shared.clear_block(key), || {
            self.local.clear_block_now(key);
            Ok(())
        })
        .await
    }
}
