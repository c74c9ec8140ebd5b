//! The gateway's REST API over HTTP: JSON in and out, the bearer token on every call that
//! needs one, and the gateway's `{error, code}` answers turned into errors that say both.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

/// A refusal by the gateway, as its JSON error body states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub error: String,
    pub code: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.error, self.code)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// What to do about it, when that is clear.
    pub fn hint(&self) -> Option<&'static str> {
        (self.status == StatusCode::UNAUTHORIZED.as_u16() && self.code != "invalid_credentials")
            .then_some("log in again with `oqtoctl login`, or pass another --token")
    }
}

/// The error of a failed answer. Something in front of the gateway (a proxy, a load
/// balancer) may answer with other bodies: those are shown as far as they are text.
pub fn api_error(status: u16, body: &[u8]) -> ApiError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let text = |key: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if let (Some(error), Some(code)) = (text("error"), text("code")) {
        return ApiError {
            status,
            error,
            code,
        };
    }
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    let snippet: String = String::from_utf8_lossy(body)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    let error = if snippet.is_empty() {
        format!("the server answered HTTP {status} {reason}")
    } else {
        format!("the server answered HTTP {status} {reason}: {snippet}")
    };
    ApiError {
        status,
        error,
        code: format!("http_{status}"),
    }
}

pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
}

impl Client {
    pub fn new(server: &str, token: Option<String>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("oqtoctl/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // Generous: a create waits for the Kubernetes API server, never for a runner.
            .timeout(Duration::from_secs(120))
            .build()
            .context("setting up the HTTP client")?;
        Ok(Self {
            http,
            server: server.to_owned(),
            token,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn token(&self) -> Result<&str> {
        match &self.token {
            Some(token) => Ok(token),
            None => bail!(
                "not logged in to {}: run `oqtoctl login`, or pass --token (or set OQTO_TOKEN)",
                self.server
            ),
        }
    }

    pub async fn get(&self, path: &[&str]) -> Result<Value> {
        self.call(Method::GET, path, None, true).await
    }

    pub async fn post(&self, path: &[&str], body: &Value) -> Result<Value> {
        self.call(Method::POST, path, Some(body), true).await
    }

    pub async fn put(&self, path: &[&str], body: &Value) -> Result<Value> {
        self.call(Method::PUT, path, Some(body), true).await
    }

    pub async fn patch(&self, path: &[&str], body: &Value) -> Result<Value> {
        self.call(Method::PATCH, path, Some(body), true).await
    }

    pub async fn delete(&self, path: &[&str]) -> Result<()> {
        self.call(Method::DELETE, path, None, true).await.map(drop)
    }

    /// A POST without credentials (the login itself).
    pub async fn post_anonymous(&self, path: &[&str], body: &Value) -> Result<Value> {
        self.call(Method::POST, path, Some(body), false).await
    }

    /// The answer's JSON (`null` for an empty one, e.g. 204), or the gateway's error.
    async fn call(
        &self,
        method: Method,
        path: &[&str],
        body: Option<&Value>,
        authenticated: bool,
    ) -> Result<Value> {
        let url = url(&self.server, path)?;
        let mut request = self.http.request(method.clone(), url.clone());
        if authenticated {
            request = request.bearer_auth(self.token()?);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway at {}", self.server))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer to {method} {}", url.path()))?;
        if !status.is_success() {
            return Err(api_error(status.as_u16(), &bytes).into());
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "the answer to {method} {} is not JSON (is {} an Oqto gateway?)",
                url.path(),
                self.server
            )
        })
    }
}

/// The server URL with `path`'s segments appended, each percent-encoded so that a name
/// can never reach another route. A path prefix of the server (behind a proxy) is kept.
pub fn url(server: &str, path: &[&str]) -> Result<Url> {
    let mut url = Url::parse(server).with_context(|| format!("{server:?} is not a URL"))?;
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("{server:?} cannot have a path"))?
        .pop_if_empty()
        .extend(path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_errors_say_message_and_code() {
        let error = api_error(
            404,
            br#"{"error":"workspace \"w\" not found","code":"not_found"}"#,
        );
        assert_eq!(error.to_string(), r#"workspace "w" not found (not_found)"#);
        assert_eq!(error.hint(), None);
        let error = api_error(401, br#"{"error":"expired","code":"token_expired"}"#);
        assert!(error.hint().is_some());
        let error = api_error(401, br#"{"error":"wrong","code":"invalid_credentials"}"#);
        assert_eq!(error.hint(), None, "a wrong password needs no login hint");
    }

    #[test]
    fn other_bodies_are_shown_as_text() {
        let error = api_error(502, b"<html>\n  Bad   gateway\n</html>");
        assert_eq!(
            error.to_string(),
            "the server answered HTTP 502 Bad Gateway: <html> Bad gateway </html> (http_502)"
        );
        let error = api_error(503, b"");
        assert_eq!(
            error.to_string(),
            "the server answered HTTP 503 Service Unavailable (http_503)"
        );
    }

    #[test]
    fn paths_are_encoded_segments_under_the_server() {
        let built = url("http://gw:8080", &["api", "workspaces", "a/b?c"]).unwrap();
        assert_eq!(built.as_str(), "http://gw:8080/api/workspaces/a%2Fb%3Fc");
        let built = url("https://example.com/oqto", &["api", "apply"]).unwrap();
        assert_eq!(built.as_str(), "https://example.com/oqto/api/apply");
        let built = url("https://example.com/oqto/", &["api"]).unwrap();
        assert_eq!(built.as_str(), "https://example.com/oqto/api");
    }
}
