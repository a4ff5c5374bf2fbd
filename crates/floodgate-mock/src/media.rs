//! The non-text endpoints: images (the default for any path), embeddings, speech and
//! transcriptions. Answers are small and deterministic, sized by the request fields that
//! a gateway counts as cost.

use crate::error::MockError;
use crate::form::File;
use crate::tokens::{chars_to_tokens, text_chars};
use crate::{unix_now, SharedState};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Fields that say how many images a request asks for, across providers.
const IMAGE_COUNT_FIELDS: [&str; 3] = ["n", "image_num", "batch_size"];
/// Objects some providers nest the generation parameters in.
const PARAMETER_OBJECTS: [&str; 3] = ["request", "parameters", "input"];
/// Most images one answer lists, to bound its size whatever the request says.
const MAX_IMAGES: u64 = 128;
/// Vector length when the request does not set `dimensions`.
const DEFAULT_DIMENSIONS: u64 = 8;
/// Longest vector the mock returns.
const MAX_DIMENSIONS: u64 = 4096;
/// Bytes of audio per character of input text, a rough speaking rate at a low bit rate.
const AUDIO_BYTES_PER_CHAR: usize = 64;
/// Bytes of audio for an empty input: headers and a moment of silence.
const AUDIO_BASE_BYTES: usize = 512;
/// Largest audio answer.
const MAX_AUDIO_BYTES: usize = 1024 * 1024;

/// Images: as many URLs as the request asks for (`n`, `image_num` or `batch_size`, at the
/// top level or in a `request` / `parameters` / `input` object), at least one.
pub(crate) fn images(state: &SharedState, request: &Value) -> Response {
    let count = image_count(request);
    let id = state.next_id();
    let data: Vec<Value> = (0..count)
        .map(|index| json!({"url": format!("https://images.mock.invalid/{id}-{index}.png")}))
        .collect();
    Json(json!({"created": unix_now(), "data": data})).into_response()
}

fn image_count(request: &Value) -> u64 {
    let top = std::iter::once(request);
    let nested = PARAMETER_OBJECTS
        .iter()
        .filter_map(|name| request.get(name));
    top.chain(nested)
        .find_map(|object| {
            IMAGE_COUNT_FIELDS
                .iter()
                .find_map(|field| object.get(field).and_then(Value::as_u64))
        })
        .unwrap_or(1)
        .clamp(1, MAX_IMAGES)
}

/// Embeddings: one vector per input (a string, an array of strings, an array of token
/// ids, or an array of such arrays), with `usage`.
pub(crate) fn embeddings(state: &SharedState, request: &Value) -> Response {
    let dimensions = request
        .get("dimensions")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_DIMENSIONS)
        .clamp(1, MAX_DIMENSIONS);
    let inputs: Vec<&Value> = match request.get("input") {
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => {
            vec![request.get("input").unwrap_or(&Value::Null)]
        }
        Some(Value::Array(items)) => items.iter().collect(),
        Some(single) => vec![single],
        None => vec![&Value::Null],
    };
    let prompt_tokens: u64 = inputs
        .iter()
        .map(|input| match input {
            Value::Array(ids) => u64::try_from(ids.len()).unwrap_or(u64::MAX),
            text => chars_to_tokens(text_chars(Some(text))),
        })
        .sum::<u64>()
        .max(1);
    let base64_wanted = request.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let seed = state.next_id();
    let data: Vec<Value> = (0..inputs.len())
        .map(|index| {
            let vector: Vec<f64> = (0..dimensions)
                .map(|dimension| component(seed, index, dimension))
                .collect();
            let embedding = if base64_wanted {
                // Components are multiples of 2^-15 in [-1, 1): exact in f32.
                #[allow(clippy::cast_possible_truncation)]
                let bytes: Vec<u8> = vector
                    .iter()
                    .flat_map(|x| (*x as f32).to_le_bytes())
                    .collect();
                Value::String(base64(&bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Json(json!({
        "object": "list",
        "model": request.get("model").and_then(Value::as_str).unwrap_or("mock-embedding"),
        "data": data,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }))
    .into_response()
}

/// One vector component in [-1, 1), spread by a multiplicative hash so vectors differ.
fn component(seed: u64, index: usize, dimension: u64) -> f64 {
    let index = u64::try_from(index).unwrap_or(u64::MAX);
    let mixed = (seed ^ index.rotate_left(21) ^ dimension.rotate_left(42))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // The top 16 bits, scaled to [0, 2) and shifted down; exact in f64.
    f64::from(u16::try_from(mixed >> 48).unwrap_or(0)) / 32_768.0 - 1.0
}

/// Speech: audio bytes in the requested `response_format`, longer for longer `input`.
pub(crate) fn speech(request: &Value) -> Response {
    let format = request
        .get("response_format")
        .and_then(Value::as_str)
        .unwrap_or("mp3");
    let (content_type, magic): (&'static str, &'static [u8]) = match format {
        "wav" => ("audio/wav", b"RIFF"),
        "opus" => ("audio/ogg", b"OggS"),
        "flac" => ("audio/flac", b"fLaC"),
        "aac" => ("audio/aac", &[0xFF, 0xF1]),
        "pcm" => ("audio/pcm", b""),
        _ => ("audio/mpeg", b"ID3"),
    };
    let chars = text_chars(request.get("input"));
    let length = AUDIO_BASE_BYTES
        .saturating_add(chars.saturating_mul(AUDIO_BYTES_PER_CHAR))
        .min(MAX_AUDIO_BYTES);
    let mut audio = Vec::with_capacity(length);
    audio.extend_from_slice(magic);
    audio.extend((audio.len()..length).map(|i| u8::try_from(i % 251).unwrap_or(0)));
    ([(CONTENT_TYPE, content_type)], audio).into_response()
}

/// Transcriptions (and translations): a text naming the audio that arrived, in the
/// `response_format` asked for. A form's first file is the audio; a form without one is
/// refused as the real APIs refuse it. Any other body is taken as the audio itself.
pub(crate) fn transcription(request: &Value, files: Option<&[File]>, received: usize) -> Response {
    let text = match files {
        None => format!("Mock transcription of {received} bytes of audio."),
        Some([]) => {
            return MockError::new(
                StatusCode::BAD_REQUEST,
                "the form has no file part: send the audio as a file field named 'file'",
            )
            .into_response()
        }
        Some([file, ..]) => format!(
            "Mock transcription of {}: {} bytes of audio.",
            file.filename, file.size
        ),
    };
    let plain =
        |body: String| ([(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response();
    match request.get("response_format").and_then(Value::as_str) {
        Some("text") => plain(format!("{text}\n")),
        Some("srt") => plain(format!("1\n00:00:00,000 --> 00:00:01,000\n{text}\n\n")),
        Some("vtt") => plain(format!("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{text}\n")),
        Some("verbose_json") => Json(json!({
            "task": "transcribe",
            "language": request.get("language").and_then(Value::as_str).unwrap_or("english"),
            "duration": 1.0,
            "text": text,
            "segments": [{
                "id": 0, "seek": 0, "start": 0.0, "end": 1.0, "text": text, "tokens": [],
                "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0,
                "no_speech_prob": 0.0,
            }],
        }))
        .into_response(),
        _ => Json(json!({ "text": text })).into_response(),
    }
}

/// Standard base64 with padding, as OpenAI-style APIs encode `encoding_format: base64`
/// embeddings.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_count_reads_every_provider_field() {
        assert_eq!(image_count(&Value::Null), 1);
        assert_eq!(image_count(&json!({"n": 3})), 3);
        assert_eq!(image_count(&json!({"image_num": 2})), 2);
        assert_eq!(image_count(&json!({"batch_size": 4})), 4);
        assert_eq!(image_count(&json!({"request": {"image_num": 5}})), 5);
        assert_eq!(image_count(&json!({"n": 0})), 1);
        assert_eq!(image_count(&json!({"n": 100_000})), MAX_IMAGES);
    }

    #[test]
    fn base64_of_every_tail_length() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xFF, 0xEF, 0x00, 0x80]), "/+8AgA==");
    }

    #[test]
    fn components_stay_in_range_and_vary() {
        let values: Vec<f64> = (0..64).map(|d| component(7, 0, d)).collect();
        assert!(values.iter().all(|v| (-1.0..1.0).contains(v)));
        assert!(values.windows(2).any(|pair| pair[0] != pair[1]));
    }
}
