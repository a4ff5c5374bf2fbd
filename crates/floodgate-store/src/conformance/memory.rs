//! The memory store's harness, on a fake clock or on the real one.

use super::Harness;
use crate::memory::MemoryStore;
use crate::store::Store;
use async_trait::async_trait;
use floodgate_core::{Clock, FakeClock, SystemClock, NANOS_PER_SEC};
use std::sync::Arc;
use std::time::Duration;

/// Runs the suite on a [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryHarness {
    store: Arc<MemoryStore>,
    /// `Some` when time is fake and moves only through [`Harness::advance`].
    fake: Option<FakeClock>,
}

impl MemoryHarness {
    /// A memory store on a fake clock that starts in the middle of a day near a month's
    /// end (2026-01-31T13:37:00Z), so calendar boundaries are neither at hand nor trivial.
    pub fn fake() -> Self {
        let clock = FakeClock::new(1_769_866_620 * NANOS_PER_SEC);
        Self {
            store: Arc::new(MemoryStore::new(Arc::new(clock.clone()))),
            fake: Some(clock),
        }
    }

    /// A memory store on the system clock, advanced by sleeping: the same conditions a
    /// store with a server's clock runs the suite under.
    pub fn real() -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            store: Arc::new(MemoryStore::new(clock)),
            fake: None,
        }
    }

    /// The store itself, for checks beyond the [`Store`] trait.
    pub fn memory_store(&self) -> &Arc<MemoryStore> {
        &self.store
    }
}

#[async_trait]
impl Harness for MemoryHarness {
    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn advance(&self, by: Duration) {
        match &self.fake {
            Some(clock) => clock.advance(by),
            None => tokio::time::sleep(by).await,
        }
    }

    fn frozen(&self) -> bool {
        self.fake.is_some()
    }
}
