//! Token usage as an upstream reports it: the `usage` object of a JSON answer, or what
//! the events of an SSE stream report (OpenAI's `prompt_tokens` / `completion_tokens`
//! in its last event; the Responses API's `input_tokens` / `output_tokens` in
//! `response.usage` of its last; Anthropic's input in the first event's `message.usage`
//! and the output counted up in later ones).

use serde::Deserialize;

/// Tokens a request really used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Prompt tokens.
    pub(crate) input: u64,
    /// Completion tokens.
    pub(crate) output: u64,
}

#[derive(Deserialize)]
struct Envelope {
    usage: Option<Fields>,
    /// Anthropic's `message_start` event carries its usage in the message.
    message: Option<Nested>,
    /// The Responses API's `response.completed` event carries it in the response.
    response: Option<Nested>,
}

/// A top-level `message` or `response`: an object that may hold a usage, or anything
/// else (an error's text), which must not make the rest of the document unreadable.
#[derive(Deserialize)]
#[serde(untagged)]
enum Nested {
    Object { usage: Option<Fields> },
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Fields {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
}

/// The counts one document states; any may be missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    input: Option<u64>,
    output: Option<u64>,
    total: Option<u64>,
}

impl Counts {
    /// The counts in a JSON document: its `usage`, else its `message.usage` or
    /// `response.usage`.
    fn of(body: &[u8]) -> Option<Self> {
        let envelope = serde_json::from_slice::<Envelope>(body).ok()?;
        let nested = |n: Option<Nested>| match n {
            Some(Nested::Object { usage }) => usage,
            _ => None,
        };
        let fields = envelope
            .usage
            .or_else(|| nested(envelope.message))
            .or_else(|| nested(envelope.response))?;
        Some(Self {
            input: fields.prompt_tokens.or(fields.input_tokens),
            output: fields.completion_tokens.or(fields.output_tokens),
            total: fields.total_tokens,
        })
    }

    /// Takes what a later event states over what earlier ones did, count by count: a
    /// stream that reports its input first and its output last has both.
    fn update(&mut self, later: Self) {
        self.input = later.input.or(self.input);
        self.output = later.output.or(self.output);
        self.total = later.total.or(self.total);
    }

    fn usage(self) -> Option<Usage> {
        match (self.input, self.output, self.total) {
            (None, None, None) => None,
            (None, None, Some(total)) => Some(Usage {
                input: 0,
                output: total,
            }),
            (input, output, _) => Some(Usage {
                input: input.unwrap_or(0),
                output: output.unwrap_or(0),
            }),
        }
    }
}

/// The usage in a JSON document, if it has a well-formed one.
pub(crate) fn from_json(body: &[u8]) -> Option<Usage> {
    Counts::of(body)?.usage()
}

/// Longest line an SSE scan keeps; a longer one cannot be a usage event worth reading.
const MAX_LINE: usize = 1 << 20;

/// Reads usage from an SSE stream as its bytes go by, whatever the chunk boundaries.
#[derive(Debug, Default)]
pub(crate) struct SseScanner {
    /// The current, unfinished line.
    line: Vec<u8>,
    /// Whether the current line grew past [`MAX_LINE`] and is being skipped.
    skipping: bool,
    /// The counts the events have stated so far.
    counts: Counts,
    /// Bytes of generated text seen in the events (`"content"` and `"text"` values), for
    /// an estimate when no usage arrives.
    text_bytes: u64,
    /// The current event's data, its `data:` lines joined with line breaks as SSE
    /// defines: a usage object written across several lines parses only whole. Each
    /// line is also read alone, which is what streams that never end an event with an
    /// empty line need.
    event: Vec<u8>,
    /// `data:` lines in the current event.
    event_lines: u32,
    /// Whether the current event grew past [`MAX_LINE`] and is no longer kept.
    event_dropped: bool,
}

/// Whether `data` can hold a usage object.
fn has_usage(data: &[u8]) -> bool {
    data.windows(7).any(|w| w == b"\"usage\"")
}

/// Bytes of the string values of `"content"`, `"text"` and `"delta"` fields in one
/// event's JSON (chat deltas, Anthropic's text deltas, the Responses API's text deltas),
/// escapes counted as written: a cheap stand-in for the text generated, without parsing.
fn text_bytes(data: &[u8]) -> u64 {
    let mut total = 0u64;
    for field in [&b"\"content\":"[..], b"\"text\":", b"\"delta\":"] {
        let mut rest = data;
        while let Some(at) = rest.windows(field.len()).position(|w| w == field) {
            rest = &rest[at + field.len()..];
            let value = rest.trim_ascii_start();
            let Some(value) = value.strip_prefix(b"\"") else {
                continue;
            };
            let mut escaped = false;
            let end = value
                .iter()
                .position(|&b| {
                    let closes = b == b'"' && !escaped;
                    escaped = b == b'\\' && !escaped;
                    closes
                })
                .unwrap_or(value.len());
            total = total.saturating_add(end as u64);
            rest = &value[end..];
        }
    }
    total
}

impl SseScanner {
    /// Reads the next bytes of the stream.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            if !self.skipping {
                self.line.extend_from_slice(&bytes[..end]);
                self.finish_line();
            }
            self.line.clear();
            self.skipping = false;
            bytes = &bytes[end + 1..];
        }
        if !self.skipping {
            if self.line.len() + bytes.len() > MAX_LINE {
                self.skipping = true;
                self.line.clear();
            } else {
                self.line.extend_from_slice(bytes);
            }
        }
    }

    fn finish_line(&mut self) {
        let line = self.line.strip_suffix(b"\r").unwrap_or(&self.line);
        if line.is_empty() {
            self.finish_event();
            return;
        }
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        // Most events are content deltas: skip the parse unless usage can be in there.
        if has_usage(data) {
            if let Some(counts) = Counts::of(data) {
                self.counts.update(counts);
            }
        }
        self.text_bytes = self.text_bytes.saturating_add(text_bytes(data));
        if !self.event_dropped {
            if self.event_lines > 0 {
                self.event.push(b'\n');
            }
            self.event
                .extend_from_slice(data.strip_prefix(b" ").unwrap_or(data));
            self.event_lines += 1;
            if self.event.len() > MAX_LINE {
                self.event_dropped = true;
                self.event.clear();
            }
        }
    }

    /// An empty line ends an event: one of several `data:` lines is read whole (a single
    /// line was read as it came).
    fn finish_event(&mut self) {
        if self.event_lines > 1 && !self.event_dropped && has_usage(&self.event) {
            if let Some(counts) = Counts::of(&self.event) {
                self.counts.update(counts);
            }
        }
        self.event.clear();
        self.event_lines = 0;
        self.event_dropped = false;
    }

    /// Completion tokens the text seen so far amounts to, at about four bytes a token:
    /// what a stream without usage (or left before it) is charged.
    pub(crate) fn estimated_output(&self) -> u64 {
        self.text_bytes.div_ceil(4)
    }

    /// The usage the stream reported so far.
    pub(crate) fn usage(&self) -> Option<Usage> {
        self.counts.usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_usage_shapes() {
        let openai =
            br#"{"id":"x","usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}"#;
        assert_eq!(
            from_json(openai),
            Some(Usage {
                input: 12,
                output: 30
            })
        );
        let anthropic = br#"{"usage":{"input_tokens":5,"output_tokens":7}}"#;
        assert_eq!(
            from_json(anthropic),
            Some(Usage {
                input: 5,
                output: 7
            })
        );
        assert_eq!(
            from_json(br#"{"message":"a text, not an object","usage":{"input_tokens":2}}"#),
            Some(Usage {
                input: 2,
                output: 0
            })
        );
        assert_eq!(from_json(br#"{"usage":null}"#), None);
        assert_eq!(from_json(br#"{"data":[]}"#), None);
        assert_eq!(from_json(b"not json"), None);
    }

    /// Feeds `stream` whole and cut in pieces of several sizes: each way must read
    /// `want`.
    fn assert_sse_usage(stream: &[u8], want: Usage) {
        for split in [1, 7, 13, 50, stream.len()] {
            let mut scanner = SseScanner::default();
            for chunk in stream.chunks(split) {
                scanner.feed(chunk);
            }
            assert_eq!(scanner.usage(), Some(want), "in pieces of {split}");
        }
    }

    #[test]
    fn sse_usage_across_chunk_boundaries() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\r\n\r\n",
            "data: [DONE]\n\n"
        )
        .as_bytes();
        assert_sse_usage(
            stream,
            Usage {
                input: 9,
                output: 4,
            },
        );
    }

    /// Anthropic's Messages stream: the input in `message_start`'s message, the output
    /// counted up in `message_delta` events (the shape of its streaming documentation).
    #[test]
    fn sse_usage_reported_in_parts_is_put_together() {
        let stream = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",",
            "\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,",
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},",
            "\"usage\":{\"output_tokens\":15}}\n\n",
            "event: message_stop\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        )
        .as_bytes();
        assert_sse_usage(
            stream,
            Usage {
                input: 25,
                output: 15,
            },
        );
    }

    /// The Responses API's stream: usage only in `response.completed`'s response.
    #[test]
    fn sse_usage_in_the_completed_response() {
        let stream = concat!(
            "event: response.created\n",
            "data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",",
            "\"status\":\"in_progress\",\"usage\":null}}\n\n",
            "event: response.output_text.delta\n",
            "data: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}\n\n",
            "event: response.completed\n",
            "data: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",",
            "\"status\":\"completed\",\"usage\":{\"input_tokens\":12,\"output_tokens\":5,",
            "\"total_tokens\":17}}}\n\n",
        )
        .as_bytes();
        assert_sse_usage(
            stream,
            Usage {
                input: 12,
                output: 5,
            },
        );
    }

    /// A usage object written across several `data:` lines of one event (SSE joins them
    /// with line breaks) is read whole; so is an event whose lines end in CR LF.
    #[test]
    fn sse_usage_across_the_data_lines_of_one_event() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "event: usage\r\n",
            "data: {\"choices\": [],\r\n",
            "data:  \"usage\": {\"prompt_tokens\": 7,\r\n",
            "data:            \"completion_tokens\": 3}}\r\n",
            "\r\n",
            "data: [DONE]\n\n",
        )
        .as_bytes();
        assert_sse_usage(
            stream,
            Usage {
                input: 7,
                output: 3,
            },
        );
    }

    #[test]
    fn generated_text_is_estimated_from_its_bytes() {
        let mut scanner = SseScanner::default();
        scanner.feed(
            b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        );
        scanner.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"The mock\"}}]}\n\n");
        scanner.feed(
            b"data: {\"delta\":{\"type\":\"text_delta\",\"text\": \"a \\\"quoted\\\" word\"}}\n",
        );
        assert_eq!(scanner.text_bytes, 8 + 17);
        assert_eq!(scanner.estimated_output(), 7);
        assert_eq!(scanner.usage(), None);
        assert_eq!(text_bytes(b"{\"content\":null}"), 0);
        assert_eq!(
            text_bytes(b"{\"type\":\"response.output_text.delta\",\"delta\":\"Hi there\"}"),
            8
        );
        assert_eq!(
            text_bytes(b"{\"delta\":{\"content\":\"Hi\"}}"),
            2,
            "counted once"
        );
        assert_eq!(text_bytes(b"{\"content\":\"cut"), 3);
    }

    #[test]
    fn an_endless_line_is_skipped_not_kept() {
        let mut scanner = SseScanner::default();
        scanner.feed(b"data: ");
        scanner.feed(&vec![b'x'; MAX_LINE + 1]);
        assert!(scanner.line.is_empty());
        scanner.feed(b"\ndata: {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n");
        assert_eq!(
            scanner.usage(),
            Some(Usage {
                input: 1,
                output: 2
            })
        );
    }
}
