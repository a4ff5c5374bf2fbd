//! Token arithmetic of the mock's completions: how many prompt tokens a request holds,
//! how many completion tokens the answer has, and the words that make them up.
//!
//! Everything is deterministic, so a test can compute the `usage` it will get back and
//! check that a gateway settled exactly that.

use axum::http::HeaderMap;
use serde_json::Value;

/// Completion length when the request sets no `max_tokens`.
pub(crate) const DEFAULT_COMPLETION_TOKENS: u64 = 16;
/// Longest completion the mock writes unless told otherwise, so a request reserving
/// many tokens uses fewer than it reserved, as real completions usually do.
pub(crate) const COMPLETION_TOKEN_CAP: u64 = 64;
/// Largest completion `x-mock-completion-tokens` may ask for, to bound the answer's size.
const MAX_FORCED_COMPLETION_TOKENS: u64 = 100_000;
/// Fixes the completion's length, even beyond `max_tokens`, so a test can make usage
/// exceed a reservation.
const COMPLETION_HEADER: &str = "x-mock-completion-tokens";

/// Tokens per message for the role and separators, as OpenAI's counting guide has it.
const TOKENS_PER_MESSAGE: u64 = 4;
/// Tokens that prime every reply.
const REPLY_PRIMING_TOKENS: u64 = 3;

/// The words a completion is made of, one token each.
const WORDS: [&str; 12] = [
    "The",
    "mock",
    "model",
    "answers",
    "with",
    "a",
    "fixed",
    "and",
    "predictable",
    "text",
    "for",
    "testing",
];

/// Prompt tokens of a request: about four characters a token, per message, or of the raw
/// body when it holds neither `messages` nor `prompt`.
pub(crate) fn prompt_tokens(request: &Value, body_len: usize) -> u64 {
    let tokens = if let Some(messages) = request.get("messages").and_then(Value::as_array) {
        REPLY_PRIMING_TOKENS
            + messages
                .iter()
                .map(|message| {
                    TOKENS_PER_MESSAGE + chars_to_tokens(text_chars(message.get("content")))
                })
                .sum::<u64>()
    } else if let Some(prompt) = request.get("prompt") {
        chars_to_tokens(text_chars(Some(prompt)))
    } else {
        chars_to_tokens(body_len)
    };
    tokens.max(1)
}

/// Completion tokens of the answer: the header if set, else `max_completion_tokens` or
/// `max_tokens` (default [`DEFAULT_COMPLETION_TOKENS`]) capped at [`COMPLETION_TOKEN_CAP`].
pub(crate) fn completion_tokens(request: &Value, headers: &HeaderMap) -> u64 {
    let forced = headers
        .get(COMPLETION_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok());
    if let Some(forced) = forced {
        return forced.min(MAX_FORCED_COMPLETION_TOKENS);
    }
    let requested = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|field| request.get(field).and_then(Value::as_u64))
        .unwrap_or(DEFAULT_COMPLETION_TOKENS);
    requested.min(COMPLETION_TOKEN_CAP)
}

/// The completion's words, `count` of them.
pub(crate) fn completion_words(count: u64) -> impl Iterator<Item = &'static str> {
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    WORDS.iter().copied().cycle().take(count)
}

/// Tokens of `chars` characters of text.
pub(crate) fn chars_to_tokens(chars: usize) -> u64 {
    u64::try_from(chars.div_ceil(4)).unwrap_or(u64::MAX)
}

/// Characters of text in a content field: a string, or an array of strings or of parts
/// with a `text` field (images and audio parts carry no text).
pub(crate) fn text_chars(value: Option<&Value>) -> usize {
    match value {
        Some(Value::String(text)) => text.chars().count(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.chars().count(),
                other => text_chars(other.get("text")),
            })
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    #[test]
    fn prompt_tokens_count_every_message() {
        let request = json!({"messages": [
            {"role": "system", "content": "12345678"},
            {"role": "user", "content": [{"type": "text", "text": "1234"}, {"type": "image_url"}]},
        ]});
        assert_eq!(prompt_tokens(&request, 999), 3 + (4 + 2) + (4 + 1));
        assert_eq!(prompt_tokens(&json!({"prompt": ["abcd", "efgh1"]}), 0), 3);
        assert_eq!(prompt_tokens(&Value::Null, 41), 11);
        assert_eq!(prompt_tokens(&Value::Null, 0), 1);
    }

    #[test]
    fn completion_tokens_follow_the_request_within_the_cap() {
        let none = HeaderMap::new();
        assert_eq!(
            completion_tokens(&json!({}), &none),
            DEFAULT_COMPLETION_TOKENS
        );
        assert_eq!(completion_tokens(&json!({"max_tokens": 5}), &none), 5);
        assert_eq!(
            completion_tokens(&json!({"max_tokens": 5, "max_completion_tokens": 7}), &none),
            7
        );
        assert_eq!(
            completion_tokens(&json!({"max_tokens": 5000}), &none),
            COMPLETION_TOKEN_CAP
        );
        let mut forced = HeaderMap::new();
        forced.insert(COMPLETION_HEADER, HeaderValue::from_static("300"));
        assert_eq!(completion_tokens(&json!({"max_tokens": 5}), &forced), 300);
    }

    #[test]
    fn completion_words_have_the_asked_length() {
        assert_eq!(completion_words(30).count(), 30);
        assert_eq!(completion_words(0).count(), 0);
    }
}
