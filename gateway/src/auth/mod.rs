//! Who is asking: credentials (JWT, API key, cookie, WebSocket query) resolved to a user, the
//! login rate limit, and the WebSocket Origin check.

pub mod client_address;
pub mod credentials;
pub mod jwt;
pub mod origin;
pub mod rate_limit;
pub mod session_caller;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::accounts::{Accounts, User};
use crate::error::ApiError;
use crate::state::AppState;
use credentials::{Credential, CredentialError};
use jwt::{TokenError, Tokens};

pub struct Auth {
    /// Proxies whose `X-Forwarded-For` names the client (`--trusted-proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub accounts: Accounts,
    pub tokens: Tokens,
    pub limiter: rate_limit::LoginLimiter,
    /// Whether the session cookie carries `Secure` (off only for plain-HTTP development).
    pub secure_cookies: bool,
}

impl Auth {
    /// The key a login from `peer` is limited under (see `client_address`).
    pub fn client(
        &self,
        peer: std::net::SocketAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        client_address::limit_key(client_address::client_address(
            peer.ip(),
            headers,
            &self.trusted_proxies,
        ))
    }

    pub async fn authenticate(&self, credential: &Credential) -> Result<User, ApiError> {
        let user = match credential {
            Credential::Token(token) => {
                let claims = self.tokens.verify(token).map_err(|error| match error {
                    TokenError::Expired => unauthenticated("token_expired", error.to_string()),
                    TokenError::Invalid => unauthenticated("invalid_token", error.to_string()),
                })?;
                if self
                    .accounts
                    .token_revoked(&claims.jti)
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?
                {
                    return Err(unauthenticated(
                        "token_revoked",
                        "this token was logged out; log in again",
                    ));
                }
                let user = self
                    .accounts
                    .user_by_id(&claims.sub)
                    .await
                    .map_err(|e| ApiError::Unavailable(e.to_string()))?
                    .ok_or_else(|| {
                        unauthenticated("invalid_token", "the token's user no longer exists")
                    })?;
                if claims.cred != user.credentials_version {
                    return Err(unauthenticated(
                        "password_changed",
                        "the password changed since this token was issued; log in again",
                    ));
                }
                user
            }
            Credential::ApiKey(key) => self
                .accounts
                .user_by_api_key(key)
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?
                .ok_or_else(|| {
                    unauthenticated("invalid_api_key", "the API key is unknown or revoked")
                })?,
        };
        if user.disabled {
            return Err(unauthenticated(
                "account_disabled",
                "this account is disabled; ask an admin",
            ));
        }
        Ok(user)
    }

    /// The caller of a request; `allow_query` only for the WebSocket upgrade.
    pub async fn principal(&self, parts: &Parts, allow_query: bool) -> Result<Principal, ApiError> {
        let credential = credentials::find(&parts.headers, parts.uri.query(), allow_query)
            .map_err(|error| match error {
                CredentialError::Missing => unauthenticated(
                    "missing_credentials",
                    "log in first: send a bearer token, an X-API-Key or the auth_token cookie",
                ),
                CredentialError::Malformed => unauthenticated(
                    "invalid_auth_header",
                    "the Authorization header must be `Bearer <token>`",
                ),
            })?;
        self.authenticate(&credential).await.map(Principal)
    }
}

pub fn unauthenticated(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::Unauthenticated {
        code,
        message: message.into(),
    }
}

/// The authenticated user of a REST request (extractor).
#[derive(Debug, Clone)]
pub struct Principal(pub User);

impl Principal {
    pub fn user(&self) -> &User {
        &self.0
    }

    /// Admins see everything; others their own.
    pub fn may_access(&self, owner: &str) -> bool {
        self.0.is_admin() || self.0.username == owner
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("this needs the admin role".into()))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        state.auth.principal(parts, false).await
    }
}

/// Request headers from (name, value) pairs, for the tests of the header checks.
#[cfg(test)]
pub(crate) fn test_headers(pairs: &[(&'static str, &str)]) -> axum::http::HeaderMap {
    let mut map = axum::http::HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = axum::http::HeaderValue::from_str(value) {
            map.append(*name, value);
        }
    }
    map
}
