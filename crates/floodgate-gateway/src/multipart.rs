//! Reads the few form fields the gateway needs (the model, the image count, the inputs of
//! a compute formula) from a buffered `multipart/form-data` body, the way OpenAI-style
//! SDKs send audio transcriptions and image edits.
//!
//! The parts are found by `multer`; file parts are skipped, never copied out, and the
//! body that goes upstream is the client's original bytes, untouched.

use crate::error::GatewayError;
use crate::json::{self, Field, Found, Wanted};
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{Map, Value};
use std::convert::Infallible;

/// Longest text value kept from a form field. Model names, counts and formula inputs are
/// short; a longer value (a prompt, a file sent without a filename) is skipped and reads
/// as the wrong type if the gateway asks for it.
const MAX_TEXT: usize = 64 * 1024;

/// Bytes handed to the parser at a time. The parser copies what it is given into its own
/// buffer; feeding it slices, with a pause between them, keeps that copy to one slice
/// instead of a second copy of the whole upload.
const SLICE: usize = 64 * 1024;

/// Why a multipart body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MultipartError {
    /// `Content-Type: multipart/form-data` without a usable `boundary` parameter.
    #[error("the Content-Type header has no boundary parameter")]
    NoBoundary,
    /// The parts do not follow the multipart syntax.
    #[error("{0}")]
    Malformed(String),
    /// A field the gateway reads is sent twice: which one the upstream would use is
    /// unknown, so counting either could be wrong.
    #[error("field '{0}' appears more than once")]
    Repeated(String),
}

impl From<MultipartError> for GatewayError {
    fn from(e: MultipartError) -> Self {
        match e {
            MultipartError::Repeated(_) => GatewayError::BadField(e.to_string()),
            MultipartError::NoBoundary | MultipartError::Malformed(_) => {
                GatewayError::BadMultipart(e.to_string())
            }
        }
    }
}

/// The boundary of a `multipart/form-data` body; `None` when the body is something else.
pub(crate) fn boundary(headers: &HeaderMap) -> Option<Result<String, MultipartError>> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    Some(multer::parse_boundary(content_type).map_err(|_| MultipartError::NoBoundary))
}

/// One form part the gateway may read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// A text field's value.
    Text(String),
    /// A file, or a field that is not short UTF-8 text.
    Other,
}

/// The named parts of a form, in body order.
#[derive(Debug, Default)]
pub(crate) struct Form {
    parts: Vec<(String, Part)>,
}

/// Parses `body`, a complete `multipart/form-data` body delimited by `boundary`.
pub(crate) async fn read(body: Bytes, boundary: &str) -> Result<Form, MultipartError> {
    let slices = stream::unfold(0usize, move |at| {
        let body = body.clone();
        async move {
            if at >= body.len() {
                return None;
            }
            if at > 0 {
                tokio::task::yield_now().await;
            }
            let end = at.saturating_add(SLICE).min(body.len());
            Some((Ok::<_, Infallible>(body.slice(at..end)), end))
        }
    });
    let malformed = |e: multer::Error| MultipartError::Malformed(e.to_string());
    let mut multipart = multer::Multipart::new(slices, boundary);
    let mut form = Form::default();
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        if field.file_name().is_some() {
            form.parts.push((name, Part::Other));
            continue;
        }
        let mut text = Vec::new();
        let mut fits = true;
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            fits = fits && text.len() + chunk.len() <= MAX_TEXT;
            if fits {
                text.extend_from_slice(&chunk);
            }
        }
        let part = match String::from_utf8(text) {
            Ok(text) if fits => Part::Text(text),
            _ => Part::Other,
        };
        form.parts.push((name, part));
    }
    Ok(form)
}

impl Form {
    /// The part named `name`, if there is exactly one.
    fn get(&self, name: &str) -> Result<Option<&Part>, MultipartError> {
        let mut named = self.parts.iter().filter(|(n, _)| n == name);
        let first = named.next().map(|(_, part)| part);
        if named.next().is_some() {
            return Err(MultipartError::Repeated(name.to_owned()));
        }
        Ok(first)
    }

    /// What the form says about the `wanted` fields.
    pub(crate) fn found(&self, wanted: Wanted<'_>) -> Result<Found, MultipartError> {
        let mut found = Found::default();
        if let Some(name) = wanted.model {
            found.model = self.get(name)?.map(|part| match part {
                Part::Text(text) => Field::Value(text.clone()),
                Part::Other => Field::WrongType,
            });
        }
        if let Some(name) = wanted.images {
            found.images = self.get(name)?.map(count);
        }
        if wanted.max_tokens {
            for name in ["max_tokens", "max_completion_tokens", "max_output_tokens"] {
                if let Some(Field::Value(n)) = self.get(name)?.map(count) {
                    found.max_tokens = Some(n);
                }
            }
        }
        Ok(found)
    }

    /// The `names` fields as a JSON object, for a compute formula: a value that reads as
    /// a JSON number becomes one (form fields are all text), anything else a string.
    pub(crate) fn object(&self, names: &[&str]) -> Result<Value, MultipartError> {
        let mut object = Map::new();
        for &name in names {
            if let Some(Part::Text(text)) = self.get(name)? {
                let value = match text.trim().parse::<serde_json::Number>() {
                    Ok(number) => Value::Number(number),
                    Err(_) => Value::String(text.clone()),
                };
                object.insert(name.to_owned(), value);
            }
        }
        Ok(Value::Object(object))
    }
}

/// A count from a form field: a whole number, written as such or as a float without a
/// fraction (as for JSON bodies).
fn count(part: &Part) -> Field<u64> {
    let Part::Text(text) = part else {
        return Field::WrongType;
    };
    let text = text.trim();
    match (text.parse::<u64>(), text.parse::<f64>()) {
        (Ok(n), _) => Field::Value(n),
        (Err(_), Ok(f)) => json::whole_count(f),
        (Err(_), Err(_)) => Field::WrongType,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const WANTED: Wanted<'static> = Wanted {
        model: Some("model"),
        images: Some("n"),
        max_tokens: true,
    };

    /// A body with `parts` as (name, filename, value), delimited by `b`.
    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Bytes {
        let mut out = Vec::new();
        for (name, file, value) in parts {
            out.extend_from_slice(b"--b\r\nContent-Disposition: form-data; name=\"");
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
            if let Some(file) = file {
                out.extend_from_slice(format!("; filename=\"{file}\"").as_bytes());
                out.extend_from_slice(b"\r\nContent-Type: application/octet-stream");
            }
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--b--\r\n");
        out.into()
    }

    async fn found(parts: &[(&str, Option<&str>, &[u8])]) -> Result<Found, MultipartError> {
        read(body(parts), "b").await?.found(WANTED)
    }

    #[test]
    fn boundaries_of_form_data_only() {
        let mut h = HeaderMap::new();
        assert_eq!(boundary(&h), None);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert_eq!(boundary(&h), None);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Multipart/Form-Data; boundary=\"a b\""),
        );
        assert_eq!(boundary(&h), Some(Ok("a b".to_owned())));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data"),
        );
        assert_eq!(boundary(&h), Some(Err(MultipartError::NoBoundary)));
    }

    #[tokio::test]
    async fn fields_before_and_after_a_large_file() {
        let audio = vec![7u8; 3 * SLICE + 5];
        let before = found(&[
            ("model", None, b"whisper"),
            ("file", Some("a.wav"), &audio),
            ("n", None, b"2"),
            ("max_tokens", None, b"64"),
        ])
        .await
        .unwrap();
        assert_eq!(before.model, Some(Field::Value("whisper".into())));
        assert_eq!(before.images, Some(Field::Value(2)));
        assert_eq!(before.max_tokens, Some(64));
        let after = found(&[("file", Some("a.wav"), &audio), ("model", None, b"whisper")])
            .await
            .unwrap();
        assert_eq!(after.model, Some(Field::Value("whisper".into())));
        assert_eq!(after.images, None);
    }

    #[tokio::test]
    async fn wrong_types_repeats_and_absent_fields() {
        let file_as_model = found(&[("model", Some("m.txt"), b"whisper")])
            .await
            .unwrap();
        assert_eq!(file_as_model.model, Some(Field::WrongType));
        let long = vec![b'a'; MAX_TEXT + 1];
        let long_model = found(&[("model", None, &long)]).await.unwrap();
        assert_eq!(long_model.model, Some(Field::WrongType));
        let counts = found(&[("n", None, b" 3.0 "), ("max_tokens", None, b"lots")])
            .await
            .unwrap();
        assert_eq!(counts.images, Some(Field::Value(3)));
        assert_eq!(counts.max_tokens, None);
        assert_eq!(counts.model, None);
        assert_eq!(
            found(&[("n", None, b"-1")]).await.unwrap().images,
            Some(Field::WrongType)
        );
        assert_eq!(
            found(&[("model", None, b"a"), ("model", None, b"b")]).await,
            Err(MultipartError::Repeated("model".into()))
        );
    }

    #[tokio::test]
    async fn malformed_bodies_are_errors() {
        let whole = body(&[("model", None, b"whisper")]);
        let cut = whole.slice(..whole.len() - 12);
        for bad in [Bytes::new(), Bytes::from_static(b"not a form"), cut] {
            assert!(
                matches!(
                    read(bad.clone(), "b").await,
                    Err(MultipartError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn formula_inputs_as_json() {
        let form = read(
            body(&[
                ("duration_seconds", None, b"30"),
                ("resolution", None, b"4k"),
            ]),
            "b",
        )
        .await
        .unwrap();
        let object = form
            .object(&["duration_seconds", "resolution", "absent"])
            .unwrap();
        assert_eq!(
            object,
            serde_json::json!({"duration_seconds": 30, "resolution": "4k"})
        );
    }
}
