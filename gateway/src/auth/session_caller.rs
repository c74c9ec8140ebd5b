//! A runner calling the gateway for its own Session (delegation): it presents the credential
//! the operator gave it (`oqto_proto::runner::SessionCredential`), which the gateway derives
//! again from the Session's uid. Such a caller acts for the Workspace's owner but may only
//! create its Session's children and send agent frames to them.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use oqto_proto::runner::SessionCredential;

use super::unauthenticated;
use crate::accounts::User;
use crate::error::ApiError;
use crate::state::AppState;

/// Who a session credential speaks for.
#[derive(Debug, Clone)]
pub struct SessionCaller {
    /// The Session whose runner called.
    pub session: String,
    pub uid: String,
    pub workspace: String,
    /// The Workspace's owner: budgets and limits count against them.
    pub owner: User,
}

/// The presented bearer value when it is shaped like a session credential.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let bearer = value.strip_prefix("Bearer ")?.trim();
    SessionCredential::claimed_session(bearer).map(|_| bearer)
}

/// Checks a session credential; the same refusal whatever is wrong, so a caller learns
/// nothing about which Sessions exist.
pub async fn authenticate(state: &AppState, presented: &str) -> Result<SessionCaller, ApiError> {
    let refused = || {
        unauthenticated(
            "invalid_session_credential",
            "the session credential is not valid",
        )
    };
    let name = SessionCredential::claimed_session(presented).ok_or_else(refused)?;
    let session = state
        .resources
        .get_session(name)
        .await?
        .ok_or_else(refused)?;
    let uid = session.metadata.uid.clone().ok_or_else(refused)?;
    if session.metadata.deletion_timestamp.is_some()
        || !state
            .runner_key
            .session_credential(name, &uid)
            .matches(presented)
    {
        return Err(refused());
    }
    let workspace = session.spec.workspace_ref.name.clone();
    let owner_name = state
        .resources
        .get_workspace(&workspace)
        .await?
        .map(|w| w.spec.owner)
        .ok_or_else(refused)?;
    let owner = state
        .auth
        .accounts
        .user_by_name(&owner_name)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or_else(refused)?;
    if owner.disabled {
        return Err(unauthenticated(
            "account_disabled",
            "the workspace owner's account is disabled",
        ));
    }
    Ok(SessionCaller {
        session: name.to_owned(),
        uid,
        workspace,
        owner,
    })
}
