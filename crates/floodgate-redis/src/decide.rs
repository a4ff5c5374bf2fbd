//! One decision on Redis: a single script on a single server; on a cluster, global
//! reservations first, then the account's script, then refunds if it refused.
//!
//! Why this keeps all-or-nothing on a cluster: each part consumes only if everything
//! before it was consumed and its own limits all fit; a part that cannot consume still
//! runs (as a check) so the decision reports every dimension and the longest wait. When
//! a later part refuses, the earlier parts' reservations are given back by the refund
//! script, which subtracts exactly what was taken. Between the reservation and its
//! refund, the global counter briefly holds units for a request that will be refused:
//! a concurrent request may then be refused for capacity it could have had, but no
//! request is ever admitted beyond a limit.

use crate::batch::{Batcher, Call, LimitArg};
use crate::batch_args;
use crate::error::millis;
use crate::keys;
use crate::reply::{self, Check, Reader};
use crate::scripts::{amount, push_limit, Params};
use crate::store::RedisStore;
use floodgate_core::{Decision, DimensionStatus, Limit, Nanos, NANOS_PER_SEC};
use floodgate_store::{DecideRequest, StoreError};
use std::sync::Arc;

/// A part that consumed, and the server time it did so at.
struct Reservation {
    part: usize,
    at: Nanos,
}

impl RedisStore {
    /// [`floodgate_store::Store::decide`] on Redis; with `generation`, the account's part
    /// first checks that the account's admin records are still at that generation
    /// ([`StoreError::Stale`] otherwise, after giving back any global reservation).
    pub(crate) async fn decide_on_redis(
        &self,
        request: &DecideRequest<'_>,
        generation: Option<u64>,
    ) -> Result<Decision, StoreError> {
        let limits = request.limits;
        let subjects = request.subjects;
        let mut parts = crate::plan::split(&subjects, limits.iter().enumerate(), self.cluster);
        // A lone part (always, on one server) is never refunded, so its hash names and the
        // lease id move into its call instead of being copied.
        let lone = parts.len() == 1;
        let mut lease = request.lease.0.to_string();
        let mut checks = vec![Check::Fits; limits.len()];
        let mut dimensions = vec![
            DimensionStatus {
                max: 0,
                remaining: 0,
                reset_after: 0,
            };
            limits.len()
        ];
        // On one server the decision script reads the block itself; on a cluster the
        // abuse hash lives in the key's own slot and is read first.
        let abuse_hash = request.abuse.map(|_| keys::abuse_hash(subjects.key));
        let mut blocked = None;
        if let (true, Some(hash)) = (self.cluster, &abuse_hash) {
            blocked = self.read_block(hash).await?;
        }
        let inline_abuse = if self.cluster { None } else { abuse_hash };

        let mut go = blocked.is_none();
        let mut stale = false;
        let mut at = 0;
        let mut reservations = Vec::new();
        // The guard rides on the part in the account's slot (the only part on one server).
        let records = generation.map(|_| crate::registry::records_hash(subjects.account));
        for (p, part) in parts.iter_mut().enumerate() {
            let (slot, keys, lease) = if lone {
                (
                    std::mem::take(&mut part.tag),
                    std::mem::take(&mut part.keys),
                    std::mem::take(&mut lease),
                )
            } else {
                (part.tag.clone(), part.keys.clone(), lease.clone())
            };
            let mut call = Call {
                slot,
                keys,
                consume: go,
                lease,
                abuse: 0,
                guard: None,
                limits: Vec::with_capacity(part.limits.len()),
            };
            if let Some(hash) = &inline_abuse {
                call.abuse = call.key_index(hash);
            }
            let guard = generation.zip(records.as_ref()).filter(|_| !part.global);
            if let Some((generation, records)) = guard {
                call.guard = Some((call.key_index(records), generation));
            }
            for &(i, key_index) in &part.limits {
                let limit = &limits[i];
                call.limits.push(LimitArg {
                    key: key_index,
                    field: Arc::clone(&limit.slot),
                    params: Params::of(limit),
                    amount: amount(request.costs.get(limit.unit)),
                    shadow: limit.shadow,
                });
            }
            let values = self.decide_call(call).await?;
            if guard.is_some() && values == [-1] {
                stale = true;
                go = false;
                break;
            }
            let mut reply = Reader::new(&values);
            at = reply.time()?;
            let consumed = reply.flag()?;
            if let Some(wait) = reply.optional_wait()? {
                blocked = Some(wait);
            }
            for &(i, _) in &part.limits {
                checks[i] = reply.check()?;
                dimensions[i] = reply.status(&limits[i])?;
            }
            if consumed {
                reservations.push(Reservation { part: p, at });
            }
            go &= consumed;
        }

        if !go {
            for reservation in &reservations {
                let part = &parts[reservation.part];
                let statuses = self
                    .refund(request, part, &checks, reservation.at, &lease)
                    .await?;
                for (&(i, _), status) in part.limits.iter().zip(statuses) {
                    dimensions[i] = status;
                }
            }
        }
        if stale {
            return Err(StoreError::Stale);
        }
        Ok(reply::decision(limits, &checks, dimensions, blocked, at))
    }

    /// Runs one decision part in the batcher's next round (see [`crate::batch`]),
    /// bounded by the timeout.
    async fn decide_call(&self, call: Call) -> Result<Vec<i64>, StoreError> {
        let batcher = self
            .batcher
            .get_or_init(|| Batcher::start(Arc::clone(&self.link)));
        let timeout = self.link.timeout;
        match tokio::time::timeout(timeout, batcher.decide(call)).await {
            Err(_) => Err(StoreError::Timeout(millis(timeout))),
            Ok(Ok(reply)) => reply,
            Ok(Err(returned)) => self.decide_alone(returned).await,
        }
    }

    /// Runs one decision part as its own script call.
    async fn decide_alone(&self, call: Call) -> Result<Vec<i64>, StoreError> {
        let calls = [&call];
        let (invocation, layout) = batch_args::invocation(&self.link.scripts.decide, &calls);
        let values: Vec<i64> = self.run(&invocation).await?;
        batch_args::split(&values, &calls, &layout)
            .pop()
            .unwrap_or_else(|| Err(StoreError::Backend("no decision reply".to_owned())))
    }

    /// Gives back what `part` consumed for `request` at `reserved_at` (every limit that
    /// fit); returns where its limits stand afterwards.
    async fn refund(
        &self,
        request: &DecideRequest<'_>,
        part: &crate::plan::Part,
        checks: &[Check],
        reserved_at: Nanos,
        lease: &str,
    ) -> Result<Vec<DimensionStatus>, StoreError> {
        let limits: &[Limit] = request.limits;
        let mut invocation = self.link.scripts.settle.prepare_invoke();
        for key in &part.keys {
            invocation.key(key);
        }
        invocation
            .arg(reserved_at / NANOS_PER_SEC)
            .arg(reserved_at % NANOS_PER_SEC)
            .arg(lease);
        for &(i, key_index) in &part.limits {
            let limit = &limits[i];
            // A shadowed limit that would have refused took nothing.
            let taken = match checks[i] {
                Check::Fits => amount(request.costs.get(limit.unit)),
                _ => 0,
            };
            push_limit(&mut invocation, key_index, limit, -taken);
        }
        let values: Vec<i64> = self.run(&invocation).await?;
        let mut reply = Reader::new(&values);
        reply.time()?;
        part.limits
            .iter()
            .map(|&(i, _)| reply.status(&limits[i]))
            .collect()
    }

    /// Time left on an abuse block of the key whose abuse hash is `hash`.
    pub(crate) async fn read_block(&self, hash: &str) -> Result<Option<Nanos>, StoreError> {
        let mut invocation = self.link.scripts.inspect.key(hash);
        invocation.arg(1);
        let values: Vec<i64> = self.run(&invocation).await?;
        let mut reply = Reader::new(&values);
        reply.time()?;
        reply.optional_wait()
    }
}
