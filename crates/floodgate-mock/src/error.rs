//! The JSON error body of every answer the mock gives when something is wrong, shaped
//! like the error bodies of OpenAI-style APIs so clients parse it the same way.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer: a status and a message, rendered as
/// `{"error": {"message", "type", "code"}}`.
#[derive(Debug)]
pub(crate) struct MockError {
    /// The status to answer with.
    status: StatusCode,
    /// What a person reading the body should learn.
    message: String,
}

impl MockError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for MockError {
    fn into_response(self) -> Response {
        let kind = match self.status.as_u16() {
            400..=499 => "invalid_request_error",
            _ => "server_error",
        };
        let body = json!({
            "error": {
                "message": self.message,
                "type": kind,
                "code": self.status.as_u16(),
            }
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        // Rejections and overload answers of real providers say when to come back;
        // clients under test rely on it.
        if matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
        }
        response
    }
}
