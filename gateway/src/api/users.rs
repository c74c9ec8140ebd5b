//! `/api/users` (admins) and `/api/keys` (each user's API keys).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::auth::accounts_error;
use crate::accounts::{ApiKeyInfo, Change, Role, User};
use crate::auth::Principal;
use crate::error::{ApiError, from_json};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    #[serde(default = "default_role")]
    pub role: Role,
}

fn default_role() -> Role {
    Role::User
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

#[utoipa::path(get, path = "/api/users", tag = "users", responses((status = 200), (status = 403)))]
pub async fn list(
    principal: Principal,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Items<User>>, ApiError> {
    principal.require_admin()?;
    let items = state
        .auth
        .accounts
        .list_users()
        .await
        .map_err(accounts_error)?;
    Ok(Json(Items { items }))
}

/// `GET /api/users/{username}` (admins): one user.
#[utoipa::path(get, path = "/api/users/{username}", tag = "users",
    responses((status = 200, body = User), (status = 403), (status = 404)))]
pub async fn get(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(username): Path<String>,
) -> Result<Json<User>, ApiError> {
    principal.require_admin()?;
    state
        .auth
        .accounts
        .user_by_name(&username)
        .await
        .map_err(accounts_error)?
        .map(Json)
        .ok_or_else(|| not_found(&username))
}

fn not_found(username: &str) -> ApiError {
    ApiError::NotFound(format!("user {username:?} not found"))
}

/// The answer to a change the store refused or could not make; `field` is what the request
/// asked to change.
fn change_outcome(change: Change, username: &str, field: &str) -> Result<(), ApiError> {
    match change {
        Change::Done => Ok(()),
        Change::NoSuchUser => Err(not_found(username)),
        Change::LastAdmin => Err(ApiError::Conflict(format!(
            "{field}: {username:?} is the last active admin; make another user admin first"
        ))),
    }
}

#[utoipa::path(post, path = "/api/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 403), (status = 409), (status = 422)))]
pub async fn create(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<User>), ApiError> {
    principal.require_admin()?;
    let request: CreateUser = from_json(&body)?;
    let user = state
        .auth
        .accounts
        .create_user(&request.username, &request.password, request.role)
        .await
        .map_err(accounts_error)?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `DELETE /api/users/{username}` (admins): the user and their API keys; their Workspaces
/// stay. Admins do not delete themselves, and the last active admin is never deleted.
#[utoipa::path(delete, path = "/api/users/{username}", tag = "users",
    responses((status = 204), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn delete(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_admin()?;
    if username == principal.user().username {
        return Err(ApiError::invalid_field(
            "username",
            "admins cannot delete themselves (another admin can)",
        ));
    }
    let change = state
        .auth
        .accounts
        .delete_user(&username)
        .await
        .map_err(accounts_error)?;
    change_outcome(change, &username, "username")?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The caller's password now: a token left in a browser does not let anyone change it.
    pub current_password: String,
    pub new_password: String,
}

/// `PUT /api/auth/password`: the caller changes their own password. Every session token
/// issued before stops working (this request's too; log in again).
#[utoipa::path(put, path = "/api/auth/password", tag = "auth", request_body = ChangePassword,
    responses((status = 204), (status = 401), (status = 403), (status = 422)))]
pub async fn change_password(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let request: ChangePassword = from_json(&body)?;
    let username = &principal.user().username;
    let verified = state
        .auth
        .accounts
        .verify_login(username, &request.current_password)
        .await
        .map_err(accounts_error)?;
    if verified.is_none() {
        return Err(ApiError::Forbidden(
            "current_password: that is not your password".into(),
        ));
    }
    set_password(&state, username, &request.new_password, "new_password").await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub password: String,
}

/// `PUT /api/users/{username}/password` (admins): sets another user's password; their session
/// tokens stop working.
#[utoipa::path(put, path = "/api/users/{username}/password", tag = "users",
    request_body = ResetPassword,
    responses((status = 204), (status = 403), (status = 404), (status = 422)))]
pub async fn reset_password(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(username): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    principal.require_admin()?;
    let request: ResetPassword = from_json(&body)?;
    set_password(&state, &username, &request.password, "password").await
}

async fn set_password(
    state: &AppState,
    username: &str,
    password: &str,
    field: &'static str,
) -> Result<StatusCode, ApiError> {
    match state.auth.accounts.set_password(username, password).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(not_found(username)),
        Err(crate::accounts::AccountsError::InvalidPassword(reason)) => {
            Err(ApiError::invalid_field(field, reason))
        }
        Err(error) => Err(accounts_error(error)),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// A disabled user cannot log in; their tokens and API keys are refused at once.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// The new role; a demoted admin's tokens lose the admin rights at once (every request
    /// looks the user up).
    #[serde(default)]
    pub role: Option<Role>,
}

/// `PATCH /api/users/{username}` (admins): changes a user's role, disables or enables them.
/// Admins do not disable themselves; no change may leave the platform without an active admin.
#[utoipa::path(patch, path = "/api/users/{username}", tag = "users", request_body = UpdateUser,
    responses((status = 200, body = User), (status = 403), (status = 404), (status = 409),
        (status = 422)))]
pub async fn update(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(username): Path<String>,
    body: Bytes,
) -> Result<Json<User>, ApiError> {
    principal.require_admin()?;
    let request: UpdateUser = from_json(&body)?;
    if request.disabled.is_none() && request.role.is_none() {
        return Err(ApiError::invalid(
            "request body: give `role`, `disabled` or both",
        ));
    }
    if request.disabled == Some(true) && username == principal.user().username {
        return Err(ApiError::invalid_field(
            "disabled",
            "admins cannot disable themselves (another admin can)",
        ));
    }
    let accounts = &state.auth.accounts;
    let change = accounts
        .update_user(&username, request.role, request.disabled)
        .await
        .map_err(accounts_error)?;
    let field = if request.role.is_some() {
        "role"
    } else {
        "disabled"
    };
    change_outcome(change, &username, field)?;
    accounts
        .user_by_name(&username)
        .await
        .map_err(accounts_error)?
        .map(Json)
        .ok_or_else(|| not_found(&username))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key is for (shown in listings).
    pub name: String,
    /// Days until the key stops working (1 to 3650); left out, it works until revoked.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// The longest lifetime a key may be given: ten years.
const MAX_KEY_DAYS: u32 = 3650;
const DAY_MS: i64 = 86_400_000;

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// The key itself: shown this once, only its digest is kept.
    pub key: String,
    #[serde(flatten)]
    pub info: ApiKeyInfo,
}

#[utoipa::path(get, path = "/api/keys", tag = "keys", responses((status = 200)))]
pub async fn list_keys(
    principal: Principal,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Items<ApiKeyInfo>>, ApiError> {
    let items = state
        .auth
        .accounts
        .list_api_keys(principal.user())
        .await
        .map_err(accounts_error)?;
    Ok(Json(Items { items }))
}

#[utoipa::path(post, path = "/api/keys", tag = "keys", request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 422)))]
pub async fn create_key(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let request: CreateKey = from_json(&body)?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 100 characters",
        ));
    }
    let expires_at = match request.expires_in_days {
        None => None,
        Some(days @ 1..=MAX_KEY_DAYS) => {
            Some(oqto_proto::canonical::now_ms().saturating_add(i64::from(days) * DAY_MS))
        }
        Some(_) => {
            return Err(ApiError::invalid_field(
                "expires_in_days",
                format!("must be 1 to {MAX_KEY_DAYS}, or left out for a key that does not expire"),
            ));
        }
    };
    let (key, info) = state
        .auth
        .accounts
        .create_api_key(principal.user(), name, expires_at)
        .await
        .map_err(accounts_error)?;
    Ok((StatusCode::CREATED, Json(CreatedKey { key, info })))
}

#[utoipa::path(delete, path = "/api/keys/{id}", tag = "keys", responses((status = 204), (status = 404)))]
pub async fn revoke_key(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .auth
        .accounts
        .revoke_api_key(principal.user(), &id)
        .await
        .map_err(accounts_error)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("API key {id:?} not found")))
    }
}
