//! What can be wrong with a Workspace/Session pair. Every variant is a user error: the operator
//! reports it on the object (condition, Event) and waits for a change instead of retrying.

/// A user error with a stable reason (used as condition reason, Event reason and metric label).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("spec.workspaceRef.name: the Session names Workspace {wanted:?}, not {given:?}")]
    WrongWorkspace { wanted: String, given: String },
    #[error("the Workspace {workspace:?} is being deleted; no new runners start in it")]
    WorkspaceTerminating { workspace: String },
    #[error(
        "spec.runner.image: the Workspace sets no runner image and the operator has no default (--runner-image)"
    )]
    NoRunnerImage,
    #[error(
        "spec.workspaceClassName: no WorkspaceClass {class:?} in this namespace (an admin creates it)"
    )]
    ClassNotFound { class: String },
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

impl CoreError {
    /// CamelCase, stable across releases: dashboards and alerts key on it.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::WrongWorkspace { .. } => "WorkspaceMismatch",
            Self::WorkspaceTerminating { .. } => "WorkspaceTerminating",
            Self::NoRunnerImage => "NoRunnerImage",
            Self::ClassNotFound { .. } => "WorkspaceClassNotFound",
            Self::InvalidField { .. } => "InvalidSpec",
        }
    }
}

impl From<oqto_api::rules::FieldError> for CoreError {
    fn from(error: oqto_api::rules::FieldError) -> Self {
        Self::InvalidField {
            field: error.field,
            reason: error.message,
        }
    }
}
