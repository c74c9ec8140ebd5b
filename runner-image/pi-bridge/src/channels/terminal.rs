//! The `terminal` channel: requests of one connection to its PTY shells, and their output as
//! frames.

use oqto_proto::mux::{TerminalEvent as WireEvent, TerminalRequest};
use tokio::sync::mpsc;

use crate::mux::outbound::Outbound;
use crate::server::AppState;
use crate::terminal::{TerminalEvent, Terminals};

/// Terminal output waiting for the connection's queue.
const OUTPUT_QUEUE: usize = 256;

fn error_event(id: Option<String>, terminal_id: Option<String>, error: String) -> WireEvent {
    WireEvent::Error {
        id,
        terminal_id,
        error,
    }
}

pub struct TerminalChannel {
    terminals: Terminals,
    out: Outbound,
    workspace: String,
}

impl TerminalChannel {
    pub fn new(state: &AppState, out: Outbound) -> Self {
        let (tx, mut rx) = mpsc::channel(OUTPUT_QUEUE);
        let forward = out.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                forward.terminal(output_event(event));
            }
        });
        Self {
            terminals: Terminals::new(state.shell.clone(), state.workspace_path.clone(), tx),
            out,
            workspace: state.workspace_path.display().to_string(),
        }
    }

    pub fn handle(&mut self, request: TerminalRequest) {
        let frame = match request {
            TerminalRequest::Open {
                id,
                terminal_id,
                workspace_path,
                cols,
                rows,
                ..
            } => {
                if let Some(path) = workspace_path.filter(|p| *p != self.workspace) {
                    Some(error_event(
                        id,
                        terminal_id,
                        format!("workspace_path: {path:?} is not this runner's workspace"),
                    ))
                } else {
                    // "opened" goes out before the shell's first output (the prompt), which a
                    // reader thread starts sending at once.
                    let out = &self.out;
                    let reply = id.clone();
                    let opened = |opened: &str| {
                        out.terminal(WireEvent::Opened {
                            id: reply,
                            terminal_id: opened.to_owned(),
                        });
                    };
                    match self.terminals.open(terminal_id.clone(), cols, rows, opened) {
                        Ok(_) => None,
                        Err(e) => Some(error_event(id, terminal_id, e.to_string())),
                    }
                }
            }
            TerminalRequest::Input { terminal_id, data } => self
                .terminals
                .input(&terminal_id, data.as_bytes())
                .err()
                .map(|e| error_event(None, Some(terminal_id), e.to_string())),
            TerminalRequest::Resize {
                terminal_id,
                cols,
                rows,
            } => self
                .terminals
                .resize(&terminal_id, cols, rows)
                .err()
                .map(|e| error_event(None, Some(terminal_id), e.to_string())),
            TerminalRequest::Close { terminal_id } => self
                .terminals
                .close(&terminal_id)
                .err()
                .map(|e| error_event(None, Some(terminal_id), e.to_string())),
        };
        if let Some(event) = frame {
            self.out.terminal(event);
        }
    }
}

fn output_event(event: TerminalEvent) -> WireEvent {
    use base64::Engine;
    match event {
        TerminalEvent::Output { terminal_id, data } => WireEvent::Output {
            terminal_id,
            data_base64: base64::engine::general_purpose::STANDARD.encode(data),
        },
        TerminalEvent::Exit { terminal_id } => WireEvent::Exit { terminal_id },
    }
}
