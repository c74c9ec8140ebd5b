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
        .filter(|s| !oqto_api::spare::is_spare(s))
        .map(clean)
        .collect();
    Ok(Json(Items { items }))
}

/// Every Session of the caller's Workspaces (an admin's: of all Workspaces), for the UI's
/// sidebar: two list calls, whatever the number of Workspaces.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions", responses((status = 200)))]
pub async fn list_all(
    principal: Principal,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Items<Session>>, ApiError> {
    let visible: std::collections::HashSet<String> = state
        .resources
        .list_workspaces()
        .await?
        .into_iter()
        .filter(|w| principal.may_access(&w.spec.owner))
        .filter_map(|w| w.metadata.name)
        .collect();
    let items = state
        .resources
        .list_all_sessions()
        .await?
        .into_iter()
        .filter(|s| visible.contains(&s.spec.workspace_ref.name))
        .filter(|s| !oqto_api::spare::is_spare(s))
        .map(clean)
        .collect();
    Ok(Json(Items { items }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSession {
    /// The session's title (`spec.displayName`): one line, at most 128 characters; empty or
    /// null removes it.
    pub display_name: Option<String>,
}

/// The longest title, as the CRD allows.
const DISPLAY_NAME_MAX: usize = 128;

/// A title as stored: trimmed; `None` for an empty one; refused with the field's name when it
/// is too long or not one line of printable text.
pub fn display_name(given: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(title) = given.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if title.chars().count() > DISPLAY_NAME_MAX {
        return Err(ApiError::invalid_field(
            "displayName",
            format!("at most {DISPLAY_NAME_MAX} characters"),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "displayName",
            "one line of printable text (no control characters)",
        ));
    }
    Ok(Some(title.to_owned()))
}

#[utoipa::path(patch, path = "/api/workspaces/{workspace}/sessions/{session}", tag = "sessions",
    request_body = UpdateSession, responses((status = 200), (status = 404), (status = 422)))]
pub async fn update(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path((workspace, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Session>, ApiError> {
    visible_session(&state, &principal, &workspace, &name).await?;
    let request: UpdateSession = from_json(&body)?;
    let title = display_name(request.display_name.as_deref())?;
    Ok(Json(clean(
        state
            .resources
            .set_display_name(&name, title.as_deref())
            .await?,
    )))
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
        .clone()
        .unwrap_or_else(|| oqto_api::spare::generated_name(&workspace, &objects::suffix()));
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
    if request.name.is_none()
        && let Some(claimed) = claim_spare(&state, &workspace, &spec).await?
    {
        return Ok((StatusCode::CREATED, Json(clean(claimed))));
    }
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

/// How often a claim that lost a race reads the spares again.
const CLAIM_ATTEMPTS: usize = 3;

/// The Workspace's warm spare, claimed, when one is up and `spec` asks for nothing it was not
/// started with (a title aside): a Session that answers at once instead of one that starts a
/// runner. `None`: no such spare (or every one was claimed by someone else meanwhile).
async fn claim_spare(
    state: &AppState,
    workspace: &str,
    spec: &Value,
) -> Result<Option<Session>, ApiError> {
    let title = display_name(spec.get("displayName").and_then(Value::as_str))?;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    // A claim loses to any write in between: another claim, or the operator's status write
    // (Running, a condition). Only the first is a reason to give up on that spare; so after a
    // lost race the spares are read again, a few times, before a Session is started cold.
    for _ in 0..CLAIM_ATTEMPTS {
        let mut raced = false;
        for spare in claimable_spares(state, workspace, spec).await? {
            let (Some(name), Some(version)) = (
                spare.metadata.name.as_deref(),
                spare.metadata.resource_version.as_deref(),
            ) else {
                continue;
            };
            match state
                .resources
                .claim_spare(name, version, &now, title.as_deref())
                .await
            {
                Ok(claimed) => {
                    tracing::info!(%workspace, session = %name, "claimed the warm spare");
                    // The relay hid it while it was a spare; it learns of the claim now, not at
                    // the next watch event or store read, since the caller's first frame follows.
                    if let Some(entry) = crate::routing::SessionEntry::of(&claimed) {
                        state.routes.update(|tables| {
                            tables.sessions.insert(name.to_owned(), entry);
                        });
                    }
                    return Ok(Some(claimed));
                }
                Err(ApiError::Conflict(_)) => raced = true,
                Err(ApiError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !raced {
            break;
        }
    }
    Ok(None)
}

/// Whether a spare started with its Workspace's defaults is the Session `requested` asks for:
/// every field given other than the title equals the spare's.
/// The Workspace's spares a create with `spec` may claim, the furthest along first: Running,
/// then Starting, then one still being placed (even that one is ahead of a Session created now).
async fn claimable_spares(
    state: &AppState,
    workspace: &str,
    spec: &Value,
) -> Result<Vec<Session>, ApiError> {
    let mut spares: Vec<Session> = state
        .resources
        .list_sessions(workspace)
        .await?
        .into_iter()
        .filter(|s| oqto_api::spare::is_usable_spare(s) && spec_fits(spec, s))
        .collect();
    spares.sort_by_key(
        |s| match s.status.as_ref().and_then(|status| status.phase) {
            Some(oqto_api::SessionPhase::Running) => 0,
            Some(oqto_api::SessionPhase::Starting) => 1,
            _ => 2,
        },
    );
    Ok(spares)
}

fn spec_fits(requested: &Value, spare: &Session) -> bool {
    let Ok(started) = serde_json::to_value(&spare.spec) else {
        return false;
    };
    let Some(fields) = requested.as_object() else {
        return false;
    };
    fields
        .iter()
        .filter(|(field, _)| field.as_str() != "displayName")
        .all(|(field, value)| match started.get(field) {
            Some(same) => same == value,
            None => value.is_null(),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_fits_a_request_that_asks_only_for_its_defaults_and_a_title() {
        let spare: Session = serde_json::from_value(json!({"apiVersion": "oqto.dev/v1alpha1",
            "kind": "Session", "metadata": {"name": "w-abc"},
            "spec": {"workspaceRef": {"name": "w"}}}))
        .unwrap();
        for fits in [
            json!({"workspaceRef": {"name": "w"}}),
            json!({"workspaceRef": {"name": "w"}, "displayName": "Fix it"}),
            json!({"workspaceRef": {"name": "w"}, "harness": "pi", "suspended": false}),
            json!({"workspaceRef": {"name": "w"}, "model": null}),
        ] {
            assert!(spec_fits(&fits, &spare), "{fits}");
        }
        for other in [
            json!({"workspaceRef": {"name": "w"}, "model": "gpt-x"}),
            json!({"workspaceRef": {"name": "w"}, "suspended": true}),
            json!({"workspaceRef": {"name": "w"}, "parentSessionRef": {"name": "p"}}),
            json!({"workspaceRef": {"name": "other"}}),
        ] {
            assert!(!spec_fits(&other, &spare), "{other}");
        }
    }

    #[test]
    fn titles_are_one_trimmed_line_of_at_most_128_characters() {
        assert_eq!(
            display_name(Some("  Fix the build ")).unwrap().as_deref(),
            Some("Fix the build")
        );
        assert_eq!(display_name(Some("   ")).unwrap(), None);
        assert_eq!(display_name(None).unwrap(), None);
        assert!(
            display_name(Some(&"é".repeat(128))).is_ok(),
            "characters, not bytes"
        );
        for bad in ["a\nb", "tab\there", "bell\u{7}", &"x".repeat(129)] {
            let error = display_name(Some(bad)).unwrap_err().to_string();
            assert!(error.contains("displayName"), "{bad:?}: {error}");
        }
    }
}
