//! Concurrency slots held for the life of a proxied request.
//!
//! A [`LeaseGuard`] gives its slot back when dropped; the proxy ties it to the response
//! body, so the slot frees when the body ends or when the client goes away mid-stream and
//! hyper drops the body. Should the release itself fail, the lease still expires.

use floodgate_core::{LeaseId, Limit};
use floodgate_store::{Store, Subjects};
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A held lease, released on drop.
pub(crate) struct LeaseGuard {
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

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
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
        Self {
            store,
            key,
            account,
            limits,
            lease,
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = Arc::clone(&self.store);
        let key = Arc::clone(&self.key);
        let account = Arc::clone(&self.account);
        let limits = Arc::clone(&self.limits);
        let lease = self.lease;
        // Drop cannot await; a distributed store's release is a network call.
        runtime.spawn(async move {
            let subjects = Subjects {
                key: &key,
                account: &account,
            };
            if let Err(e) = store.release_lease(&subjects, &limits, lease).await {
                tracing::warn!(key = %key, error = %e, "releasing a concurrency slot failed; it will expire");
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
