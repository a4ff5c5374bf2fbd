//! Errors of setting the store up, and how Redis's errors become [`StoreError`]s.

use floodgate_store::StoreError;
use redis::{ErrorKind, RedisError};
use std::time::Duration;

/// Why a Redis store could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The URL (or a cluster node's URL) is not a Redis URL.
    #[error("invalid redis url '{url}': {reason}")]
    InvalidUrl {
        /// The URL with any password hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No cluster node was given.
    #[error("a redis cluster needs at least one node url")]
    NoNodes,
    /// The server or cluster did not answer.
    #[error("redis unreachable: {0}")]
    Unreachable(String),
}

impl ConnectError {
    /// The HTTP status a server reports when its store cannot start.
    pub const fn status(&self) -> u16 {
        503
    }
}

/// A URL fit for logs and errors: the password, if any, replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => format!("{}***{}", &url[..scheme + 3], &url[at..]),
            }
        }
        _ => url.to_owned(),
    }
}

/// Maps a Redis error: whatever says the server or cluster cannot be reached or cannot
/// serve right now is [`StoreError::Unavailable`] (a failure policy applies), anything
/// else (a script error, a reply of the wrong shape) is [`StoreError::Backend`].
pub(crate) fn store_error(error: &RedisError, timeout: Duration) -> StoreError {
    if error.is_timeout() {
        return StoreError::Timeout(millis(timeout));
    }
    let unavailable = error.is_io_error()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.is_cluster_error()
        || matches!(
            error.kind(),
            ErrorKind::IoError
                | ErrorKind::ClusterDown
                | ErrorKind::MasterDown
                | ErrorKind::TryAgain
                | ErrorKind::BusyLoadingError
                | ErrorKind::ClusterConnectionNotFound
                | ErrorKind::ReadOnly
        );
    if unavailable {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Backend(error.to_string())
    }
}

/// A timeout as whole milliseconds, for [`StoreError::Timeout`].
pub(crate) fn millis(timeout: Duration) -> u64 {
    u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("redis://:s3cret@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact("rediss://user:pw@host:6380"),
            "rediss://user:***@host:6380"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn refused_connections_are_unavailable_and_script_errors_are_not() {
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            store_error(&io, Duration::from_millis(5)),
            StoreError::Unavailable(_)
        ));
        let script = RedisError::from((ErrorKind::ResponseError, "ERR user_script:1"));
        assert!(matches!(
            store_error(&script, Duration::from_millis(5)),
            StoreError::Backend(_)
        ));
    }
}
