//! Messages, Anthropic-shaped: one JSON message with `usage` (`input_tokens`,
//! `output_tokens`), or with `"stream": true` a `text/event-stream` of named events in
//! the order Anthropic's streaming documentation gives: `message_start` (its message's
//! `usage` holds the input tokens), `content_block_start`, text deltas,
//! `content_block_stop`, `message_delta` (its `usage` holds the output tokens) and
//! `message_stop`.
//!
//! So a gateway that settles tokens must put the usage together from two events: the
//! shape that tells a reader of OpenAI's last event apart from one that follows the
//! stream. Token counts are the chat completions' (`tokens.rs`), `x-mock-usage: omit`
//! leaves usage out.

use crate::chat::{model_of, omit_usage, spread};
use crate::tokens::{self, completion_words};
use crate::SharedState;
use axum::http::HeaderMap;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::VecDeque;

/// Text deltas a streamed message is cut into.
const STREAM_TEXT_EVENTS: usize = 4;

pub(crate) fn create(
    state: &SharedState,
    headers: &HeaderMap,
    request: &Value,
    body_len: usize,
) -> Response {
    let input = tokens::prompt_tokens(request, body_len);
    let output = tokens::completion_tokens(request, headers);
    let usage = !omit_usage(headers);
    let id = format!("msg_mock_{}", state.next_id());
    let model = model_of(request);
    let words: Vec<&str> = completion_words(output).collect();
    if request.get("stream").and_then(Value::as_bool) != Some(true) {
        let mut message = json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": words.join(" ")}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
        });
        if usage {
            message["usage"] = json!({"input_tokens": input, "output_tokens": output});
        }
        return Json(message).into_response();
    }
    let event = |name: &str, data: Value| Event::default().event(name).data(data.to_string());
    let mut start = json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
    });
    if usage {
        start["usage"] = json!({"input_tokens": input, "output_tokens": 1});
    }
    let mut events = VecDeque::new();
    events.push_back(event(
        "message_start",
        json!({"type": "message_start", "message": start}),
    ));
    events.push_back(event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0,
               "content_block": {"type": "text", "text": ""}}),
    ));
    let per_event = words.len().div_ceil(STREAM_TEXT_EVENTS).max(1);
    for (index, group) in words.chunks(per_event).enumerate() {
        let separator = if index == 0 { "" } else { " " };
        events.push_back(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": format!("{separator}{}", group.join(" "))}}),
        ));
    }
    events.push_back(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    let mut delta = json!({"type": "message_delta",
                           "delta": {"stop_reason": "end_turn", "stop_sequence": null}});
    if usage {
        delta["usage"] = json!({"output_tokens": output});
    }
    events.push_back(event("message_delta", delta));
    events.push_back(event("message_stop", json!({"type": "message_stop"})));
    spread(state.clone(), events).into_response()
}
