//! `POST /api/delegation/children`: a runner starts a child of its own Session (delegation).
//! Only a session credential opens it; the child runs in the same Workspace, names its parent
//! (`spec.parentSessionRef`) and is owned by it, so deleting the parent deletes it. The limits
//! of `oqto_proto::delegation` hold per parent and per user.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use oqto_api::Session;
use oqto_proto::delegation::{
    ChildStarted, MAX_CHILDREN, MAX_LEVELS, MAX_RUNNING_PER_USER, StartChild,
};
use serde_json::json;

use super::objects;
use crate::auth::session_caller::{self, SessionCaller};
use crate::auth::unauthenticated;
use crate::error::{ApiError, from_json};
use crate::state::AppState;

/// Why a child may not start, from the Sessions as they are (pure, so tests can attack it).
pub fn refusal(
    caller: &SessionCaller,
    sessions: &[Session],
    owners: &HashMap<String, String>,
) -> Option<String> {
    let parent_of: HashMap<&str, &str> = sessions
        .iter()
        .filter_map(|s| {
            let name = s.metadata.name.as_deref()?;
            let parent = s.spec.parent_session_ref.as_ref()?;
            Some((name, parent.name.as_str()))
        })
        .collect();
    // The caller's level: 1 for a Session a user started, +1 per parent above it.
    let mut level = 1;
    let mut at = caller.session.as_str();
    while let Some(parent) = parent_of.get(at) {
        level += 1;
        at = parent;
        if level > MAX_LEVELS {
            break;
        }
    }
    if level >= MAX_LEVELS {
        return Some(format!(
            "delegation goes at most {MAX_LEVELS} levels deep: session {} is a sub-agent and may not start another",
            caller.session
        ));
    }
    let children = parent_of.values().filter(|p| **p == caller.session).count();
    if children >= MAX_CHILDREN {
        return Some(format!(
            "session {} already has {children} sub-agents, the most one session may have ({MAX_CHILDREN}); delete one first",
            caller.session
        ));
    }
    let running = sessions
        .iter()
        .filter(|s| s.spec.parent_session_ref.is_some() && !s.spec.suspended)
        .filter(|s| owners.get(&s.spec.workspace_ref.name) == Some(&caller.owner.username))
        .count();
    if running >= MAX_RUNNING_PER_USER {
        return Some(format!(
            "{running} sub-agents of user {} are running, the most at once ({MAX_RUNNING_PER_USER}); wait for one to finish",
            caller.owner.username
        ));
    }
    None
}

/// A child's name: its parent's, cut so the whole stays a 63-character label value.
fn child_name(parent: &str) -> String {
    let suffix = format!("-sub-{}", objects::suffix());
    let mut head: String = parent.chars().take(63 - suffix.len()).collect();
    while head.ends_with(['-', '.']) {
        head.pop();
    }
    format!("{head}{suffix}")
}

#[utoipa::path(post, path = "/api/delegation/children", tag = "delegation",
    request_body = Object,
    responses((status = 201), (status = 401), (status = 422), (status = 429)))]
pub async fn start_child(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<ChildStarted>), ApiError> {
    let presented = session_caller::presented(&headers).ok_or_else(|| {
        unauthenticated(
            "missing_session_credential",
            "only a runner's session credential starts sub-agents",
        )
    })?;
    let caller = session_caller::authenticate(&state, presented).await?;
    let request: StartChild = from_json(&body)?;
    let title = super::sessions::display_name(request.title.as_deref())?;
    let sessions = state.resources.list_all_sessions().await?;
    let owners: HashMap<String, String> = state
        .resources
        .list_workspaces()
        .await?
        .into_iter()
        .filter_map(|w| Some((w.metadata.name?, w.spec.owner)))
        .collect();
    if let Some(why) = refusal(&caller, &sessions, &owners) {
        return Err(ApiError::RateLimited(why));
    }
    let workspace = state
        .resources
        .get_workspace(&caller.workspace)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("workspace {} not found", caller.workspace)))?;
    let name = child_name(&caller.session);
    let document = json!({
        "apiVersion": "oqto.dev/v1alpha1",
        "kind": "Session",
        "metadata": {
            "name": name,
            // Kubernetes deletes children with their parent; single-node mode's operator does
            // the same from this reference.
            "ownerReferences": [{
                "apiVersion": "oqto.dev/v1alpha1",
                "kind": "Session",
                "name": caller.session,
                "uid": caller.uid,
            }],
        },
        "spec": {
            "workspaceRef": {"name": caller.workspace},
            "parentSessionRef": {"name": caller.session},
            "provider": request.provider,
            "model": request.model,
            "displayName": title,
        },
    });
    let session: Session = objects::typed(document, "")?;
    super::classes::check_session(&state, &workspace, &session).await?;
    let created = state.resources.create_session(session).await?;
    Ok((
        StatusCode::CREATED,
        Json(ChildStarted {
            name: created.metadata.name.unwrap_or(name),
        }),
    ))
}

#[utoipa::path(post, path = "/api/delegation/children/{child}/suspend", tag = "delegation",
    responses((status = 204), (status = 401), (status = 404)))]
/// Suspends a child whose turn ended (its runner goes; its history stays, and the next frame
/// for it wakes it), so finished sub-agents do not hold runners or count as running.
pub async fn suspend_child(
    State(state): State<Arc<AppState>>,
    Path(child): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let presented = session_caller::presented(&headers).ok_or_else(|| {
        unauthenticated(
            "missing_session_credential",
            "only a runner's session credential suspends its sub-agents",
        )
    })?;
    let caller = session_caller::authenticate(&state, presented).await?;
    let session = state.resources.get_session(&child).await?;
    let is_child = session.is_some_and(|s| {
        s.spec.parent_session_ref.as_ref().map(|p| p.name.as_str()) == Some(caller.session.as_str())
    });
    if !is_child {
        return Err(ApiError::NotFound(format!(
            "sub-agent session {child} not found"
        )));
    }
    state.resources.set_suspended(&child, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::User;

    fn session(name: &str, parent: Option<&str>, workspace: &str, suspended: bool) -> Session {
        serde_json::from_value(json!({"apiVersion": "oqto.dev/v1alpha1", "kind": "Session",
            "metadata": {"name": name},
            "spec": {"workspaceRef": {"name": workspace}, "suspended": suspended,
                "parentSessionRef": parent.map(|p| json!({"name": p}))}}))
        .expect("a session")
    }

    fn caller(session: &str) -> SessionCaller {
        SessionCaller {
            session: session.into(),
            uid: "uid".into(),
            workspace: "w".into(),
            owner: User {
                id: "u1".into(),
                username: "alice".into(),
                role: crate::accounts::Role::User,
                created_at: 0,
                disabled: false,
                credentials_version: 0,
            },
        }
    }

    fn owners() -> HashMap<String, String> {
        HashMap::from([("w".into(), "alice".into()), ("b".into(), "bob".into())])
    }

    #[test]
    fn a_top_level_session_may_delegate_and_a_sub_agent_may_not() {
        let sessions = [
            session("top", None, "w", false),
            session("child", Some("top"), "w", false),
        ];
        assert_eq!(refusal(&caller("top"), &sessions, &owners()), None);
        let why = refusal(&caller("child"), &sessions, &owners()).expect("a third level");
        assert!(why.contains("at most 2 levels"), "{why}");
    }

    #[test]
    fn children_per_parent_and_running_sub_agents_per_user_are_bounded() {
        let mut sessions = vec![session("top", None, "w", false)];
        for i in 0..MAX_CHILDREN {
            // Suspended children count against the parent, not against running ones.
            sessions.push(session(&format!("c{i}"), Some("top"), "w", true));
        }
        let why = refusal(&caller("top"), &sessions, &owners()).expect("too many children");
        assert!(why.contains("sub-agents"), "{why}");

        let mut sessions = vec![
            session("top", None, "w", false),
            session("other", None, "w", false),
        ];
        for i in 0..MAX_RUNNING_PER_USER {
            sessions.push(session(&format!("r{i}"), Some("other"), "w", false));
        }
        // Bob's running sub-agents do not count against alice.
        sessions.push(session("bob-child", Some("bob-top"), "b", false));
        let why = refusal(&caller("top"), &sessions, &owners()).expect("too many running");
        assert!(why.contains("running"), "{why}");
        sessions.truncate(sessions.len() - 2);
        assert_eq!(refusal(&caller("top"), &sessions, &owners()), None);
    }

    #[test]
    fn child_names_fit_a_label_value() {
        let name = child_name(&"a".repeat(63));
        assert!(name.len() <= 63 && name.contains("-sub-"), "{name}");
        assert!(oqto_proto::names::is_object_name(&name), "{name}");
    }
}
