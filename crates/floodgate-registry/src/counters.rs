//! The memory store's counters in the state file: how a subject's state is encoded,
//! [`CounterSaver`] (what changed, at least every [`SAVE_INTERVAL`], and everything at a
//! graceful stop) and [`restore_counters`] at start-up.
//!
//! Durability window: a `kill -9` (or power loss) loses the counter updates made since
//! the last save, at most one [`SAVE_INTERVAL`] plus the time one save takes; admin
//! records are not affected (each is committed before the admin API answers).

use crate::file::StateFile;
use crate::registry::RegistryError;
use floodgate_core::lease::Lease;
use floodgate_core::{AbuseState, CounterState, LeaseId, Nanos};
use floodgate_store::memory::SubjectState;
use floodgate_store::MemoryStore;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often counters are saved while the gateway runs.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// One counter as saved.
#[derive(Debug, Serialize, Deserialize)]
enum SavedCounter {
    /// Nothing consumed.
    Fresh,
    /// A rolling limit's theoretical arrival time.
    Gcra(Nanos),
    /// A calendar quota: period end, units used.
    Quota(Nanos, u64),
    /// Leases: (id, slots, expiry).
    Leases(Vec<(u64, u64, Nanos)>),
}

/// One subject as saved.
#[derive(Debug, Serialize, Deserialize)]
struct SavedSubject {
    /// Counters by slot.
    counters: Vec<(String, SavedCounter)>,
    /// Abuse state: failure times, blocked until, the rule's window.
    abuse: Option<(Vec<Nanos>, Nanos, Nanos)>,
}

fn encode(state: &SubjectState) -> Vec<u8> {
    let saved = SavedSubject {
        counters: state
            .counters
            .iter()
            .map(|(slot, counter)| {
                let counter = match counter {
                    CounterState::Fresh => SavedCounter::Fresh,
                    CounterState::Gcra { tat } => SavedCounter::Gcra(*tat),
                    CounterState::Quota { period_end, used } => {
                        SavedCounter::Quota(*period_end, *used)
                    }
                    CounterState::Leases(leases) => SavedCounter::Leases(
                        leases
                            .iter()
                            .map(|l| (l.id.0, l.slots, l.expires))
                            .collect(),
                    ),
                };
                (slot.to_string(), counter)
            })
            .collect(),
        abuse: state.abuse.as_ref().map(|(abuse, window)| {
            (
                abuse.failures.iter().copied().collect(),
                abuse.blocked_until,
                *window,
            )
        }),
    };
    serde_json::to_vec(&saved).unwrap_or_default()
}

fn decode(subject: &str, bytes: &[u8]) -> Result<SubjectState, RegistryError> {
    let saved: SavedSubject =
        serde_json::from_slice(bytes).map_err(|e| RegistryError::Corrupt {
            name: subject.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(SubjectState {
        subject: subject.to_owned(),
        counters: saved
            .counters
            .into_iter()
            .map(|(slot, counter)| {
                let counter = match counter {
                    SavedCounter::Fresh => CounterState::Fresh,
                    SavedCounter::Gcra(tat) => CounterState::Gcra { tat },
                    SavedCounter::Quota(period_end, used) => {
                        CounterState::Quota { period_end, used }
                    }
                    SavedCounter::Leases(leases) => CounterState::Leases(
                        leases
                            .into_iter()
                            .map(|(id, slots, expires)| Lease {
                                id: LeaseId(id),
                                slots,
                                expires,
                            })
                            .collect(),
                    ),
                };
                (slot.into(), counter)
            })
            .collect(),
        abuse: saved.abuse.map(|(failures, blocked_until, window)| {
            (
                AbuseState {
                    failures: failures.into(),
                    blocked_until,
                },
                window,
            )
        }),
    })
}

/// Loads the saved counters into `store` (at start-up, before it serves); returns how
/// many subjects were restored. An unreadable row is skipped with a warning rather than
/// keeping the gateway from starting.
pub fn restore_counters(file: &StateFile, store: &MemoryStore) -> Result<usize, RegistryError> {
    let mut states = Vec::new();
    for (subject, bytes) in file.counter_rows()? {
        match decode(&subject, &bytes) {
            Ok(state) => states.push(state),
            Err(e) => tracing::warn!(error = %e, "skipping a saved counter"),
        }
    }
    let restored = states.len();
    store.import(states);
    Ok(restored)
}

/// Saves the memory store's counters to the state file: only subjects whose state changed
/// since the last save are written, and subjects that became idle are deleted.
pub struct CounterSaver {
    /// The counters.
    store: Arc<MemoryStore>,
    /// The file.
    file: StateFile,
    /// What the file holds, as last written, to write only what changed.
    written: Mutex<HashMap<String, Vec<u8>>>,
}

impl std::fmt::Debug for CounterSaver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterSaver")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl CounterSaver {
    /// A saver of `store` into `file`, which knows what the file holds now.
    pub fn new(store: Arc<MemoryStore>, file: StateFile) -> Result<Self, RegistryError> {
        let written = file.counter_rows()?.into_iter().collect();
        Ok(Self {
            store,
            file,
            written: Mutex::new(written),
        })
    }

    /// Saves what changed since the last save, in one transaction; returns how many
    /// subjects were written and deleted.
    pub fn save(&self) -> Result<(usize, usize), RegistryError> {
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut now: HashMap<String, Vec<u8>> = HashMap::new();
        for state in self.store.export() {
            let bytes = encode(&state);
            now.insert(state.subject, bytes);
        }
        let puts: Vec<(String, Vec<u8>)> = now
            .iter()
            .filter(|(subject, bytes)| written.get(*subject) != Some(*bytes))
            .map(|(s, b)| (s.clone(), b.clone()))
            .collect();
        let deletes: Vec<String> = written
            .keys()
            .filter(|subject| !now.contains_key(*subject))
            .cloned()
            .collect();
        if puts.is_empty() && deletes.is_empty() {
            return Ok((0, 0));
        }
        self.file.write_counters(&puts, &deletes)?;
        *written = now;
        Ok((puts.len(), deletes.len()))
    }

    /// Saves every [`SAVE_INTERVAL`] until the task is aborted; a failed save is logged
    /// and tried again at the next tick.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let saver = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAVE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let saver = Arc::clone(&saver);
                match tokio::task::spawn_blocking(move || saver.save()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "saving counters failed"),
                    Err(e) => tracing::warn!(error = %e, "saving counters failed"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{AbuseRule, Costs, FakeClock, Limit, Scope, Unit, Window, NANOS_PER_SEC};
    use floodgate_store::{DecideRequest, Subjects};

    #[test]
    fn saved_counters_come_back_and_only_changes_are_written() {
        let dir = std::env::temp_dir().join(format!("fg-counters-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("state.redb");
        let clock = Arc::new(FakeClock::new(1_700_000_000 * NANOS_PER_SEC));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let limits = [
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 5, "m"),
            Limit::new(
                Scope::Key,
                Unit::ConcurrentJobs,
                Window::Concurrent {
                    lease_ttl: 60 * NANOS_PER_SEC,
                },
                2,
                "m",
            ),
        ];
        let request = DecideRequest {
            subjects: Subjects {
                key: "k",
                account: "a",
            },
            limits: &limits,
            costs: &Costs::one_request(),
            lease: LeaseId(7),
            abuse: None,
        };
        assert!(store.decide_now(&request).allowed());
        let rule = AbuseRule {
            max_failures: 0,
            window: 30 * NANOS_PER_SEC,
            block: 30 * NANOS_PER_SEC,
        };
        store.record_failure_now("k2", &rule);

        let file = StateFile::open(&path).unwrap();
        let saver = CounterSaver::new(Arc::clone(&store), file.clone()).unwrap();
        assert_eq!(saver.save().unwrap(), (2, 0));
        assert_eq!(saver.save().unwrap(), (0, 0), "nothing changed");
        assert!(store.decide_now(&request).allowed());
        assert_eq!(saver.save().unwrap(), (1, 0), "only the key changed");

        let restored = MemoryStore::new(clock.clone());
        assert_eq!(restore_counters(&file, &restored).unwrap(), 2);
        assert_eq!(restored.export(), store.export());

        clock.advance(Duration::from_secs(120));
        assert_eq!(saver.save().unwrap(), (0, 2), "idle subjects are forgotten");
        drop((saver, file));
        let _ = std::fs::remove_dir_all(dir);
    }
}
