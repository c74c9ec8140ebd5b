//! The proxy's refusals. Each has a stable reason (for logs and metrics) and is answered in the
//! error shape of the API the caller speaks, so Pi shows its message on the turn.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use oqto_proto::llm::ProviderApi;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no API key: send the Session's virtual key as `Authorization: Bearer` or `x-api-key`")]
    NoKey,
    #[error("this API key is not a valid Oqto virtual key")]
    BadKey,
    #[error("this API key's Session no longer exists; the key is revoked")]
    Revoked,
    #[error("the request body is not JSON with a string `model`: {0}")]
    BadBody(String),
    #[error("model {0:?} is not in the proxy's catalogue")]
    UnknownModel(String),
    #[error("model {model:?} is served with the {api:?} API; call its route instead")]
    WrongApi { model: String, api: ProviderApi },
    #[error("model {0:?} is not allowed by this Workspace's class")]
    ModelNotAllowed(String),
    #[error("{0}")]
    OverBudget(String),
    #[error("this Session has {0} requests in flight already, the most it may have at once")]
    TooManyStreams(usize),
    #[error("the provider could not be reached: {0}")]
    Upstream(String),
    #[error("the platform's store could not be read: {0}")]
    Store(String),
}

impl ProxyError {
    /// Stable, CamelCase: for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoKey => "NoKey",
            Self::BadKey => "BadKey",
            Self::Revoked => "Revoked",
            Self::BadBody(_) => "BadBody",
            Self::UnknownModel(_) => "UnknownModel",
            Self::WrongApi { .. } => "WrongApi",
            Self::ModelNotAllowed(_) => "ModelNotAllowed",
            Self::OverBudget(_) => "OverBudget",
            Self::TooManyStreams(_) => "TooManyStreams",
            Self::Upstream(_) => "UpstreamUnreachable",
            Self::Store(_) => "StoreUnavailable",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoKey | Self::BadKey | Self::Revoked => StatusCode::UNAUTHORIZED,
            Self::BadBody(_) | Self::WrongApi { .. } => StatusCode::BAD_REQUEST,
            Self::UnknownModel(_) => StatusCode::NOT_FOUND,
            Self::ModelNotAllowed(_) => StatusCode::FORBIDDEN,
            Self::OverBudget(_) | Self::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The answer in the caller's API's error shape.
    pub fn respond(&self, api: ProviderApi) -> Response {
        let message = self.to_string();
        let body = match api {
            ProviderApi::OpenAiCompletions => json!({"error": {
                "message": message, "type": self.reason(), "code": self.reason()}}),
            ProviderApi::AnthropicMessages => json!({"type": "error", "error": {
                "type": self.reason(), "message": message}}),
        };
        (self.status(), axum::Json(body)).into_response()
    }
}
