//! The gateway's shared state: the installed configuration (swappable while requests
//! run), the counter store and its health, the upstream client and the rate-limit log.

use crate::health::{HealthCheck, StoreHealth};
use crate::limits::LimitCache;
use crate::log::RejectionLog;
use crate::metrics::Metrics;
use crate::reservations::Reservations;
use crate::routes::CompiledRoute;
use crate::upstream::{self, BadUpstream, Upstream, UpstreamClient};
use arc_swap::ArcSwap;
use floodgate_config::Config;
use floodgate_core::{LeaseId, SystemClock, NANOS_PER_SEC};
use floodgate_store::{MemoryStore, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One configuration, prepared for serving: routes compiled, upstream parsed, and a cache
/// of resolved limits that lives and dies with it.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The configuration as loaded.
    pub(crate) config: Config,
    /// Its routes, ready to match, in configuration order.
    pub(crate) routes: Vec<CompiledRoute>,
    /// Where requests go; `None` until an upstream is configured.
    pub(crate) upstream: Option<Upstream>,
    /// How long to wait for the upstream's response head.
    pub(crate) upstream_timeout: Duration,
    /// Resolved limits per (key, model) under this configuration.
    pub(crate) limits: LimitCache,
}

impl Snapshot {
    fn new(config: Config) -> Result<Self, BadUpstream> {
        let upstream = config
            .server
            .upstream
            .as_deref()
            .map(Upstream::parse)
            .transpose()?;
        Ok(Self {
            routes: config.routes.iter().map(CompiledRoute::new).collect(),
            upstream,
            upstream_timeout: Duration::from_nanos(config.server.upstream_timeout.max(1)),
            limits: LimitCache::default(),
            config,
        })
    }
}

/// Everything the gateway's handlers share.
pub struct GatewayState {
    /// The configuration in force; replaced whole, so a request sees one consistent
    /// configuration from start to end while a reload installs the next.
    snapshot: ArcSwap<Snapshot>,
    /// Where counters live.
    pub(crate) store: Arc<dyn Store>,
    /// Pooled keep-alive connections to the upstream.
    pub(crate) client: UpstreamClient,
    /// Recent rejections per key, for the rate-limit log endpoint.
    pub(crate) log: RejectionLog,
    /// Token reservations of this instance not settled yet.
    pub(crate) reservations: Arc<Reservations>,
    /// Source of fresh lease ids for concurrency slots.
    next_lease: AtomicU64,
    /// Prometheus metrics; they outlive configuration reloads.
    metrics: Metrics,
    /// Reads the store's health for `/healthz`; `None` for a store that is always
    /// healthy (in this process).
    health: Option<HealthCheck>,
}

impl std::fmt::Debug for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayState")
            .field("store", &self.store.name())
            .finish_non_exhaustive()
    }
}

impl GatewayState {
    /// State for `config` with an in-memory store on the system clock.
    pub fn new(config: Config) -> Result<Self, BadUpstream> {
        Self::with_store(config, Arc::new(MemoryStore::new(Arc::new(SystemClock))))
    }

    /// State for `config` with counters in `store`.
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> Result<Self, BadUpstream> {
        // Lease ids only need to be unique among live leases; starting from the time
        // keeps two instances (or a restarted one) sharing a store apart.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| {
                d.as_secs().wrapping_mul(NANOS_PER_SEC) ^ u64::from(d.subsec_nanos())
            });
        Ok(Self {
            snapshot: ArcSwap::from_pointee(Snapshot::new(config)?),
            store,
            client: upstream::client(),
            log: RejectionLog::default(),
            reservations: Arc::default(),
            next_lease: AtomicU64::new(seed),
            metrics: Metrics::new(),
            health: None,
        })
    }

    /// The same, with `/healthz` reporting what `check` says of the store (a shared
    /// store that may be away, e.g. Redis behind a fallback).
    #[must_use]
    pub fn with_health_check(mut self, check: HealthCheck) -> Self {
        self.health = Some(check);
        self
    }

    /// Where the store stands now.
    pub fn store_health(&self) -> StoreHealth {
        self.health
            .as_ref()
            .map_or(StoreHealth::Healthy, |check| check())
    }

    /// Installs a new configuration; requests in flight finish under the old one, and
    /// resolved limits are resolved again under the new one.
    pub fn replace_config(&self, config: Config) -> Result<(), BadUpstream> {
        self.snapshot.store(Arc::new(Snapshot::new(config)?));
        Ok(())
    }

    /// The configuration in force.
    pub fn config(&self) -> Config {
        self.snapshot.load().config.clone()
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The counter store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The configuration in force, for one request.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// A lease id no live lease of this gateway holds.
    pub(crate) fn next_lease(&self) -> LeaseId {
        LeaseId(self.next_lease.fetch_add(1, Ordering::Relaxed))
    }
}
