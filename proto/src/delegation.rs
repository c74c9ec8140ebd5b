//! Delegation over REST (the mux carries the children's turns): what a runner's pi-bridge
//! sends the gateway to start a child of its Session, and the limits the gateway holds it to.
//! The wire names are the contract between pi-bridge and the gateway.

use serde::{Deserialize, Serialize};

/// `POST /api/delegation/children`, with the runner's session credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartChild {
    /// Model of the child, overriding its Workspace's (same rules as `spec.model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The child's title (`spec.displayName`), usually the start of its task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// The answer: the child's Session name (frames for it go over the mux).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildStarted {
    pub name: String,
}

/// How deep delegation goes: a Session started by a user is level 1, its children level 2; a
/// child may not delegate again (a third level is refused).
pub const MAX_LEVELS: usize = 2;
/// Children one Session may have at once (suspended ones count; deleted ones do not).
pub const MAX_CHILDREN: usize = 8;
/// Delegated Sessions of one user that may run (not suspended) at once.
pub const MAX_RUNNING_PER_USER: usize = 4;
