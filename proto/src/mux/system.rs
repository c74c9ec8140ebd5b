use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Server → client only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SystemEvent {
    Connected,
    Ping,
    Error {
        /// The refused frame's id; `null` when it had none (§2.1).
        id: Option<String>,
        error: String,
    },
}
