//! The gateway as delegation sees it: the REST call that starts a child Session of this
//! runner's Session, and the address and credential of the mux that carries the child's turns.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use oqto_proto::canonical::DelegateErrorCode;
use oqto_proto::delegation::{ChildStarted, StartChild};
use oqto_proto::mux::SessionName;
use oqto_proto::runner::SessionCredential;
use serde::Deserialize;

/// How long the gateway may take to create a child Session (it writes a resource and answers;
/// the child's runner starts afterwards).
const START_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest gateway message passed on: it ends up in a tool result the model reads.
const MAX_MESSAGE_CHARS: usize = 1000;

/// The gateway of this runner, with the credential it knows this runner's Session by.
pub struct Gateway {
    base: reqwest::Url,
    /// `Bearer <credential>`, checked once to be a valid header value.
    authorization: HeaderValue,
    http: reqwest::Client,
}

/// Why the gateway did not start a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The gateway's status, `None` when it did not answer at all.
    pub status: Option<StatusCode>,
    pub message: String,
    pub code: DelegateErrorCode,
}

impl Refusal {
    fn unreachable(message: String) -> Self {
        Self {
            status: None,
            message,
            code: DelegateErrorCode::RunnerUnreachable,
        }
    }
}

/// The gateway's error body.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    message: String,
}

impl Gateway {
    pub fn new(base: reqwest::Url, credential: &SessionCredential) -> anyhow::Result<Self> {
        let mut authorization = HeaderValue::from_str(&credential.bearer()).map_err(|_| {
            // The value is a secret: the error says what is wrong, not what it is.
            anyhow::anyhow!(
                "the session credential ({}) cannot be sent in a header: it holds spaces or \
                 control characters",
                oqto_proto::runner::ENV_SESSION_CREDENTIAL
            )
        })?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(START_TIMEOUT)
            .build()?;
        Ok(Self {
            base,
            authorization,
            http,
        })
    }

    /// `Authorization` for the gateway's REST API and its mux.
    pub fn authorization(&self) -> &HeaderValue {
        &self.authorization
    }

    /// `{base}{path}`; the base may carry a path prefix of its own.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// The gateway's mux WebSocket (`http` → `ws`, `https` → `wss`).
    pub fn mux_url(&self) -> String {
        let url = self.url("/api/ws/mux");
        match url.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => url.replacen("http://", "ws://", 1),
        }
    }

    /// `POST /api/delegation/children`: the child's Session name, or why not.
    pub async fn start_child(&self, request: &StartChild) -> Result<String, Refusal> {
        let response = self
            .http
            .post(self.url("/api/delegation/children"))
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .json(request)
            .send()
            .await
            .map_err(|e| {
                Refusal::unreachable(format!("the gateway cannot be reached: {}", chain(&e)))
            })?;
        let status = response.status();
        let body = response.text().await.map_err(|e| {
            Refusal::unreachable(format!(
                "the gateway's answer could not be read: {}",
                chain(&e)
            ))
        })?;
        if !status.is_success() {
            return Err(refusal(status, &body));
        }
        let started: ChildStarted = serde_json::from_str(&body)
            .map_err(|e| Refusal::unreachable(format!("the gateway answered {status} with {e}")))?;
        // The name goes into every frame of the child's turn: it must be a Session's name.
        SessionName::parse(&started.name)
            .map_err(|e| Refusal::unreachable(format!("the gateway named the child {e}")))?;
        Ok(started.name)
    }
}

impl Gateway {
    /// `POST /api/delegation/children/{child}/suspend`: a child whose turn ended gives up its
    /// runner (a follow-up prompt wakes it), so finished sub-agents hold no runner and do not
    /// count as running. Best effort: a failure only leaves the child to its idle timeout.
    pub async fn suspend_child(&self, child: &str) {
        let sent = self
            .http
            .post(self.url(&format!("/api/delegation/children/{child}/suspend")))
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::debug!(child, status = %response.status(), "suspending a sub-agent was refused")
            }
            Err(e) => tracing::debug!(child, error = %chain(&e), "suspending a sub-agent failed"),
        }
    }
}

/// A refused start: the gateway's message, and the canonical code its status stands for.
fn refusal(status: StatusCode, body: &str) -> Refusal {
    let message = match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody {
            code: Some(code),
            message,
        }) => format!("{message} ({code})"),
        Ok(ErrorBody { message, .. }) => message,
        Err(_) if body.trim().is_empty() => status
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_owned(),
        Err(_) => body.trim().to_owned(),
    };
    let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    Refusal {
        status: Some(status),
        message: format!("the gateway refused to start a sub-agent ({status}): {message}"),
        code: code_of(status),
    }
}

/// The canonical code of a gateway status: refusals by the rules (credential, limits, depth)
/// are `permission_denied`; the gateway failing is `runner_unreachable`.
pub fn code_of(status: StatusCode) -> DelegateErrorCode {
    match status.as_u16() {
        401 | 403 | 422 | 429 => DelegateErrorCode::PermissionDenied,
        404 => DelegateErrorCode::TargetNotFound,
        400..=499 => DelegateErrorCode::TargetError,
        _ => DelegateErrorCode::RunnerUnreachable,
    }
}

/// An error with its causes: reqwest's own message alone rarely says what failed.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(base: &str) -> Gateway {
        let credential = SessionCredential::from_secret("oqto-session.s.abc".into());
        Gateway::new(base.parse().expect("url"), &credential).expect("gateway")
    }

    #[test]
    fn the_mux_is_the_gateways_websocket_under_its_prefix() {
        assert_eq!(
            gateway("http://10.96.0.10:8080").mux_url(),
            "ws://10.96.0.10:8080/api/ws/mux"
        );
        assert_eq!(
            gateway("https://gw.example/oqto/").mux_url(),
            "wss://gw.example/oqto/api/ws/mux"
        );
        assert_eq!(
            gateway("http://gw:8080/").url("/api/delegation/children"),
            "http://gw:8080/api/delegation/children"
        );
    }

    #[test]
    fn a_credential_that_cannot_be_a_header_is_refused_without_being_echoed() {
        let credential = SessionCredential::from_secret("secret\nvalue".into());
        let error = Gateway::new("http://gw".parse().expect("url"), &credential)
            .err()
            .expect("refused")
            .to_string();
        assert!(!error.contains("secret"), "{error}");
        assert!(error.contains("OQTO_SESSION_CREDENTIAL"), "{error}");
    }

    #[test]
    fn refusals_carry_the_gateways_message_and_a_canonical_code() {
        let limit = refusal(
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"code":"too_many_children","message":"at most 8 children"}"#,
        );
        assert_eq!(limit.code, DelegateErrorCode::PermissionDenied);
        assert_eq!(limit.status, Some(StatusCode::TOO_MANY_REQUESTS));
        assert!(
            limit
                .message
                .contains("at most 8 children (too_many_children)"),
            "{}",
            limit.message
        );
        let depth = refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"message":"too deep"}"#,
        );
        assert_eq!(depth.code, DelegateErrorCode::PermissionDenied);
        let broken = refusal(StatusCode::BAD_GATEWAY, "");
        assert_eq!(broken.code, DelegateErrorCode::RunnerUnreachable);
        assert!(broken.message.contains("Bad Gateway"), "{}", broken.message);
        let long = refusal(StatusCode::BAD_REQUEST, &"x".repeat(5000));
        assert!(long.message.len() < 1200, "bounded");
        assert_eq!(
            code_of(StatusCode::NOT_FOUND),
            DelegateErrorCode::TargetNotFound
        );
        assert_eq!(
            code_of(StatusCode::FORBIDDEN),
            DelegateErrorCode::PermissionDenied
        );
    }
}
