//! `/api/auth/*`: login (JWT + HttpOnly cookie), logout, the caller, and the one-time
//! bootstrap of the first admin.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::accounts::{AccountsError, Role, User, keys};
use crate::auth::Principal;
use crate::auth::credentials::COOKIE_NAME;
use crate::error::{ApiError, from_json};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// A bearer token (also set as the `auth_token` cookie).
    pub token: String,
    pub user: User,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct BootstrapRequest {
    /// The one-time token the gateway printed at its first start.
    pub token: String,
    pub username: String,
    pub password: String,
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401), (status = 429)))]
pub async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request_headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: LoginRequest = from_json(&body)?;
    if !state
        .auth
        .limiter
        .allow(state.auth.client(peer, &request_headers), &request.username)
        .await
        .map_err(accounts_error)?
    {
        state.metrics.logins_failed.inc();
        return Err(ApiError::RateLimited(
            "too many login attempts; wait a minute and try again".into(),
        ));
    }
    let user = state
        .auth
        .accounts
        .verify_login(&request.username, &request.password)
        .await
        .map_err(accounts_error)?;
    let Some(user) = user else {
        state.metrics.logins_failed.inc();
        return Err(crate::auth::unauthenticated(
            "invalid_credentials",
            "wrong username or password",
        ));
    };
    if user.disabled {
        return Err(crate::auth::unauthenticated(
            "account_disabled",
            "this account is disabled; ask an admin",
        ));
    }
    logged_in(&state, user)
}

fn logged_in(state: &AppState, user: User) -> Result<Response, ApiError> {
    let token = state.auth.tokens.issue(&user).map_err(ApiError::Internal)?;
    let ttl = state.auth.tokens.ttl.as_secs();
    let secure = if state.auth.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={ttl}{secure}");
    let mut headers = HeaderMap::new();
    headers.insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    let body = LoginResponse {
        token,
        user,
        expires_in: ttl,
    };
    Ok((headers, Json(body)).into_response())
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(
    State(state): State<Arc<AppState>>,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    // The token (bearer or cookie) stops working now, not at its expiry: a copied cookie or
    // a token left in a shared browser is worth nothing after logout.
    if let Ok(crate::auth::credentials::Credential::Token(token)) =
        crate::auth::credentials::find(&request_headers, None, false)
        && let Ok(claims) = state.auth.tokens.verify(&token)
    {
        state
            .auth
            .accounts
            .revoke_token(&claims.jti, claims.exp)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    let secure = if state.auth.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(SET_COOKIE, value);
    }
    Ok((axum::http::StatusCode::NO_CONTENT, headers).into_response())
}

#[utoipa::path(get, path = "/api/auth/me", tag = "auth", responses((status = 200, body = User), (status = 401)))]
pub async fn me(principal: Principal) -> Json<User> {
    Json(principal.0)
}

#[utoipa::path(post, path = "/api/auth/bootstrap", tag = "auth", request_body = BootstrapRequest,
    responses((status = 200, body = LoginResponse), (status = 401), (status = 409)))]
pub async fn bootstrap(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request_headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: BootstrapRequest = from_json(&body)?;
    if !state
        .auth
        .limiter
        .allow(state.auth.client(peer, &request_headers), "bootstrap")
        .await
        .map_err(accounts_error)?
    {
        return Err(ApiError::RateLimited(
            "too many attempts; wait a minute".into(),
        ));
    }
    let expected = state
        .bootstrap
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let Some(expected) = expected else {
        return Err(ApiError::Conflict(
            "the first admin exists already; log in instead".into(),
        ));
    };
    if keys::digest(&request.token) != expected {
        return Err(crate::auth::unauthenticated(
            "invalid_credentials",
            "the bootstrap token is wrong",
        ));
    }
    let user = state
        .auth
        .accounts
        .create_user(&request.username, &request.password, Role::Admin)
        .await
        .map_err(accounts_error)?;
    *state.bootstrap.lock().unwrap_or_else(|p| p.into_inner()) = None;
    tracing::info!(username = %user.username, "first admin created with the bootstrap token");
    logged_in(&state, user)
}

pub fn accounts_error(error: AccountsError) -> ApiError {
    match error {
        AccountsError::InvalidUsername(reason) => ApiError::invalid_field("username", reason),
        AccountsError::InvalidPassword(reason) => ApiError::invalid_field("password", reason),
        AccountsError::UserExists(_) => ApiError::AlreadyExists(error.to_string()),
        AccountsError::Database(_) => ApiError::Unavailable(error.to_string()),
        AccountsError::Internal(_) => ApiError::Internal(error.to_string()),
    }
}
