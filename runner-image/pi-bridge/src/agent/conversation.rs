//! One chat conversation: an actor that owns a Pi process, translates its output, fans events
//! out to the subscribed connections, persists finished turns to hstry and supervises Pi.
//!
//! Everything a conversation does happens on its own task, in order: the answer to a command is
//! queued before any event Pi printed after it, so a client always sees `response` first.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oqto_proto::canonical::{
    AgentPhase, Command, CommandKind, Event, EventKind, Message, MessageVersion, Role,
};
use oqto_proto::mux::ServerFrame;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::convert::message_from_pi;
use super::pi_commands::{self, Plan};
use super::questions::{Answer, Questions};
use super::running_turn::{self, Partial};
use super::translate::Translator;
use crate::activity::{Activity, now_ms};
use crate::history::{ConversationMeta, History, Written};
use crate::metrics::{ChannelLabel, Metrics};
use crate::mux::outbound::Outbound;
use crate::pi::launch::PiSettings;
use crate::pi::process::{PiOutput, PiProcess};

/// Commands waiting for one conversation.
const MAILBOX: usize = 256;

/// How long Pi may take to answer a command (not a turn: turns stream events).
const PI_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every conversation of this bridge shares.
pub struct Shared {
    pub runner_id: String,
    pub workspace: PathBuf,
    pub pi: PiSettings,
    pub stall_timeout: Duration,
    pub history: History,
    pub metrics: Arc<Metrics>,
    pub activity: Arc<Activity>,
    /// Counts `abort` commands: the delegations this agent started stop with it.
    pub aborts: tokio::sync::watch::Sender<u64>,
    /// The Session's Pi, started before its first command (see [`crate::pi::standby`]).
    pub standby: crate::pi::standby::Standby,
}

pub enum Mail {
    Command {
        command: Box<Command>,
        reply: Outbound,
    },
    Subscribe {
        out: Outbound,
    },
    Unsubscribe {
        connection: u64,
    },
    Describe {
        reply: tokio::sync::oneshot::Sender<Value>,
    },
    /// An event of something this agent started (a delegation) for every page.
    Broadcast(Box<EventKind>),
}

/// The address of a running conversation.
#[derive(Clone)]
pub struct ConversationHandle {
    tx: mpsc::Sender<Mail>,
}

impl ConversationHandle {
    /// Starts a conversation; `closed` is told its id when it ends.
    pub fn spawn(
        shared: Arc<Shared>,
        session_id: String,
        provider: Option<String>,
        model: Option<String>,
        closed: mpsc::UnboundedSender<String>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(MAILBOX);
        let conversation = Conversation {
            shared,
            session_id,
            provider,
            model,
            pi: None,
            pi_events: None,
            translator: Translator::new(),
            subscribers: HashMap::new(),
            meta: ConversationMeta::default(),
            loaded: false,
            next_idx: 0,
            pending: Vec::new(),
            partial: Partial::default(),
            pending_client_id: None,
            questions: Questions::default(),
            last_output: Instant::now(),
            last_written: None,
        };
        tokio::spawn(conversation.run(rx, closed));
        Self { tx }
    }

    /// Queues mail; false when the conversation has ended or its mailbox is full.
    pub fn post(&self, mail: Mail) -> bool {
        self.tx.try_send(mail).is_ok()
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

struct Conversation {
    shared: Arc<Shared>,
    session_id: String,
    provider: Option<String>,
    model: Option<String>,
    pi: Option<PiProcess>,
    pi_events: Option<mpsc::Receiver<PiOutput>>,
    translator: Translator,
    subscribers: HashMap<u64, Outbound>,
    meta: ConversationMeta,
    /// Whether the stored state (message count, Pi session file) was read from hstry.
    loaded: bool,
    /// idx of the next message to persist.
    next_idx: u32,
    /// Finished messages of the current turn, persisted when the turn ends.
    pending: Vec<Message>,
    /// The assistant message streaming now, for pages that attach mid-turn.
    partial: Partial,
    /// The `client_id` of the last prompt, stamped on the user message Pi echoes.
    pending_client_id: Option<String>,
    /// The questions Pi's extensions wait on (`agent.input_needed`).
    questions: Questions,
    last_output: Instant,
    last_written: Option<Written>,
}

/// Why the actor stops.
enum Flow {
    Continue,
    Stop,
}

impl Conversation {
    async fn run(
        mut self,
        mut mailbox: mpsc::Receiver<Mail>,
        closed: mpsc::UnboundedSender<String>,
    ) {
        loop {
            let stall_at = self.last_output + self.shared.stall_timeout;
            // A Pi waiting for its user's answer prints nothing, and is not stalled.
            let watching =
                self.translator.is_working() && self.pi.is_some() && self.questions.is_empty();
            let question_deadline = self.questions.next_deadline();
            tokio::select! {
                mail = mailbox.recv() => {
                    let Some(mail) = mail else { break };
                    if let Flow::Stop = self.handle_mail(mail).await {
                        break;
                    }
                }
                output = next_output(&mut self.pi_events) => self.handle_output(output).await,
                () = tokio::time::sleep_until(stall_at), if watching => self.stalled().await,
                () = tokio::time::sleep_until(question_deadline.unwrap_or(stall_at)),
                    if question_deadline.is_some() => self.questions_timed_out(),
            }
        }
        self.stop_pi().await;
        let _ = closed.send(self.session_id.clone());
        debug!(session_id = %self.session_id, "conversation ended");
    }

    async fn handle_mail(&mut self, mail: Mail) -> Flow {
        match mail {
            Mail::Subscribe { out } => {
                self.subscribers.insert(out.connection(), out);
                Flow::Continue
            }
            Mail::Unsubscribe { connection } => {
                self.subscribers.remove(&connection);
                Flow::Continue
            }
            Mail::Describe { reply } => {
                let _ = reply.send(self.describe());
                Flow::Continue
            }
            Mail::Command { command, reply } => self.handle_command(*command, reply).await,
            Mail::Broadcast(kind) => {
                self.broadcast(*kind);
                Flow::Continue
            }
        }
    }

    fn describe(&self) -> Value {
        let state = match (&self.pi, self.translator.is_working()) {
            (None, _) => "stopped",
            (Some(_), true) => "streaming",
            (Some(_), false) => "idle",
        };
        json!({
            "session_id": self.session_id,
            "state": state,
            "cwd": self.shared.workspace,
            "provider": self.provider,
            "model": self.model,
            "pid": self.pi.as_ref().and_then(PiProcess::pid),
            "subscriber_count": self.subscribers.len(),
            "hstry_id": self.meta.pi_session_id,
        })
    }

    async fn handle_command(&mut self, command: Command, reply: Outbound) -> Flow {
        let id = command.id.clone();
        let name = command.kind.name();
        let result = match command.kind {
            CommandKind::SessionClose => {
                self.persist().await;
                self.respond(&reply, id.as_deref(), name, Ok(None));
                return Flow::Stop;
            }
            CommandKind::GetMessages => self.get_messages().await,
            kind @ CommandKind::InputResponse { .. } => self.answer(kind).await,
            CommandKind::GetState => self.get_state().await,
            kind @ CommandKind::Abort => {
                // Stopping the agent stops the sub-agents it is waiting for.
                self.shared.aborts.send_modify(|n| *n = n.wrapping_add(1));
                self.forward(kind).await
            }
            kind => self.forward(kind).await,
        };
        match result {
            // abort and compact answer only when they fail (§1.4, §12.2).
            Ok(None) if matches!(name, "abort" | "compact") => {}
            result => self.respond(&reply, id.as_deref(), name, result),
        }
        Flow::Continue
    }

    /// An answer to a question: checked against the question, sent to Pi, then every page is
    /// told the question is over (so another tab stops showing it).
    async fn answer(&mut self, kind: CommandKind) -> Result<Option<Value>, String> {
        let CommandKind::InputResponse {
            request_id,
            value,
            confirmed,
            cancelled,
        } = &kind
        else {
            return self.forward(kind).await;
        };
        let request_id = request_id.clone();
        // An empty id is refused by name in the plan.
        if !request_id.trim().is_empty() {
            self.questions.check(
                &request_id,
                Answer {
                    value: value.as_ref(),
                    confirmed: *confirmed,
                    cancelled: *cancelled,
                },
            )?;
        }
        let data = self.forward(kind).await?;
        if self.questions.resolve(&request_id) {
            self.questions_over(vec![request_id]);
        }
        Ok(data)
    }

    /// Pi's state plus the questions still open (`pendingInputRequests`: canonical
    /// `InputRequest`s, a timeout being what is left of it). A page asks on every attach and
    /// when it opens the chat, so it shows what the agent waits for even if it missed the
    /// `agent.input_needed` (reload, reconnect, another tab).
    async fn get_state(&mut self) -> Result<Option<Value>, String> {
        let mut state = self
            .forward(CommandKind::GetState)
            .await?
            .unwrap_or_else(|| json!({}));
        let open = serde_json::to_value(self.questions.still_open(Instant::now()))
            .map_err(|e| format!("get_state: {e}"))?;
        match state.as_object_mut() {
            Some(state) => {
                state.insert("pendingInputRequests".into(), open);
            }
            None => {
                return Err(format!(
                    "get_state: Pi answered {state} instead of an object"
                ));
            }
        }
        Ok(Some(state))
    }

    /// Pi stopped waiting for these: their time ran out.
    fn questions_timed_out(&mut self) {
        let ids = self.questions.expire(Instant::now());
        self.questions_over(ids);
    }

    /// Tells every page that these questions are over.
    fn questions_over(&mut self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        // The stall watchdog counts again from now, not from before the wait.
        self.last_output = Instant::now();
        for request_id in ids {
            self.broadcast(EventKind::AgentInputResolved { request_id });
        }
    }

    /// Runs a command that Pi carries out.
    async fn forward(&mut self, kind: CommandKind) -> Result<Option<Value>, String> {
        if let CommandKind::Prompt { client_id, .. } = &kind {
            self.pending_client_id = client_id.clone();
        }
        let plan = pi_commands::plan(&kind, &self.session_id, &self.shared.workspace)?;
        match plan {
            Plan::Local(data) => {
                self.ensure_pi().await?;
                Ok(data)
            }
            Plan::Restart(data) => {
                self.stop_pi().await;
                self.ensure_pi().await?;
                Ok(data)
            }
            Plan::Send(pi_command) => {
                let pi = self.ensure_pi().await?;
                pi.send(&pi_command).await.map_err(|e| e.to_string())?;
                Ok(None)
            }
            Plan::Request { command, shape } => {
                self.ensure_pi().await?;
                let pi = self.pi.as_ref().ok_or("Pi is not running")?;
                let reply = pi
                    .request(command, PI_REQUEST_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string())?;
                if !reply.success {
                    return Err(reply
                        .error
                        .unwrap_or_else(|| "Pi refused the command".into()));
                }
                let (data, event) = shape.apply(reply.data);
                if let Some(event) = event {
                    self.broadcast(event);
                }
                if matches!(
                    kind,
                    CommandKind::Fork { .. } | CommandKind::SessionNew { .. }
                ) {
                    self.refresh_pi_session().await;
                }
                Ok(data)
            }
        }
    }

    fn respond(
        &self,
        reply: &Outbound,
        id: Option<&str>,
        cmd: &str,
        result: Result<Option<Value>, String>,
    ) {
        let kind = match result {
            Ok(data) => EventKind::response_ok(id, cmd, data),
            Err(error) => EventKind::response_err(id, cmd, error),
        };
        reply.send(ServerFrame::Agent(self.event(kind)));
    }

    fn event(&self, kind: EventKind) -> Event {
        Event::new(self.session_id.clone(), self.shared.runner_id.clone(), kind)
    }

    fn broadcast(&mut self, kind: EventKind) {
        let event = self.event(kind);
        self.subscribers.retain(|_, out| !out.is_closed());
        for out in self.subscribers.values() {
            out.send_event(&event);
        }
        self.shared
            .metrics
            .frames_sent
            .get_or_create(&ChannelLabel {
                channel: "agent".into(),
            })
            .inc_by(self.subscribers.len() as u64);
    }

    /// Reads what hstry knows of this conversation, once.
    async fn load(&mut self) {
        if self.loaded {
            return;
        }
        match self.shared.history.load(&self.session_id).await {
            Ok(Some(stored)) => {
                self.next_idx = stored.message_count;
                self.meta = stored.meta;
                self.loaded = true;
            }
            Ok(None) => self.loaded = true,
            Err(e) => {
                warn!(session_id = %self.session_id, error = %e, "reading history failed; will retry")
            }
        }
    }

    /// Starts Pi if it is not running: on the conversation's Pi session file when there is one,
    /// so a restarted Pi continues the same conversation.
    async fn ensure_pi(&mut self) -> Result<&PiProcess, String> {
        if self.pi.is_none() {
            self.load().await;
            let resume = self
                .meta
                .pi_session_file
                .clone()
                .filter(|file| file.is_file());
            let restart = resume.is_some();
            let launch = self.shared.pi.launch(
                &self.shared.workspace,
                self.provider.as_deref(),
                self.model.as_deref(),
                resume.as_deref(),
            );
            let (process, events) = match self.shared.standby.take_when_loaded(&launch).await {
                Some(started) => {
                    info!(session_id = %self.session_id, pid = ?started.0.pid(), resumed = restart, "Pi adopted (started ahead)");
                    self.shared.metrics.pi_started(true);
                    started
                }
                None => {
                    let started = PiProcess::spawn(&launch).map_err(|e| e.to_string())?;
                    info!(session_id = %self.session_id, pid = ?started.0.pid(), resumed = restart, "Pi started");
                    self.shared.metrics.pi_started(false);
                    started
                }
            };
            if restart {
                self.shared.metrics.pi_restarts.inc();
            }
            self.pi = Some(process);
            self.pi_events = Some(events);
            self.last_output = Instant::now();
            self.refresh_pi_session().await;
        }
        self.pi.as_ref().ok_or_else(|| "Pi is not running".into())
    }

    /// Learns Pi's session id and file (they change on start, fork and new session) and
    /// remembers them in hstry.
    async fn refresh_pi_session(&mut self) {
        let Some(pi) = &self.pi else { return };
        let state = match pi
            .request(json!({"type": "get_state"}), PI_REQUEST_TIMEOUT)
            .await
        {
            Ok(reply) if reply.success => reply.data.unwrap_or(Value::Null),
            Ok(reply) => {
                warn!(error = ?reply.error, "Pi refused get_state");
                return;
            }
            Err(e) => {
                warn!(error = %e, "Pi did not answer get_state");
                return;
            }
        };
        let meta = ConversationMeta {
            pi_session_id: state
                .get("sessionId")
                .and_then(Value::as_str)
                .map(str::to_owned),
            pi_session_file: state
                .get("sessionFile")
                .and_then(Value::as_str)
                .map(PathBuf::from),
        };
        if meta != self.meta {
            self.meta = meta;
            if let Err(e) = self
                .shared
                .history
                .save_meta(
                    &self.session_id,
                    &self.meta,
                    self.provider.as_deref(),
                    self.model.as_deref(),
                )
                .await
            {
                warn!(session_id = %self.session_id, error = %e, "saving the Pi session file to hstry failed");
            }
        }
    }

    async fn handle_output(&mut self, output: Option<PiOutput>) {
        match output {
            Some(PiOutput::Event(value)) => self.handle_pi_event(value).await,
            Some(PiOutput::Exited { .. }) | None => self.pi_exited().await,
        }
    }

    async fn handle_pi_event(&mut self, value: Value) {
        let started = std::time::Instant::now();
        self.last_output = Instant::now();
        self.shared.metrics.pi_events.inc();
        self.shared.activity.touch();
        self.collect_message(&value);
        let was_working = self.translator.is_working();
        let kinds = self.translator.translate(&value, now_ms());
        if !was_working && self.translator.is_working() {
            self.shared.activity.turn_started();
        }
        for kind in kinds {
            self.partial.observe(&kind);
            if let EventKind::AgentInputNeeded { request } = &kind {
                self.questions.ask(request.clone(), Instant::now());
            }
            if let EventKind::AgentIdle { .. } = kind {
                self.finish_turn().await;
                continue;
            }
            self.broadcast(kind);
        }
        self.shared
            .metrics
            .translate_seconds
            .observe(started.elapsed().as_secs_f64());
    }

    /// Keeps every finished message of the turn (user, assistant, tool results) for hstry.
    fn collect_message(&mut self, value: &Value) {
        if value.get("type").and_then(Value::as_str) != Some("message_end") {
            return;
        }
        let Some(message) = value.get("message") else {
            return;
        };
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        // Pi 0.87 opens every process with a system preamble: it is not part of the chat.
        if role == "system" {
            return;
        }
        let idx = self.next_idx + self.pending.len() as u32;
        let mut canonical = message_from_pi(message, idx, now_ms());
        if canonical.role == Role::User {
            canonical.client_id = self.pending_client_id.take();
        }
        self.pending.push(canonical);
    }

    /// Persists the turn, then tells everyone the agent is idle (with the stored version), so a
    /// `get_messages` sent after `agent.idle` always sees the turn.
    async fn finish_turn(&mut self) {
        self.persist().await;
        self.shared.activity.turn_ended();
        let message_version = self.last_written.map(|w| MessageVersion {
            version: w.version,
            message_count: Some(w.message_count),
            last_message_hash: None,
        });
        self.broadcast(EventKind::AgentIdle { message_version });
    }

    async fn persist(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.load().await;
        // If history was unreadable at the start, renumber now that the count is known.
        for (i, message) in self.pending.iter_mut().enumerate() {
            message.idx = self.next_idx + i as u32;
            message.id = format!("msg_{}_{}", message.created_at, message.idx);
        }
        match self
            .shared
            .history
            .append(&self.session_id, &self.pending)
            .await
        {
            Ok(written) => {
                self.next_idx += self.pending.len() as u32;
                self.pending.clear();
                self.last_written = Some(written);
            }
            Err(e) => {
                // Kept for the next turn's write; the messages are also in Pi's session file.
                warn!(session_id = %self.session_id, error = %e, kept = self.pending.len(), "writing history failed");
                self.broadcast(EventKind::Notify {
                    level: oqto_proto::canonical::NotifyLevel::Warning,
                    message: format!("chat history could not be saved yet: {e}"),
                });
            }
        }
    }

    /// Pi's stdout closed. Mid-turn that is a crash: end the turn for the clients.
    async fn pi_exited(&mut self) {
        self.pi_events = None;
        let asked = self.questions.clear();
        self.questions_over(asked);
        if let Some(mut pi) = self.pi.take() {
            pi.kill().await;
        }
        if self.translator.is_working() {
            warn!(session_id = %self.session_id, "Pi exited during a turn");
            self.end_turn_with_error("Pi exited unexpectedly; it restarts with the next command")
                .await;
        } else {
            info!(session_id = %self.session_id, "Pi exited");
        }
    }

    async fn stalled(&mut self) {
        warn!(session_id = %self.session_id, timeout = ?self.shared.stall_timeout, "Pi stalled; restarting it");
        self.stop_pi().await;
        self.end_turn_with_error(&format!(
            "Pi printed nothing for {}s; it was stopped and restarts with the next command",
            self.shared.stall_timeout.as_secs()
        ))
        .await;
    }

    async fn end_turn_with_error(&mut self, error: &str) {
        self.translator.reset_run();
        self.partial.clear();
        self.broadcast(EventKind::AgentError {
            error: error.to_owned(),
            recoverable: true,
            phase: Some(AgentPhase::Generating),
        });
        self.finish_turn().await;
    }

    async fn stop_pi(&mut self) {
        self.pi_events = None;
        // Nobody waits for these answers any more.
        let asked = self.questions.clear();
        self.questions_over(asked);
        if let Some(mut pi) = self.pi.take() {
            pi.kill().await;
        }
    }

    async fn get_messages(&mut self) -> Result<Option<Value>, String> {
        let messages = self
            .shared
            .history
            .messages(&self.session_id)
            .await
            .map_err(|e| e.to_string())?;
        let mut messages = messages;
        // The turn in progress is not in hstry yet (written when it ends).
        messages.extend(running_turn::messages(
            &self.pending,
            &self.partial,
            self.translator.is_working(),
            self.next_idx,
            now_ms(),
        ));
        Ok(Some(json!({ "messages": messages })))
    }
}

async fn next_output(events: &mut Option<mpsc::Receiver<PiOutput>>) -> Option<PiOutput> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}
