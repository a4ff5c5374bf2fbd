//! Token reservations settled from what the upstream reports.
//!
//! A request to a model with token limits reserves its prompt estimate plus its
//! `max_tokens` in the decision. The response body is then watched as it streams by (no
//! extra buffering for SSE, a capped copy for JSON) and, once it ends, the reservation is
//! settled from the reported `usage`: unused tokens are refunded, extra ones charged. A
//! failed answer without usage is refunded whole. An SSE stream without usage, or one the
//! client left before its usage event, is charged the prompt estimate plus the text it
//! carried (about four bytes a token, never more than reserved). A JSON answer without
//! usage keeps its reservation, since the upstream may well have done the work.

use crate::answer::MAX_ANSWER;
use crate::reservations::{in_unit, Open};
use crate::usage::{self, SseScanner, Usage};
use bytes::Bytes;
use floodgate_core::{DimensionStatus, Limit, Nanos, Window};
use floodgate_store::{Adjustment, SettleRequest, Store, Subjects};
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Completion tokens reserved for a request that sets no `max_tokens`.
pub(crate) const DEFAULT_MAX_TOKENS: u64 = 1024;

/// Largest JSON answer copied to read its usage; a bigger one keeps its reservation.
const MAX_JSON_COPY: usize = 4 << 20;

/// The tokens a request reserved, and whose counters to settle them on.
pub(crate) struct Settlement {
    /// Where the counters are.
    pub(crate) store: Arc<dyn Store>,
    /// The key's id.
    pub(crate) key: Arc<str>,
    /// The account's id.
    pub(crate) account: Arc<str>,
    /// The limits of the decision.
    pub(crate) limits: Arc<[Limit]>,
    /// What was reserved.
    pub(crate) reserved: Usage,
    /// The decision's time, so a refund never reaches into a later calendar period.
    pub(crate) at: Nanos,
    /// The reservation as this instance's open reservations count it, closed once
    /// settled (or, if never settled, kept as used).
    pub(crate) open: Open,
}

impl std::fmt::Debug for Settlement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settlement")
            .field("reserved", &self.reserved)
            .finish_non_exhaustive()
    }
}

/// Per token limit (by index), what to charge (positive) or refund (negative).
fn deltas(limits: &[Limit], reserved: Usage, actual: Usage) -> Vec<(usize, i64)> {
    limits
        .iter()
        .enumerate()
        .filter(|(_, l)| l.unit.is_tokens())
        .map(|(i, l)| {
            let r = i128::from(in_unit(l.unit, reserved));
            let a = i128::from(in_unit(l.unit, actual));
            let d = (a - r).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            (i, i64::try_from(d).unwrap_or(0))
        })
        .filter(|&(_, d)| d != 0)
        .collect()
}

/// Whether a successful answer is read whole before its headers go out, so that its token
/// headers show its settled usage: a JSON answer of known length within
/// [`MAX_ANSWER`]. A stream, or an answer of unknown length, goes through as it comes.
pub(crate) fn read_first(head: &http::response::Parts) -> bool {
    let sse = head
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let length = head
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    !sse && length.is_some_and(|n| n <= MAX_ANSWER as u64)
}

/// `dims` (the decision's statuses of `limits`) as they stand once `reserved` is settled
/// to `actual`: a refund comes back into the remaining tokens (a charge comes out), and a
/// rolling limit's time to be whole again shrinks or grows with what it holds.
fn settle_statuses(dims: &mut [DimensionStatus], limits: &[Limit], reserved: Usage, actual: Usage) {
    for (i, delta) in deltas(limits, reserved, actual) {
        let (Some(d), Some(limit)) = (dims.get_mut(i), limits.get(i)) else {
            continue;
        };
        let before = d.max.saturating_sub(d.remaining);
        let remaining = i128::from(d.remaining) - i128::from(delta);
        d.remaining = u64::try_from(remaining.clamp(0, i128::from(d.max))).unwrap_or(0);
        let after = d.max.saturating_sub(d.remaining);
        if matches!(limit.window, Window::Rolling { .. }) && before > 0 {
            let scaled = u128::from(d.reset_after) * u128::from(after) / u128::from(before);
            d.reset_after = Nanos::try_from(scaled).unwrap_or(Nanos::MAX);
        }
    }
}

impl Settlement {
    /// Settles the reservation from a JSON answer read whole, bringing `dims` (the
    /// decision's statuses) to the settled state for the headers; the settlement comes
    /// back if the answer reports no usage.
    pub(crate) fn settle_read(
        self,
        answer: &[u8],
        dims: Option<&mut [DimensionStatus]>,
    ) -> Option<Self> {
        let Some(actual) = usage::from_json(answer) else {
            return Some(self);
        };
        if let Some(dims) = dims {
            settle_statuses(dims, &self.limits, self.reserved, actual);
        }
        self.settle(actual);
        None
    }

    /// Settles the reservation with `actual` usage, in the background.
    pub(crate) fn settle(self, actual: Usage) {
        let changes = deltas(&self.limits, self.reserved, actual);
        if changes.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let adjustments: Vec<Adjustment<'_>> = changes
                .iter()
                .map(|&(i, delta)| Adjustment {
                    limit: &self.limits[i],
                    delta,
                })
                .collect();
            let request = SettleRequest {
                subjects: Subjects {
                    key: &self.key,
                    account: &self.account,
                },
                adjustments: &adjustments,
                reserved_at: self.at,
            };
            if let Err(e) = self.store.settle(&request).await {
                tracing::warn!(key = %self.key, error = %e, "settling tokens failed");
            }
            // Settled: from now on the store's count is all usage, none of it reserved.
            drop(self.open);
        });
    }
}

/// How the usage is read from a response body.
#[derive(Debug)]
enum Reader {
    /// A JSON answer, copied up to [`MAX_JSON_COPY`]; `None` once it grew past that.
    Json(Option<Vec<u8>>),
    /// An SSE stream, scanned line by line.
    Sse(SseScanner),
}

impl Reader {
    fn feed(&mut self, data: &Bytes) {
        match self {
            Reader::Json(copy) => {
                if copy
                    .as_ref()
                    .is_some_and(|c| c.len() + data.len() > MAX_JSON_COPY)
                {
                    *copy = None;
                }
                if let Some(copy) = copy {
                    copy.extend_from_slice(data);
                }
            }
            Reader::Sse(scanner) => scanner.feed(data),
        }
    }

    /// The usage read; a JSON answer only has one once it has ended.
    fn usage(&self, ended: bool) -> Option<Usage> {
        match self {
            Reader::Json(Some(copy)) if ended => usage::from_json(copy),
            Reader::Json(_) => None,
            Reader::Sse(scanner) => scanner.usage(),
        }
    }
}

/// A response body that settles its request's token reservation when it ends.
#[derive(Debug)]
pub(crate) struct SettlingBody<B> {
    /// The upstream's body.
    inner: B,
    /// Reads the usage as the body goes by.
    reader: Reader,
    /// The reservation, until settled.
    settlement: Option<Settlement>,
    /// Whether the upstream answered with a failure status.
    failed: bool,
}

impl<B> SettlingBody<B> {
    /// Watches `inner` (an SSE stream if `sse`, else JSON) for `settlement`'s usage.
    pub(crate) fn new(inner: B, settlement: Settlement, sse: bool, failed: bool) -> Self {
        Self {
            inner,
            reader: if sse {
                Reader::Sse(SseScanner::default())
            } else {
                Reader::Json(Some(Vec::new()))
            },
            settlement: Some(settlement),
            failed,
        }
    }

    fn finish(&mut self, ended: bool) {
        let Some(settlement) = self.settlement.take() else {
            return;
        };
        match (self.reader.usage(ended), self.failed, &self.reader) {
            (Some(actual), _, _) => settlement.settle(actual),
            (None, true, _) => settlement.settle(Usage::default()),
            (None, false, Reader::Sse(scanner)) => {
                let produced = Usage {
                    input: settlement.reserved.input,
                    output: scanner.estimated_output().min(settlement.reserved.output),
                };
                settlement.settle(produced);
            }
            (None, false, Reader::Json(_)) => {}
        }
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for SettlingBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.reader.feed(data);
                }
                // A body of known length ends with its last frame: hyper does not poll
                // again for the end, so this is the moment the answer is complete.
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
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

impl<B> Drop for SettlingBody<B> {
    fn drop(&mut self) {
        self.finish(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_core::{Scope, Unit, NANOS_PER_SEC};

    #[test]
    fn refunds_and_charges_per_token_unit() {
        let limits = [
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 10, "m"),
            Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 1000, "m"),
            Limit::new(Scope::Key, Unit::OutputTokens, Window::DAY, 1000, "m"),
        ];
        let reserved = Usage {
            input: 10,
            output: 100,
        };
        let actual = Usage {
            input: 12,
            output: 30,
        };
        assert_eq!(deltas(&limits, reserved, actual), [(1, -68), (2, -70)]);
        assert_eq!(deltas(&limits, reserved, reserved), []);
        let more = Usage {
            input: 10,
            output: 150,
        };
        assert_eq!(deltas(&limits, reserved, more), [(1, 50), (2, 50)]);
    }

    #[test]
    fn statuses_after_settlement() {
        let limits = [
            Limit::new(Scope::Key, Unit::Requests, Window::MINUTE, 10, "m"),
            Limit::new(Scope::Key, Unit::Tokens, Window::MINUTE, 1000, "m"),
            Limit::new(Scope::Key, Unit::Tokens, Window::DAY, 1000, "m"),
        ];
        let status = |remaining, reset_after| DimensionStatus {
            max: 1000,
            remaining,
            reset_after,
        };
        let mut dims = vec![
            status(9, NANOS_PER_SEC),
            status(800, 12 * NANOS_PER_SEC),
            status(800, 3600 * NANOS_PER_SEC),
        ];
        let reserved = Usage {
            input: 50,
            output: 150,
        };
        let actual = Usage {
            input: 50,
            output: 50,
        };
        settle_statuses(&mut dims, &limits, reserved, actual);
        assert_eq!(dims[0], status(9, NANOS_PER_SEC), "requests are not tokens");
        assert_eq!(
            dims[1],
            status(900, 6 * NANOS_PER_SEC),
            "half the debt, half the wait"
        );
        assert_eq!(
            dims[2],
            status(900, 3600 * NANOS_PER_SEC),
            "a quota resets when it resets"
        );
        let over = Usage {
            input: 50,
            output: 5000,
        };
        settle_statuses(&mut dims, &limits, actual, over);
        assert_eq!(dims[1].remaining, 0);
    }
}
