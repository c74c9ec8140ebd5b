//! One WebSocket connection speaking the mux frame format (§2). The reader validates every
//! frame and hands it to a per-channel worker through a bounded queue, so a slow file-tree walk
//! never holds up an `abort` (§12.8); a full queue or a bad frame gets an error frame and the
//! connection stays up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures::{SinkExt, StreamExt};
use oqto_proto::mux::{
    ClientFrame, Envelope, FilesRequest, HstryRequest, PING_EVERY, Refusal, ServerFrame,
    SystemEvent, TerminalRequest,
};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::outbound::Outbound;
use crate::channels::browser::BrowserChannel;
use crate::channels::{files, hstry, terminal};
use crate::metrics::{ChannelLabel, ReasonLabel};
use crate::server::AppState;

/// Queue sizes per channel worker (§2.1).
const AGENT_QUEUE: usize = 256;
const FILES_QUEUE: usize = 128;
const MISC_QUEUE: usize = 128;

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// Terminal and history requests share one worker.
enum Misc {
    Terminal(TerminalRequest),
    Hstry(HstryRequest),
}

pub async fn serve(socket: WebSocket, state: Arc<AppState>) {
    let connection = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    let _client = state.activity.client_connected();
    state.metrics.connected_clients.inc();
    let (out, mut outbound_rx) = Outbound::new(connection, state.session.clone());
    let (mut sink, mut stream) = socket.split();

    let metrics = state.metrics.clone();
    let writer = tokio::spawn(async move {
        let hello = ServerFrame::System(SystemEvent::Connected);
        if sink
            .send(WsMessage::Text(hello.to_json().into()))
            .await
            .is_err()
        {
            return;
        }
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            let frame = tokio::select! {
                frame = outbound_rx.recv() => match frame {
                    Some(frame) => frame,
                    None => break,
                },
                _ = ping.tick() => ServerFrame::System(SystemEvent::Ping),
            };
            metrics
                .frames_sent
                .get_or_create(&ChannelLabel {
                    channel: frame.channel().as_str().into(),
                })
                .inc();
            if sink
                .send(WsMessage::Text(frame.to_json().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let (agent_tx, agent_rx) = mpsc::channel(AGENT_QUEUE);
    let (files_tx, files_rx) = mpsc::channel(FILES_QUEUE);
    let (misc_tx, misc_rx) = mpsc::channel(MISC_QUEUE);
    let (browser_channel, browser_workers) =
        BrowserChannel::spawn(state.browser.clone(), connection, out.clone());
    let mut workers = vec![
        tokio::spawn(agent_worker(state.clone(), agent_rx, out.clone())),
        tokio::spawn(files_worker(state.clone(), files_rx, out.clone())),
        tokio::spawn(misc_worker(state.clone(), misc_rx, out.clone())),
    ];
    workers.extend(browser_workers);

    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(WsMessage::Text(text)) => text,
            Ok(WsMessage::Binary(_)) => {
                let error = "binary frames are not supported; send JSON text frames";
                reject(&state, &out, "binary", Refusal::system(None, error));
                continue;
            }
            Ok(WsMessage::Close(_)) => break,
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
            Err(e) => {
                debug!(connection, error = %e, "websocket read failed");
                break;
            }
        };
        if text.len() > state.max_frame_bytes {
            let error = format!(
                "frame of {} bytes exceeds the limit of {} bytes",
                text.len(),
                state.max_frame_bytes
            );
            reject(&state, &out, "oversized", Refusal::system(None, error));
            continue;
        }
        state.activity.touch();
        // The envelope first: a frame for another session is refused before its payload is
        // read (the gateway never sends one; anything else that reaches this port might).
        let envelope = match Envelope::peek(text.as_str()) {
            Ok(envelope) => envelope,
            Err(refusal) => {
                reject(&state, &out, "invalid", refusal);
                continue;
            }
        };
        if envelope.session_id != state.session {
            let error = format!(
                "session {} is not served here (this runner serves session {})",
                envelope.session_id, state.session
            );
            reject(&state, &out, "other_session", envelope.refuse(error));
            continue;
        }
        let frame = match ClientFrame::parse(text.as_str()) {
            Ok(frame) => frame,
            Err(e) => {
                reject(&state, &out, "invalid", envelope.refuse(e.to_string()));
                continue;
            }
        };
        let queued = match frame {
            ClientFrame::Agent(command) => agent_tx.try_send(command).is_ok(),
            ClientFrame::Files(frame) => files_tx.try_send(frame.body).is_ok(),
            ClientFrame::Terminal(frame) => misc_tx.try_send(Misc::Terminal(frame.body)).is_ok(),
            ClientFrame::Hstry(frame) => misc_tx.try_send(Misc::Hstry(frame.body)).is_ok(),
            ClientFrame::Browser(frame) => browser_channel.submit(frame.body),
        };
        state
            .metrics
            .frames_received
            .get_or_create(&ChannelLabel {
                channel: envelope.channel.as_str().into(),
            })
            .inc();
        if !queued {
            let error = format!(
                "Server busy: the {} command queue is full",
                envelope.channel
            );
            reject(&state, &out, "busy", envelope.refuse(error));
        }
    }

    drop((agent_tx, files_tx, misc_tx, browser_channel));
    for worker in &workers {
        worker.abort();
    }
    // Aborted is not yet stopped: a worker in the middle of a `watch` could otherwise add this
    // connection back after the hub forgot it (a dead watcher, a controller nobody releases).
    for worker in workers {
        let _ = worker.await;
    }
    state.registry.forget_connection(connection);
    // Control goes back to the agent when the controlling connection closes.
    state.browser.forget_connection(connection);
    state.metrics.connected_clients.dec();
    drop(out);
    writer.abort();
    debug!(connection, "connection closed");
}

/// Answers a refused frame on its own channel when that is known.
fn reject(state: &AppState, out: &Outbound, reason: &str, refusal: Refusal) {
    warn!(reason, error = %refusal.error, "frame rejected");
    state
        .metrics
        .frames_rejected
        .get_or_create(&ReasonLabel {
            reason: reason.into(),
        })
        .inc();
    out.send(refusal.to_frame(&state.runner_id));
}

async fn agent_worker(
    state: Arc<AppState>,
    mut rx: mpsc::Receiver<oqto_proto::canonical::Command>,
    out: Outbound,
) {
    while let Some(command) = rx.recv().await {
        state.registry.dispatch(command, &out).await;
    }
}

async fn files_worker(state: Arc<AppState>, mut rx: mpsc::Receiver<FilesRequest>, out: Outbound) {
    while let Some(request) = rx.recv().await {
        let root = state.workspace_path.display().to_string();
        out.files(files::handle(state.workspace.clone(), root, request).await);
    }
}

async fn misc_worker(state: Arc<AppState>, mut rx: mpsc::Receiver<Misc>, out: Outbound) {
    let mut terminals = terminal::TerminalChannel::new(&state, out.clone());
    while let Some(request) = rx.recv().await {
        match request {
            Misc::Terminal(request) => terminals.handle(request),
            Misc::Hstry(request) => {
                out.hstry(hstry::handle(&state.history, &state.session, request).await);
            }
        }
    }
}
