//! The connection to a server or a cluster, and one script call on it.
//!
//! Both kinds multiplex every caller over shared connections: concurrent calls are
//! written back to back without waiting for each other's replies (automatic pipelining),
//! which is where a Redis store's throughput comes from. Both reconnect on their own.

use crate::config::{RedisConfig, RedisTarget};
use crate::error::{millis, redact, store_error, ConnectError};
use crate::scripts::Scripts;
use floodgate_store::StoreError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Client, FromRedisValue, ScriptInvocation};
use std::time::Duration;

/// Reconnection attempts a connection makes before failing the calls waiting on it: few,
/// because the caller's timeout bounds the wait anyway and a failure policy takes over.
const RECONNECT_RETRIES: usize = 2;

/// Longest pause between reconnection attempts, so a server that comes back is found
/// again quickly.
const RECONNECT_MAX_DELAY_MS: u64 = 200;

/// A multiplexed connection to one server or to a cluster.
#[derive(Clone)]
pub(crate) enum Connection {
    /// One server, through a self-healing multiplexed connection.
    Single(ConnectionManager),
    /// A cluster, through connections to every primary, routed by key slot.
    Cluster(ClusterConnection),
}

impl Connection {
    /// Connects and loads every script, within four times `config.timeout` (setting up
    /// takes several round trips).
    pub(crate) async fn open(
        config: &RedisConfig,
        scripts: &Scripts,
    ) -> Result<Self, ConnectError> {
        // rustls needs a process-wide crypto provider for `rediss://`; installing it a
        // second time is refused, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let timeout = config.timeout;
        let connect = async {
            let mut connection = match &config.target {
                RedisTarget::Single(url) => Self::single(url, timeout).await?,
                RedisTarget::Cluster(nodes) => Self::cluster(nodes, timeout).await?,
            };
            for script in scripts.all() {
                let loaded = match &mut connection {
                    Connection::Single(c) => script.load_async(c).await,
                    Connection::Cluster(c) => script.load_async(c).await,
                };
                loaded.map_err(|e| ConnectError::Unreachable(e.to_string()))?;
            }
            Ok(connection)
        };
        tokio::time::timeout(timeout.saturating_mul(4), connect)
            .await
            .map_err(|_| {
                ConnectError::Unreachable(format!("no answer within {} ms", millis(timeout) * 4))
            })?
    }

    async fn single(url: &str, timeout: Duration) -> Result<Self, ConnectError> {
        let client = Client::open(url).map_err(|e| ConnectError::InvalidUrl {
            url: redact(url),
            reason: e.to_string(),
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_max_delay(RECONNECT_MAX_DELAY_MS);
        let manager = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| ConnectError::Unreachable(format!("{}: {e}", redact(url))))?;
        Ok(Connection::Single(manager))
    }

    async fn cluster(nodes: &[String], timeout: Duration) -> Result<Self, ConnectError> {
        if nodes.is_empty() {
            return Err(ConnectError::NoNodes);
        }
        let client = ClusterClient::builder(nodes.iter().map(String::as_str))
            .connection_timeout(timeout)
            .response_timeout(timeout)
            .retries(u32::try_from(RECONNECT_RETRIES).unwrap_or(1))
            .max_retry_wait(RECONNECT_MAX_DELAY_MS)
            .build()
            .map_err(|e| ConnectError::InvalidUrl {
                url: nodes
                    .iter()
                    .map(|n| redact(n))
                    .collect::<Vec<_>>()
                    .join(","),
                reason: e.to_string(),
            })?;
        let connection = client
            .get_async_connection()
            .await
            .map_err(|e| ConnectError::Unreachable(e.to_string()))?;
        Ok(Connection::Cluster(connection))
    }

    /// Checks that `config`'s URLs are Redis URLs, without connecting.
    pub(crate) fn check(config: &RedisConfig) -> Result<(), ConnectError> {
        match &config.target {
            RedisTarget::Single(url) => {
                Client::open(url.as_str())
                    .map(drop)
                    .map_err(|e| ConnectError::InvalidUrl {
                        url: redact(url),
                        reason: e.to_string(),
                    })
            }
            RedisTarget::Cluster(nodes) if nodes.is_empty() => Err(ConnectError::NoNodes),
            RedisTarget::Cluster(nodes) => ClusterClient::builder(nodes.iter().map(String::as_str))
                .build()
                .map(drop)
                .map_err(|e| ConnectError::InvalidUrl {
                    url: nodes
                        .iter()
                        .map(|n| redact(n))
                        .collect::<Vec<_>>()
                        .join(","),
                    reason: e.to_string(),
                }),
        }
    }

    /// Runs one script call (one `EVALSHA`, or a load and a retry after `NOSCRIPT`).
    /// The caller bounds it in time; `timeout` only names the bound in errors.
    pub(crate) async fn call<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
        timeout: Duration,
    ) -> Result<T, StoreError> {
        let result = match self.clone() {
            Connection::Single(mut c) => invocation.invoke_async(&mut c).await,
            Connection::Cluster(mut c) => invocation.invoke_async(&mut c).await,
        };
        result.map_err(|error| store_error(&error, timeout))
    }
}
