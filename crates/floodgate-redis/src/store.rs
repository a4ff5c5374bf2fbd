//! [`RedisStore`]: the [`Store`] on a Redis server or a Redis Cluster.

use crate::batch::Batcher;
use crate::config::{RedisConfig, RedisTarget};
use crate::connection::Connection;
use crate::error::{millis, ConnectError};
use crate::keys;
use crate::link::Link;
use crate::plan::{self, Part};
use crate::reply::Reader;
use crate::scripts::{lua_i64, lua_u64, push_limit, Scripts};
use async_trait::async_trait;
use floodgate_core::{AbuseRule, Decision, LeaseId, Limit, Nanos, Window, NANOS_PER_SEC};
use floodgate_store::{DecideRequest, Inspection, SettleRequest, Store, StoreError, Subjects};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::OnceCell;

/// Counters on Redis, shared exactly by every instance that uses the same server or
/// cluster: each call is a Lua script that reads the server's clock and applies
/// [`floodgate_core`]'s rules atomically. See `docs/redis.md` for the key layout.
pub struct RedisStore {
    /// The connection, the scripts and the call timeout, shared with the batcher.
    pub(crate) link: Arc<Link>,
    /// Whether limits must be split by hash slot (see [`plan`]).
    pub(crate) cluster: bool,
    /// The task that coalesces concurrent decisions into shared script calls (see
    /// [`crate::batch`]); started by the first decision, inside its runtime.
    pub(crate) batcher: OnceLock<Batcher>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("cluster", &self.cluster)
            .field("timeout", &self.link.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the server or cluster of `config` and loads the scripts.
    pub async fn connect(config: &RedisConfig) -> Result<Self, ConnectError> {
        let store = Self::lazy(config)?;
        let connection = Connection::open(config, &store.link.scripts).await?;
        // A fresh cell has no value: setting it cannot fail.
        let _ = store.link.connection.set(connection);
        Ok(store)
    }

    /// A store that connects on its first call, so that a server can start while Redis
    /// is down (its failure policy applies until Redis answers). Only the URLs are
    /// checked here. Until a connection is made, each call tries to make one, within
    /// the call's timeout.
    pub fn lazy(config: &RedisConfig) -> Result<Self, ConnectError> {
        Connection::check(config)?;
        Ok(Self {
            link: Arc::new(Link {
                connection: OnceCell::new(),
                config: config.clone(),
                scripts: Scripts::new(),
                timeout: config.timeout,
            }),
            cluster: matches!(config.target, RedisTarget::Cluster(_)),
            batcher: OnceLock::new(),
        })
    }

    /// Runs one script call, connecting first if needed, all within the timeout.
    pub(crate) async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.link.run(invocation).await
    }

    /// Whether this store talks to a cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The bound on every call.
    pub fn timeout(&self) -> Duration {
        self.link.timeout
    }

    /// Runs a script over the parts of `limits`, `fill` adding each part's arguments;
    /// returns each part with its reply.
    async fn per_part<'p, T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        parts: &'p [Part],
        mut fill: impl FnMut(&Part, &mut redis::ScriptInvocation<'_>),
    ) -> Result<Vec<(&'p Part, T)>, StoreError> {
        let mut replies = Vec::with_capacity(parts.len());
        for part in parts {
            let mut invocation = script.prepare_invoke();
            for key in &part.keys {
                invocation.key(key);
            }
            fill(part, &mut invocation);
            replies.push((part, self.run(&invocation).await?));
        }
        Ok(replies)
    }

    /// Renews, releases or transfers (to `to`) `lease` on the concurrency limits among
    /// `limits`.
    async fn lease_call(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        lease: LeaseId,
        op: &str,
        to: Option<LeaseId>,
    ) -> Result<bool, StoreError> {
        let concurrency = limits
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l.window, Window::Concurrent { .. }));
        if concurrency.clone().next().is_none() {
            return Ok(false);
        }
        let parts = plan::split(subjects, concurrency, self.cluster);
        let id = lease.0.to_string();
        let to = to.map(|to| to.0.to_string()).unwrap_or_default();
        let replies: Vec<(&Part, i64)> = self
            .per_part(&self.link.scripts.lease, &parts, |part, invocation| {
                invocation.arg(op).arg(&id).arg(&to);
                for &(i, key_index) in &part.limits {
                    push_limit(invocation, key_index, &limits[i], 0);
                }
            })
            .await?;
        Ok(replies.iter().any(|(_, held)| *held == 1))
    }
}

#[async_trait]
impl Store for RedisStore {
    fn name(&self) -> &'static str {
        if self.cluster {
            "redis-cluster"
        } else {
            "redis"
        }
    }

    async fn decide(&self, request: &DecideRequest<'_>) -> Result<Decision, StoreError> {
        // On a cluster a decision may be several calls (a key's block, global
        // reservations, the account's script, refunds), each bounded by the timeout; the
        // whole is bounded too, so no request waits on Redis longer than the timeout. On
        // one server a decision is one call, already bounded: no second timer.
        if !self.cluster {
            return self.decide_on_redis(request, None).await;
        }
        tokio::time::timeout(self.link.timeout, self.decide_on_redis(request, None))
            .await
            .unwrap_or(Err(StoreError::Timeout(millis(self.link.timeout))))
    }

    async fn decide_at(
        &self,
        request: &DecideRequest<'_>,
        generation: u64,
    ) -> Result<Decision, StoreError> {
        if !self.cluster {
            return self.decide_on_redis(request, Some(generation)).await;
        }
        tokio::time::timeout(
            self.link.timeout,
            self.decide_on_redis(request, Some(generation)),
        )
        .await
        .unwrap_or(Err(StoreError::Timeout(millis(self.link.timeout))))
    }

    async fn settle(&self, request: &SettleRequest<'_>) -> Result<(), StoreError> {
        // Concurrency is released through leases and a zero delta changes nothing:
        // neither needs a round trip.
        let changes =
            request.adjustments.iter().enumerate().filter(|(_, a)| {
                a.delta != 0 && !matches!(a.limit.window, Window::Concurrent { .. })
            });
        if changes.clone().next().is_none() {
            return Ok(());
        }
        let parts = plan::split(
            &request.subjects,
            changes.map(|(i, a)| (i, a.limit)),
            self.cluster,
        );
        let at = request.reserved_at;
        let _: Vec<(&Part, Vec<i64>)> = self
            .per_part(&self.link.scripts.settle, &parts, |part, invocation| {
                invocation
                    .arg(at / NANOS_PER_SEC)
                    .arg(at % NANOS_PER_SEC)
                    .arg("");
                for &(i, key_index) in &part.limits {
                    let adjustment = &request.adjustments[i];
                    push_limit(
                        invocation,
                        key_index,
                        adjustment.limit,
                        lua_i64(adjustment.delta),
                    );
                }
            })
            .await?;
        Ok(())
    }

    async fn inspect(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
    ) -> Result<Inspection, StoreError> {
        let parts = plan::split(subjects, limits.iter().enumerate(), self.cluster);
        let abuse = keys::abuse_hash(subjects.key);
        let inline_abuse = !self.cluster;
        let replies: Vec<(&Part, Vec<i64>)> = self
            .per_part(&self.link.scripts.inspect, &parts, |part, invocation| {
                if inline_abuse {
                    invocation.key(&abuse).arg(part.keys.len() + 1);
                } else {
                    invocation.arg(0);
                }
                for &(i, key_index) in &part.limits {
                    push_limit(invocation, key_index, &limits[i], 0);
                }
            })
            .await?;
        let mut dimensions = vec![None; limits.len()];
        let mut at = 0;
        let mut blocked_for = None;
        for (part, values) in &replies {
            let mut reply = Reader::new(values);
            at = reply.time()?;
            blocked_for = blocked_for.or(reply.optional_wait()?);
            for &(i, _) in &part.limits {
                dimensions[i] = Some(reply.status(&limits[i])?);
            }
        }
        if !inline_abuse {
            blocked_for = self.read_block(&abuse).await?;
        }
        Ok(Inspection {
            at,
            dimensions: dimensions.into_iter().flatten().collect(),
            blocked_for,
        })
    }

    async fn renew_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        lease: LeaseId,
    ) -> Result<bool, StoreError> {
        self.lease_call(subjects, limits, lease, "renew", None)
            .await
    }

    async fn release_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        lease: LeaseId,
    ) -> Result<bool, StoreError> {
        self.lease_call(subjects, limits, lease, "release", None)
            .await
    }

    async fn transfer_lease(
        &self,
        subjects: &Subjects<'_>,
        limits: &[Limit],
        from: LeaseId,
        to: LeaseId,
    ) -> Result<bool, StoreError> {
        self.lease_call(subjects, limits, from, "transfer", Some(to))
            .await
    }

    async fn record_failure(
        &self,
        key: &str,
        rule: &AbuseRule,
    ) -> Result<Option<Nanos>, StoreError> {
        let hash = keys::abuse_hash(key);
        let mut invocation = self.link.scripts.failure.key(&hash);
        invocation
            .arg(rule.max_failures)
            .arg(lua_u64(rule.window))
            .arg(lua_u64(rule.block));
        let started: i64 = self.run(&invocation).await?;
        Ok((started >= 0).then(|| started.unsigned_abs()))
    }

    async fn clear_block(&self, key: &str) -> Result<(), StoreError> {
        let hash = keys::abuse_hash(key);
        let invocation = self.link.scripts.clear.key(&hash);
        let _: i64 = self.run(&invocation).await?;
        Ok(())
    }
}
