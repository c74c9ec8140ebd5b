//! Events (§1.3): ephemeral, tagged by `event`, inside a flattened envelope
//! `{session_id, runner_id, ts, event, ...payload}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use super::{Message, Role, Sender, StopReason};

/// Unix milliseconds now (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Event {
    pub session_id: String,
    pub runner_id: String,
    /// Unix milliseconds.
    #[ts(type = "number")]
    pub ts: i64,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// An event stamped now.
    pub fn new(
        session_id: impl Into<String>,
        runner_id: impl Into<String>,
        kind: EventKind,
    ) -> Self {
        Self {
            session_id: session_id.into(),
            runner_id: runner_id.into(),
            ts: now_ms(),
            kind,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AgentPhase {
    Generating,
    Thinking,
    ToolRunning,
    Compacting,
    Retrying,
    Initializing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct MessageVersion {
    #[ts(type = "number")]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ProcessInfo {
    pub alive: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "number | null")]
    pub rss_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "number | null")]
    pub uptime_s: Option<u64>,
}

/// A question the agent asks the user (`agent.input_needed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputRequest {
    Select {
        request_id: String,
        title: String,
        options: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        timeout: Option<u64>,
    },
    Confirm {
        request_id: String,
        title: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        timeout: Option<u64>,
    },
    Input {
        request_id: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        placeholder: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        timeout: Option<u64>,
    },
    Permission {
        request_id: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        metadata: Option<Value>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CompactReason {
    Threshold,
    Overflow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct ToolCallInfo {
    pub id: String,
    pub name: String,
    pub input: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DelegateMode {
    Sync,
    Async,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DelegateErrorCode {
    TargetNotFound,
    PermissionDenied,
    Timeout,
    TargetError,
    Cancelled,
    RunnerUnreachable,
}

/// One row of the §1.3 table per variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "event")]
pub enum EventKind {
    #[serde(rename = "session.created")]
    SessionCreated { resumed: bool, harness: String },
    #[serde(rename = "session.closed")]
    SessionClosed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    #[serde(rename = "session.title_changed")]
    SessionTitleChanged {
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        readable_id: Option<String>,
    },
    #[serde(rename = "session.heartbeat")]
    SessionHeartbeat { process: ProcessInfo },
    #[serde(rename = "agent.idle")]
    AgentIdle {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_version: Option<MessageVersion>,
    },
    #[serde(rename = "agent.working")]
    AgentWorking {
        phase: AgentPhase,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    #[serde(rename = "agent.error")]
    AgentError {
        error: String,
        recoverable: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<AgentPhase>,
    },
    #[serde(rename = "agent.input_needed")]
    AgentInputNeeded { request: InputRequest },
    #[serde(rename = "agent.input_resolved")]
    AgentInputResolved { request_id: String },
    #[serde(rename = "stream.message_start")]
    StreamMessageStart { message_id: String, role: Role },
    #[serde(rename = "stream.text_delta")]
    StreamTextDelta {
        message_id: String,
        delta: String,
        content_index: u32,
    },
    #[serde(rename = "stream.thinking_delta")]
    StreamThinkingDelta {
        message_id: String,
        delta: String,
        content_index: u32,
    },
    #[serde(rename = "stream.tool_call_start")]
    StreamToolCallStart {
        message_id: String,
        tool_call_id: String,
        name: String,
        content_index: u32,
    },
    #[serde(rename = "stream.tool_call_delta")]
    StreamToolCallDelta {
        message_id: String,
        tool_call_id: String,
        delta: String,
        content_index: u32,
    },
    #[serde(rename = "stream.tool_call_end")]
    StreamToolCallEnd {
        message_id: String,
        tool_call_id: String,
        tool_call: ToolCallInfo,
        content_index: u32,
    },
    #[serde(rename = "stream.message_end")]
    StreamMessageEnd { message: Box<Message> },
    #[serde(rename = "stream.done")]
    StreamDone { reason: StopReason },
    #[serde(rename = "stream.resync_required")]
    StreamResyncRequired {
        #[ts(type = "number")]
        dropped_count: u64,
        reason: String,
    },
    #[serde(rename = "tool.start")]
    ToolStart {
        tool_call_id: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input: Option<Value>,
    },
    #[serde(rename = "tool.progress")]
    ToolProgress {
        tool_call_id: String,
        name: String,
        partial_output: Value,
    },
    #[serde(rename = "tool.end")]
    ToolEnd {
        tool_call_id: String,
        name: String,
        output: Value,
        is_error: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        duration_ms: Option<u64>,
    },
    #[serde(rename = "retry.start")]
    RetryStart {
        attempt: u32,
        max_attempts: u32,
        #[ts(type = "number")]
        delay_ms: u64,
        error: String,
    },
    #[serde(rename = "retry.end")]
    RetryEnd {
        success: bool,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        final_error: Option<String>,
    },
    #[serde(rename = "compact.start")]
    CompactStart { reason: CompactReason },
    #[serde(rename = "compact.end")]
    CompactEnd {
        success: bool,
        will_retry: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        tokens_before: Option<u64>,
    },
    #[serde(rename = "config.model_changed")]
    ConfigModelChanged { provider: String, model_id: String },
    #[serde(rename = "config.thinking_level_changed")]
    ConfigThinkingLevelChanged { level: String },
    #[serde(rename = "notify")]
    Notify { level: NotifyLevel, message: String },
    #[serde(rename = "status")]
    Status {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    #[serde(rename = "messages")]
    Messages { messages: Vec<Message> },
    #[serde(rename = "persisted")]
    Persisted { message_count: u32 },
    #[serde(rename = "delegate.start")]
    DelegateStart {
        request_id: String,
        target_session_id: String,
        target_runner_id: String,
        mode: DelegateMode,
    },
    #[serde(rename = "delegate.delta")]
    DelegateDelta { request_id: String, delta: String },
    #[serde(rename = "delegate.end")]
    DelegateEnd {
        request_id: String,
        response: Box<Message>,
        responder: Sender,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "number | null")]
        duration_ms: Option<u64>,
    },
    #[serde(rename = "delegate.error")]
    DelegateError {
        request_id: String,
        error: String,
        code: DelegateErrorCode,
    },
    /// A command's result, flattened into the event (no `response` wrapper); `id` is "" when
    /// the command had none.
    #[serde(rename = "response")]
    Response {
        id: String,
        cmd: String,
        success: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

impl EventKind {
    pub fn response_ok(id: Option<&str>, cmd: &str, data: Option<Value>) -> Self {
        Self::Response {
            id: id.unwrap_or_default().to_owned(),
            cmd: cmd.to_owned(),
            success: true,
            data,
            error: None,
        }
    }

    pub fn response_err(id: Option<&str>, cmd: &str, error: String) -> Self {
        Self::Response {
            id: id.unwrap_or_default().to_owned(),
            cmd: cmd.to_owned(),
            success: false,
            data: None,
            error: Some(error),
        }
    }

    /// The wire name (`agent.idle`, `stream.text_delta`, …).
    pub fn name(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("event").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default()
    }
}
