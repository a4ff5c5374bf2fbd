//! [`AdminError`]: why an admin call was refused, with its status and a JSON body in the
//! gateway's one error shape (`{"error": {"type": "...", "message": "..."}}`).

use crate::error::{error_body, json_response};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An admin call that did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No admin token, or the wrong one.
    #[error("missing or invalid admin token: send 'Authorization: Bearer <admin token>'")]
    Unauthorized,
    /// The admin API has no token configured, so nobody may call it.
    #[error("the admin API is disabled: set [admin] token_sha256 or FLOODGATE_ADMIN_TOKEN")]
    Disabled,
    /// The body or a parameter is not what the route takes.
    #[error("{0}")]
    BadRequest(String),
    /// The key or account named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// No admin route has this method and path.
    #[error("no admin route for {0}")]
    NoRoute(String),
    /// The registry or the store failed; nothing was changed.
    #[error("the change could not be stored: {0}")]
    Unavailable(String),
}

impl AdminError {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized | AdminError::Disabled => StatusCode::UNAUTHORIZED,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) | AdminError::NoRoute(_) => StatusCode::NOT_FOUND,
            AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The machine-readable type of the refusal.
    pub fn kind(&self) -> &'static str {
        match self {
            AdminError::Unauthorized => "invalid_admin_token",
            AdminError::Disabled => "admin_disabled",
            AdminError::BadRequest(_) => "bad_request",
            AdminError::NotFound(_) => "not_found",
            AdminError::NoRoute(_) => "no_route",
            AdminError::Unavailable(_) => "store_unavailable",
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        json_response(self.status(), error_body(self.kind(), &self.to_string()))
    }
}
