//! The open conversations of this bridge, by Oqto session id, and the agent channel's routing:
//! `session.create` opens (or attaches to) a conversation and subscribes the connection; every
//! other command goes to the conversation it names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use oqto_proto::canonical::{Command, CommandKind, Event, EventKind};
use oqto_proto::mux::ServerFrame;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::conversation::{ConversationHandle, Mail, Shared};
use crate::mux::outbound::Outbound;

pub struct Registry {
    shared: Arc<Shared>,
    open: Mutex<HashMap<String, ConversationHandle>>,
    closed: mpsc::UnboundedSender<String>,
}

impl Registry {
    pub fn new(shared: Arc<Shared>) -> Arc<Self> {
        let (closed, mut closed_rx) = mpsc::unbounded_channel::<String>();
        let registry = Arc::new(Self {
            shared,
            open: Mutex::default(),
            closed,
        });
        let weak = Arc::downgrade(&registry);
        tokio::spawn(async move {
            while let Some(session_id) = closed_rx.recv().await {
                let Some(registry) = weak.upgrade() else {
                    break;
                };
                if let Ok(mut open) = registry.open.lock()
                    && open
                        .get(&session_id)
                        .is_some_and(ConversationHandle::is_closed)
                {
                    open.remove(&session_id);
                }
            }
        });
        registry
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    fn respond(&self, out: &Outbound, command: &Command, result: Result<Option<Value>, String>) {
        let name = command.kind.name();
        let kind = match result {
            Ok(data) => EventKind::response_ok(command.id.as_deref(), name, data),
            Err(error) => EventKind::response_err(command.id.as_deref(), name, error),
        };
        out.send(ServerFrame::Agent(Event::new(
            command.session_id.clone(),
            self.shared.runner_id.clone(),
            kind,
        )));
    }

    /// Routes one agent command from connection `out`.
    pub async fn dispatch(&self, command: Command, out: &Outbound) {
        if let CommandKind::ListSessions = command.kind {
            let sessions = self.list().await;
            self.respond(out, &command, Ok(Some(json!({ "sessions": sessions }))));
            return;
        }
        let handle = match &command.kind {
            CommandKind::SessionCreate { config } => {
                if let Err(e) = self.check_config(config) {
                    self.respond(out, &command, Err(e));
                    return;
                }
                let handle = self.open_conversation(
                    &command.session_id,
                    config.provider.clone(),
                    config.model.clone(),
                );
                handle.post(Mail::Subscribe { out: out.clone() });
                handle
            }
            _ => match self.get(&command.session_id) {
                Some(handle) => handle,
                None => {
                    let error = format!(
                        "session {:?} is not open on this runner; send session.create first",
                        command.session_id
                    );
                    self.respond(out, &command, Err(error));
                    return;
                }
            },
        };
        let session_id = command.session_id.clone();
        if !handle.post(Mail::Command {
            command: Box::new(command.clone()),
            reply: out.clone(),
        }) {
            let error = format!("session {session_id:?} is busy: its command queue is full");
            self.respond(out, &command, Err(error));
        }
    }

    fn check_config(&self, config: &oqto_proto::canonical::SessionConfig) -> Result<(), String> {
        let harness = serde_json::to_value(&config.harness)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if harness != "pi" {
            return Err(format!(
                "config.harness: {harness:?} is not served here (only \"pi\")"
            ));
        }
        if let Some(cwd) = &config.cwd
            && std::path::Path::new(cwd) != self.shared.workspace
        {
            return Err(format!(
                "config.cwd: {cwd:?} is not this runner's workspace ({})",
                self.shared.workspace.display()
            ));
        }
        Ok(())
    }

    fn open_conversation(
        &self,
        session_id: &str,
        provider: Option<String>,
        model: Option<String>,
    ) -> ConversationHandle {
        let Ok(mut open) = self.open.lock() else {
            // A poisoned lock means a panic elsewhere; a fresh conversation is still correct.
            return ConversationHandle::spawn(
                self.shared_arc(),
                session_id.into(),
                provider,
                model,
                self.closed.clone(),
            );
        };
        if let Some(handle) = open.get(session_id).filter(|h| !h.is_closed()) {
            return handle.clone();
        }
        let handle = ConversationHandle::spawn(
            self.shared_arc(),
            session_id.into(),
            provider,
            model,
            self.closed.clone(),
        );
        open.insert(session_id.into(), handle.clone());
        handle
    }

    fn shared_arc(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    pub fn get(&self, session_id: &str) -> Option<ConversationHandle> {
        let open = self.open.lock().ok()?;
        open.get(session_id).filter(|h| !h.is_closed()).cloned()
    }

    /// Sends an event to every page of an open conversation; false when it is not open (then
    /// nobody watches it) or its mailbox is full.
    pub fn broadcast(&self, session_id: &str, kind: EventKind) -> bool {
        self.get(session_id)
            .is_some_and(|handle| handle.post(Mail::Broadcast(Box::new(kind))))
    }

    /// Stops sending a closed connection's events.
    pub fn forget_connection(&self, connection: u64) {
        let handles: Vec<_> = match self.open.lock() {
            Ok(open) => open.values().cloned().collect(),
            Err(_) => return,
        };
        for handle in handles {
            handle.post(Mail::Unsubscribe { connection });
        }
    }

    /// `list_sessions`: one entry per open conversation.
    pub async fn list(&self) -> Vec<Value> {
        let handles: Vec<_> = match self.open.lock() {
            Ok(open) => open.values().cloned().collect(),
            Err(_) => return Vec::new(),
        };
        let mut sessions = Vec::new();
        for handle in handles {
            let (tx, rx) = oneshot::channel();
            if handle.post(Mail::Describe { reply: tx })
                && let Ok(Ok(entry)) =
                    tokio::time::timeout(std::time::Duration::from_secs(2), rx).await
            {
                sessions.push(entry);
            }
        }
        sessions
    }

    /// Number of open conversations.
    pub fn len(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
