//! The middleware in front of every endpoint: it counts the request, reads its body,
//! applies the configured latency and the `x-mock-delay-ms` / `x-mock-status` headers, and
//! stamps `x-mock-received-bytes` on the answer.
//!
//! Reading the whole body here, before any handler, is what lets a test tell from the
//! stats whether a body reached the upstream in full.

use crate::error::MockError;
use crate::SharedState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Largest request body the mock reads; uploads in the seeds stop at 20 MB.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Longest delay a request may ask for, so a typo cannot hang a test run.
const MAX_DELAY_MS: u64 = 300_000;

/// Answers with this status (a JSON error body unless it is a 2xx).
const STATUS_HEADER: &str = "x-mock-status";
/// Holds the answer back this many milliseconds.
const DELAY_HEADER: &str = "x-mock-delay-ms";
/// Tells the client how many body bytes the mock received.
const RECEIVED_HEADER: &str = "x-mock-received-bytes";

pub(crate) async fn control(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    // The mock's own endpoints are not traffic a test wants to count.
    let counted = !path.starts_with("/mock/");
    if counted {
        state.stats.record_request(&path);
    }
    let (parts, body) = request.into_parts();
    if content_length(&parts.headers).is_some_and(|length| length > MAX_BODY_BYTES) {
        let error = MockError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the mock upstream reads bodies of at most {MAX_BODY_BYTES} bytes"),
        );
        return stamp(error.into_response(), 0);
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(err) => {
            let error = MockError::new(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read in full ({MAX_BODY_BYTES} bytes at most): {err}"),
            );
            return stamp(error.into_response(), 0);
        }
    };
    let received = bytes.len();
    if counted {
        state.stats.record_body(&path, received);
    }

    let response = match answer_plan(&parts.headers) {
        Ok(plan) => {
            let delay = state.options.latency.unwrap_or_default() + plan.delay;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            match plan.status {
                Some(status) if !status.is_success() => MockError::new(
                    status,
                    format!(
                        "the mock upstream answered {} as the {STATUS_HEADER} request header asked",
                        status.as_u16()
                    ),
                )
                .into_response(),
                forced => {
                    let request = Request::from_parts(parts, Body::from(bytes));
                    let mut response = next.run(request).await;
                    if let Some(status) = forced {
                        *response.status_mut() = status;
                    }
                    response
                }
            }
        }
        Err(error) => error.into_response(),
    };
    stamp(response, received)
}

/// What the control headers of a request ask for.
#[derive(Debug, PartialEq)]
struct AnswerPlan {
    /// Extra time to wait before answering.
    delay: Duration,
    /// The status to answer with instead of the endpoint's own.
    status: Option<StatusCode>,
}

fn answer_plan(headers: &HeaderMap) -> Result<AnswerPlan, MockError> {
    let delay = match header_number(headers, DELAY_HEADER)? {
        Some(ms) => Duration::from_millis(ms.min(MAX_DELAY_MS)),
        None => Duration::ZERO,
    };
    let status = match header_number(headers, STATUS_HEADER)? {
        Some(code) => Some(
            u16::try_from(code)
                .ok()
                .filter(|code| (200..=599).contains(code))
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(|| {
                    MockError::new(
                        StatusCode::BAD_REQUEST,
                        format!("{STATUS_HEADER} must be a status from 200 to 599, got {code}"),
                    )
                })?,
        ),
        None => None,
    };
    Ok(AnswerPlan { delay, status })
}

/// A header holding a whole number; a present but malformed one is the test's mistake,
/// and saying so beats ignoring it.
fn header_number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, MockError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            MockError::new(
                StatusCode::BAD_REQUEST,
                format!("{name} must be a whole number"),
            )
        })
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn stamp(mut response: Response, received: usize) -> Response {
    response
        .headers_mut()
        .insert(RECEIVED_HEADER, HeaderValue::from(received));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn no_control_headers_means_answer_at_once_with_the_endpoint_status() {
        let plan = answer_plan(&HeaderMap::new()).unwrap();
        assert_eq!(
            plan,
            AnswerPlan {
                delay: Duration::ZERO,
                status: None
            }
        );
    }

    #[test]
    fn delay_is_capped_and_status_parsed() {
        let plan = answer_plan(&headers(&[
            ("x-mock-delay-ms", "999999999"),
            ("x-mock-status", " 503 "),
        ]))
        .unwrap();
        assert_eq!(plan.delay, Duration::from_millis(MAX_DELAY_MS));
        assert_eq!(plan.status, Some(StatusCode::SERVICE_UNAVAILABLE));
    }

    #[test]
    fn malformed_control_headers_are_rejected() {
        for (name, value) in [
            ("x-mock-status", "abc"),
            ("x-mock-status", "99"),
            ("x-mock-status", "600"),
            ("x-mock-delay-ms", "-5"),
        ] {
            let error = answer_plan(&headers(&[(name, value)])).unwrap_err();
            assert_eq!(error.into_response().status(), StatusCode::BAD_REQUEST);
        }
    }
}
