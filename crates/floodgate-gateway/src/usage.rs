//! Token usage as an upstream reports it: the `usage` object of a JSON answer, or of the
//! last SSE event that carries one (OpenAI's `prompt_tokens` / `completion_tokens`, or
//! `input_tokens` / `output_tokens`).

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
}

#[derive(Deserialize)]
struct Fields {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    total_tokens: Option<u64>,
}

/// The usage in a JSON document, if it has a well-formed one.
pub(crate) fn from_json(body: &[u8]) -> Option<Usage> {
    let fields = serde_json::from_slice::<Envelope>(body).ok()?.usage?;
    let input = fields.prompt_tokens.or(fields.input_tokens);
    let output = fields.completion_tokens.or(fields.output_tokens);
    match (input, output, fields.total_tokens) {
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

/// Longest line an SSE scan keeps; a longer one cannot be a usage event worth reading.
const MAX_LINE: usize = 1 << 20;

/// Reads usage from an SSE stream as its bytes go by, whatever the chunk boundaries.
#[derive(Debug, Default)]
pub(crate) struct SseScanner {
    /// The current, unfinished line.
    line: Vec<u8>,
    /// Whether the current line grew past [`MAX_LINE`] and is being skipped.
    skipping: bool,
    /// The last usage seen.
    usage: Option<Usage>,
    /// Bytes of generated text seen in the events (`"content"` and `"text"` values), for
    /// an estimate when no usage arrives.
    text_bytes: u64,
}

/// Bytes of the string values of `"content"` and `"text"` fields in one event's JSON,
/// escapes counted as written: a cheap stand-in for the text generated, without parsing.
fn text_bytes(data: &[u8]) -> u64 {
    let mut total = 0u64;
    for field in [&b"\"content\":"[..], &b"\"text\":"[..]] {
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
        let Some(data) = self.line.strip_prefix(b"data:") else {
            return;
        };
        let data = data.strip_suffix(b"\r").unwrap_or(data);
        // Most events are content deltas: skip the parse unless usage can be in there.
        if data.windows(7).any(|w| w == b"\"usage\"") {
            if let Some(usage) = from_json(data) {
                self.usage = Some(usage);
            }
        }
        self.text_bytes = self.text_bytes.saturating_add(text_bytes(data));
    }

    /// Completion tokens the text seen so far amounts to, at about four bytes a token:
    /// what a stream without usage (or left before it) is charged.
    pub(crate) fn estimated_output(&self) -> u64 {
        self.text_bytes.div_ceil(4)
    }

    /// The last usage the stream reported so far.
    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage
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
        assert_eq!(from_json(br#"{"usage":null}"#), None);
        assert_eq!(from_json(br#"{"data":[]}"#), None);
        assert_eq!(from_json(b"not json"), None);
    }

    #[test]
    fn sse_usage_across_chunk_boundaries() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\r\n\r\n",
            "data: [DONE]\n\n"
        )
        .as_bytes();
        for split in [1, 7, 50, stream.len()] {
            let mut scanner = SseScanner::default();
            for chunk in stream.chunks(split) {
                scanner.feed(chunk);
            }
            assert_eq!(
                scanner.usage(),
                Some(Usage {
                    input: 9,
                    output: 4
                }),
                "{split}"
            );
        }
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
