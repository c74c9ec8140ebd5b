//! The session address around a channel's payload: `{channel, session_id, ...payload}`. Agent
//! frames carry `session_id` in the canonical command and event envelopes (§1.3, §1.4); every
//! other channel's payload is wrapped in one of these, so the field is typed on every frame.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::SessionName;

/// A client frame's payload and the Session it is for (required: it is the routing key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Addressed<T> {
    #[ts(type = "string")]
    pub session_id: SessionName,
    #[serde(flatten)]
    pub body: T,
}

/// A server frame's payload and the Session it comes from. Runners always name it; only the
/// refusal of a frame whose session could not be read has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Tagged<T> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(type = "string | null", optional)]
    pub session_id: Option<SessionName>,
    #[serde(flatten)]
    pub body: T,
}

impl<T> Tagged<T> {
    pub fn new(session_id: Option<SessionName>, body: T) -> Self {
        Self { session_id, body }
    }
}
