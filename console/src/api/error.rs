//! API errors: a status and a message, sent as `{"error": "..."}`. Domain refusals keep
//! their message; internal failures are logged and answered with a generic one, so that no
//! path, SQL or secret leaks to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::error;

use crate::authz::Refusal;
use crate::rejected::Rejected;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(failure: anyhow::Error) -> ApiError {
        match failure.downcast_ref::<Rejected>() {
            Some(Rejected::Invalid(message)) => ApiError::invalid(message.clone()),
            Some(Rejected::NotFound(message)) => ApiError::not_found(message.clone()),
            Some(Rejected::Conflict(message)) => {
                ApiError::new(StatusCode::CONFLICT, message.clone())
            }
            None => {
                error!(error = format!("{failure:#}"), "API request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; see the console log",
                )
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        ApiError::forbidden(refusal.reason)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
