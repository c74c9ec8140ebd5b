//! `POST /api/apply`: a Workspace, Session or (admins) WorkspaceClass manifest (the YAML of `kubectl apply`, sent as
//! JSON), created or updated the same way in both modes. The caller must own it (admins:
//! anyone's); the namespace is the gateway's.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;

use super::classes;
use super::objects::{self, clean};
use super::workspaces::{own, user_may_set};
use crate::auth::Principal;
use crate::error::{ApiError, from_json};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Applied {
    pub kind: String,
    pub name: String,
    /// `created` or `configured`.
    pub action: &'static str,
    #[schema(value_type = Object)]
    pub object: Value,
}

#[utoipa::path(post, path = "/api/apply", tag = "apply", request_body(content = Object, description = "A Workspace, Session or WorkspaceClass"),
    responses((status = 200, body = Applied), (status = 403), (status = 404), (status = 422)))]
pub async fn apply(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Json<Applied>, ApiError> {
    let mut document: Value = from_json(&body)?;
    let Some(object) = document.as_object_mut() else {
        return Err(ApiError::invalid(
            "request body: expected a Workspace or Session object",
        ));
    };
    match object.get("apiVersion").and_then(Value::as_str) {
        Some("oqto.dev/v1alpha1") => {}
        other => {
            return Err(ApiError::invalid_field(
                "apiVersion",
                format!("{other:?} is not served here (oqto.dev/v1alpha1)"),
            ));
        }
    }
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let Some(metadata) = metadata.as_object_mut() else {
        return Err(ApiError::invalid_field("metadata", "must be an object"));
    };
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    objects::check_name("metadata.name", &name)?;
    let namespace = state.resources.namespace().to_owned();
    match metadata.get("namespace").and_then(Value::as_str) {
        None => {}
        Some(given) if given == namespace => {}
        Some(given) => {
            return Err(ApiError::invalid_field(
                "metadata.namespace",
                format!("{given:?}: this gateway serves namespace {namespace:?}"),
            ));
        }
    }
    metadata.insert("namespace".into(), Value::String(namespace));
    // Server-side bookkeeping is the server's.
    for field in [
        "resourceVersion",
        "uid",
        "generation",
        "creationTimestamp",
        "managedFields",
    ] {
        metadata.remove(field);
    }
    object.remove("status");

    let (action, applied) = match kind.as_str() {
        "Workspace" => {
            user_may_set(&principal, object.get("spec").unwrap_or(&Value::Null))?;
            let spec = object
                .entry("spec")
                .or_insert_with(|| Value::Object(Default::default()));
            let Some(spec) = spec.as_object_mut() else {
                return Err(ApiError::invalid_field("spec", "must be an object"));
            };
            let owner = own(&principal, spec.get("owner"))?;
            spec.insert("owner".into(), Value::String(owner));
            let workspace = objects::workspace_from(document)?;
            classes::check_workspace(&state, &principal, &workspace).await?;
            let existing = state.resources.get_workspace(&name).await?;
            if let Some(existing) = &existing
                && !principal.may_access(&existing.spec.owner)
            {
                return Err(ApiError::NotFound(format!("workspace {name:?} not found")));
            }
            let applied = state.resources.apply_workspace(workspace).await?;
            (action(existing.is_some()), to_value(clean(applied))?)
        }
        "Session" => {
            let session: oqto_api::Session = objects::typed(document, "")?;
            refuse_spare_marks(&session)?;
            let workspace =
                objects::visible_workspace(&state, &principal, &session.spec.workspace_ref.name)
                    .await
                    .map_err(|_| {
                        ApiError::NotFound(format!(
                            "spec.workspaceRef.name: workspace {:?} not found",
                            session.spec.workspace_ref.name
                        ))
                    })?;
            classes::check_session(&state, &workspace, &session).await?;
            let existing = state.resources.get_session(&name).await?;
            // Someone else's session of the same name is "not found", like their workspace.
            if let Some(existing) = &existing
                && (oqto_api::spare::is_spare(existing)
                    || objects::visible_workspace(
                        &state,
                        &principal,
                        &existing.spec.workspace_ref.name,
                    )
                    .await
                    .is_err())
            {
                return Err(ApiError::NotFound(format!("session {name:?} not found")));
            }
            let applied = state.resources.apply_session(session).await?;
            (action(existing.is_some()), to_value(clean(applied))?)
        }
        "WorkspaceClass" => {
            if !principal.user().is_admin() {
                return Err(ApiError::Forbidden(
                    "kind: only admins define workspace classes".into(),
                ));
            }
            let class: oqto_api::WorkspaceClass = objects::typed(document, "")?;
            let existing = state.resources.get_workspace_class(&name).await?;
            let applied = state.resources.apply_workspace_class(class).await?;
            (action(existing.is_some()), to_value(clean(applied))?)
        }
        other => {
            return Err(ApiError::invalid_field(
                "kind",
                format!("{other:?} is not served here (Workspace, Session or WorkspaceClass)"),
            ));
        }
    };
    Ok(Json(Applied {
        kind,
        name,
        action,
        object: applied,
    }))
}

/// The warm-spare label and claim stamp are the operator's and the gateway's: a Session applied
/// as a spare could be deleted as a surplus one, and a forged claim time would shift its idle
/// and lifetime limits.
fn refuse_spare_marks(session: &oqto_api::Session) -> Result<(), ApiError> {
    let has = |map: &Option<std::collections::BTreeMap<String, String>>, key: &str| {
        map.as_ref().is_some_and(|map| map.contains_key(key))
    };
    if has(&session.metadata.labels, oqto_api::spare::SPARE_LABEL) {
        return Err(ApiError::invalid_field(
            "metadata.labels",
            format!(
                "{} is set by the operator on warm spares only",
                oqto_api::spare::SPARE_LABEL
            ),
        ));
    }
    if has(
        &session.metadata.annotations,
        oqto_api::spare::CLAIMED_AT_ANNOTATION,
    ) {
        return Err(ApiError::invalid_field(
            "metadata.annotations",
            format!(
                "{} is set when a warm spare is claimed",
                oqto_api::spare::CLAIMED_AT_ANNOTATION
            ),
        ));
    }
    Ok(())
}

fn action(existed: bool) -> &'static str {
    if existed { "configured" } else { "created" }
}

fn to_value<T: Serialize>(object: T) -> Result<Value, ApiError> {
    serde_json::to_value(object).map_err(|e| ApiError::Internal(e.to_string()))
}
