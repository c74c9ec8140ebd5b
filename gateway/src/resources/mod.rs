//! Workspaces, Sessions and Schedules as the REST API and the relay need them, in one
//! namespace, through the shared object store (`oqto_store`): the apiserver in Kubernetes mode,
//! the operator's local store in single-node mode. Both obey the same write rules and answer with the same
//! errors.

use std::sync::Arc;

use oqto_api::{Schedule, Session, Workspace, WorkspaceClass};
use oqto_store::{KubeStore, LocalStore, ObjectStore, StoreError};
use serde_json::{Value, json};

use crate::error::ApiError;

/// The field manager of the gateway's writes.
pub const FIELD_MANAGER: &str = "oqto-gateway";

// One of each per process: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Backend {
    Kubernetes(KubeStore),
    Local(Arc<LocalStore>),
}

pub struct Resources {
    namespace: String,
    backend: Backend,
}

/// The same `ObjectStore` call on whichever store serves (fully qualified: the local store's
/// synchronous methods of the same names would win otherwise).
macro_rules! on_store {
    ($self:ident, $method:ident $(::<$kind:ty>)? ($($arg:expr),*)) => {
        match &$self.backend {
            Backend::Kubernetes(store) => ObjectStore::$method$(::<$kind>)?(store, $($arg),*).await,
            Backend::Local(store) => ObjectStore::$method$(::<$kind>)?(store.as_ref(), $($arg),*).await,
        }
        .map_err(error)
    };
}

impl Resources {
    pub fn new(namespace: &str, backend: Backend) -> Self {
        Self {
            namespace: namespace.to_owned(),
            backend,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn in_namespace<K: kube::Resource>(&self, mut object: K) -> K {
        object.meta_mut().namespace = Some(self.namespace.clone());
        object
    }

    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, ApiError> {
        on_store!(self, list::<Workspace>(Some(&self.namespace)))
    }

    pub async fn get_workspace(&self, name: &str) -> Result<Option<Workspace>, ApiError> {
        on_store!(self, get::<Workspace>(&self.namespace, name))
    }

    /// Creates a Workspace; `already_exists` when the name is taken.
    pub async fn create_workspace(&self, workspace: Workspace) -> Result<Workspace, ApiError> {
        let workspace = self.in_namespace(workspace);
        on_store!(self, create(workspace))
    }

    /// Creates or updates (like `kubectl apply`).
    pub async fn apply_workspace(&self, workspace: Workspace) -> Result<Workspace, ApiError> {
        let workspace = self.in_namespace(workspace);
        on_store!(self, apply(workspace))
    }

    /// Deletes the Workspace. The operator deletes its Sessions first, then its storage as
    /// `reclaimPolicy` says (its finalizer holds the Workspace until then), the same as after
    /// `kubectl delete workspace`.
    pub async fn delete_workspace(&self, name: &str) -> Result<bool, ApiError> {
        on_store!(self, delete::<Workspace>(&self.namespace, name))
    }

    pub async fn list_workspace_classes(&self) -> Result<Vec<WorkspaceClass>, ApiError> {
        on_store!(self, list::<WorkspaceClass>(Some(&self.namespace)))
    }

    pub async fn get_workspace_class(
        &self,
        name: &str,
    ) -> Result<Option<WorkspaceClass>, ApiError> {
        on_store!(self, get::<WorkspaceClass>(&self.namespace, name))
    }

    /// Creates or updates a class (admins only: the caller checks).
    pub async fn apply_workspace_class(
        &self,
        class: WorkspaceClass,
    ) -> Result<WorkspaceClass, ApiError> {
        let class = self.in_namespace(class);
        on_store!(self, apply(class))
    }

    pub async fn delete_workspace_class(&self, name: &str) -> Result<bool, ApiError> {
        on_store!(self, delete::<WorkspaceClass>(&self.namespace, name))
    }

    pub async fn list_sessions(&self, workspace: &str) -> Result<Vec<Session>, ApiError> {
        on_store!(self, sessions_of(&self.namespace, workspace))
    }

    pub async fn get_session(&self, name: &str) -> Result<Option<Session>, ApiError> {
        on_store!(self, get::<Session>(&self.namespace, name))
    }

    pub async fn create_session(&self, session: Session) -> Result<Session, ApiError> {
        let session = self.in_namespace(session);
        on_store!(self, create(session))
    }

    pub async fn apply_session(&self, session: Session) -> Result<Session, ApiError> {
        let session = self.in_namespace(session);
        on_store!(self, apply(session))
    }

    pub async fn delete_session(&self, name: &str) -> Result<bool, ApiError> {
        on_store!(self, delete::<Session>(&self.namespace, name))
    }

    /// Every Session of the namespace (the caller filters by Workspace).
    pub async fn list_all_sessions(&self) -> Result<Vec<Session>, ApiError> {
        on_store!(self, list::<Session>(Some(&self.namespace)))
    }

    /// Sets or (None) removes `spec.displayName`.
    pub async fn set_display_name(
        &self,
        name: &str,
        display_name: Option<&str>,
    ) -> Result<Session, ApiError> {
        let patch = json!({ "displayName": display_name });
        on_store!(self, patch_spec::<Session>(&self.namespace, name, patch))
    }

    /// Claims the spare `name` as read at `resource_version` (see `oqto_api::spare`): its label
    /// goes, the claim time and an optional title come. `Conflict` when it changed meanwhile
    /// (claimed by someone else, or being replaced).
    pub async fn claim_spare(
        &self,
        name: &str,
        resource_version: &str,
        claimed_at: &str,
        display_name: Option<&str>,
    ) -> Result<Session, ApiError> {
        use oqto_api::spare::{CLAIMED_AT_ANNOTATION, SPARE_LABEL};
        let mut patch = json!({"metadata": {
            "labels": { SPARE_LABEL: null },
            "annotations": { CLAIMED_AT_ANNOTATION: claimed_at },
        }});
        if let Some(title) = display_name {
            patch["spec"] = json!({ "displayName": title });
        }
        on_store!(
            self,
            patch_if_unchanged::<Session>(&self.namespace, name, resource_version, patch)
        )
    }

    /// Sets `spec.suspended`; the operator stops or starts the runner.
    pub async fn set_suspended(&self, name: &str, suspended: bool) -> Result<Session, ApiError> {
        let patch = json!({ "suspended": suspended });
        on_store!(self, patch_spec::<Session>(&self.namespace, name, patch))
    }

    /// Every Schedule of the namespace (the caller filters by Workspace: a Schedule names its
    /// Workspace directly or through its Session, which no field selector can follow).
    pub async fn list_schedules(&self) -> Result<Vec<Schedule>, ApiError> {
        on_store!(self, list::<Schedule>(Some(&self.namespace)))
    }

    pub async fn get_schedule(&self, name: &str) -> Result<Option<Schedule>, ApiError> {
        on_store!(self, get::<Schedule>(&self.namespace, name))
    }

    /// Creates a Schedule; `already_exists` when the name is taken.
    pub async fn create_schedule(&self, schedule: Schedule) -> Result<Schedule, ApiError> {
        let schedule = self.in_namespace(schedule);
        on_store!(self, create(schedule))
    }

    /// A JSON merge patch of `spec` (`{"suspend": true}`, `{"timeZone": null}` removes it); the
    /// caller has validated the result.
    pub async fn patch_schedule_spec(
        &self,
        name: &str,
        patch: Value,
    ) -> Result<Schedule, ApiError> {
        on_store!(self, patch_spec::<Schedule>(&self.namespace, name, patch))
    }

    /// Deletes the Schedule; what becomes of its runs in progress and their Sessions is the
    /// operator's to decide, as after `kubectl delete schedule`.
    pub async fn delete_schedule(&self, name: &str) -> Result<bool, ApiError> {
        on_store!(self, delete::<Schedule>(&self.namespace, name))
    }
}

/// The store's answer as one of ours; the messages name the field and pass unchanged.
fn error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound(m) => ApiError::NotFound(m),
        StoreError::AlreadyExists(m) => ApiError::AlreadyExists(m),
        StoreError::Conflict(m) => ApiError::Conflict(m),
        StoreError::Invalid(message) => ApiError::Invalid {
            message,
            details: None,
        },
        StoreError::Forbidden(m) => ApiError::Unavailable(format!(
            "the gateway's service account may not do this: {m}"
        )),
        other => ApiError::Unavailable(other.to_string()),
    }
}
