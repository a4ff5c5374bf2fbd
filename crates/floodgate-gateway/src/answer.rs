//! An upstream answer read whole before it goes on (an async job's submission or poll, a
//! JSON answer whose usage settles its tokens), up to [`MAX_ANSWER`]. A longer one is
//! not an error: what was read and the rest are handed back as one stream, and the
//! answer goes through as it would have without being read.

use crate::client::ResponseBody;
use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, BodyStream, StreamBody};

/// Largest answer read whole.
pub(crate) const MAX_ANSWER: usize = 4 << 20;

/// An answer as read.
pub(crate) enum Answer {
    /// The whole answer.
    Whole(Bytes),
    /// An answer longer than [`MAX_ANSWER`]: the bytes read, then the rest, as a stream.
    Partial(Body),
}

/// Reads `body` whole, up to [`MAX_ANSWER`] bytes.
pub(crate) async fn read(mut body: ResponseBody) -> Result<Answer, std::io::Error> {
    let mut read = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Some(data) = frame.data_ref() {
            read.extend_from_slice(data);
            if read.len() > MAX_ANSWER {
                let head = futures_util::stream::once(async move {
                    Ok::<_, std::io::Error>(Frame::data(read.freeze()))
                });
                let rest = BodyStream::new(body);
                return Ok(Answer::Partial(Body::new(StreamBody::new(
                    head.chain(rest),
                ))));
            }
        }
    }
    Ok(Answer::Whole(read.freeze()))
}
