//! Workspaces and Sessions as the REST API and the relay need them, in one namespace: the
//! apiserver in Kubernetes mode, the operator's local store in single-node mode. Both answer
//! with the same typed objects and the same errors.

mod kubernetes;
mod local;

use oqto_api::{Session, Workspace};

pub use kubernetes::KubeResources;
pub use local::LocalResources;

use crate::error::ApiError;

/// The field manager of the gateway's writes.
pub const FIELD_MANAGER: &str = "oqto-gateway";

// One of each per process: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Resources {
    Kubernetes(KubeResources),
    Local(LocalResources),
}

macro_rules! dispatch {
    ($self:ident, $inner:ident => $call:expr) => {
        match $self {
            Resources::Kubernetes($inner) => $call.await,
            Resources::Local($inner) => $call,
        }
    };
}

impl Resources {
    pub fn namespace(&self) -> &str {
        match self {
            Self::Kubernetes(k) => &k.namespace,
            Self::Local(l) => &l.namespace,
        }
    }

    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, ApiError> {
        dispatch!(self, r => r.list_workspaces())
    }

    pub async fn get_workspace(&self, name: &str) -> Result<Option<Workspace>, ApiError> {
        dispatch!(self, r => r.get_workspace(name))
    }

    /// Creates a Workspace; `already_exists` when the name is taken.
    pub async fn create_workspace(&self, workspace: Workspace) -> Result<Workspace, ApiError> {
        dispatch!(self, r => r.create_workspace(workspace))
    }

    /// Creates or updates (like `kubectl apply`).
    pub async fn apply_workspace(&self, workspace: Workspace) -> Result<Workspace, ApiError> {
        dispatch!(self, r => r.apply_workspace(workspace))
    }

    /// Deletes the Workspace and its Sessions (their runners go with them), so no session
    /// is left waiting for a workspace that is gone.
    pub async fn delete_workspace(&self, name: &str) -> Result<bool, ApiError> {
        for session in self.list_sessions(name).await? {
            if let Some(session) = session.metadata.name.as_deref() {
                self.delete_session(session).await?;
            }
        }
        dispatch!(self, r => r.delete_workspace(name))
    }

    pub async fn list_sessions(&self, workspace: &str) -> Result<Vec<Session>, ApiError> {
        dispatch!(self, r => r.list_sessions(workspace))
    }

    pub async fn get_session(&self, name: &str) -> Result<Option<Session>, ApiError> {
        dispatch!(self, r => r.get_session(name))
    }

    pub async fn create_session(&self, session: Session) -> Result<Session, ApiError> {
        dispatch!(self, r => r.create_session(session))
    }

    pub async fn apply_session(&self, session: Session) -> Result<Session, ApiError> {
        dispatch!(self, r => r.apply_session(session))
    }

    pub async fn delete_session(&self, name: &str) -> Result<bool, ApiError> {
        dispatch!(self, r => r.delete_session(name))
    }

    /// Sets `spec.suspended`; the operator stops or starts the runner.
    pub async fn set_suspended(&self, name: &str, suspended: bool) -> Result<Session, ApiError> {
        dispatch!(self, r => r.set_suspended(name, suspended))
    }
}
