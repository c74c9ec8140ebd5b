//! WorkspaceClasses: which a caller may choose (`GET /api/workspaceclasses`), and the check
//! every Workspace write passes: its class exists, is open to the caller, and the Workspace
//! keeps the class's bounds. Admins define classes (`POST /api/apply`, or `kubectl`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use oqto_api::workspace::EgressPolicy;
use oqto_api::workspace_class::{class_name, with_class};
use oqto_api::{Session, Workspace, WorkspaceClass};
use serde::Serialize;

use super::users::Items;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// What a user needs to choose a class; never its image, Secrets or endpoint.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassSummary {
    pub name: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `Open` or `Restricted`.
    pub egress: String,
    /// Models to choose from (empty: the class's own, or any).
    pub models: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_size: Option<String>,
    /// Workspaces that name no class get this one.
    pub default: bool,
}

#[utoipa::path(get, path = "/api/workspaceclasses", tag = "workspaces",
    responses((status = 200, description = "The classes open to the caller"), (status = 401)))]
pub async fn list(
    principal: Principal,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Items<ClassSummary>>, ApiError> {
    let default = state.settings.default_workspace_class.as_deref();
    let mut items: Vec<ClassSummary> = state
        .resources
        .list_workspace_classes()
        .await?
        .into_iter()
        .filter(|class| open_to(&principal, class))
        .map(|class| summary(class, default))
        .collect();
    items.sort_by(|a, b| b.default.cmp(&a.default).then(a.name.cmp(&b.name)));
    Ok(Json(Items { items }))
}

#[utoipa::path(delete, path = "/api/workspaceclasses/{class}", tag = "workspaces",
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn delete(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !principal.user().is_admin() {
        return Err(ApiError::Forbidden(
            "only admins delete workspace classes".into(),
        ));
    }
    super::objects::check_name("class", &name)?;
    // Workspaces of the class keep their runners; new ones report the class missing.
    if state.resources.delete_workspace_class(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "workspace class {name:?} not found"
        )))
    }
}

fn open_to(principal: &Principal, class: &WorkspaceClass) -> bool {
    principal.user().is_admin() || class.spec.admits(&principal.user().username)
}

fn summary(class: WorkspaceClass, default: Option<&str>) -> ClassSummary {
    let name = class.metadata.name.unwrap_or_default();
    let spec = class.spec;
    ClassSummary {
        display_name: spec.display_name.unwrap_or_else(|| name.clone()),
        description: spec.description,
        egress: match spec.network.egress {
            EgressPolicy::Open => "Open",
            EgressPolicy::Restricted => "Restricted",
        }
        .into(),
        models: spec.models,
        max_size: spec.storage.max_size.map(|q| q.0),
        default: default == Some(name.as_str()),
        name,
    }
}

/// The Workspace's class (named, or the default) must exist and be open to the caller, and
/// the Workspace must keep its bounds. 403 names `spec.workspaceClassName` for a class the
/// caller may not use; 422 names the field that leaves the bounds.
pub async fn check_workspace(
    state: &AppState,
    principal: &Principal,
    workspace: &Workspace,
) -> Result<Option<WorkspaceClass>, ApiError> {
    let default = state.settings.default_workspace_class.as_deref();
    let Some(name) = class_name(&workspace.spec, default) else {
        return Ok(None);
    };
    let class = state.resources.get_workspace_class(name).await?;
    let Some(class) = class.filter(|c| open_to(principal, c)) else {
        // A class the caller may not use looks like a missing one, but the answer says why
        // either way.
        return Err(ApiError::Forbidden(format!(
            "spec.workspaceClassName: workspace class {name:?} does not exist or is not open to {:?}",
            principal.user().username
        )));
    };
    with_class(&workspace.spec, &class.spec)
        .map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    Ok(Some(class))
}

/// A Session's model must be one its Workspace's class offers.
pub async fn check_session(
    state: &AppState,
    workspace: &Workspace,
    session: &Session,
) -> Result<(), ApiError> {
    let default = state.settings.default_workspace_class.as_deref();
    let (Some(name), Some(model)) = (class_name(&workspace.spec, default), &session.spec.model)
    else {
        return Ok(());
    };
    if let Some(class) = state.resources.get_workspace_class(name).await? {
        class
            .spec
            .check_model("spec.model", model)
            .map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    }
    Ok(())
}
