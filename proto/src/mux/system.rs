use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::SessionName;

/// Server → client only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SystemEvent {
    Connected,
    Ping,
    Error {
        /// The session the refused frame was for, when it could be read.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(type = "string | null", optional)]
        session_id: Option<SessionName>,
        /// The refused frame's id; `null` when it had none (§2.1).
        id: Option<String>,
        error: String,
    },
}
