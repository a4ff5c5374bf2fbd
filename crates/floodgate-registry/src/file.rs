//! [`StateFile`]: the embedded store's one redb file. It holds the admin registry (each
//! change committed durably before the admin API answers) and the memory store's counter
//! snapshots (written by [`CounterSaver`](crate::CounterSaver)).
//!
//! redb gives transactions that are atomic and survive a crash at any point (copy-on-write
//! pages, checksummed commits), and locks the file so that two processes never share it.

use crate::records::{AccountRecord, KeyRecord, Records};
use crate::registry::{Registry, RegistryError};
use async_trait::async_trait;
use redb::{Database, ReadableTable, TableDefinition, TableError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Key records by SHA-256 (hex) -> JSON.
const KEYS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("keys");
/// Account records by id -> JSON.
const ACCOUNTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("accounts");
/// Counter snapshots by subject -> encoded state.
const COUNTERS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("counters");

fn file_error(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::File(e.to_string())
}

/// The embedded store's file.
#[derive(Clone)]
pub struct StateFile {
    /// The open database (shared with blocking tasks).
    db: Arc<Database>,
    /// Where it is, for messages.
    path: PathBuf,
}

impl std::fmt::Debug for StateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateFile")
            .field("path", &self.path)
            .finish()
    }
}

impl StateFile {
    /// Opens the file at `path`, creating it (and its directory) if missing. Fails if
    /// another process has it open.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| file_error(format!("{}: {e}", dir.display())))?;
        }
        let db =
            Database::create(path).map_err(|e| file_error(format!("{}: {e}", path.display())))?;
        Ok(Self {
            db: Arc::new(db),
            path: path.to_path_buf(),
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every row of `table` (none if it was never written).
    fn rows(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
    ) -> Result<Vec<(String, Vec<u8>)>, RegistryError> {
        let read = self.db.begin_read().map_err(file_error)?;
        let table = match read.open_table(table) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(file_error(e)),
        };
        let mut out = Vec::new();
        for row in table.iter().map_err(file_error)? {
            let (name, value) = row.map_err(file_error)?;
            out.push((name.value().to_owned(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// Writes `puts` and deletes `deletes` in `table`, in one durable transaction.
    fn write(
        &self,
        table: TableDefinition<'_, &str, &[u8]>,
        puts: &[(String, Vec<u8>)],
        deletes: &[String],
    ) -> Result<(), RegistryError> {
        let write = self.db.begin_write().map_err(file_error)?;
        {
            let mut t = write.open_table(table).map_err(file_error)?;
            for (name, value) in puts {
                t.insert(name.as_str(), value.as_slice())
                    .map_err(file_error)?;
            }
            for name in deletes {
                t.remove(name.as_str()).map_err(file_error)?;
            }
        }
        write.commit().map_err(file_error)
    }

    /// The saved counter snapshots, by subject.
    pub fn counter_rows(&self) -> Result<Vec<(String, Vec<u8>)>, RegistryError> {
        self.rows(COUNTERS)
    }

    /// Saves changed counter snapshots and forgets subjects that became idle.
    pub fn write_counters(
        &self,
        puts: &[(String, Vec<u8>)],
        deletes: &[String],
    ) -> Result<(), RegistryError> {
        self.write(COUNTERS, puts, deletes)
    }

    /// Every admin record, read synchronously.
    pub fn records(&self) -> Result<Records, RegistryError> {
        let mut records = Records::default();
        for (name, json) in self.rows(KEYS)? {
            let key: KeyRecord = decode(&name, &json)?;
            records.keys.insert(name, key);
        }
        for (name, json) in self.rows(ACCOUNTS)? {
            let account: AccountRecord = decode(&name, &json)?;
            records.accounts.insert(name, account);
        }
        Ok(records)
    }

    /// Runs `f` on a blocking thread: redb's commits wait for the disk.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&StateFile) -> Result<T, RegistryError> + Send + 'static,
    ) -> Result<T, RegistryError> {
        let file = self.clone();
        tokio::task::spawn_blocking(move || f(&file))
            .await
            .map_err(file_error)?
    }
}

fn decode<T: serde::de::DeserializeOwned>(name: &str, json: &[u8]) -> Result<T, RegistryError> {
    serde_json::from_slice(json).map_err(|e| RegistryError::Corrupt {
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Records are plain structs of strings, numbers and JSON values: always encodable.
    serde_json::to_vec(value).unwrap_or_default()
}

#[async_trait]
impl Registry for StateFile {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn load(&self) -> Result<Records, RegistryError> {
        self.blocking(StateFile::records).await
    }

    async fn put_key(&self, record: &KeyRecord) -> Result<(), RegistryError> {
        let row = vec![(record.sha256.clone(), encode(record))];
        self.blocking(move |f| f.write(KEYS, &row, &[])).await
    }

    async fn put_account(&self, record: &AccountRecord) -> Result<(), RegistryError> {
        let row = vec![(record.id.clone(), encode(record))];
        self.blocking(move |f| f.write(ACCOUNTS, &row, &[])).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopening_and_the_file_is_exclusive() {
        let dir = std::env::temp_dir().join(format!("fg-statefile-{}", std::process::id()));
        let path = dir.join("state.redb");
        let _ = std::fs::remove_file(&path);
        let file = StateFile::open(&path).unwrap();
        assert_eq!(file.load().await.unwrap(), Records::default());
        let key = KeyRecord {
            sha256: "ab".repeat(32),
            account: "acme".into(),
            name: "ci".into(),
            overrides: None,
            revoked: false,
            created: 1,
        };
        file.put_key(&key).await.unwrap();
        let account = AccountRecord {
            id: "acme".into(),
            tier: Some("premium".into()),
            overrides: Some(serde_json::json!({"limits": []})),
        };
        file.put_account(&account).await.unwrap();
        file.write_counters(&[("k1".into(), vec![1, 2, 3])], &[])
            .unwrap();
        assert!(StateFile::open(&path).is_err(), "one process at a time");
        drop(file);

        let again = StateFile::open(&path).unwrap();
        let records = again.load().await.unwrap();
        assert_eq!(records.keys[&key.sha256], key);
        assert_eq!(records.accounts["acme"], account);
        assert_eq!(
            again.counter_rows().unwrap(),
            [("k1".to_owned(), vec![1, 2, 3])]
        );
        again.write_counters(&[], &["k1".into()]).unwrap();
        assert!(again.counter_rows().unwrap().is_empty());
        drop(again);
        let _ = std::fs::remove_dir_all(dir);
    }
}
