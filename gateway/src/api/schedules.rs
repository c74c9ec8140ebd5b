//! `/api/schedules` and `/api/workspaces/{workspace}/schedules`: prompts sent to an agent on a
//! cron schedule, in the caller's visible workspaces.
//!
//! A Schedule has no owner of its own: it belongs to the Workspace its runs happen in, which is
//! `spec.target.newSession.workspaceRef.name`, or, for `spec.target.sessionRef`, the Workspace of
//! that Session. Whoever may see the Workspace may see and change its Schedules; another user's
//! Schedule answers 404, exactly like a missing one. A Schedule whose Session is gone belongs to
//! no Workspace any more and only admins see it (in `GET /api/schedules`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use oqto_api::rules::{FieldError, Rules};
use oqto_api::{ConcurrencyPolicy, Schedule, Session, Workspace};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use super::objects::{self, clean, visible_workspace};
use super::users::Items;
use crate::auth::Principal;
use crate::error::{ApiError, from_json};
use crate::state::AppState;

/// The most Schedules one Workspace has. Each run may start a runner (a Pod, an LLM turn), so
/// the bound keeps one user's Schedules from crowding the platform; 20 leaves room for a
/// morning report, nightly checks and the like.
pub const MAX_SCHEDULES_PER_WORKSPACE: usize = 20;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateSchedule {
    /// The Schedule's name; default: the workspace's name, `-sched-` and a random suffix.
    #[serde(default)]
    pub name: Option<String>,
    /// `schedule`, `timeZone`, `prompt`, `target`, `concurrencyPolicy`, `suspend`, … (see
    /// `kubectl explain schedule.spec`). `target.newSession.workspaceRef` comes from the path
    /// (left out, it is filled in; given, it must be the path's); without a `target`, each run
    /// gets a new Session in the path's workspace. A `target.sessionRef` must name a Session of
    /// the path's workspace.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub spec: Value,
}

/// The fields of a Schedule a client changes after creating it; each one left out stays.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSchedule {
    /// `true` starts no new runs; runs in progress go on.
    pub suspend: Option<bool>,
    /// The cron expression (five fields or a macro such as `@daily`).
    pub schedule: Option<String>,
    /// The IANA time zone; `null` removes it (UTC).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub time_zone: Option<Option<String>>,
    /// What each run sends to the agent.
    pub prompt: Option<String>,
    /// `Allow`, `Forbid` or `Replace`.
    #[schema(value_type = Option<String>)]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
}

/// A field that is present, `null` included, as `Some`: `"timeZone": null` (back to UTC) is a
/// change, a missing `timeZone` is none.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl UpdateSchedule {
    /// The spec with the request's changes, and the merge patch that makes them.
    fn apply(self, schedule: &mut Schedule) -> Result<Map<String, Value>, ApiError> {
        let spec = &mut schedule.spec;
        let mut patch = Map::new();
        if let Some(suspend) = self.suspend {
            spec.suspend = suspend;
            patch.insert("suspend".into(), Value::Bool(suspend));
        }
        if let Some(cron) = self.schedule {
            patch.insert("schedule".into(), Value::String(cron.clone()));
            spec.schedule = cron;
        }
        if let Some(zone) = self.time_zone {
            patch.insert("timeZone".into(), json!(zone));
            spec.time_zone = zone;
        }
        if let Some(prompt) = self.prompt {
            patch.insert("prompt".into(), Value::String(prompt.clone()));
            spec.prompt = prompt;
        }
        if let Some(policy) = self.concurrency_policy {
            let value = serde_json::to_value(policy)
                .map_err(|e| ApiError::Internal(format!("concurrencyPolicy: {e}")))?;
            patch.insert("concurrencyPolicy".into(), value);
            spec.concurrency_policy = policy;
        }
        Ok(patch)
    }
}

/// A refusal of `oqto_api::rules` as a 422 naming the field.
fn refused(error: FieldError) -> ApiError {
    ApiError::invalid_field(error.field, error.message)
}

/// The Workspace a Schedule's runs happen in, with `session_workspaces` mapping Session names to
/// their Workspace's; `None` when its Session is not there (gone, or not in the map's
/// Workspaces) or the target is not exactly one of the two.
fn home(schedule: &Schedule, session_workspaces: &HashMap<String, String>) -> Option<String> {
    let target = &schedule.spec.target;
    match (&target.session_ref, &target.new_session) {
        (None, Some(new)) => Some(new.workspace_ref.name.clone()),
        (Some(session), None) => session_workspaces.get(&session.name).cloned(),
        _ => None,
    }
}

/// Session names to Workspace names.
fn session_map(sessions: Vec<Session>) -> HashMap<String, String> {
    sessions
        .into_iter()
        .filter_map(|s| Some((s.metadata.name?, s.spec.workspace_ref.name)))
        .collect()
}

/// The Schedules of one Workspace: two list calls (its Sessions, the namespace's Schedules),
/// however many there are.
async fn schedules_of(state: &AppState, workspace: &str) -> Result<Vec<Schedule>, ApiError> {
    let sessions = session_map(state.resources.list_sessions(workspace).await?);
    Ok(state
        .resources
        .list_schedules()
        .await?
        .into_iter()
        .filter(|s| home(s, &sessions).as_deref() == Some(workspace))
        .collect())
}

/// The Schedule of a visible Workspace; `not_found` for a missing one, one of another
/// Workspace, and any of a Workspace the caller may not see.
async fn visible_schedule(
    state: &AppState,
    principal: &Principal,
    workspace: &str,
    name: &str,
) -> Result<Schedule, ApiError> {
    visible_workspace(state, principal, workspace).await?;
    objects::check_name("schedule", name)?;
    let not_found = || {
        ApiError::NotFound(format!(
            "schedule {name:?} not found in workspace {workspace:?}"
        ))
    };
    let schedule = state
        .resources
        .get_schedule(name)
        .await?
        .ok_or_else(not_found)?;
    let target = &schedule.spec.target;
    let in_workspace = match (&target.session_ref, &target.new_session) {
        (None, Some(new)) => new.workspace_ref.name == workspace,
        (Some(session), None) => state
            .resources
            .get_session(&session.name)
            .await?
            .is_some_and(|s| s.spec.workspace_ref.name == workspace),
        _ => false,
    };
    if in_workspace {
        Ok(schedule)
    } else {
        Err(not_found())
    }
}

/// Every Schedule of the caller's Workspaces (an admin's: all, those whose Session is gone
/// among them): three list calls, whatever the number of Workspaces and Schedules.
#[utoipa::path(get, path = "/api/schedules", tag = "schedules", responses((status = 200)))]
pub async fn list_all(
    principal: Principal,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Items<Schedule>>, ApiError> {
    let schedules = state.resources.list_schedules().await?;
    let items = if principal.user().is_admin() {
        schedules.into_iter().map(clean).collect()
    } else {
        let visible: HashSet<String> = state
            .resources
            .list_workspaces()
            .await?
            .into_iter()
            .filter(|w| principal.may_access(&w.spec.owner))
            .filter_map(|w| w.metadata.name)
            .collect();
        let sessions = session_map(state.resources.list_all_sessions().await?);
        schedules
            .into_iter()
            .filter(|s| home(s, &sessions).is_some_and(|w| visible.contains(&w)))
            .map(clean)
            .collect()
    };
    Ok(Json(Items { items }))
}

#[utoipa::path(get, path = "/api/workspaces/{workspace}/schedules", tag = "schedules",
    responses((status = 200), (status = 404)))]
pub async fn list(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
) -> Result<Json<Items<Schedule>>, ApiError> {
    visible_workspace(&state, &principal, &workspace).await?;
    let items = schedules_of(&state, &workspace)
        .await?
        .into_iter()
        .map(clean)
        .collect();
    Ok(Json(Items { items }))
}

#[utoipa::path(post, path = "/api/workspaces/{workspace}/schedules", tag = "schedules",
    request_body = CreateSchedule,
    responses((status = 201), (status = 404), (status = 409, description = "The name is taken, or the workspace has its most Schedules"), (status = 422)))]
pub async fn create(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path(workspace): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let owning = visible_workspace(&state, &principal, &workspace).await?;
    let request: CreateSchedule = from_json(&body)?;
    let name = request.name.unwrap_or_else(|| default_name(&workspace));
    objects::check_name("name", &name)?;
    let mut spec = match request.spec {
        Value::Null => Value::Object(Map::new()),
        spec @ Value::Object(_) => spec,
        _ => return Err(ApiError::invalid_field("spec", "must be an object")),
    };
    in_workspace(&mut spec, &workspace)?;
    let document = json!({
        "apiVersion": "oqto.dev/v1alpha1",
        "kind": "Schedule",
        "metadata": { "name": name, "namespace": state.resources.namespace() },
        "spec": spec,
    });
    let schedule: Schedule = objects::typed(document, "")?;
    schedule.validate().map_err(refused)?;
    check_target(&state, &owning, &workspace, &schedule).await?;
    let count = schedules_of(&state, &workspace).await?.len();
    if count >= MAX_SCHEDULES_PER_WORKSPACE {
        // Counted before the write, not under a lock (the store has no transaction across
        // objects): creates in flight at the same moment may each pass, so the bound can be
        // overshot by that many, once; every later create sees them and is refused.
        return Err(ApiError::Conflict(format!(
            "workspace {workspace:?} has {count} schedules, the most a workspace may have \
             ({MAX_SCHEDULES_PER_WORKSPACE}); delete one first"
        )));
    }
    let created = state.resources.create_schedule(schedule).await?;
    Ok((StatusCode::CREATED, Json(clean(created))))
}

/// The longest Schedule name: it becomes a label value on its runs' Sessions, and Kubernetes
/// bounds those at 63 characters.
const NAME_MAX: usize = 63;

/// `{workspace}-sched-{suffix}`, the Workspace's name shortened as far as it must be for the
/// whole to stay within [`NAME_MAX`] (and to end in a letter or digit before the `-`).
fn default_name(workspace: &str) -> String {
    let suffix = format!("-sched-{}", objects::suffix());
    let room = NAME_MAX.saturating_sub(suffix.len());
    // Object names are ASCII, so a byte cut is a character cut; `get` keeps a non-ASCII name
    // (refused later by the name check) from panicking here.
    let prefix = workspace
        .get(..room.min(workspace.len()))
        .unwrap_or("schedule");
    let prefix = prefix.trim_end_matches(['-', '.']);
    format!("{prefix}{suffix}")
}

/// Puts the path's Workspace into `spec.target.newSession.workspaceRef`, or refuses another one
/// there (the Workspace is the path's, as with Sessions); no target at all means a new Session
/// per run.
fn in_workspace(spec: &mut Value, workspace: &str) -> Result<(), ApiError> {
    let reference = json!({ "name": workspace });
    let Some(spec) = spec.as_object_mut() else {
        return Err(ApiError::invalid_field("spec", "must be an object"));
    };
    let target = spec
        .entry("target")
        .or_insert_with(|| json!({ "newSession": {} }));
    if target.is_null() {
        *target = json!({ "newSession": {} });
    }
    let Some(target) = target.as_object_mut() else {
        return Err(ApiError::invalid_field("spec.target", "must be an object"));
    };
    let Some(new_session) = target.get_mut("newSession").filter(|n| !n.is_null()) else {
        return Ok(());
    };
    let Some(new_session) = new_session.as_object_mut() else {
        return Err(ApiError::invalid_field(
            "spec.target.newSession",
            "must be an object",
        ));
    };
    match new_session.get("workspaceRef") {
        None | Some(Value::Null) => {
            new_session.insert("workspaceRef".into(), reference);
            Ok(())
        }
        Some(given) if *given == reference => Ok(()),
        Some(_) => Err(ApiError::invalid_field(
            "spec.target.newSession.workspaceRef",
            format!("must be this workspace, {workspace:?} (the path's); leave it out"),
        )),
    }
}

/// The target must be of the path's Workspace: a `sessionRef` must name one of its Sessions (a
/// missing Session and another user's are refused alike), and a new Session's model must be one
/// the Workspace's class offers, as for Sessions created directly.
async fn check_target(
    state: &AppState,
    owning: &Workspace,
    workspace: &str,
    schedule: &Schedule,
) -> Result<(), ApiError> {
    let target = &schedule.spec.target;
    if let Some(session) = &target.session_ref {
        let found = state
            .resources
            .get_session(&session.name)
            .await?
            .is_some_and(|s| s.spec.workspace_ref.name == workspace);
        if !found {
            return Err(ApiError::invalid_field(
                "spec.target.sessionRef.name",
                format!(
                    "session {:?} not found in workspace {workspace:?}",
                    session.name
                ),
            ));
        }
    }
    if let Some(model) = target.new_session.as_ref().and_then(|n| n.model.as_ref()) {
        let default = state.settings.default_workspace_class.as_deref();
        if let Some(class) = oqto_api::workspace_class::class_name(&owning.spec, default)
            && let Some(class) = state.resources.get_workspace_class(class).await?
        {
            class
                .spec
                .check_model("spec.target.newSession.model", model)
                .map_err(refused)?;
        }
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/workspaces/{workspace}/schedules/{schedule}", tag = "schedules",
    responses((status = 200), (status = 404)))]
pub async fn get(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(clean(
        visible_schedule(&state, &principal, &workspace, &name).await?,
    )))
}

#[utoipa::path(patch, path = "/api/workspaces/{workspace}/schedules/{schedule}", tag = "schedules",
    request_body = UpdateSchedule, responses((status = 200), (status = 404), (status = 422)))]
pub async fn update(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path((workspace, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Schedule>, ApiError> {
    let current = visible_schedule(&state, &principal, &workspace, &name).await?;
    let request: UpdateSchedule = from_json(&body)?;
    // The changed Schedule as a whole passes the same rules as a new one before anything is
    // written; the patch then carries only the changed fields, so a concurrent change of
    // another field (the operator never writes the spec) is kept.
    let mut changed = current.clone();
    let patch = request.apply(&mut changed)?;
    changed.validate().map_err(refused)?;
    changed.validate_update(&current).map_err(refused)?;
    if patch.is_empty() {
        return Ok(Json(clean(current)));
    }
    let patched = state
        .resources
        .patch_schedule_spec(&name, Value::Object(patch))
        .await?;
    Ok(Json(clean(patched)))
}

#[utoipa::path(delete, path = "/api/workspaces/{workspace}/schedules/{schedule}", tag = "schedules",
    responses((status = 204), (status = 404)))]
pub async fn delete(
    principal: Principal,
    State(state): State<Arc<AppState>>,
    Path((workspace, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    visible_schedule(&state, &principal, &workspace, &name).await?;
    state.resources.delete_schedule(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(target: Value) -> Schedule {
        serde_json::from_value(json!({
            "apiVersion": "oqto.dev/v1alpha1", "kind": "Schedule",
            "metadata": {"name": "s"},
            "spec": {"schedule": "@daily", "prompt": "hi", "target": target},
        }))
        .unwrap()
    }

    #[test]
    fn a_schedule_belongs_to_its_new_sessions_or_its_sessions_workspace() {
        let sessions = HashMap::from([("chat".to_owned(), "dev".to_owned())]);
        let new = schedule(json!({"newSession": {"workspaceRef": {"name": "ops"}}}));
        assert_eq!(home(&new, &sessions).as_deref(), Some("ops"));
        let existing = schedule(json!({"sessionRef": {"name": "chat"}}));
        assert_eq!(home(&existing, &sessions).as_deref(), Some("dev"));
        let orphan = schedule(json!({"sessionRef": {"name": "gone"}}));
        assert_eq!(home(&orphan, &sessions), None, "its session is gone");
        let both = schedule(json!({"sessionRef": {"name": "chat"},
            "newSession": {"workspaceRef": {"name": "ops"}}}));
        assert_eq!(home(&both, &sessions), None, "not a valid target");
    }

    #[test]
    fn generated_names_fit_a_label_value() {
        let name = default_name("dev");
        assert!(name.starts_with("dev-sched-") && name.len() == 16, "{name}");
        // Cut right after a `-`, which goes with it.
        let long = format!("{}-{}", "a".repeat(49), "b".repeat(100));
        let name = default_name(&long);
        assert_eq!(name.len(), 62, "{name}");
        assert!(
            name.starts_with(&format!("{}-sched-", "a".repeat(49))),
            "{name}"
        );
        assert_eq!(default_name(&"c".repeat(253)).len(), NAME_MAX);
        assert!(objects::check_name("name", &name).is_ok(), "{name}");
        let dotted = format!("{}.x", "a".repeat(49));
        assert!(objects::check_name("name", &default_name(&dotted)).is_ok());
    }

    #[test]
    fn the_new_sessions_workspace_comes_from_the_path() {
        let mut spec = json!({});
        in_workspace(&mut spec, "dev").unwrap();
        assert_eq!(
            spec["target"],
            json!({"newSession": {"workspaceRef": {"name": "dev"}}})
        );
        let mut spec = json!({"target": {"newSession": {"model": "m"}}});
        in_workspace(&mut spec, "dev").unwrap();
        assert_eq!(spec["target"]["newSession"]["workspaceRef"]["name"], "dev");
        let mut spec = json!({"target": {"sessionRef": {"name": "chat"}}});
        in_workspace(&mut spec, "dev").unwrap();
        assert_eq!(spec["target"], json!({"sessionRef": {"name": "chat"}}));
        let mut same = json!({"target": {"newSession": {"workspaceRef": {"name": "dev"}}}});
        assert!(in_workspace(&mut same, "dev").is_ok());
        for (mut bad, field) in [
            (
                json!({"target": {"newSession": {"workspaceRef": {"name": "other"}}}}),
                "spec.target.newSession.workspaceRef",
            ),
            (json!({"target": "x"}), "spec.target"),
            (
                json!({"target": {"newSession": 7}}),
                "spec.target.newSession",
            ),
        ] {
            let error = in_workspace(&mut bad, "dev").unwrap_err().to_string();
            assert!(error.starts_with(&format!("{field}: ")), "{error}");
        }
    }

    #[test]
    fn an_update_changes_only_what_it_names_and_null_clears_the_time_zone() {
        let mut s = schedule(json!({"newSession": {"workspaceRef": {"name": "dev"}}}));
        s.spec.time_zone = Some("Europe/Berlin".into());
        let request: UpdateSchedule =
            from_json(br#"{"suspend": true, "timeZone": null, "concurrencyPolicy": "Replace"}"#)
                .unwrap();
        let patch = request.apply(&mut s).unwrap();
        assert_eq!(
            Value::Object(patch),
            json!({"suspend": true, "timeZone": null, "concurrencyPolicy": "Replace"})
        );
        assert!(s.spec.suspend);
        assert_eq!(s.spec.time_zone, None);
        assert_eq!(s.spec.concurrency_policy, ConcurrencyPolicy::Replace);
        assert_eq!(s.spec.schedule, "@daily", "untouched");

        let request: UpdateSchedule = from_json(b"{}").unwrap();
        assert!(request.apply(&mut s).unwrap().is_empty());
        for (body, field) in [
            (&br#"{"owner": "x"}"#[..], "owner"),
            (
                br#"{"concurrencyPolicy": "Sometimes"}"#,
                "concurrencyPolicy",
            ),
            (br#"{"suspend": "yes"}"#, "suspend"),
        ] {
            let error = from_json::<UpdateSchedule>(body)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(error.contains(field), "{error}");
        }
    }
}
