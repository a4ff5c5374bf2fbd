//! [`Link`]: the connection to Redis, the scripts and the bound on every call, shared by
//! the store and its decision batcher.

use crate::config::RedisConfig;
use crate::connection::Connection;
use crate::error::millis;
use crate::scripts::Scripts;
use floodgate_store::StoreError;
use std::time::Duration;
use tokio::sync::OnceCell;

/// What every script call needs.
pub(crate) struct Link {
    /// Multiplexed, self-reconnecting connection(s), opened by the first call that
    /// needs them (or by `RedisStore::connect`); cheap to clone per call.
    pub(crate) connection: OnceCell<Connection>,
    /// Where to connect.
    pub(crate) config: RedisConfig,
    /// The scripts, hashed once so that calls go by SHA.
    pub(crate) scripts: Scripts,
    /// The bound on every call.
    pub(crate) timeout: Duration,
}

impl Link {
    /// Runs one script call, connecting first if needed, all within the timeout.
    pub(crate) async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let call = async {
            let connection = self
                .connection
                .get_or_try_init(|| Connection::open(&self.config, &self.scripts))
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            connection.call(invocation, self.timeout).await
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(millis(self.timeout))),
        }
    }
}
