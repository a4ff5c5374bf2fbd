//! Everything that stops a request before (or instead of) a proxied response, each
//! failure knowing its HTTP status and its machine-readable type.
//!
//! A rate-limit rejection is not here: it is a value built from the store's decision
//! (see `reject`), with the provider's configured body and headers.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use floodgate_store::StoreError;

/// A request the gateway answers itself with a JSON error
/// (`{"error": {"type": "...", "message": "..."}}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// Neither `Authorization: Bearer` nor `x-api-key` carried a key.
    #[error("missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'")]
    MissingKey,
    /// The key is not one the gateway knows.
    #[error("invalid API key")]
    UnknownKey,
    /// No route matches the method and path.
    #[error("no route for {method} {path}")]
    NoRoute {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// The body is not the JSON the route needs to read.
    #[error("request body is not valid JSON: {0}")]
    BadJson(String),
    /// The body claims to be `multipart/form-data` but cannot be parsed as such.
    #[error("request body is not valid multipart/form-data: {0}")]
    BadMultipart(String),
    /// The JSON body lacks a field or holds a value of the wrong type.
    #[error("{0}")]
    BadField(String),
    /// The request names a model the configuration does not know.
    #[error("model '{0}' is not known")]
    UnknownModel(String),
    /// The body is larger than the route (or the JSON reader) accepts.
    #[error("request body exceeds the limit of {} ({limit} bytes){what}", human_size(*limit))]
    PayloadTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: u64,
        /// What the limit is for, e.g. " for uploads to this endpoint".
        what: &'static str,
    },
    /// The body holds audio or video longer than the route accepts.
    #[error(
        "media duration of {:.1} minutes ({} s) exceeds the limit of {} for uploads to this endpoint",
        *millis as f64 / 60_000.0,
        millis.div_ceil(1000),
        minutes(*limit)
    )]
    MediaTooLong {
        /// The media's duration, in milliseconds.
        millis: u64,
        /// The route's limit.
        limit: floodgate_core::Nanos,
    },
    /// Content-Length is not a number.
    #[error("invalid Content-Length header")]
    BadContentLength,
    /// No upstream is configured (neither in the file nor with `--upstream`).
    #[error("no upstream is configured")]
    NoUpstream,
    /// The upstream could not be reached or broke the connection.
    #[error("upstream unavailable: {0}")]
    UpstreamUnavailable(String),
    /// The upstream did not send its response head in time.
    #[error("upstream did not answer within {0} ms")]
    UpstreamTimeout(u64),
    /// The counter store failed: a shared store that cannot be reached while a limit of
    /// the request fails closed (503), or a store that answered nonsense (500).
    #[error("{}", store_message(.0))]
    Store(#[from] StoreError),
    /// The configuration contradicts itself (a key's account or tier is missing).
    #[error("gateway misconfigured: {0}")]
    Misconfigured(String),
}

impl GatewayError {
    /// The HTTP status this failure is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::MissingKey | GatewayError::UnknownKey => StatusCode::UNAUTHORIZED,
            GatewayError::NoRoute { .. } | GatewayError::UnknownModel(_) => StatusCode::NOT_FOUND,
            GatewayError::BadJson(_)
            | GatewayError::BadMultipart(_)
            | GatewayError::BadField(_)
            | GatewayError::BadContentLength => StatusCode::BAD_REQUEST,
            GatewayError::PayloadTooLarge { .. } | GatewayError::MediaTooLong { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            GatewayError::NoUpstream | GatewayError::UpstreamUnavailable(_) => {
                StatusCode::BAD_GATEWAY
            }
            GatewayError::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Store(StoreError::Unavailable(_) | StoreError::Timeout(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            GatewayError::Store(StoreError::Backend(_) | StoreError::Stale) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            GatewayError::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `error.type` of the JSON body.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::MissingKey => "missing_api_key",
            GatewayError::UnknownKey => "invalid_api_key",
            GatewayError::NoRoute { .. } => "no_route",
            GatewayError::BadJson(_) => "invalid_json",
            GatewayError::BadMultipart(_) => "invalid_multipart",
            GatewayError::BadField(_) => "invalid_request",
            GatewayError::UnknownModel(_) => "unknown_model",
            GatewayError::PayloadTooLarge { .. } => "payload_too_large",
            GatewayError::MediaTooLong { .. } => "media_too_long",
            GatewayError::BadContentLength => "invalid_content_length",
            GatewayError::NoUpstream | GatewayError::UpstreamUnavailable(_) => {
                "upstream_unavailable"
            }
            GatewayError::UpstreamTimeout(_) => "upstream_timeout",
            GatewayError::Store(StoreError::Unavailable(_) | StoreError::Timeout(_)) => {
                "store_unavailable"
            }
            GatewayError::Store(StoreError::Backend(_) | StoreError::Stale) => "store_error",
            GatewayError::Misconfigured(_) => "internal_error",
        }
    }
}

/// What a client reads when the store fails: that the refusal comes from the failure
/// policy, not from a limit, and why.
fn store_message(error: &StoreError) -> String {
    match error {
        StoreError::Unavailable(detail) => format!(
            "rate-limit store unavailable; request refused by fail_closed policy ({detail})"
        ),
        StoreError::Timeout(ms) => format!(
            "rate-limit store did not answer within {ms} ms; request refused by fail_closed policy"
        ),
        StoreError::Backend(detail) => format!("rate-limit store failed: {detail}"),
        StoreError::Stale => error.to_string(),
    }
}

/// Seconds a client should wait before retrying a request the store's outage refused:
/// an instance tries the store again about once a second.
const STORE_RETRY_AFTER: HeaderValue = HeaderValue::from_static("1");

/// A byte count in the largest binary unit that divides it exactly ("10 MB").
fn human_size(bytes: u64) -> String {
    for (per, unit) in [(1u64 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")] {
        if bytes >= per && bytes.is_multiple_of(per) {
            return format!("{} {unit}", bytes / per);
        }
    }
    format!("{bytes} B")
}

/// A limit as the seeds write media limits: in whole minutes where it is some ("600
/// minutes"), else in seconds.
fn minutes(limit: floodgate_core::Nanos) -> String {
    const MINUTE: u64 = 60_000_000_000;
    if limit >= MINUTE && limit.is_multiple_of(MINUTE) {
        format!("{} minutes", limit / MINUTE)
    } else {
        format!("{} s", limit as f64 / 1e9)
    }
}

/// The shared JSON error body.
pub(crate) fn error_body(kind: &str, message: &str) -> String {
    serde_json::json!({ "error": { "type": kind, "message": message } }).to_string()
}

/// A JSON response with `status` and `body`.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut response = json_response(self.status(), error_body(self.kind(), &self.to_string()));
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, STORE_RETRY_AFTER);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_json_with_its_status() {
        let e = GatewayError::UnknownModel("x".into());
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        let body = error_body(e.kind(), &e.to_string());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["type"], "unknown_model");
        assert_eq!(v["error"]["message"], "model 'x' is not known");
        let big = GatewayError::PayloadTooLarge {
            limit: 10,
            what: " for uploads to this endpoint",
        };
        assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(big.to_string().contains("10 B (10 bytes)"));
        assert_eq!(human_size(10 << 20), "10 MB");
    }

    #[test]
    fn an_unreachable_store_is_a_503_that_names_the_policy() {
        let e = GatewayError::from(StoreError::Unavailable(
            "the shared rate-limit store is unreachable and the limit rpm fails closed".into(),
        ));
        let response = e.clone().into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(e.kind(), "store_unavailable");
        assert!(e
            .to_string()
            .starts_with("rate-limit store unavailable; request refused by fail_closed policy"));
        let timeout = GatewayError::from(StoreError::Timeout(250));
        assert_eq!(timeout.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(timeout.to_string().contains("within 250 ms"));
        let broken = GatewayError::from(StoreError::Backend("ERR user_script".into()));
        assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(broken.kind(), "store_error");
    }
}
