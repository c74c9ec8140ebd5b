//! Commands (§1.4): tagged by `cmd`, inside a flattened envelope
//! `{id?, session_id, runner_id?, cmd, ...payload}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use super::DelegateMode;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Command {
    /// Correlation id, echoed by the `response` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_id: Option<String>,
    #[serde(flatten)]
    pub kind: CommandKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SessionConfig {
    pub harness: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_session: Option<String>,
}

/// An image attached to a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ImageInput {
    /// Base64.
    pub data: String,
    pub media_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ThinkingLevel {
    Off,
    Minimal,
    Low,
    Medium,
    High,
    Xhigh,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct DelegateRequest {
    pub target_session_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_runner_id: Option<String>,
    pub message: String,
    pub mode: DelegateMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "number | null")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "number | null")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
}

/// One row of the §1.4 table per variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "cmd")]
pub enum CommandKind {
    #[serde(rename = "session.create")]
    SessionCreate { config: SessionConfig },
    #[serde(rename = "session.close")]
    SessionClose,
    #[serde(rename = "session.delete")]
    SessionDelete,
    #[serde(rename = "session.new")]
    SessionNew {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent_session: Option<String>,
    },
    #[serde(rename = "session.switch")]
    SessionSwitch { session_path: String },
    #[serde(rename = "session.restart")]
    SessionRestart,
    #[serde(rename = "prompt")]
    Prompt {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        images: Option<Vec<ImageInput>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    #[serde(rename = "steer")]
    Steer {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    #[serde(rename = "follow_up")]
    FollowUp {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    #[serde(rename = "abort")]
    Abort,
    #[serde(rename = "input_response")]
    InputResponse {
        request_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confirmed: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cancelled: Option<bool>,
    },
    #[serde(rename = "get_state")]
    GetState,
    #[serde(rename = "get_messages")]
    GetMessages,
    #[serde(rename = "get_stats")]
    GetStats,
    #[serde(rename = "get_models")]
    GetModels {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workdir: Option<String>,
    },
    #[serde(rename = "get_commands")]
    GetCommands,
    #[serde(rename = "get_fork_points")]
    GetForkPoints,
    #[serde(rename = "list_sessions")]
    ListSessions,
    #[serde(rename = "set_model")]
    SetModel { provider: String, model_id: String },
    #[serde(rename = "cycle_model")]
    CycleModel,
    #[serde(rename = "set_thinking_level")]
    SetThinkingLevel { level: ThinkingLevel },
    #[serde(rename = "cycle_thinking_level")]
    CycleThinkingLevel,
    #[serde(rename = "set_auto_compaction")]
    SetAutoCompaction { enabled: bool },
    #[serde(rename = "set_auto_retry")]
    SetAutoRetry { enabled: bool },
    #[serde(rename = "compact")]
    Compact {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instructions: Option<String>,
    },
    #[serde(rename = "abort_retry")]
    AbortRetry,
    #[serde(rename = "set_session_name")]
    SetSessionName { name: String },
    #[serde(rename = "fork")]
    Fork { entry_id: String },
    #[serde(rename = "delegate")]
    Delegate(DelegateRequest),
    #[serde(rename = "delegate.cancel")]
    DelegateCancel { request_id: String },
}

impl CommandKind {
    /// Every wire name, for error messages that list what is accepted.
    pub const NAMES: [&'static str; 30] = [
        "session.create",
        "session.close",
        "session.delete",
        "session.new",
        "session.switch",
        "session.restart",
        "prompt",
        "steer",
        "follow_up",
        "abort",
        "input_response",
        "get_state",
        "get_messages",
        "get_stats",
        "get_models",
        "get_commands",
        "get_fork_points",
        "list_sessions",
        "set_model",
        "cycle_model",
        "set_thinking_level",
        "cycle_thinking_level",
        "set_auto_compaction",
        "set_auto_retry",
        "compact",
        "abort_retry",
        "set_session_name",
        "fork",
        "delegate",
        "delegate.cancel",
    ];

    /// The wire name (`cmd`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::SessionCreate { .. } => "session.create",
            Self::SessionClose => "session.close",
            Self::SessionDelete => "session.delete",
            Self::SessionNew { .. } => "session.new",
            Self::SessionSwitch { .. } => "session.switch",
            Self::SessionRestart => "session.restart",
            Self::Prompt { .. } => "prompt",
            Self::Steer { .. } => "steer",
            Self::FollowUp { .. } => "follow_up",
            Self::Abort => "abort",
            Self::InputResponse { .. } => "input_response",
            Self::GetState => "get_state",
            Self::GetMessages => "get_messages",
            Self::GetStats => "get_stats",
            Self::GetModels { .. } => "get_models",
            Self::GetCommands => "get_commands",
            Self::GetForkPoints => "get_fork_points",
            Self::ListSessions => "list_sessions",
            Self::SetModel { .. } => "set_model",
            Self::CycleModel => "cycle_model",
            Self::SetThinkingLevel { .. } => "set_thinking_level",
            Self::CycleThinkingLevel => "cycle_thinking_level",
            Self::SetAutoCompaction { .. } => "set_auto_compaction",
            Self::SetAutoRetry { .. } => "set_auto_retry",
            Self::Compact { .. } => "compact",
            Self::AbortRetry => "abort_retry",
            Self::SetSessionName { .. } => "set_session_name",
            Self::Fork { .. } => "fork",
            Self::Delegate(_) => "delegate",
            Self::DelegateCancel { .. } => "delegate.cancel",
        }
    }
}
