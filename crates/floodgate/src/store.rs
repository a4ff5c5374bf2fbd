//! The counter store `[store]` asks for: the memory store (with its state file if
//! `[store] path` names one), or Redis behind the fallback that applies each limit's
//! failure policy while Redis is away; and where admin changes are kept.
//!
//! Redis is reached lazily, so `floodgate serve` starts (and answers under the failure
//! policy) while Redis is down, and moves to Redis once it answers.

use crate::persist::Persistence;
use floodgate_config::{Config, KeyHash, RedisNodes, RedisStoreConfig, StoreConfig};
use floodgate_core::{Clock, SystemClock};
use floodgate_gateway::admin::ADMIN_TOKEN_ENV;
use floodgate_gateway::{GatewayState, HealthCheck, StoreHealth};
use floodgate_redis::{FallbackStore, Health, RedisConfig, RedisRegistry, RedisStore};
use floodgate_registry::{Records, Registry};
use floodgate_store::{MemoryStore, Store};
use std::sync::Arc;

/// The gateway's state for `config`, on the store its `[store]` asks for.
pub(crate) fn gateway_state(config: Config) -> anyhow::Result<GatewayState> {
    Ok(open(config)?.0)
}

/// What runs beside a gateway: the saving of its counters when they are kept in a file,
/// or the first read of a shared registry.
pub(crate) struct Background {
    /// Counter saving, for a memory store with `[store] path`.
    persistence: Option<Persistence>,
    /// Whether admin records are shared with other instances (Redis).
    shared: bool,
}

/// The gateway's state for `config` and what runs beside it: its store, its admin registry (the state file, or
/// this process's memory) and the admin token of `FLOODGATE_ADMIN_TOKEN` if set.
pub(crate) fn open(config: Config) -> anyhow::Result<(GatewayState, Background)> {
    let mut persistence = None;
    let mut registry: Option<(Arc<dyn Registry>, Records)> = None;
    let built = match (&config.store, &config.state_file) {
        (StoreConfig::Memory, Some(path)) => {
            let memory = Arc::new(MemoryStore::new(Arc::new(SystemClock)));
            let (file, saving) = Persistence::open(path, &memory)?;
            let records = file.records()?;
            registry = Some((Arc::new(file), records));
            persistence = Some(saving);
            BuiltStore {
                store: memory,
                health: None,
                registry: None,
            }
        }
        (store, _) => build(store)?,
    };
    let shared = built.registry.is_some();
    if let Some(shared) = built.registry {
        // Read once serving starts (Redis may not answer yet); until then each account's
        // records are read when a decision finds them stale.
        registry = Some((shared, Records::default()));
    }
    let mut state = GatewayState::with_store(config, built.store)?;
    if let Some(health) = built.health {
        state = state.with_health_check(health);
    }
    if let Some((registry, records)) = registry {
        state = state.with_registry(registry, records);
    }
    if let Ok(token) = std::env::var(ADMIN_TOKEN_ENV) {
        anyhow::ensure!(
            !token.trim().is_empty(),
            "{ADMIN_TOKEN_ENV} is set but empty"
        );
        state = state.with_admin_token(KeyHash::of(token.trim()));
    }
    Ok((
        state,
        Background {
            persistence,
            shared,
        },
    ))
}

impl Background {
    /// Starts what runs beside serving: counter saving, or the first read of a shared
    /// registry's records.
    pub(crate) fn start(&self, state: &Arc<GatewayState>) -> Option<tokio::task::JoinHandle<()>> {
        if let Some(persistence) = &self.persistence {
            return Some(persistence.start());
        }
        if self.shared {
            let state = Arc::clone(state);
            return Some(tokio::spawn(async move {
                match state.reload_records().await {
                    Ok(()) => tracing::info!("admin records read from redis"),
                    Err(e) => {
                        tracing::warn!(error = %e, "admin records not read yet; each account's are read on its first decision")
                    }
                }
            }));
        }
        None
    }

    /// After serving stopped and requests drained: stops `started` and saves the
    /// counters not yet saved.
    pub(crate) fn finish(
        &self,
        started: Option<tokio::task::JoinHandle<()>>,
    ) -> anyhow::Result<()> {
        if let Some(task) = started {
            task.abort();
        }
        match &self.persistence {
            Some(persistence) => persistence.finish(),
            None => Ok(()),
        }
    }
}

/// A store, and how `/healthz` reads its health (`None`: always healthy).
pub(crate) struct BuiltStore {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) health: Option<HealthCheck>,
    /// Where admin records are shared with the other instances (Redis).
    pub(crate) registry: Option<Arc<dyn Registry>>,
}

/// The store of `config`; fails only on a Redis URL the client refuses.
pub(crate) fn build(config: &StoreConfig) -> anyhow::Result<BuiltStore> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match config {
        StoreConfig::Memory => Ok(BuiltStore {
            store: Arc::new(MemoryStore::new(clock)),
            health: None,
            registry: None,
        }),
        StoreConfig::Redis(redis) => {
            let redis_config = redis_config(redis);
            let shared = Arc::new(RedisStore::lazy(&redis_config)?);
            tracing::info!(
                store = shared.name(),
                timeout_ms = redis.timeout.as_millis(),
                "counters on redis; connecting on first use"
            );
            let registry: Arc<dyn Registry> = Arc::new(RedisRegistry::new(Arc::clone(&shared)));
            let fallback = Arc::new(
                FallbackStore::over(shared, clock).with_probe_interval(redis.probe_interval),
            );
            let watched = Arc::clone(&fallback);
            Ok(BuiltStore {
                store: fallback,
                health: Some(Arc::new(move || match watched.health() {
                    Health::Healthy => StoreHealth::Healthy,
                    Health::Degraded { since, error } => StoreHealth::Degraded { since, error },
                })),
                registry: Some(registry),
            })
        }
    }
}

fn redis_config(redis: &RedisStoreConfig) -> RedisConfig {
    let config = match &redis.nodes {
        RedisNodes::Single(url) => RedisConfig::single(url.clone()),
        RedisNodes::Cluster(nodes) => RedisConfig::cluster(nodes.iter().cloned()),
    };
    config.with_timeout(redis.timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn memory_is_always_healthy() {
        let built = build(&StoreConfig::Memory).unwrap();
        assert_eq!(built.store.name(), "memory");
        assert!(built.health.is_none());
    }

    #[tokio::test]
    async fn redis_starts_without_a_server_and_reports_its_outage() {
        // Port 1 is privileged and never a Redis: every call is refused at once.
        let built = build(&StoreConfig::Redis(RedisStoreConfig {
            nodes: RedisNodes::Single("redis://127.0.0.1:1".into()),
            timeout: Duration::from_millis(200),
            probe_interval: Duration::from_secs(1),
        }))
        .unwrap();
        assert_eq!(built.store.name(), "redis");
        let health = built.health.expect("a shared store reports its health");
        assert_eq!(health(), StoreHealth::Healthy, "nothing failed yet");
        let limits = [floodgate_core::Limit::new(
            floodgate_core::Scope::Key,
            floodgate_core::Unit::Requests,
            floodgate_core::Window::MINUTE,
            2,
            "m",
        )];
        let request = floodgate_store::DecideRequest {
            subjects: floodgate_store::Subjects {
                key: "k",
                account: "a",
            },
            limits: &limits,
            costs: &floodgate_core::Costs::one_request(),
            lease: floodgate_core::LeaseId(1),
            abuse: None,
        };
        let decision = built.store.decide(&request).await.unwrap();
        assert!(
            decision.allowed(),
            "fail_open (the default) answers locally"
        );
        assert!(matches!(health(), StoreHealth::Degraded { .. }));
    }

    #[test]
    fn a_url_the_client_refuses_stops_the_server() {
        let refused = build(&StoreConfig::Redis(RedisStoreConfig {
            nodes: RedisNodes::Cluster(Vec::new()),
            timeout: Duration::from_millis(200),
            probe_interval: Duration::from_secs(1),
        }));
        assert!(refused.is_err());
    }
}
