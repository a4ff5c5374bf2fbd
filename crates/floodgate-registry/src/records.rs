//! What admin changes say: records of keys and accounts, layered over the config file.
//!
//! A record says only what the admin API changed: an account record without a tier keeps
//! the tier of the file, one without overrides keeps the file's overrides. Overrides are
//! kept as the JSON the API received (the shape of an `overrides` table of the file) and
//! checked again against each configuration installed, so a reload that removes a model
//! cannot leave a record that resolves against nothing.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A key created or changed through the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The 64-digit hex SHA-256 of the raw key (the raw key is never stored).
    pub sha256: String,
    /// The account that owns the key.
    pub account: String,
    /// A human label; never the key itself.
    #[serde(default)]
    pub name: String,
    /// Per-key overrides, as JSON; `None` keeps the file's (or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<serde_json::Value>,
    /// Revoked keys are refused (401) and stay listed as revoked.
    #[serde(default)]
    pub revoked: bool,
    /// When the record was created, in seconds since the Unix epoch.
    #[serde(default)]
    pub created: u64,
}

/// An account moved or granted overrides through the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The account's id.
    pub id: String,
    /// Its tier; `None` keeps the file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Its overrides, as JSON; `None` keeps the file's (or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<serde_json::Value>,
}

/// Every admin change in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    /// Key records by SHA-256 (hex).
    pub keys: BTreeMap<String, KeyRecord>,
    /// Account records by id.
    pub accounts: BTreeMap<String, AccountRecord>,
    /// Each account's generation in a shared registry (Redis): bumped by every change to
    /// the account or its keys, and checked by each decision so that an instance never
    /// decides under an account's stale records. Empty for a registry of one process.
    pub generations: BTreeMap<String, u64>,
}

/// One account's records, as a shared registry reads them again after a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountRecords {
    /// The account record, if there is one.
    pub account: Option<AccountRecord>,
    /// The account's key records.
    pub keys: Vec<KeyRecord>,
    /// The account's generation.
    pub generation: u64,
}

impl Records {
    /// Replaces everything about `account` with `fresh`.
    pub fn replace_account(&mut self, account: &str, fresh: AccountRecords) {
        self.keys.retain(|_, k| k.account != account);
        for key in fresh.keys {
            self.keys.insert(key.sha256.clone(), key);
        }
        match fresh.account {
            Some(record) => {
                self.accounts.insert(account.to_owned(), record);
            }
            None => {
                self.accounts.remove(account);
            }
        }
        self.generations
            .insert(account.to_owned(), fresh.generation);
    }

    /// The key records of `account`.
    pub fn keys_of<'a>(&'a self, account: &'a str) -> impl Iterator<Item = &'a KeyRecord> + 'a {
        self.keys.values().filter(move |k| k.account == account)
    }
}
