//! Reading Workspaces and Sessions from request bodies, checking who may see them, and
//! shaping them for answers.

use kube::Resource;
use oqto_api::{Session, Workspace};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// A DNS-1123 subdomain, as object names must be.
pub fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let valid = oqto_api::names::is_object_name(name);
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            format!("{name:?} must be a lowercase DNS-1123 name (a-z, 0-9, '-', '.')"),
        ))
    }
}

/// Deserialises `value` as `T`, naming the bad field (prefixed with `prefix`).
pub fn typed<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = match (prefix.is_empty(), path.as_str()) {
            (true, p) => p.to_owned(),
            (false, "." | "") => prefix.to_owned(),
            (false, p) => format!("{prefix}.{p}"),
        };
        ApiError::invalid_field(&field, error.into_inner())
    })
}

/// A Workspace document (its durations are bounded by their type).
pub fn workspace_from(value: Value) -> Result<Workspace, ApiError> {
    typed(value, "")
}

/// Answers carry no server-side bookkeeping.
pub fn clean<K: Resource>(mut object: K) -> K {
    object.meta_mut().managed_fields = None;
    object
}

/// The Workspace, when the caller may see it; `not_found` otherwise (another user's
/// workspace is indistinguishable from a missing one).
pub async fn visible_workspace(
    state: &AppState,
    principal: &Principal,
    name: &str,
) -> Result<Workspace, ApiError> {
    check_name("workspace", name)?;
    state
        .resources
        .get_workspace(name)
        .await?
        .filter(|w| principal.may_access(&w.spec.owner))
        .ok_or_else(|| ApiError::NotFound(format!("workspace {name:?} not found")))
}

/// The Session of a visible Workspace. An unclaimed warm spare is not anyone's Session yet:
/// it is "not found" until a create claims it (used before, it could be replaced under its user).
pub async fn visible_session(
    state: &AppState,
    principal: &Principal,
    workspace: &str,
    name: &str,
) -> Result<Session, ApiError> {
    visible_workspace(state, principal, workspace).await?;
    check_name("session", name)?;
    state
        .resources
        .get_session(name)
        .await?
        .filter(|s| s.spec.workspace_ref.name == workspace && !oqto_api::spare::is_spare(s))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "session {name:?} not found in workspace {workspace:?}"
            ))
        })
}

/// A random suffix for generated names.
pub fn suffix() -> String {
    oqto_api::names::random_suffix()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_fields_are_checked() {
        assert!(check_name("name", "alice-dev").is_ok());
        let error = check_name("name", "Alice").unwrap_err();
        assert!(error.to_string().starts_with("name: "), "{error}");
        let error = workspace_from(json!({
            "apiVersion": "oqto.dev/v1alpha1", "kind": "Workspace",
            "metadata": {"name": "w"}, "spec": {"owner": "alice", "storage": {"size": {"gi": 5}}}
        }))
        .unwrap_err();
        assert!(
            error.to_string().starts_with("spec.storage.size"),
            "{error}"
        );
        let error = workspace_from(json!({
            "apiVersion": "oqto.dev/v1alpha1", "kind": "Workspace",
            "metadata": {"name": "w"}, "spec": {"owner": "alice", "lifecycle": {"idleTimeout": "99999999999999999999h"}}
        }))
        .unwrap_err();
        assert!(error.to_string().contains("idleTimeout"), "{error}");
        assert_eq!(suffix().len(), 6);
    }
}
