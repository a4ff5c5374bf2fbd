//! Request bodies on their way upstream: streamed from the client (counting bytes against
//! the route's upload limit, and reading media durations against its duration limit) or
//! already buffered because the gateway had to read them.
//!
//! When a streamed body grows past the upload limit, or turns out to hold media longer
//! than the route accepts, the body fails: the upstream request is aborted there,
//! nothing more is forwarded, and the shared [`Cutoff`] tells the proxy which 413 to
//! answer. While a media check has not concluded, the newest chunk is held back, so a
//! file whose duration is only known at its end never reaches the upstream whole.

use crate::error::GatewayError;
use crate::media::{MediaCheck, Verdict};
use axum::body::Body;
use bytes::Bytes;
use floodgate_core::Nanos;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};

/// Why a request body stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The client sent more than the route accepts.
    #[error("request body exceeds {0} bytes")]
    TooLarge(u64),
    /// The body holds media longer than the route accepts.
    #[error("request body holds {0} s of media, over the limit")]
    TooLong(f64),
    /// The client's connection failed while sending.
    #[error("client body: {0}")]
    Client(#[from] axum::Error),
}

/// Which limit a streamed body broke.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cut {
    /// The upload limit, in bytes.
    TooLarge(u64),
    /// The duration limit: the media's duration in seconds, and the limit.
    TooLong { seconds: f64, limit: Nanos },
}

impl Cut {
    /// The error the client is answered with.
    pub(crate) fn error(self) -> GatewayError {
        match self {
            Cut::TooLarge(limit) => GatewayError::PayloadTooLarge {
                limit,
                what: " for uploads to this endpoint",
            },
            Cut::TooLong { seconds, limit } => GatewayError::MediaTooLong {
                millis: millis(seconds),
                limit,
            },
        }
    }
}

/// `seconds` in whole milliseconds (a duration read from a file is finite and positive;
/// anything else saturates).
pub(crate) fn millis(seconds: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ms = (seconds * 1000.0).round().clamp(0.0, u64::MAX as f64) as u64;
    ms
}

/// Set when a streamed body broke a limit; read by the proxy after the upstream call
/// fails, to tell a 413 from an upstream failure.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cutoff(Arc<OnceLock<Cut>>);

impl Cutoff {
    /// The limit broken, if one was.
    pub(crate) fn cut(&self) -> Option<Cut> {
        self.0.get().copied()
    }

    fn set(&self, cut: Cut) {
        // the first limit broken is the one the body stopped at
        let _ = self.0.set(cut);
    }
}

/// The byte count of a streamed body against its limit.
#[derive(Debug)]
struct Counter {
    /// The upload limit to enforce while streaming, if any.
    limit: Option<u64>,
    /// Bytes read so far.
    seen: u64,
    /// Raised when a limit is broken (for bodies with a limit or a media check).
    cutoff: Option<Cutoff>,
}

impl Counter {
    fn count(&mut self, len: usize) -> Result<(), BodyError> {
        if let Some(limit) = self.limit {
            self.seen = self.seen.saturating_add(len as u64);
            if self.seen > limit {
                self.cut(Cut::TooLarge(limit));
                return Err(BodyError::TooLarge(limit));
            }
        }
        Ok(())
    }

    fn cut(&self, cut: Cut) {
        if let Some(cutoff) = &self.cutoff {
            cutoff.set(cut);
        }
    }
}

/// A streamed body's media check, with the chunks it has seen and not yet passed on.
struct Inspection {
    check: MediaCheck,
    /// Chunks cleared to go, in order.
    ready: VecDeque<Frame<Bytes>>,
    /// The newest chunk, held back while the check has not concluded.
    held: Option<Frame<Bytes>>,
    /// Whether the client's body has ended.
    ended: bool,
    /// Bytes read from the client.
    pulled: u64,
}

impl std::fmt::Debug for Inspection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inspection")
            .field("check", &self.check)
            .field("ready", &self.ready.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Inspection {
    /// Reads the client's next frame into `ready` or `held`.
    fn pull(
        &mut self,
        body: &mut Body,
        cx: &mut Context<'_>,
        counter: &mut Counter,
    ) -> Poll<Result<(), BodyError>> {
        let frame = match ready!(Pin::new(body).poll_frame(cx)) {
            None => {
                self.ended = true;
                let verdict = self.check.finish();
                return Poll::Ready(self.release(verdict, None, counter));
            }
            Some(Err(e)) => return Poll::Ready(Err(e.into())),
            Some(Ok(frame)) => frame,
        };
        let verdict = match frame.data_ref() {
            Some(data) => {
                if let Err(e) = counter.count(data.len()) {
                    return Poll::Ready(Err(e));
                }
                self.pulled += data.len() as u64;
                self.check.feed(data)
            }
            // trailers come after the last chunk: the body is whole
            None => self.check.finish(),
        };
        Poll::Ready(self.release(verdict, Some(frame), counter))
    }

    /// Passes on what `verdict` allows, `frame` (the newest) included.
    fn release(
        &mut self,
        verdict: Verdict,
        frame: Option<Frame<Bytes>>,
        counter: &Counter,
    ) -> Result<(), BodyError> {
        match verdict {
            Verdict::TooLong(seconds) => {
                counter.cut(Cut::TooLong {
                    seconds,
                    limit: self.check.limit(),
                });
                Err(BodyError::TooLong(seconds))
            }
            Verdict::Pending => {
                if let Some(older) = std::mem::replace(&mut self.held, frame) {
                    self.ready.push_back(older);
                }
                Ok(())
            }
            Verdict::Fits => {
                self.ready.extend(self.held.take());
                self.ready.extend(frame);
                Ok(())
            }
        }
    }
}

/// Where the bytes come from.
#[derive(Debug)]
enum Source {
    /// The client's body, still arriving, and its media check if the route has one.
    Stream(Body, Option<Box<Inspection>>),
    /// A body the gateway buffered; `None` once sent.
    Full(Option<Bytes>),
}

/// The body of a request sent upstream.
#[derive(Debug)]
pub(crate) struct UpstreamBody {
    /// The bytes.
    source: Source,
    counter: Counter,
}

impl UpstreamBody {
    /// A client body streamed through, failing once it exceeds `limit` bytes.
    pub(crate) fn stream(body: Body, limit: Option<u64>) -> (Self, Option<Cutoff>) {
        let cutoff = limit.map(|_| Cutoff::default());
        let body = Self {
            source: Source::Stream(body, None),
            counter: Counter {
                limit,
                seen: 0,
                cutoff: cutoff.clone(),
            },
        };
        (body, cutoff)
    }

    /// A client body streamed through, failing once it exceeds `limit` bytes or `check`
    /// finds media over its limit.
    pub(crate) fn inspected(body: Body, limit: Option<u64>, check: MediaCheck) -> (Self, Cutoff) {
        let cutoff = Cutoff::default();
        let inspection = Inspection {
            check,
            ready: VecDeque::new(),
            held: None,
            ended: false,
            pulled: 0,
        };
        let body = Self {
            source: Source::Stream(body, Some(Box::new(inspection))),
            counter: Counter {
                limit,
                seen: 0,
                cutoff: Some(cutoff.clone()),
            },
        };
        (body, cutoff)
    }

    /// A body the gateway already holds.
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self {
            source: Source::Full(Some(bytes)),
            counter: Counter {
                limit: None,
                seen: 0,
                cutoff: None,
            },
        }
    }

    /// Reads up to `most` bytes ahead, before anything is sent, so that the media check
    /// can conclude from the file's header while the request can still be refused
    /// without being counted. Returns at once for a body without a check.
    pub(crate) async fn read_ahead(&mut self, most: u64) -> Result<(), BodyError> {
        std::future::poll_fn(|cx| self.poll_ahead(cx, most)).await
    }

    fn poll_ahead(&mut self, cx: &mut Context<'_>, most: u64) -> Poll<Result<(), BodyError>> {
        let Source::Stream(body, Some(inspection)) = &mut self.source else {
            return Poll::Ready(Ok(()));
        };
        loop {
            let pending = inspection.check.verdict() == Verdict::Pending;
            if inspection.ended || !pending || inspection.pulled >= most {
                return Poll::Ready(Ok(()));
            }
            ready!(inspection.pull(body, cx, &mut self.counter))?;
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
            Source::Stream(body, None) => {
                let frame = match Pin::new(body).poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                    Poll::Ready(Some(Ok(frame))) => frame,
                };
                if let Some(data) = frame.data_ref() {
                    if let Err(e) = this.counter.count(data.len()) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Source::Stream(body, Some(inspection)) => loop {
                if let Some(frame) = inspection.ready.pop_front() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                if inspection.ended {
                    return Poll::Ready(None);
                }
                if let Err(e) = ready!(inspection.pull(body, cx, &mut this.counter)) {
                    return Poll::Ready(Some(Err(e)));
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Full(bytes) => bytes.is_none(),
            Source::Stream(body, None) => body.is_end_stream(),
            Source::Stream(_, Some(inspection)) => inspection.ended && inspection.ready.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Source::Stream(body, None) => body.size_hint(),
            Source::Stream(body, Some(inspection)) => {
                // what was read ahead and not yet sent, and what the client has still to send
                let waiting: u64 = inspection
                    .ready
                    .iter()
                    .chain(&inspection.held)
                    .filter_map(Frame::data_ref)
                    .map(|d| d.len() as u64)
                    .sum();
                let rest = body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower() + waiting);
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + waiting);
                }
                hint
            }
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
        let (mut body, cutoff) = UpstreamBody::stream(Body::new(chunks), Some(6));
        let cutoff = cutoff.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        assert_eq!(cutoff.cut(), None);
        assert!(matches!(
            body.frame().await.unwrap(),
            Err(BodyError::TooLarge(6))
        ));
        assert_eq!(cutoff.cut(), Some(Cut::TooLarge(6)));
    }

    #[tokio::test]
    async fn a_full_body_is_sent_once_with_its_size() {
        let body = UpstreamBody::full(Bytes::from_static(b"{}"));
        assert_eq!(body.size_hint().exact(), Some(2));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "{}");
    }
}
