//! `GET /api/ws/mux`: the multiplexed WebSocket (§2), relayed frame by frame to the runner
//! of the session each frame names. Authentication and the Origin check happen before the
//! upgrade, so a refused client gets a plain HTTP 401/403 with a JSON body.

pub mod budget;
pub mod client;
pub mod frame;
pub mod out;
mod reach;
pub mod upstream;

use std::sync::Arc;

use axum::extract::{FromRequestParts, State, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// The read buffer a connection starts with.
pub const IDLE_READ_BUFFER: usize = 4 * 1024;

/// The mux on the runners' listener: a session credential, or nothing.
pub async fn upgrade_runner(State(state): State<Arc<AppState>>, parts: Parts) -> Response {
    if crate::auth::session_caller::presented(&parts.headers).is_none() {
        return crate::auth::unauthenticated(
            "missing_session_credential",
            "this listener serves runners: present the Session's credential",
        )
        .into_response();
    }
    upgrade(State(state), parts).await
}

pub async fn upgrade(State(state): State<Arc<AppState>>, mut parts: Parts) -> Response {
    // A runner delegating: its children's agent frames only, for its Workspace's owner.
    let caller = match crate::auth::session_caller::presented(&parts.headers) {
        Some(presented) => match crate::auth::session_caller::authenticate(&state, presented).await
        {
            Ok(caller) => Some(caller),
            Err(error) => return error.into_response(),
        },
        None => None,
    };
    let principal = match caller.as_ref() {
        Some(caller) => crate::auth::Principal(caller.owner.clone()),
        None => match state.auth.principal(&parts, true).await {
            Ok(principal) => principal,
            Err(error) => return error.into_response(),
        },
    };
    let scope = match caller {
        Some(caller) => client::Scope::ChildrenOf(caller.session),
        None => client::Scope::User,
    };
    if let Err(message) =
        crate::auth::origin::allowed(&parts.headers, &state.settings.allowed_origins)
    {
        return ApiError::Forbidden(message).into_response();
    }
    let Some(held) = state.budgets.hold(&principal.0.username) else {
        return ApiError::RateLimited(format!(
            "too many open connections: at most {} per user (--max-connections-per-user)",
            state.budgets.limits().connections
        ))
        .into_response();
    };
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    // The socket reads no message above the frame limit: a larger one is never buffered; the
    // client gets an error frame naming the limit and the connection closes with 1009.
    let limit = state.settings.max_frame_bytes;
    let user = principal.0;
    // Buffers grow with the frames; a small start keeps idle connections small (the
    // default 128 KiB read buffer made an idle connection cost ~130 KiB).
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(IDLE_READ_BUFFER)
        .on_upgrade(move |socket| client::serve(socket, state, user, scope, held))
}
