//! Concurrency slots held for the life of a proxied request.
//!
//! A [`LeaseGuard`] gives its slot back when dropped; the proxy ties it to the response
//! body, so the slot frees when the body ends or when the client goes away mid-stream and
//! hyper drops the body. While it is held, a background task renews the lease every half
//! TTL, so a response that outlives the TTL keeps its slot; should the gateway die, the
//! lease simply expires. An async job's submission instead hands its slot over to the
//! job's own lease ([`LeaseGuard::transfer`]), which polls renew and release.

use floodgate_core::{LeaseId, Limit, Window, NANOS_PER_SEC};
use floodgate_store::{Store, Subjects};
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::task::AbortHandle;

/// Who holds which slots, shared by the guard and its renewal task.
struct Holder {
    /// Where the slot is held.
    store: Arc<dyn Store>,
    /// The key's id (subject of key-scoped limits).
    key: Arc<str>,
    /// The account's id (subject of account-scoped limits).
    account: Arc<str>,
    /// The limits the decision took the slot on.
    limits: Arc<[Limit]>,
    /// The holder.
    lease: LeaseId,
}

impl Holder {
    fn subjects(&self) -> Subjects<'_> {
        Subjects {
            key: &self.key,
            account: &self.account,
        }
    }
}

/// A held lease, renewed while held and released on drop.
pub(crate) struct LeaseGuard {
    /// The lease.
    holder: Arc<Holder>,
    /// The renewal task, stopped with the guard.
    renewal: Option<AbortHandle>,
    /// Set once the slot moved to another lease: nothing is left to release.
    transferred: bool,
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard")
            .field("lease", &self.holder.lease)
            .finish_non_exhaustive()
    }
}

/// Renew at half the shortest TTL among `limits`' concurrency limits (at least 100 ms).
fn renew_every(limits: &[Limit]) -> Option<Duration> {
    limits
        .iter()
        .filter_map(|l| match l.window {
            Window::Concurrent { lease_ttl } => Some(lease_ttl),
            _ => None,
        })
        .min()
        .map(|ttl| Duration::from_nanos((ttl / 2).max(NANOS_PER_SEC / 10)))
}

impl LeaseGuard {
    /// Guards `lease`, taken on `limits` for `key` of `account`.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        key: Arc<str>,
        account: Arc<str>,
        limits: Arc<[Limit]>,
        lease: LeaseId,
    ) -> Self {
        let every = renew_every(&limits);
        let holder = Arc::new(Holder {
            store,
            key,
            account,
            limits,
            lease,
        });
        let renewal = every
            .zip(tokio::runtime::Handle::try_current().ok())
            .map(|(every, runtime)| {
                let holder = Arc::clone(&holder);
                runtime
                    .spawn(async move {
                        let mut tick = tokio::time::interval(every);
                        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        tick.tick().await;
                        loop {
                            tick.tick().await;
                            let renewed = holder
                                .store
                                .renew_lease(&holder.subjects(), &holder.limits, holder.lease)
                                .await;
                            match renewed {
                                Ok(true) => {}
                                Ok(false) => break,
                                Err(e) => {
                                    tracing::warn!(key = %holder.key, error = %e, "renewing a concurrency slot failed");
                                }
                            }
                        }
                    })
                    .abort_handle()
            });
        Self {
            holder,
            renewal,
            transferred: false,
        }
    }

    /// Hands the slot over to lease `to` (held for a full TTL from now); the guard is
    /// then spent. If the store moved nothing (the lease expired, or the store cannot
    /// transfer), the guard comes back to release as usual.
    pub(crate) async fn transfer(mut self, to: LeaseId) -> Option<Self> {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        let h = &self.holder;
        match h
            .store
            .transfer_lease(&h.subjects(), &h.limits, h.lease, to)
            .await
        {
            Ok(true) => {
                self.transferred = true;
                None
            }
            Ok(false) => Some(self),
            Err(e) => {
                tracing::warn!(key = %h.key, error = %e, "handing a job its concurrency slot failed; the slot is released");
                Some(self)
            }
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        if self.transferred {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let holder = Arc::clone(&self.holder);
        // Drop cannot await; a distributed store's release is a network call.
        runtime.spawn(async move {
            let released = holder
                .store
                .release_lease(&holder.subjects(), &holder.limits, holder.lease)
                .await;
            if let Err(e) = released {
                tracing::warn!(key = %holder.key, error = %e, "releasing a concurrency slot failed; it will expire");
            }
        });
    }
}

/// A response body that holds a lease until it ends or is dropped.
#[derive(Debug)]
pub(crate) struct GuardedBody<B> {
    /// The upstream's body.
    inner: B,
    /// Released at the end of the stream, or on drop.
    guard: Option<LeaseGuard>,
}

impl<B> GuardedBody<B> {
    /// Ties `guard` to `inner`.
    pub(crate) fn new(inner: B, guard: LeaseGuard) -> Self {
        Self {
            inner,
            guard: Some(guard),
        }
    }
}

impl<B: HttpBody + Unpin> HttpBody for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        // A body of known length is not polled again after its last frame.
        if let Poll::Ready(None | Some(Err(_))) = polled {
            this.guard = None;
        } else if this.inner.is_end_stream() {
            this.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
