//! [`Directory`]: the admin records in force and the registry that keeps them, with the
//! lock that makes admin changes one at a time (so two changes to one account never
//! overwrite each other's record).

use floodgate_config::Config;
use floodgate_registry::{AccountRecord, KeyRecord, Records, Registry, RegistryError};
use std::sync::{Arc, Mutex, PoisonError};

/// One admin change: the records to write.
#[derive(Debug, Default)]
pub(crate) struct Change {
    /// An account record to write first (a new account's tier, say).
    pub(crate) account: Option<AccountRecord>,
    /// A key record to write.
    pub(crate) key: Option<KeyRecord>,
}

/// The file's configuration and the records, as last installed.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    /// The configuration as the file says.
    pub(crate) base: Config,
    /// The admin records.
    pub(crate) records: Records,
}

/// The records in force and where they are kept.
pub struct Directory {
    /// Where records are kept.
    registry: Arc<dyn Registry>,
    /// Held for the whole of one change, registry write included.
    writer: tokio::sync::Mutex<()>,
    /// What is installed now.
    current: Mutex<Current>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("registry", &self.registry.name())
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// A directory over `base` with `records` already loaded from `registry`.
    pub(crate) fn new(registry: Arc<dyn Registry>, base: Config, records: Records) -> Self {
        Self {
            registry,
            writer: tokio::sync::Mutex::new(()),
            current: Mutex::new(Current { base, records }),
        }
    }

    /// What is installed now.
    pub(crate) fn current(&self) -> Current {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the file's configuration; `install` gets the new current state under the
    /// lock, so a concurrent admin change cannot be lost between the two.
    pub(crate) fn set_base<E>(
        &self,
        base: Config,
        install: impl FnOnce(&Current) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let next = Current {
            base,
            records: current.records.clone(),
        };
        install(&next)?;
        *current = next;
        Ok(())
    }

    /// Makes one change: `decide` sees the current state and says what to write (or why
    /// not); the records are written durably, then `install`ed. Returns what `decide`
    /// returned beside the change.
    pub(crate) async fn change<T>(
        &self,
        decide: impl FnOnce(&Current) -> Result<(Change, T), crate::admin::AdminError>,
        install: impl FnOnce(&Current),
    ) -> Result<T, crate::admin::AdminError> {
        let _one_at_a_time = self.writer.lock().await;
        let (change, out) = decide(&self.current())?;
        let unavailable = |e: RegistryError| crate::admin::AdminError::Unavailable(e.to_string());
        if let Some(account) = &change.account {
            self.registry
                .put_account(account)
                .await
                .map_err(unavailable)?;
        }
        if let Some(key) = &change.key {
            self.registry.put_key(key).await.map_err(unavailable)?;
        }
        // A shared registry bumped the account's generation: read it back with the
        // records, so this instance's next decision is not needlessly stale.
        let account = change
            .account
            .as_ref()
            .map(|a| a.id.clone())
            .or_else(|| change.key.as_ref().map(|k| k.account.clone()));
        let fresh = match account.filter(|_| self.registry.shared()) {
            Some(account) => Some((
                self.registry
                    .load_account(&account)
                    .await
                    .map_err(unavailable)?,
                account,
            )),
            None => None,
        };
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(account) = change.account {
            current.records.accounts.insert(account.id.clone(), account);
        }
        if let Some(key) = change.key {
            current.records.keys.insert(key.sha256.clone(), key);
        }
        if let Some((fresh, account)) = fresh {
            current.records.replace_account(&account, fresh);
        }
        install(&current);
        Ok(out)
    }

    /// Whether other instances change the same records.
    pub(crate) fn shared(&self) -> bool {
        self.registry.shared()
    }

    /// Reads `account`'s records again, unless they moved past `seen` (the generation a
    /// stale decision was made under) since; installs them.
    pub(crate) async fn refresh_account(
        &self,
        account: &str,
        seen: u64,
        install: impl FnOnce(&Current),
    ) -> Result<(), RegistryError> {
        let _one_at_a_time = self.writer.lock().await;
        if self.generation(account) != seen {
            return Ok(());
        }
        let fresh = self.registry.load_account(account).await?;
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.records.replace_account(account, fresh);
        install(&current);
        Ok(())
    }

    /// The account of a key this instance does not know, if the shared registry does.
    pub(crate) async fn account_of_key(
        &self,
        sha256: &str,
    ) -> Result<Option<String>, RegistryError> {
        self.registry.account_of_key(sha256).await
    }

    /// The generation of `account`'s records installed here.
    pub(crate) fn generation(&self, account: &str) -> u64 {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .records
            .generations
            .get(account)
            .copied()
            .unwrap_or(0)
    }

    /// Reads every record from the registry again (another instance changed some) and
    /// installs them.
    pub(crate) async fn reload(&self, install: impl FnOnce(&Current)) -> Result<(), RegistryError> {
        let _one_at_a_time = self.writer.lock().await;
        let records = self.registry.load().await?;
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.records = records;
        install(&current);
        Ok(())
    }
}
