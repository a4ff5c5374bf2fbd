//! Request bodies on their way upstream: streamed from the client (counting bytes against
//! the route's upload limit) or already buffered because the gateway had to read them.
//!
//! When a streamed body without Content-Length grows past the limit, the body fails with
//! [`BodyError::TooLarge`]: the upstream request is aborted there, nothing more is
//! forwarded, and the shared [`Overflow`] flag tells the proxy to answer 413.

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Why a request body stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The client sent more than the route accepts.
    #[error("request body exceeds {0} bytes")]
    TooLarge(u64),
    /// The client's connection failed while sending.
    #[error("client body: {0}")]
    Client(#[from] axum::Error),
}

/// Set when a streamed body went over its limit; read by the proxy after the upstream
/// call fails, to tell a 413 from an upstream failure.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overflow(Arc<AtomicBool>);

impl Overflow {
    /// Whether the limit was exceeded.
    pub(crate) fn happened(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Where the bytes come from.
#[derive(Debug)]
enum Source {
    /// The client's body, still arriving.
    Stream(Body),
    /// A body the gateway buffered; `None` once sent.
    Full(Option<Bytes>),
}

/// The body of a request sent upstream.
#[derive(Debug)]
pub(crate) struct UpstreamBody {
    /// The bytes.
    source: Source,
    /// The upload limit to enforce while streaming, if any.
    limit: Option<u64>,
    /// Bytes passed on so far.
    seen: u64,
    /// Raised when the limit is exceeded (only for limited streams).
    overflow: Option<Overflow>,
}

impl UpstreamBody {
    /// A client body streamed through, failing once it exceeds `limit` bytes.
    pub(crate) fn stream(body: Body, limit: Option<u64>) -> (Self, Option<Overflow>) {
        let overflow = limit.map(|_| Overflow::default());
        let body = Self {
            source: Source::Stream(body),
            limit,
            seen: 0,
            overflow: overflow.clone(),
        };
        (body, overflow)
    }

    /// A body the gateway already holds.
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self {
            source: Source::Full(Some(bytes)),
            limit: None,
            seen: 0,
            overflow: None,
        }
    }
}

impl HttpBody for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        match &mut this.source {
            Source::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Source::Stream(body) => {
                let frame = match Pin::new(body).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                    Poll::Ready(Some(Ok(frame))) => frame,
                };
                if let (Some(limit), Some(data)) = (this.limit, frame.data_ref()) {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if this.seen > limit {
                        if let Some(flag) = &this.overflow {
                            flag.0.store(true, Ordering::Relaxed);
                        }
                        return Poll::Ready(Some(Err(BodyError::TooLarge(limit))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Full(bytes) => bytes.is_none(),
            Source::Stream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Source::Stream(body) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;

    /// A client body arriving in the given chunks, with no length known up front.
    struct Chunks(VecDeque<Bytes>);

    impl HttpBody for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.get_mut().0.pop_front().map(|b| Ok(Frame::data(b))))
        }
    }

    #[tokio::test]
    async fn a_stream_over_its_limit_fails_and_raises_the_flag() {
        let chunks = Chunks([Bytes::from_static(b"12345"), Bytes::from_static(b"678")].into());
        let (mut body, overflow) = UpstreamBody::stream(Body::new(chunks), Some(6));
        let overflow = overflow.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        assert!(!overflow.happened());
        assert!(matches!(
            body.frame().await.unwrap(),
            Err(BodyError::TooLarge(6))
        ));
        assert!(overflow.happened());
    }

    #[tokio::test]
    async fn a_full_body_is_sent_once_with_its_size() {
        let body = UpstreamBody::full(Bytes::from_static(b"{}"));
        assert_eq!(body.size_hint().exact(), Some(2));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "{}");
    }
}
