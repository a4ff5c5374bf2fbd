//! The gateway's shared state: the installed configuration (swappable while requests
//! run), the counter store and its health, the upstream client and the rate-limit log.
//! The installed configuration is the file's merged with the admin records (see `admin`).

use crate::admin::{self, Directory};
use crate::health::{HealthCheck, StoreHealth};
use crate::limits::LimitCache;
use crate::log::RejectionLog;
use crate::metrics::Metrics;
use crate::reservations::Reservations;
use crate::routes::CompiledRoute;
use crate::upstream::{self, BadUpstream, Upstream, UpstreamClient};
use arc_swap::ArcSwap;
use floodgate_config::{Config, KeyHash};
use floodgate_core::{LeaseId, SystemClock, NANOS_PER_SEC};
use floodgate_registry::{Records, Registry, RegistryError, VolatileRegistry};
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
    /// Its keys, ready to authenticate requests against.
    pub(crate) keys: crate::auth::KeyIndex,
    /// Its routes, ready to match, in configuration order.
    pub(crate) routes: Vec<CompiledRoute>,
    /// Where requests go; `None` until an upstream is configured.
    pub(crate) upstream: Option<Upstream>,
    /// How long to wait for the upstream's response head.
    pub(crate) upstream_timeout: Duration,
    /// Resolved limits per (key, model) under this configuration.
    pub(crate) limits: LimitCache,
    /// Each account's generation of admin records merged into this configuration (a
    /// shared registry's; empty otherwise), checked by the store with each decision.
    pub(crate) generations: std::collections::BTreeMap<String, u64>,
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
            keys: crate::auth::KeyIndex::new(&config),
            routes: config
                .routes
                .iter()
                .map(|route| CompiledRoute::new(route, &config))
                .collect(),
            upstream,
            upstream_timeout: Duration::from_nanos(config.server.upstream_timeout.max(1)),
            limits: LimitCache::default(),
            generations: Default::default(),
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
    /// The admin records and their registry, layered over the file's configuration.
    directory: Directory,
    /// The admin token's hash given outside the config file (`FLOODGATE_ADMIN_TOKEN`).
    admin_token: Option<KeyHash>,
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
        let directory = Directory::new(
            Arc::new(VolatileRegistry::default()),
            config.clone(),
            Records::default(),
        );
        Ok(Self {
            snapshot: ArcSwap::from_pointee(Snapshot::new(config)?),
            store,
            client: upstream::client(),
            log: RejectionLog::default(),
            reservations: Arc::default(),
            next_lease: AtomicU64::new(seed),
            metrics: Metrics::new(),
            health: None,
            directory,
            admin_token: None,
        })
    }

    /// The same, with admin changes kept by `registry`, whose `records` (already loaded
    /// from it) are installed now.
    #[must_use]
    pub fn with_registry(mut self, registry: Arc<dyn Registry>, records: Records) -> Self {
        let base = self.directory.current().base;
        self.directory = Directory::new(registry, base, records);
        self.install(&self.directory.current());
        self
    }

    /// The same, also accepting the admin token whose hash is `token` (beside the
    /// config's `[admin] token_sha256`).
    #[must_use]
    pub fn with_admin_token(mut self, token: KeyHash) -> Self {
        self.admin_token = Some(token);
        self
    }

    /// The admin token hashes accepted now.
    pub(crate) fn admin_tokens(&self) -> Vec<KeyHash> {
        let snapshot = self.snapshot.load();
        snapshot
            .config
            .admin
            .token_sha256
            .into_iter()
            .chain(self.admin_token)
            .collect()
    }

    /// The admin records and their registry.
    pub(crate) fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Installs the file's configuration merged with the records of `current`.
    pub(crate) fn install(&self, current: &admin::directory::Current) {
        match Snapshot::new(admin::merge(&current.base, &current.records)) {
            Ok(mut snapshot) => {
                snapshot
                    .generations
                    .clone_from(&current.records.generations);
                self.snapshot.store(Arc::new(snapshot));
            }
            // The base was installed before with the same upstream, so this cannot fail.
            Err(e) => tracing::error!(error = %e, "installing admin changes failed"),
        }
    }

    /// After a decision came back stale: reads `account`'s records again (unless another
    /// request already did since `seen`) and installs them.
    pub(crate) async fn refresh_account(&self, account: &str, seen: u64) {
        if let Err(e) = self
            .directory
            .refresh_account(account, seen, |current| self.install(current))
            .await
        {
            tracing::warn!(account, error = %e, "reading an account's admin records failed");
        }
    }

    /// Whether a key this instance does not know was created by another instance; if so
    /// its account's records are installed and true is returned.
    pub(crate) async fn find_shared_key(&self, hash: &KeyHash) -> bool {
        if !self.directory.shared() {
            return false;
        }
        match self.directory.account_of_key(&hash.to_hex()).await {
            Ok(Some(account)) => {
                let seen = self.directory.generation(&account);
                self.refresh_account(&account, seen).await;
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "looking up an unknown key failed");
                false
            }
        }
    }

    /// The snapshot to authenticate `headers` against: the installed one, or, when it
    /// does not know the presented key and a shared registry does (another instance
    /// created it), the one installed after reading that key's account.
    pub(crate) async fn snapshot_for(&self, headers: &http::HeaderMap) -> Arc<Snapshot> {
        let snapshot = self.snapshot();
        if !self.directory.shared()
            || !matches!(
                crate::auth::authenticate(&snapshot.keys, headers),
                Err(crate::error::GatewayError::UnknownKey)
            )
        {
            return snapshot;
        }
        match crate::auth::presented_hash(headers) {
            Some(hash) if self.find_shared_key(&hash).await => self.snapshot(),
            _ => snapshot,
        }
    }

    /// Reads the admin records from the registry again and installs them (another
    /// instance sharing the registry changed some).
    pub async fn reload_records(&self) -> Result<(), RegistryError> {
        self.directory.reload(|current| self.install(current)).await
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
    /// resolved limits are resolved again under the new one. Admin changes stay in force
    /// over it.
    pub fn replace_config(&self, config: Config) -> Result<(), BadUpstream> {
        self.directory.set_base(config, |current| {
            let mut snapshot = Snapshot::new(admin::merge(&current.base, &current.records))?;
            snapshot
                .generations
                .clone_from(&current.records.generations);
            self.snapshot.store(Arc::new(snapshot));
            Ok(())
        })
    }

    /// The configuration in force (the file's, with the admin changes).
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
