//! `/api/workspaces`: the caller's workspaces (admins: all), created with the caller as
//! owner.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use oqto_api::Workspace;
use serde::Deserialize;
use serde_json::Value;

use super::classes;
use super::objects::{self, clean, visible_workspace};
use super::users::Items;
use crate::auth::Principal;
use crate::error::{ApiError, from_json};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateWorkspace {
    /// The Workspace's name (a DNS-1123 name).
    pub name: String,
    /// The Workspace spec (see `kubectl explain workspace.spec`); `owner` defaults to the
    /// caller, and only admins may name someone else.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub spec: Value,
}

#[utoipa::path(get, path = "/api/workspaces", tag = "workspaces", responses((status = 200), (status = 401)))]
pub async fn list(
    principal: Principal,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Items<Workspace>>, ApiError> {
    let items = state
        .resources
        .list_workspaces()
        .await?
        .into_iter()
        .filter(|w| principal.may_access(&w.spec.owner))
        .map(clean)
        .collect();
    Ok(Json(Items { items }))
}

#[utoipa::path(post, path = "/api/workspaces", tag = "workspaces", request_body = CreateWorkspace,
    responses((status = 201), (status = 403), (status = 409), (status = 422)))]
pub async fn create(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Workspace>), ApiError> {
    let request: CreateWorkspace = from_json(&body)?;
    objects::check_name("name", &request.name)?;
    let mut spec = match request.spec {
        Value::Null => Value::Object(Default::default()),
        spec @ Value::Object(_) => spec,
        _ => return Err(ApiError::invalid_field("spec", "must be an object")),
    };
    let owner = own(&principal, spec.get("owner"))?;
    user_may_set(&principal, &spec)?;
    spec["owner"] = Value::String(owner);
    let document = serde_json::json!({
        "apiVersion": "oqto.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": { "name": request.name, "namespace": state.resources.namespace() },
        "spec": spec,
    });
    let workspace = objects::workspace_from(document)?;
    classes::check_workspace(&state, &principal, &workspace).await?;
    let created = state.resources.create_workspace(workspace).await?;
    Ok((StatusCode::CREATED, Json(clean(created))))
}

/// Refuses, for a caller who is not an admin, a spec that sets what only admins decide (the
/// runner's image, environment and Secrets, the LLM's endpoint and credentials, egress, …),
/// naming the field.
pub fn user_may_set(principal: &Principal, spec: &Value) -> Result<(), ApiError> {
    if principal.user().is_admin() {
        return Ok(());
    }
    match oqto_api::tenancy::admin_only_workspace_field(spec) {
        None => Ok(()),
        Some(field) => Err(ApiError::Forbidden(format!(
            "{field}: only admins may set this (users set {})",
            oqto_api::tenancy::USER_SETTABLE_WORKSPACE_FIELDS.join(", ")
        ))),
    }
}

/// The owner a caller may give a new workspace: themselves, or anyone for admins.
pub fn own(principal: &Principal, requested: Option<&Value>) -> Result<String, ApiError> {
    match requested {
        None | Some(Value::Null) => Ok(principal.user().username.clone()),
        Some(Value::String(owner)) if principal.may_access(owner) => Ok(owner.clone()),
        Some(Value::String(_)) => Err(ApiError::Forbidden(
            "spec.owner: only admins may create workspaces for other users".into(),
        )),
        Some(_) => Err(ApiError::invalid_field("spec.owner", "must be a string")),
    }
}

#[utoipa::path(get, path = "/api/workspaces/{workspace}", tag = "workspaces",
    responses((status = 200), (status = 404)))]
pub async fn get(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Workspace>, ApiError> {
    Ok(Json(clean(
        visible_workspace(&state, &principal, &name).await?,
    )))
}

#[utoipa::path(delete, path = "/api/workspaces/{workspace}", tag = "workspaces",
    responses((status = 204), (status = 404)))]
pub async fn delete(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    visible_workspace(&state, &principal, &name).await?;
    // Its Sessions, then its storage, go with it: the operator's cascade (its finalizer) does
    // that, the same as for `kubectl delete workspace`.
    state.resources.delete_workspace(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
