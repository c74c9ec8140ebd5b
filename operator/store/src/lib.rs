//! Where Workspaces and Sessions are kept, behind one interface with two implementations: the
//! Kubernetes API server ([`KubeStore`]) and the local store of single-node mode
//! ([`LocalStore`]). The gateway and the operator share it, so both modes obey the same write
//! rules: the update rules of `oqto_api::rules`, `generation` bumped on spec changes, a
//! `resourceVersion` on every write, finalizers that hold a deletion until the operator is done.

mod error;
pub mod kube_store;
pub mod local;
mod runner_key;

use std::fmt::Debug;
use std::future::Future;

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use oqto_api::rules::Rules;
use oqto_api::{Schedule, Session, Workspace, WorkspaceClass};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use error::StoreError;
pub use kube_store::KubeStore;
pub use local::LocalStore;
pub use runner_key::{llm_key_signer, llm_proxy_admin_token, runner_key};

/// The kinds a store keeps.
pub trait StoredKind:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Serialize
    + DeserializeOwned
    + Rules
    + Clone
    + Debug
    + Send
    + Sync
    + 'static
{
    const KIND: &'static str;
    /// `workspaces.oqto.dev`: how the apiserver names the resource in its messages.
    const RESOURCE: &'static str;
    fn spec_value(&self) -> Value;
}

impl StoredKind for Workspace {
    const KIND: &'static str = "Workspace";
    const RESOURCE: &'static str = "workspaces.oqto.dev";
    fn spec_value(&self) -> Value {
        serde_json::to_value(&self.spec).unwrap_or(Value::Null)
    }
}

impl StoredKind for Session {
    const KIND: &'static str = "Session";
    const RESOURCE: &'static str = "sessions.oqto.dev";
    fn spec_value(&self) -> Value {
        serde_json::to_value(&self.spec).unwrap_or(Value::Null)
    }
}

impl StoredKind for Schedule {
    const KIND: &'static str = "Schedule";
    const RESOURCE: &'static str = "schedules.oqto.dev";
    fn spec_value(&self) -> Value {
        serde_json::to_value(&self.spec).unwrap_or(Value::Null)
    }
}

impl StoredKind for WorkspaceClass {
    const KIND: &'static str = "WorkspaceClass";
    const RESOURCE: &'static str = "workspaceclasses.oqto.dev";
    fn spec_value(&self) -> Value {
        serde_json::to_value(&self.spec).unwrap_or(Value::Null)
    }
}

/// A Kubernetes Event about an object (a Warning or a Normal one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EventNote {
    pub warning: bool,
    /// CamelCase, stable: the condition reason it reports.
    pub reason: String,
    pub note: String,
}

/// The one interface over both stores. Every object is namespaced; `namespace: None` in `list`
/// means all namespaces.
pub trait ObjectStore: Send + Sync + 'static {
    fn get<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<K>, StoreError>> + Send;

    fn list<K: StoredKind>(
        &self,
        namespace: Option<&str>,
    ) -> impl Future<Output = Result<Vec<K>, StoreError>> + Send;

    /// The Sessions of one Workspace (the apiserver selects them by `spec.workspaceRef.name`,
    /// which the CRD declares selectable).
    fn sessions_of(
        &self,
        namespace: &str,
        workspace: &str,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// Creates; `AlreadyExists` when the name is taken.
    fn create<K: StoredKind>(
        &self,
        object: K,
    ) -> impl Future<Output = Result<K, StoreError>> + Send;

    /// Creates or updates labels, annotations and spec, as `kubectl apply` does; the status is
    /// kept.
    fn apply<K: StoredKind>(&self, object: K)
    -> impl Future<Output = Result<K, StoreError>> + Send;

    /// A JSON merge patch of the spec (`{"suspended": true}`).
    fn patch_spec<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        patch: Value,
    ) -> impl Future<Output = Result<K, StoreError>> + Send;

    /// A JSON merge patch of labels, annotations and spec
    /// (`{"metadata": {"labels": {…}}, "spec": {…}}`), only if the object is still at
    /// `resource_version`: `Conflict` otherwise, so two writers cannot both act on one read.
    fn patch_if_unchanged<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
        patch: Value,
    ) -> impl Future<Output = Result<K, StoreError>> + Send;

    /// Writes the object's status (only the status).
    fn write_status<K: StoredKind>(
        &self,
        object: &K,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes; an object with finalizers stays, with a `deletionTimestamp`, until they are
    /// removed. `false` when it did not exist.
    fn delete<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes, as [`ObjectStore::delete`], only if the object is still at
    /// `resource_version`: `Conflict` otherwise.
    fn delete_if_unchanged<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Sets `metadata.finalizers`; the last one removed from a deleted object removes it.
    fn set_finalizers<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        finalizers: Vec<String>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records an Event about the object; failures are logged, never returned (an Event is a
    /// note, not state).
    fn record_event<K: StoredKind>(
        &self,
        object: &K,
        event: EventNote,
    ) -> impl Future<Output = ()> + Send;
}

/// The `(namespace, name)` of an object, with the apiserver's default namespace.
pub fn key_of<K: Resource>(object: &K) -> (String, String) {
    let meta = object.meta();
    (
        meta.namespace.clone().unwrap_or_else(|| "default".into()),
        meta.name.clone().unwrap_or_default(),
    )
}
