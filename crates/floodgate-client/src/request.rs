//! [`ApiRequest`], what a caller asks for, and [`ApiResponse`], what it gets back.

use crate::pacer::Cost;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One call to the API: a method, a path under the client's base URL, an optional JSON
/// body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiRequest {
    /// `GET`, `POST`, ...; `POST` when omitted.
    #[serde(default = "post")]
    pub method: String,
    /// The path (and query) under the base URL, e.g. `/api/v1/txt2img`.
    pub path: String,
    /// The JSON body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Images this request generates, when the limit counts images (default: the body's
    /// `n`, `image_num` or `batch_size`, else 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<u64>,
    /// Tokens it will use, when a limit counts tokens (default: unknown, so token limits
    /// are not paced for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Which limits it counts against, when its method, path and model do not say: task
    /// polls, for one, share a limit whatever their task id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace_as: Option<String>,
}

fn post() -> String {
    "POST".to_owned()
}

impl ApiRequest {
    /// A `POST` of `body` to `path`.
    pub fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: post(),
            path: path.into(),
            body: Some(body),
            images: None,
            tokens: None,
            pace_as: None,
        }
    }

    /// A `GET` of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: "GET".to_owned(),
            path: path.into(),
            body: None,
            images: None,
            tokens: None,
            pace_as: None,
        }
    }

    /// The HTTP method, or why it is not one.
    pub(crate) fn http_method(&self) -> Result<Method, String> {
        Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("{:?} is not an HTTP method", self.method))
    }

    /// What it costs against each kind of limit.
    pub fn cost(&self) -> Cost {
        let field = |name: &str| {
            self.body
                .as_ref()
                .and_then(|b| b.get(name))
                .and_then(serde_json::Value::as_u64)
        };
        Cost {
            images: self
                .images
                .or_else(|| field("n"))
                .or_else(|| field("image_num"))
                .or_else(|| field("batch_size"))
                .unwrap_or(1),
            tokens: self.tokens.unwrap_or(0),
        }
    }

    /// Which limits it counts against, as far as a client can tell: `pace_as`, else the
    /// method, the path without its query, and the body's `model` (per-model limits share
    /// a path).
    pub fn pace_key(&self) -> String {
        if let Some(key) = &self.pace_as {
            return key.clone();
        }
        let path = self.path.split('?').next().unwrap_or("");
        let model = self
            .body
            .as_ref()
            .and_then(|b| b.get("model"))
            .and_then(serde_json::Value::as_str);
        match model {
            Some(model) => format!("{} {path} {model}", self.method.to_ascii_uppercase()),
            None => format!("{} {path}", self.method.to_ascii_uppercase()),
        }
    }
}

/// A final answer (a success, or a status not worth retrying).
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
    /// Attempts it took (1 when the first one answered).
    pub attempts: u32,
    /// 429s met on the way.
    pub rate_limited: u32,
    /// From the first attempt to the answer, pacing and backoff included.
    pub latency: Duration,
}

impl ApiResponse {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn costs_and_keys_from_the_body() {
        let r = ApiRequest::post("/v1/images?x=1", json!({"model": "m", "n": 4}));
        assert_eq!(r.cost().images, 4);
        assert_eq!(r.pace_key(), "POST /v1/images m");
        let line: ApiRequest = serde_json::from_str(r#"{"path": "/api/v1/txt2img"}"#).unwrap();
        assert_eq!((line.method.as_str(), line.cost().images), ("POST", 1));
        assert_eq!(line.pace_key(), "POST /api/v1/txt2img");
        let poll = ApiRequest {
            pace_as: Some("GET /v1/tasks/{id}".into()),
            ..ApiRequest::get("/v1/tasks/task-7")
        };
        assert_eq!(poll.pace_key(), "GET /v1/tasks/{id}");
        let bad = ApiRequest {
            method: "NO PE".into(),
            ..line
        };
        assert!(bad.http_method().is_err());
    }
}
