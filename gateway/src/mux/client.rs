//! One browser or CLI connection: reads frames, checks that each names a session of this
//! user, and hands it to that session's link; everything for the client goes through one
//! bounded queue to one writer, which also greets and pings.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use oqto_proto::mux::{
    Channel, Envelope, PING_EVERY, Refusal, ServerFrame, SessionName, SystemEvent,
};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::frame;
use super::upstream::{self, Link, Queued};
use crate::accounts::User;
use crate::state::AppState;

/// Frames waiting to be written to the client. A client that does not read holds its own
/// runners back (back-pressure), never the gateway's memory.
const OUT_QUEUE: usize = 1024;
/// How long a frame for a session the table does not know yet waits for it: the table
/// follows writes by a watch event (Kubernetes) or a poll (single-node), so a session created
/// a moment ago may not be in it. Only that client's frames wait.
const FRESH_SESSION_GRACE: Duration = Duration::from_secs(2);
/// Sessions one connection may talk to at once.
pub const MAX_SESSIONS: usize = 64;

pub async fn serve(socket: WebSocket, state: Arc<AppState>, user: User) {
    let (sink, mut stream) = socket.split();
    let (out, out_rx) = mpsc::channel::<String>(OUT_QUEUE);
    let writer = tokio::spawn(write_frames(sink, out_rx));
    let mut links: HashMap<SessionName, Link> = HashMap::new();
    state.metrics.connections.inc();

    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(_)) => {
                let refusal =
                    system_refusal("binary frames are not supported; send JSON text frames");
                if out.send(refusal).await.is_err() {
                    break;
                }
                continue;
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let answer = route_frame(&state, &user, &mut links, &out, text.as_str()).await;
        if let Some(answer) = answer
            && out.send(answer).await.is_err()
        {
            break;
        }
    }
    drop(links);
    drop(out);
    // Whatever is still queued for the client is of no use now.
    writer.abort();
    state.metrics.connections.dec();
}

/// Queues one client frame for its session; the refusal to send back when it cannot be.
async fn route_frame(
    state: &Arc<AppState>,
    user: &User,
    links: &mut HashMap<SessionName, Link>,
    out: &mpsc::Sender<String>,
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
    let visible = owner.is_some_and(|owner| user.is_admin() || owner == user.username);
    if !visible {
        state.metrics.refused("not_found");
        let error = format!("session {} not found", envelope.session_id);
        return Some(frame::refusal(&envelope.refuse(error)));
    }
    let links_open = links.len();
    let link = match links.entry(envelope.session_id.clone()) {
        Entry::Occupied(entry) => entry.into_mut(),
        Entry::Vacant(entry) => {
            if links_open >= MAX_SESSIONS {
                state.metrics.refused("too_many_sessions");
                let error = format!(
                    "this connection already talks to {MAX_SESSIONS} sessions; open another connection"
                );
                return Some(frame::refusal(&envelope.refuse(error)));
            }
            entry.insert(upstream::spawn(
                envelope.session_id.clone(),
                state.clone(),
                out.clone(),
            ))
        }
    };
    let (queue, queue_name) = if envelope.channel == Channel::Agent {
        (&link.agent, "agent")
    } else {
        (&link.other, "other")
    };
    let queued = Queued {
        text: text.to_owned(),
        envelope,
    };
    match queue.try_send(queued) {
        Ok(()) => {
            state.metrics.relayed(queue_name);
            None
        }
        Err(TrySendError::Full(queued)) | Err(TrySendError::Closed(queued)) => {
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

async fn write_frames(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut frames: mpsc::Receiver<String>,
) {
    let hello = ServerFrame::System(SystemEvent::Connected).to_json();
    if sink.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    let ping_text = ServerFrame::System(SystemEvent::Ping).to_json();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        let text = tokio::select! {
            frame = frames.recv() => match frame {
                Some(text) => text,
                None => break,
            },
            _ = ping.tick() => ping_text.clone(),
        };
        if sink.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}
