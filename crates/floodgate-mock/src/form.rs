//! `multipart/form-data` request bodies, as OpenAI-style SDKs send transcriptions,
//! translations and image edits: the text fields become a JSON object, so every endpoint
//! reads `model`, `n` or `response_format` the same way whether the client sent JSON or a
//! form, and the file parts are kept as their name, filename and size.

use axum::body::Bytes;
use axum::http::{header, HeaderMap};
use futures_util::stream;
use serde_json::{Map, Number, Value};
use std::convert::Infallible;

/// A file part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct File {
    /// The form field it was sent as (`file`, `image`, ...).
    pub(crate) field: String,
    /// The filename the client gave.
    pub(crate) filename: String,
    /// Its length in bytes.
    pub(crate) size: usize,
}

/// A parsed form.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Form {
    /// The text fields; a value that reads as a JSON number is one (form fields carry
    /// only text, and `"n": "2"` should count as 2), a repeated field keeps its last value.
    pub(crate) fields: Value,
    /// The file parts, in body order.
    pub(crate) files: Vec<File>,
}

/// Parses `body` if the request says it is a form; `None` for any other body, and for a
/// form that does not parse (the mock answers what it can rather than failing).
pub(crate) async fn parse(headers: &HeaderMap, body: &Bytes) -> Option<Form> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = multer::parse_boundary(content_type).ok()?;
    let whole = stream::once(std::future::ready(Ok::<_, Infallible>(body.clone())));
    let mut multipart = multer::Multipart::new(whole, boundary);
    let mut fields = Map::new();
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.ok()? {
        let name = field.name().unwrap_or_default().to_owned();
        match field.file_name().map(str::to_owned) {
            Some(filename) => {
                let size = field.bytes().await.ok()?.len();
                files.push(File {
                    field: name,
                    filename,
                    size,
                });
            }
            None => {
                let text = field.text().await.ok()?;
                let value = match text.trim().parse::<Number>() {
                    Ok(number) => Value::Number(number),
                    Err(_) => Value::String(text),
                };
                fields.insert(name, value);
            }
        }
    }
    Some(Form {
        fields: Value::Object(fields),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[tokio::test]
    async fn text_fields_and_files() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=xyz"),
        );
        let body = Bytes::from_static(
            b"--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n\
--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\
Content-Type: audio/wav\r\n\r\nRIFF1234\r\n\
--xyz\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n2\r\n--xyz--\r\n",
        );
        let form = parse(&headers, &body).await.unwrap();
        assert_eq!(form.fields, serde_json::json!({"model": "whisper", "n": 2}));
        assert_eq!(
            form.files,
            vec![File {
                field: "file".into(),
                filename: "a.wav".into(),
                size: 8
            }]
        );
        assert_eq!(parse(&headers, &Bytes::from_static(b"junk")).await, None);
        assert_eq!(parse(&HeaderMap::new(), &body).await, None);
    }
}
