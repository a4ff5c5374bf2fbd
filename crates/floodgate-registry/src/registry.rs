//! The [`Registry`]: where admin records are kept, and the volatile one used when the
//! configuration names no file.

use crate::records::{AccountRecord, AccountRecords, KeyRecord, Records};
use async_trait::async_trait;
use std::sync::Mutex;

/// Why the registry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The embedded file failed (I/O, corruption, a second process holding it).
    #[error("state file: {0}")]
    File(String),
    /// Redis failed or did not answer in time.
    #[error("redis: {0}")]
    Redis(String),
    /// A stored record is not one this version can read.
    #[error("stored record '{name}' is unreadable: {reason}")]
    Corrupt {
        /// The record's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where admin records live. A write returns only once the record is durable (committed
/// to the file, or acknowledged by Redis), so an acknowledged admin change is never lost.
#[async_trait]
pub trait Registry: Send + Sync + 'static {
    /// A short name for logs (`volatile`, `file`, `redis`).
    fn name(&self) -> &'static str;

    /// Every record.
    async fn load(&self) -> Result<Records, RegistryError>;

    /// Writes (creates or replaces) a key record.
    async fn put_key(&self, record: &KeyRecord) -> Result<(), RegistryError>;

    /// Writes (creates or replaces) an account record.
    async fn put_account(&self, record: &AccountRecord) -> Result<(), RegistryError>;

    /// Whether other gateway instances change the same records (then a key unknown
    /// here may exist, and an account's records may have moved on).
    fn shared(&self) -> bool {
        false
    }

    /// The account of the key whose SHA-256 is `sha256`, if the registry knows it.
    async fn account_of_key(&self, sha256: &str) -> Result<Option<String>, RegistryError> {
        Ok(self
            .load()
            .await?
            .keys
            .get(sha256)
            .map(|k| k.account.clone()))
    }

    /// Everything about one account, read again.
    async fn load_account(&self, account: &str) -> Result<AccountRecords, RegistryError> {
        let records = self.load().await?;
        Ok(AccountRecords {
            account: records.accounts.get(account).cloned(),
            keys: records.keys_of(account).cloned().collect(),
            generation: records.generations.get(account).copied().unwrap_or(0),
        })
    }
}

/// Records held in this process only: lost at exit. For a gateway whose configuration
/// names no state file (tests, demos).
#[derive(Debug, Default)]
pub struct VolatileRegistry {
    /// The records.
    records: Mutex<Records>,
}

#[async_trait]
impl Registry for VolatileRegistry {
    fn name(&self) -> &'static str {
        "volatile"
    }

    async fn load(&self) -> Result<Records, RegistryError> {
        Ok(self.records.lock().map(|r| r.clone()).unwrap_or_default())
    }

    async fn put_key(&self, record: &KeyRecord) -> Result<(), RegistryError> {
        if let Ok(mut records) = self.records.lock() {
            records.keys.insert(record.sha256.clone(), record.clone());
        }
        Ok(())
    }

    async fn put_account(&self, record: &AccountRecord) -> Result<(), RegistryError> {
        if let Ok(mut records) = self.records.lock() {
            records.accounts.insert(record.id.clone(), record.clone());
        }
        Ok(())
    }
}
