//! The gateway's one error type for REST answers: a stable `code` (also the metrics and log
//! reason), the HTTP status it maps to, and a message for people. The body is
//! `{"error": message, "code": code, "details"?: …}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials, or ones that do not authenticate anybody.
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Conflict(String),
    /// The request names a bad field; `details` says which, when known.
    #[error("{message}")]
    Invalid {
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    RateLimited(String),
    /// A body that is not declared `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Kubernetes or the local store did not answer as expected.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid {
            message: message.into(),
            details: None,
        }
    }

    pub fn invalid_field(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            message: format!("{field}: {reason}"),
            details: Some(json!({ "field": field })),
        }
    }

    /// The stable reason.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated { code, .. } => code,
            Self::Forbidden(_) => "forbidden",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::NotFound(_) => "not_found",
            Self::AlreadyExists(_) => "already_exists",
            Self::Conflict(_) => "conflict",
            Self::Invalid { .. } => "invalid",
            Self::RateLimited(_) => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::AlreadyExists(_) | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(code = self.code(), error = %self, "request failed");
        }
        let mut body = json!({ "error": self.to_string(), "code": self.code() });
        if let Self::Invalid {
            details: Some(details),
            ..
        } = &self
        {
            body["details"] = details.clone();
        }
        (status, Json(body)).into_response()
    }
}

/// A JSON body that failed to parse becomes `invalid` with the path of the bad field.
pub fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let reason = error.into_inner();
        if path.is_empty() || path == "." {
            ApiError::invalid(format!("request body: {reason}"))
        } else {
            ApiError::invalid_field(&path, reason)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        spec: Inner,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        size: u32,
    }

    #[test]
    fn a_bad_body_names_the_field() {
        let error = from_json::<Body>(br#"{"name":"a","spec":{"size":"big"}}"#).unwrap_err();
        assert_eq!(error.code(), "invalid");
        assert!(
            error.to_string().starts_with("spec.size: invalid type"),
            "{error}"
        );
        let error = from_json::<Body>(b"not json").unwrap_err();
        assert!(error.to_string().starts_with("request body: "), "{error}");
    }

    #[test]
    fn statuses_follow_the_codes() {
        assert_eq!(
            ApiError::NotFound("x".into()).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::AlreadyExists("x".into()).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            ApiError::Unauthenticated {
                code: "invalid_token",
                message: "x".into()
            }
            .status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
