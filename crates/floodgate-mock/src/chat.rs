//! Chat completions, OpenAI-shaped: one JSON answer with `usage`, or with `"stream": true`
//! a `text/event-stream` of chunks, spread over time, whose last chunk before
//! `data: [DONE]` carries the `usage`.
//!
//! Usage always rides in the stream, whether or not the request set
//! `stream_options.include_usage`: the gateway settles tokens from it, and a test of that
//! should not depend on the client remembering the option. The request header
//! `x-mock-usage: omit` leaves it out of both shapes, for tests of what a gateway does
//! when an upstream reports no usage.

use crate::tokens::{self, completion_words};
use crate::{unix_now, SharedState};
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;

/// Content chunks a streamed completion is cut into, so a stream has several events to
/// cancel between.
const STREAM_CONTENT_EVENTS: usize = 4;

/// Leaves `usage` out of the answer when set to `omit`.
const USAGE_HEADER: &str = "x-mock-usage";

/// What one completion says, worked out once for both answer shapes.
struct Completion {
    id: String,
    model: String,
    created: u64,
    words: Vec<&'static str>,
    /// `None` when the request asked for no usage report.
    usage: Option<Value>,
}

pub(crate) fn complete(
    state: &SharedState,
    headers: &HeaderMap,
    request: &Value,
    body_len: usize,
) -> Response {
    let prompt_tokens = tokens::prompt_tokens(request, body_len);
    let completion_tokens = tokens::completion_tokens(request, headers);
    let completion = Completion {
        id: format!("chatcmpl-mock-{}", state.next_id()),
        model: model_of(request),
        created: unix_now(),
        words: completion_words(completion_tokens).collect(),
        usage: (!omit_usage(headers)).then(|| {
            json!({
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            })
        }),
    };
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        streamed(state.clone(), &completion).into_response()
    } else {
        let mut body = json!({
            "id": completion.id,
            "object": "chat.completion",
            "created": completion.created,
            "model": completion.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": completion.words.join(" ")},
                "finish_reason": "stop",
            }],
        });
        if let (Some(usage), Some(object)) = (&completion.usage, body.as_object_mut()) {
            object.insert("usage".to_owned(), usage.clone());
        }
        Json(body).into_response()
    }
}

fn streamed(
    state: SharedState,
    completion: &Completion,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let chunk = |choices: Value, usage: Value| {
        json!({
            "id": completion.id,
            "object": "chat.completion.chunk",
            "created": completion.created,
            "model": completion.model,
            "choices": choices,
            "usage": usage,
        })
        .to_string()
    };
    let delta = |delta: Value, finish: Value| json!([{"index": 0, "delta": delta, "finish_reason": finish}]);

    let mut events = VecDeque::new();
    events.push_back(chunk(
        delta(json!({"role": "assistant", "content": ""}), Value::Null),
        Value::Null,
    ));
    let per_event = completion
        .words
        .len()
        .div_ceil(STREAM_CONTENT_EVENTS)
        .max(1);
    for (index, group) in completion.words.chunks(per_event).enumerate() {
        // Each piece starts with the space that joins it to the previous one, so the
        // pieces concatenate to exactly the non-streamed content.
        let separator = if index == 0 { "" } else { " " };
        let text = format!("{separator}{}", group.join(" "));
        events.push_back(chunk(
            delta(json!({"content": text}), Value::Null),
            Value::Null,
        ));
    }
    events.push_back(chunk(delta(json!({}), json!("stop")), Value::Null));
    if let Some(usage) = &completion.usage {
        events.push_back(chunk(json!([]), usage.clone()));
    }
    events.push_back("[DONE]".to_owned());
    spread(
        state,
        events
            .into_iter()
            .map(|data| Event::default().data(data))
            .collect(),
    )
}

/// `events` as a stream that sends them one [`crate::MockOptions::stream_interval`]
/// apart, recording in the stats whether the client stayed to the end.
pub(crate) fn spread(
    state: SharedState,
    events: VecDeque<Event>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let interval = state.options.stream_interval;
    let guard = StreamGuard {
        state,
        completed: false,
    };
    let events = stream::unfold(
        (events, guard, true),
        move |(mut events, mut guard, first)| async move {
            if !first {
                tokio::time::sleep(interval).await;
            }
            let event = events.pop_front()?;
            if events.is_empty() {
                guard.completed = true;
            }
            Some((Ok(event), (events, guard, false)))
        },
    );
    Sse::new(events)
}

/// The model a request names, or a stand-in, as the answer reports it.
pub(crate) fn model_of(request: &Value) -> String {
    request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-model")
        .to_owned()
}

pub(crate) fn omit_usage(headers: &HeaderMap) -> bool {
    headers
        .get(USAGE_HEADER)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"omit"))
}

/// Records in the stats how a stream ended, when the server drops it: after its last
/// event, or earlier because the client went away.
struct StreamGuard {
    state: SharedState,
    completed: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.state.stats.record_stream_end(self.completed);
    }
}
