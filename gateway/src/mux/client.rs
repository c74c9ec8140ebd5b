//! One browser or CLI connection: reads frames, checks that each names a session of this
//! user, and hands it to that session's link. What goes to the client is written straight to
//! its socket (`out`) by whoever has it; a small task pings.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::StreamExt;
use oqto_proto::mux::{
    Channel, Envelope, PING_EVERY, Refusal, ServerFrame, SessionName, SystemEvent,
};
use tokio::sync::mpsc::error::TrySendError;

use super::budget::Held;
use super::frame;
pub use super::out::Outgoing;
use super::out::{ClientOut, Gone};
use super::upstream::{self, Link, Queued};
use crate::accounts::User;
use crate::state::AppState;

/// How long a frame for a session the table does not know yet waits for it: the table
/// follows writes by a watch event (Kubernetes) or a poll (single-node), so a session created
/// a moment ago may not be in it. Only that client's frames wait.
const FRESH_SESSION_GRACE: Duration = Duration::from_secs(2);
/// How long the last words to a client (why its connection closes) may take.
const FAREWELL: Duration = Duration::from_secs(2);

/// What a connection may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The user's sessions (an admin's: all).
    User,
    /// A runner delegating: the agent channel of the children of this Session, nothing else.
    ChildrenOf(String),
}

pub async fn serve(socket: WebSocket, state: Arc<AppState>, user: User, scope: Scope, held: Held) {
    let (sink, mut stream) = socket.split();
    let out = ClientOut::new(sink);
    let hello = ServerFrame::System(SystemEvent::Connected).to_json();
    if out.send(hello.into()).await.is_err() {
        return;
    }
    let pinger = tokio::spawn(ping(out.clone()));
    let mut links: HashMap<SessionName, Link> = HashMap::new();
    state.metrics.connections.inc();
    let mut farewell = false;

    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                let refusal =
                    system_refusal("binary frames are not supported; send JSON text frames");
                if out.send(refusal.into()).await.is_err() {
                    break;
                }
                continue;
            }
            Ok(Message::Close(_)) => break,
            Err(error) => {
                // The socket refused a message above the frame limit before reading it.
                if error.to_string().contains("Message too long") {
                    state.metrics.refused("oversized");
                    let limit = state.settings.max_frame_bytes;
                    let why = format!(
                        "a frame exceeds the limit of {limit} bytes (--max-frame-bytes); the connection is closed"
                    );
                    let last_words = async {
                        out.send(system_refusal(&why).into()).await?;
                        let close = format!("frame above {limit} bytes");
                        out.send(Outgoing::Close(1009, close)).await
                    };
                    let _ = tokio::time::timeout(FAREWELL, last_words).await;
                    farewell = true;
                }
                break;
            }
            Ok(_) => continue,
        };
        let answer = route_frame(
            &state,
            &held,
            (&user, &scope),
            &mut links,
            &out,
            text.as_str(),
        )
        .await;
        if let Some(answer) = answer
            && out.send(answer.into()).await.is_err()
        {
            break;
        }
    }
    // The links' runner readers stop with them; a client that does not read gets no more
    // than FAREWELL to take its last words (a reader stuck writing to it is gone by then).
    drop(links);
    pinger.abort();
    if !farewell {
        let _ = tokio::time::timeout(FAREWELL, out.close()).await;
    }
    state.metrics.connections.dec();
}

/// Queues one client frame for its session; the refusal to send back when it cannot be.
async fn route_frame(
    state: &Arc<AppState>,
    held: &Held,
    (user, scope): (&User, &Scope),
    links: &mut HashMap<SessionName, Link>,
    out: &ClientOut,
    text: &str,
) -> Option<String> {
    if text.len() > state.settings.max_frame_bytes {
        state.metrics.refused("oversized");
        return Some(system_refusal(&format!(
            "frame of {} bytes exceeds the limit of {} bytes",
            text.len(),
            state.settings.max_frame_bytes
        )));
    }
    let envelope = match Envelope::peek(text) {
        Ok(envelope) => envelope,
        Err(refusal) => {
            state.metrics.refused("invalid");
            return Some(frame::refusal(&refusal));
        }
    };
    // Another user's session is "not found", exactly like a missing one.
    let owner = state
        .routes
        .known_owner(envelope.session_id.as_str(), FRESH_SESSION_GRACE)
        .await;
    let visible = match scope {
        Scope::User => owner.is_some_and(|owner| user.is_admin() || owner == user.username),
        // Not even an admin's runner reaches beyond its own children, nor their files.
        Scope::ChildrenOf(parent) => {
            owner.is_some_and(|owner| owner == user.username)
                && envelope.channel == Channel::Agent
                && state.routes.parent(envelope.session_id.as_str()).as_ref() == Some(parent)
        }
    };
    if !visible {
        state.metrics.refused("not_found");
        let error = format!("session {} not found", envelope.session_id);
        return Some(frame::refusal(&envelope.refuse(error)));
    }
    let link = match links.entry(envelope.session_id.clone()) {
        Entry::Occupied(entry) => entry.into_mut(),
        Entry::Vacant(entry) => {
            let Some(slot) = held.link_session() else {
                state.metrics.refused("too_many_sessions");
                let error = format!(
                    "you already talk to {} sessions at once (--max-sessions-per-user); close one first",
                    state.budgets.limits().sessions
                );
                return Some(frame::refusal(&envelope.refuse(error)));
            };
            entry.insert(upstream::spawn(
                envelope.session_id.clone(),
                state.clone(),
                out.clone(),
                held.outbound(),
                slot,
            ))
        }
    };
    let queue_name = if envelope.channel == Channel::Agent {
        "agent"
    } else {
        "other"
    };
    if link.try_direct(text) {
        state.metrics.relayed(queue_name);
        return None;
    }
    let Some(reserved) = held.reserve_inbound(text.len()) else {
        state.metrics.refused("busy");
        let error = format!(
            "Server busy: your frames waiting for their runners hold {} bytes (--max-queued-bytes); retry later",
            state.budgets.limits().queued_bytes
        );
        return Some(frame::refusal(&envelope.refuse(error)));
    };
    let queue = if envelope.channel == Channel::Agent {
        &link.agent
    } else {
        &link.other
    };
    let queued = Queued {
        text: text.to_owned(),
        envelope,
        _reserved: reserved,
    };
    link.queueing();
    match queue.try_send(queued) {
        Ok(()) => {
            state.metrics.relayed(queue_name);
            None
        }
        Err(TrySendError::Full(queued)) | Err(TrySendError::Closed(queued)) => {
            link.unqueued(1);
            state.metrics.refused("busy");
            let error = format!(
                "Server busy: the {} queue of session {} is full; retry later",
                queued.envelope.channel, queued.envelope.session_id
            );
            Some(frame::refusal(&queued.envelope.refuse(error)))
        }
    }
}

fn system_refusal(error: &str) -> String {
    frame::refusal(&Refusal::system(None, error))
}

/// Pings the client every `PING_EVERY` until it is gone.
async fn ping(out: ClientOut) -> Result<(), Gone> {
    let ping = ServerFrame::System(SystemEvent::Ping).to_json();
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        every.tick().await;
        out.send(ping.clone().into()).await?;
    }
}
