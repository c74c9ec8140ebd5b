use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerminalRequest {
    Open {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terminal_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        workspace_path: Option<String>,
        cols: u16,
        rows: u16,
    },
    /// Keystrokes; no reply.
    Input {
        terminal_id: String,
        data: String,
    },
    Resize {
        terminal_id: String,
        cols: u16,
        rows: u16,
    },
    Close {
        terminal_id: String,
    },
}

impl TerminalRequest {
    pub const TYPES: [&'static str; 4] = ["open", "input", "resize", "close"];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerminalEvent {
    Opened {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        terminal_id: String,
    },
    Output {
        terminal_id: String,
        data_base64: String,
    },
    Exit {
        terminal_id: String,
    },
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terminal_id: Option<String>,
        error: String,
    },
}
