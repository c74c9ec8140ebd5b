//! One WebSocket connection speaking the mux frame format (§2). The reader validates every
//! frame and hands it to a per-channel worker through a bounded queue, so a slow file-tree walk
//! never holds up an `abort` (§12.8); a full queue or a bad frame gets an error frame and the
//! connection stays up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures::{SinkExt, StreamExt};
use oqto_proto::mux::{
    Channel, ClientFrame, FilesRequest, FrameError, HstryRequest, ServerFrame, SystemEvent,
    TerminalRequest,
};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::outbound::Outbound;
use crate::channels::{files, hstry, terminal};
use crate::metrics::{ChannelLabel, ReasonLabel};
use crate::server::AppState;

/// Queue sizes per channel worker (§2.1).
const AGENT_QUEUE: usize = 256;
const FILES_QUEUE: usize = 128;
const MISC_QUEUE: usize = 128;
/// The server pings every client this often (§2.1).
const PING_EVERY: Duration = Duration::from_secs(10);

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
    let (out, mut outbound_rx) = Outbound::new(connection);
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
                    channel: frame_channel(&frame).into(),
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
    let workers = [
        tokio::spawn(agent_worker(state.clone(), agent_rx, out.clone())),
        tokio::spawn(files_worker(state.clone(), files_rx, out.clone())),
        tokio::spawn(misc_worker(state.clone(), misc_rx, out.clone())),
    ];

    while let Some(message) = stream.next().await {
        let text = match message {
            Ok(WsMessage::Text(text)) => text,
            Ok(WsMessage::Binary(_)) => {
                reject(
                    &state,
                    &out,
                    "binary",
                    None,
                    None,
                    "binary frames are not supported; send JSON text frames".into(),
                );
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
            reject(
                &state,
                &out,
                "oversized",
                None,
                None,
                format!(
                    "frame of {} bytes exceeds the limit of {} bytes",
                    text.len(),
                    state.max_frame_bytes
                ),
            );
            continue;
        }
        state.activity.touch();
        let frame = match ClientFrame::parse(text.as_str()) {
            Ok(frame) => frame,
            Err(e) => {
                reject_frame(&state, &out, &e);
                continue;
            }
        };
        // Kept for the "busy" answer, which goes to the frame's channel with its id.
        let (channel, id) = frame_identity(&frame);
        let queued = match frame {
            ClientFrame::Agent(command) => agent_tx.try_send(command).is_ok(),
            ClientFrame::Files(request) => files_tx.try_send(request).is_ok(),
            ClientFrame::Terminal(request) => misc_tx.try_send(Misc::Terminal(request)).is_ok(),
            ClientFrame::Hstry(request) => misc_tx.try_send(Misc::Hstry(request)).is_ok(),
        };
        state
            .metrics
            .frames_received
            .get_or_create(&ChannelLabel {
                channel: channel.as_str().into(),
            })
            .inc();
        if !queued {
            reject(
                &state,
                &out,
                "busy",
                Some(channel),
                id,
                format!("Server busy: the {channel} command queue is full"),
            );
        }
    }

    drop((agent_tx, files_tx, misc_tx));
    for worker in workers {
        worker.abort();
    }
    state.registry.forget_connection(connection);
    state.metrics.connected_clients.dec();
    drop(out);
    writer.abort();
    debug!(connection, "connection closed");
}

/// A client frame's channel and correlation id.
fn frame_identity(frame: &ClientFrame) -> (Channel, Option<String>) {
    match frame {
        ClientFrame::Agent(command) => (Channel::Agent, command.id.clone()),
        ClientFrame::Files(request) => (Channel::Files, request.id.clone()),
        ClientFrame::Terminal(TerminalRequest::Open { id, .. }) => (Channel::Terminal, id.clone()),
        ClientFrame::Terminal(_) => (Channel::Terminal, None),
        ClientFrame::Hstry(HstryRequest::Query { id, .. }) => (Channel::Hstry, id.clone()),
    }
}

fn frame_channel(frame: &ServerFrame) -> &'static str {
    match frame {
        ServerFrame::Agent(_) => "agent",
        ServerFrame::Files(_) => "files",
        ServerFrame::Terminal(_) => "terminal",
        ServerFrame::Hstry(_) => "hstry",
        ServerFrame::System(_) => "system",
    }
}

/// Answers a frame that could not be parsed, on its own channel when that is known.
fn reject_frame(state: &AppState, out: &Outbound, error: &FrameError) {
    reject(
        state,
        out,
        "invalid",
        error.channel(),
        error.id().map(str::to_owned),
        error.to_string(),
    );
}

fn reject(
    state: &AppState,
    out: &Outbound,
    reason: &str,
    channel: Option<Channel>,
    id: Option<String>,
    error: String,
) {
    warn!(reason, %error, "frame rejected");
    state
        .metrics
        .frames_rejected
        .get_or_create(&ReasonLabel {
            reason: reason.into(),
        })
        .inc();
    let frame = match channel {
        Some(Channel::Files) => files::error_frame(id, error),
        Some(Channel::Terminal) => terminal::error_frame(id, None, error),
        Some(Channel::Hstry) => hstry::error_frame(id, error),
        _ => ServerFrame::System(SystemEvent::Error { id, error }),
    };
    out.send(frame);
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
        out.send(files::handle(state.workspace.clone(), root, request).await);
    }
}

async fn misc_worker(state: Arc<AppState>, mut rx: mpsc::Receiver<Misc>, out: Outbound) {
    let mut terminals = terminal::TerminalChannel::new(&state, out.clone());
    while let Some(request) = rx.recv().await {
        match request {
            Misc::Terminal(request) => terminals.handle(request),
            Misc::Hstry(request) => {
                out.send(hstry::handle(&state.history, request).await);
            }
        }
    }
}
