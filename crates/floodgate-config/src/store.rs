//! `[store]`: the memory store, or Redis / Redis Cluster with its URLs and timeouts.
//!
//! The URLs are checked for their form only (scheme, host, port): whether Redis answers is
//! the server's business at start-up, so a config can be checked on a machine without
//! Redis. A password in a URL never appears in a message.

use crate::error::Diagnostics;
use crate::quantity;
use crate::raw::RawStore;
use crate::resolved::{RedisNodes, RedisStoreConfig, StoreConfig};
use serde_spanned::Spanned;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The bound on one Redis call when the config gives none.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How often a degraded instance tries Redis again when the config gives none.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Checks `[store]`; on an error the memory store is returned (never used: the load fails).
pub(crate) fn store(d: &mut Diagnostics<'_>, raw: &RawStore) -> StoreConfig {
    let kind = raw.kind.as_ref().map_or("memory", |k| k.get_ref().as_str());
    match kind {
        "memory" => {
            let redis_only = [
                ("url", raw.url.as_ref().map(Spanned::span)),
                ("cluster", raw.cluster.as_ref().map(Spanned::span)),
                ("timeout", raw.timeout.as_ref().map(Spanned::span)),
                (
                    "probe_interval",
                    raw.probe_interval.as_ref().map(Spanned::span),
                ),
            ];
            for (field, span) in redis_only {
                if let Some(span) = span {
                    d.at(
                        &span,
                        format!("store.{field}: only a redis store takes it; set kind = \"redis\""),
                    );
                }
            }
            StoreConfig::Memory
        }
        "redis" => redis(d, raw).map_or(StoreConfig::Memory, StoreConfig::Redis),
        other => {
            let span = raw.kind.as_ref().map(Spanned::span).unwrap_or_default();
            d.at(
                &span,
                format!("store.kind: unknown store '{other}' (expected memory or redis)"),
            );
            StoreConfig::Memory
        }
    }
}

fn redis(d: &mut Diagnostics<'_>, raw: &RawStore) -> Option<RedisStoreConfig> {
    let before = d.len();
    let kind_span = raw.kind.as_ref().map(Spanned::span).unwrap_or_default();
    let nodes = match (&raw.url, &raw.cluster) {
        (Some(url), None) => {
            check_url(d, url, "store.url");
            RedisNodes::Single(url.get_ref().clone())
        }
        (None, Some(list)) => {
            if list.get_ref().is_empty() {
                d.at(
                    &list.span(),
                    "store.cluster: list at least one node, e.g. [\"redis://10.0.0.5:7000\"]",
                );
            }
            for (i, url) in list.get_ref().iter().enumerate() {
                check_url(d, url, &format!("store.cluster[{i}]"));
            }
            RedisNodes::Cluster(list.get_ref().iter().map(|u| u.get_ref().clone()).collect())
        }
        (Some(_), Some(list)) => {
            d.at(
                &list.span(),
                "store.cluster: give either url (one server) or cluster (its nodes), not both",
            );
            return None;
        }
        (None, None) => {
            d.at(
                &kind_span,
                "store.url: a redis store needs url = \"redis://host:port\" or cluster = [\"redis://host:port\", ...]",
            );
            return None;
        }
    };
    let timeout = duration(
        d,
        raw.timeout.as_ref(),
        "store.timeout",
        DEFAULT_REDIS_TIMEOUT,
    );
    let probe_interval = duration(
        d,
        raw.probe_interval.as_ref(),
        "store.probe_interval",
        DEFAULT_PROBE_INTERVAL,
    );
    (d.len() == before).then_some(RedisStoreConfig {
        nodes,
        timeout,
        probe_interval,
    })
}

/// `[store] path`: the embedded store's file, relative to the config file's directory.
/// Only the memory store has one: a Redis store keeps its state in Redis.
pub(crate) fn state_file(
    d: &mut Diagnostics<'_>,
    raw: &RawStore,
    store: &StoreConfig,
    file: &Path,
) -> Option<PathBuf> {
    let path = raw.path.as_ref()?;
    if !matches!(store, StoreConfig::Memory) {
        d.at(
            &path.span(),
            "store.path: only the memory store keeps a file; a redis store keeps its state in Redis",
        );
        return None;
    }
    let text = path.get_ref().trim();
    if text.is_empty() {
        d.at(
            &path.span(),
            "store.path: must not be empty, e.g. \"floodgate.redb\"",
        );
        return None;
    }
    let base = file.parent().unwrap_or_else(|| Path::new(""));
    Some(base.join(text))
}

fn duration(
    d: &mut Diagnostics<'_>,
    raw: Option<&Spanned<String>>,
    field: &str,
    default: Duration,
) -> Duration {
    let Some(raw) = raw else { return default };
    match quantity::duration(raw.get_ref()) {
        Ok(nanos) => Duration::from_nanos(nanos),
        Err(e) => {
            d.at(&raw.span(), format!("{field}: {e}"));
            default
        }
    }
}

/// Reports `url` unless it reads `redis[s]://[userinfo@]host[:port][/db]`.
fn check_url(d: &mut Diagnostics<'_>, url: &Spanned<String>, field: &str) {
    if let Err(reason) = url_problem(url.get_ref()) {
        d.at(
            &url.span(),
            format!(
                "{field}: {reason}; expected a URL such as \"redis://127.0.0.1:6379\" (rediss:// for TLS, redis://:password@host:port with a password), found \"{}\"",
                redact(url.get_ref())
            ),
        );
    }
}

fn url_problem(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
        .ok_or("the scheme must be redis:// or rediss://")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or("an IPv6 host needs its ']'")?;
            (host, after.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err("the host is missing");
    }
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err("the port must be a number from 1 to 65535");
    }
    let db = rest[authority.len()..]
        .split('?')
        .next()
        .unwrap_or_default();
    let db = db.strip_prefix('/').unwrap_or(db);
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err("the database after the '/' must be a number");
    }
    Ok(())
}

/// The URL with its password, if any, replaced by `***`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_every_accepted_form() {
        for ok in [
            "redis://127.0.0.1:6379",
            "redis://localhost",
            "rediss://cache.internal:6380/2",
            "redis://:pw@10.0.0.5:6379/0",
            "redis://user:p%40ss@host:1",
            "redis://[::1]:6379",
        ] {
            assert_eq!(url_problem(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:6379",
            "127.0.0.1:6379",
            "redis://",
            "redis://:pw@:6379",
            "redis://host:port",
            "redis://host:0",
            "redis://host:6379/db",
            "redis://[::1:6379",
        ] {
            assert!(url_problem(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("redis://:pw@h:1"), "redis://:***@h:1");
        assert_eq!(redact("redis://u:pw@h:1"), "redis://u:***@h:1");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }
}
