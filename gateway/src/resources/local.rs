//! Resources in the operator's local store (single-node mode): the same objects and write
//! rules as the apiserver, kept in the state directory that `oqto-operator run --runtime
//! podman` reconciles.

use std::path::Path;
use std::sync::Arc;

use oqto_api::{Session, Workspace};
use oqto_operator::podman::{Store, StoreError};

use crate::error::ApiError;

pub struct LocalResources {
    pub namespace: String,
    store: Arc<Store>,
}

impl LocalResources {
    pub fn open(state_dir: &Path, namespace: &str) -> Result<Self, ApiError> {
        Ok(Self {
            namespace: namespace.to_owned(),
            store: Arc::new(Store::open(state_dir).map_err(error)?),
        })
    }

    /// The store, shared with the route table's poller.
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    fn in_namespace<K: kube::Resource>(&self, objects: Vec<K>) -> Vec<K> {
        objects
            .into_iter()
            .filter(|o| o.meta().namespace.as_deref() == Some(&self.namespace))
            .collect()
    }

    pub fn list_workspaces(&self) -> Result<Vec<Workspace>, ApiError> {
        Ok(self.in_namespace(self.store.list::<Workspace>().map_err(error)?))
    }

    pub fn get_workspace(&self, name: &str) -> Result<Option<Workspace>, ApiError> {
        self.store.get(&self.namespace, name).map_err(error)
    }

    pub fn create_workspace(&self, workspace: Workspace) -> Result<Workspace, ApiError> {
        let name = workspace.metadata.name.clone().unwrap_or_default();
        if self.get_workspace(&name)?.is_some() {
            return Err(ApiError::AlreadyExists(format!(
                "workspaces.oqto.dev {name:?} already exists"
            )));
        }
        self.apply_workspace(workspace)
    }

    pub fn apply_workspace(&self, mut workspace: Workspace) -> Result<Workspace, ApiError> {
        workspace.metadata.namespace = Some(self.namespace.clone());
        let name = workspace.metadata.name.clone().unwrap_or_default();
        if let Some(stored) = self.get_workspace(&name)?
            && stored.spec.owner != workspace.spec.owner
        {
            return Err(ApiError::invalid_field("spec.owner", "owner is immutable"));
        }
        self.store.apply(workspace).map_err(error)
    }

    pub fn delete_workspace(&self, name: &str) -> Result<bool, ApiError> {
        self.store
            .delete::<Workspace>(&self.namespace, name)
            .map_err(error)
    }

    pub fn list_sessions(&self, workspace: &str) -> Result<Vec<Session>, ApiError> {
        Ok(self
            .in_namespace(self.store.list::<Session>().map_err(error)?)
            .into_iter()
            .filter(|s| s.spec.workspace_ref.name == workspace)
            .collect())
    }

    pub fn get_session(&self, name: &str) -> Result<Option<Session>, ApiError> {
        self.store.get(&self.namespace, name).map_err(error)
    }

    pub fn create_session(&self, session: Session) -> Result<Session, ApiError> {
        let name = session.metadata.name.clone().unwrap_or_default();
        if self.get_session(&name)?.is_some() {
            return Err(ApiError::AlreadyExists(format!(
                "sessions.oqto.dev {name:?} already exists"
            )));
        }
        self.apply_session(session)
    }

    pub fn apply_session(&self, mut session: Session) -> Result<Session, ApiError> {
        session.metadata.namespace = Some(self.namespace.clone());
        let name = session.metadata.name.clone().unwrap_or_default();
        if let Some(stored) = self.get_session(&name)?
            && stored.spec.workspace_ref != session.spec.workspace_ref
        {
            return Err(ApiError::invalid_field(
                "spec.workspaceRef",
                "workspaceRef is immutable",
            ));
        }
        self.store.apply(session).map_err(error)
    }

    pub fn delete_session(&self, name: &str) -> Result<bool, ApiError> {
        self.store
            .delete::<Session>(&self.namespace, name)
            .map_err(error)
    }

    pub fn set_suspended(&self, name: &str, suspended: bool) -> Result<Session, ApiError> {
        let mut session = self
            .get_session(name)?
            .ok_or_else(|| ApiError::NotFound(format!("sessions.oqto.dev {name:?} not found")))?;
        session.spec.suspended = suspended;
        self.store.apply(session).map_err(error)
    }
}

fn error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound { .. } => ApiError::NotFound(error.to_string()),
        StoreError::Conflict { .. } => ApiError::Conflict(error.to_string()),
        StoreError::Invalid { .. } => ApiError::invalid(error.to_string()),
        other => ApiError::Unavailable(other.to_string()),
    }
}
