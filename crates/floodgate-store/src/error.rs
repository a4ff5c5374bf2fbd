//! Failures of a store backend. A rejected request is not an error.

/// What went wrong talking to a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached (connection refused, reset, cluster down).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend did not answer within the configured timeout.
    #[error("store timed out after {0} ms")]
    Timeout(u64),
    /// The backend answered something it should not have (a script error, a bad reply).
    #[error("store error: {0}")]
    Backend(String),
    /// The limits were resolved under admin records that have changed since (another
    /// instance changed the account): nothing was consumed; resolve again and retry.
    #[error("the account's admin records changed; resolve its limits again")]
    Stale,
}
