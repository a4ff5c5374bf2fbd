//! [`RedisRegistry`]: the admin records on Redis, shared by every gateway instance.
//!
//! ```text
//! fg:{<account>}:r    HASH  a = the account record, k:<sha256> = a key record (JSON),
//!                           g = the account's generation (bumped by every change)
//! fg:admin:accounts   SET   accounts that have records
//! fg:admin:keys       HASH  sha256 -> account, to find a key another instance created
//! ```
//!
//! The records hash shares its account's hash slot with the account's counters, so the
//! decision script reads the generation in the same call (see `lua/decide.lua`): an
//! instance whose records for the account are older gets `Stale`, reads them again and
//! decides under the change. No call is added to a decision in the steady state.

use crate::keys::push_escaped;
use crate::store::RedisStore;
use async_trait::async_trait;
use floodgate_registry::{
    AccountRecord, AccountRecords, KeyRecord, Records, Registry, RegistryError,
};
use redis::Script;
use std::sync::Arc;

/// The set of accounts with records.
const ACCOUNTS: &str = "fg:admin:accounts";
/// The key index.
const KEY_INDEX: &str = "fg:admin:keys";

/// The hash of `account`'s admin records.
pub(crate) fn records_hash(account: &str) -> String {
    let mut key = String::with_capacity(account.len() + 8);
    key.push_str("fg:{");
    push_escaped(&mut key, account);
    key.push_str("}:r");
    key
}

/// Admin records on Redis.
pub struct RedisRegistry {
    /// The store whose connection and timeout the registry's calls use.
    store: Arc<RedisStore>,
    /// HSET a field and bump the generation: KEYS[1] records, ARGV field, JSON.
    put: Script,
    /// HGETALL KEYS[1].
    read_hash: Script,
    /// SADD KEYS[1] ARGV[1].
    add: Script,
    /// SMEMBERS KEYS[1].
    members: Script,
    /// HSET KEYS[1] ARGV[1] ARGV[2].
    index: Script,
    /// HGET KEYS[1] ARGV[1].
    lookup: Script,
}

impl std::fmt::Debug for RedisRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRegistry").finish_non_exhaustive()
    }
}

fn redis_error(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Redis(e.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(name: &str, json: &str) -> Result<T, RegistryError> {
    serde_json::from_str(json).map_err(|e| RegistryError::Corrupt {
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

impl RedisRegistry {
    /// Records on the Redis of `store`.
    pub fn new(store: Arc<RedisStore>) -> Self {
        Self {
            store,
            put: Script::new(
                "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return redis.call('HINCRBY', KEYS[1], 'g', 1)",
            ),
            read_hash: Script::new("return redis.call('HGETALL', KEYS[1])"),
            add: Script::new("return redis.call('SADD', KEYS[1], ARGV[1])"),
            members: Script::new("return redis.call('SMEMBERS', KEYS[1])"),
            index: Script::new("return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])"),
            lookup: Script::new("return redis.call('HGET', KEYS[1], ARGV[1])"),
        }
    }

    /// Writes one field of `account`'s records (bumping its generation).
    async fn put_field(&self, account: &str, field: &str, json: &str) -> Result<(), RegistryError> {
        let mut add = self.add.key(ACCOUNTS);
        add.arg(account);
        self.store.run::<i64>(&add).await.map_err(redis_error)?;
        let mut put = self.put.key(records_hash(account));
        put.arg(field).arg(json);
        self.store.run::<i64>(&put).await.map_err(redis_error)?;
        Ok(())
    }
}

#[async_trait]
impl Registry for RedisRegistry {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn shared(&self) -> bool {
        true
    }

    async fn load(&self) -> Result<Records, RegistryError> {
        let accounts: Vec<String> = self
            .store
            .run(&self.members.key(ACCOUNTS))
            .await
            .map_err(redis_error)?;
        let mut records = Records::default();
        for account in accounts {
            let fresh = self.load_account(&account).await?;
            records.replace_account(&account, fresh);
        }
        Ok(records)
    }

    async fn put_key(&self, record: &KeyRecord) -> Result<(), RegistryError> {
        let json = serde_json::to_string(record).map_err(redis_error)?;
        // The index first: an instance that finds the key in it then reads the account.
        let mut index = self.index.key(KEY_INDEX);
        index.arg(&record.sha256).arg(&record.account);
        self.store.run::<i64>(&index).await.map_err(redis_error)?;
        self.put_field(&record.account, &format!("k:{}", record.sha256), &json)
            .await
    }

    async fn put_account(&self, record: &AccountRecord) -> Result<(), RegistryError> {
        let json = serde_json::to_string(record).map_err(redis_error)?;
        self.put_field(&record.id, "a", &json).await
    }

    async fn account_of_key(&self, sha256: &str) -> Result<Option<String>, RegistryError> {
        let mut lookup = self.lookup.key(KEY_INDEX);
        lookup.arg(sha256);
        self.store.run(&lookup).await.map_err(redis_error)
    }

    async fn load_account(&self, account: &str) -> Result<AccountRecords, RegistryError> {
        let flat: Vec<String> = self
            .store
            .run(&self.read_hash.key(records_hash(account)))
            .await
            .map_err(redis_error)?;
        let mut fresh = AccountRecords::default();
        for pair in flat.chunks_exact(2) {
            let (field, value) = (&pair[0], &pair[1]);
            if field == "g" {
                fresh.generation = value.parse().map_err(|e| RegistryError::Corrupt {
                    name: format!("{account}.g"),
                    reason: format!("{e}"),
                })?;
            } else if field == "a" {
                fresh.account = Some(decode(account, value)?);
            } else if field.starts_with("k:") {
                fresh.keys.push(decode(field, value)?);
            }
        }
        Ok(fresh)
    }
}
