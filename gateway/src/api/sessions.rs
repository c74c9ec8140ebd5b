//! `/api/workspaces/{workspace}/sessions`: the agent sessions of a visible workspace.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use oqto_api::Session;
use serde::Deserialize;
use serde_json::{Value, json};

use super::objects::{self, clean, visible_session, visible_workspace};
use super::users::Items;
use crate::auth::Principal;
use crate::error::{ApiError, from_json};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateSession {
    /// The Session's name; default: the workspace's name and a random suffix.
    #[serde(default)]
    pub name: Option<String>,
    /// `harness`, `provider`, `model`, `suspended` (see `kubectl explain session.spec`);
    /// `workspaceRef` comes from the path.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub spec: Value,
}

#[utoipa::path(get, path = "/api/workspaces/{workspace}/sessions", tag = "sessions",
    responses((status = 200), (status = 404)))]
pub async fn list(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
) -> Result<Json<Items<Session>>, ApiError> {
    visible_workspace(&state, &principal, &workspace).await?;
    let items = state
        .resources
        .list_sessions(&workspace)
        .await?
        .into_iter()
        .map(clean)
        .collect();
    Ok(Json(Items { items }))
}

#[utoipa::path(post, path = "/api/workspaces/{workspace}/sessions", tag = "sessions",
    request_body = CreateSession, responses((status = 201), (status = 404), (status = 409), (status = 422)))]
pub async fn create(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Session>), ApiError> {
    let owning = visible_workspace(&state, &principal, &workspace).await?;
    let request: CreateSession = from_json(&body)?;
    let name = request
        .name
        .unwrap_or_else(|| format!("{workspace}-{}", objects::suffix()));
    objects::check_name("name", &name)?;
    let mut spec = match request.spec {
        Value::Null => Value::Object(Default::default()),
        spec @ Value::Object(_) => spec,
        _ => return Err(ApiError::invalid_field("spec", "must be an object")),
    };
    if let Some(given) = spec.get("workspaceRef")
        && given != &json!({ "name": workspace })
    {
        return Err(ApiError::invalid_field(
            "spec.workspaceRef",
            "comes from the path; leave it out",
        ));
    }
    spec["workspaceRef"] = json!({ "name": workspace });
    let document = json!({
        "apiVersion": "oqto.dev/v1alpha1",
        "kind": "Session",
        "metadata": { "name": name, "namespace": state.resources.namespace() },
        "spec": spec,
    });
    let session: Session = objects::typed(document, "")?;
    super::classes::check_session(&state, &owning, &session).await?;
    let created = state.resources.create_session(session).await?;
    Ok((StatusCode::CREATED, Json(clean(created))))
}

#[utoipa::path(get, path = "/api/workspaces/{workspace}/sessions/{session}", tag = "sessions",
    responses((status = 200), (status = 404)))]
pub async fn get(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<Json<Session>, ApiError> {
    Ok(Json(clean(
        visible_session(&state, &principal, &workspace, &name).await?,
    )))
}

#[utoipa::path(delete, path = "/api/workspaces/{workspace}/sessions/{session}", tag = "sessions",
    responses((status = 204), (status = 404)))]
pub async fn delete(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    visible_session(&state, &principal, &workspace, &name).await?;
    state.resources.delete_session(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/workspaces/{workspace}/sessions/{session}/suspend", tag = "sessions",
    responses((status = 200), (status = 404)))]
pub async fn suspend(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<Json<Session>, ApiError> {
    set_suspended(&state, &principal, &workspace, &name, true).await
}

#[utoipa::path(post, path = "/api/workspaces/{workspace}/sessions/{session}/resume", tag = "sessions",
    responses((status = 200), (status = 404)))]
pub async fn resume(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<Json<Session>, ApiError> {
    set_suspended(&state, &principal, &workspace, &name, false).await
}

async fn set_suspended(
    state: &AppState,
    principal: &Principal,
    workspace: &str,
    name: &str,
    suspended: bool,
) -> Result<Json<Session>, ApiError> {
    visible_session(state, principal, workspace, name).await?;
    Ok(Json(clean(
        state.resources.set_suspended(name, suspended).await?,
    )))
}
