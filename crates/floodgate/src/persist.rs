//! The embedded store's file (`[store] path`) for the memory store: admin records and
//! counter snapshots are loaded from it at start-up, counters are saved to it every
//! second while serving and in full at a graceful stop.

use floodgate_registry::{restore_counters, CounterSaver, StateFile, SAVE_INTERVAL};
use floodgate_store::MemoryStore;
use std::path::Path;
use std::sync::Arc;

/// Saving of one memory store's counters to its file.
pub(crate) struct Persistence {
    /// The saver, shared with the periodic task.
    saver: Arc<CounterSaver>,
}

impl Persistence {
    /// Opens (or creates) the file at `path` and restores its counters into `store`.
    /// Returns the file (the admin registry) and the saver.
    pub(crate) fn open(path: &Path, store: &Arc<MemoryStore>) -> anyhow::Result<(StateFile, Self)> {
        let file = StateFile::open(path)?;
        let restored = restore_counters(&file, store)?;
        tracing::info!(
            file = %path.display(),
            subjects = restored,
            save_interval_ms = SAVE_INTERVAL.as_millis(),
            "counters and admin changes kept in the state file"
        );
        let saver = Arc::new(CounterSaver::new(Arc::clone(store), file.clone())?);
        Ok((file, Self { saver }))
    }

    /// Starts saving what changed every second; the task ends with the runtime.
    pub(crate) fn start(&self) -> tokio::task::JoinHandle<()> {
        self.saver.spawn()
    }

    /// Saves everything not yet saved (at a graceful stop, once requests have drained).
    pub(crate) fn finish(&self) -> anyhow::Result<()> {
        let (written, deleted) = self.saver.save()?;
        tracing::info!(written, deleted, "counters saved");
        Ok(())
    }
}
