//! The store on the Kubernetes API server. The apiserver enforces the schema and the CEL rules
//! generated from the same types as `oqto_api::rules`; its field-naming refusals reach the
//! caller unchanged.

use std::sync::RwLock;

use futures::FutureExt;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};
use serde_json::{Value, json};

use oqto_api::Session;

use crate::{EventNote, ObjectStore, StoreError, StoredKind};

pub struct KubeStore {
    client: Client,
    /// The field manager of every write (`oqto-operator`, `oqto-gateway`).
    manager: String,
    recorder: Recorder,
    /// Watch caches that `get` reads instead of the apiserver, per kind (the operator's
    /// controllers keep them; a reconcile reads what its trigger already brought).
    caches: RwLock<Vec<(&'static str, Store<DynamicObject>)>>,
}

impl KubeStore {
    /// `instance` names this replica in Events (the pod name in a cluster).
    pub fn new(client: Client, manager: &str, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: manager.into(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            manager: manager.into(),
            caches: RwLock::default(),
        }
    }

    /// `get::<K>` reads `cache` from now on, once it is synced.
    pub fn read_from_cache<K: StoredKind>(&self, cache: Store<DynamicObject>) {
        if let Ok(mut caches) = self.caches.write() {
            caches.retain(|(kind, _)| *kind != K::KIND);
            caches.push((K::KIND, cache));
        }
    }

    /// The object from a synced cache of its kind; `None` when there is none to ask.
    fn cached<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Result<Option<K>, StoreError>> {
        let caches = self.caches.read().ok()?;
        let (_, cache) = caches.iter().find(|(kind, _)| *kind == K::KIND)?;
        cache.wait_until_ready().now_or_never()?.ok()?;
        let key = ObjectRef::new_with(name, ApiResource::erase::<K>(&())).within(namespace);
        Some(match cache.get(&key) {
            None => Ok(None),
            Some(object) => serde_json::to_value(&*object)
                .and_then(serde_json::from_value)
                .map(Some)
                .map_err(|e| StoreError::Unreadable(e.to_string())),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn api<K: StoredKind>(&self, namespace: &str) -> Api<K> {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn not_found<K: StoredKind>(name: &str, error: StoreError) -> StoreError {
        match error {
            StoreError::NotFound(_) => StoreError::not_found::<K>(name),
            other => other,
        }
    }

    /// Deletes in the background; false when it was already gone. A failed precondition is
    /// the apiserver's 409, a `Conflict`.
    async fn delete_with<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        params: DeleteParams,
    ) -> Result<bool, StoreError> {
        match self.api::<K>(namespace).delete(name, &params).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

impl ObjectStore for KubeStore {
    async fn get<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<K>, StoreError> {
        if let Some(cached) = self.cached(namespace, name) {
            return cached;
        }
        Ok(self.api::<K>(namespace).get_opt(name).await?)
    }

    async fn list<K: StoredKind>(&self, namespace: Option<&str>) -> Result<Vec<K>, StoreError> {
        let api: Api<K> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        Ok(api.list(&ListParams::default()).await?.items)
    }

    async fn sessions_of(
        &self,
        namespace: &str,
        workspace: &str,
    ) -> Result<Vec<Session>, StoreError> {
        let params = ListParams::default().fields(&format!("spec.workspaceRef.name={workspace}"));
        Ok(self.api::<Session>(namespace).list(&params).await?.items)
    }

    async fn create<K: StoredKind>(&self, object: K) -> Result<K, StoreError> {
        let (namespace, _) = crate::key_of(&object);
        Ok(self
            .api::<K>(&namespace)
            .create(&PostParams::default(), &object)
            .await?)
    }

    async fn apply<K: StoredKind>(&self, object: K) -> Result<K, StoreError> {
        let (namespace, name) = crate::key_of(&object);
        Ok(self
            .api::<K>(&namespace)
            .patch(
                &name,
                &PatchParams::apply(&self.manager),
                &Patch::Apply(&object),
            )
            .await?)
    }

    async fn patch_spec<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        patch: Value,
    ) -> Result<K, StoreError> {
        self.api::<K>(namespace)
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": patch })),
            )
            .await
            .map_err(|e| Self::not_found::<K>(name, e.into()))
    }

    /// A merge patch carrying `metadata.resourceVersion`: the apiserver refuses it with 409
    /// when the object has changed since.
    async fn patch_if_unchanged<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
        mut patch: Value,
    ) -> Result<K, StoreError> {
        crate::local::check_patch_fields(&patch)?;
        patch["metadata"]["resourceVersion"] = json!(resource_version);
        self.api::<K>(namespace)
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(|e| Self::not_found::<K>(name, e.into()))
    }

    /// Server-side apply of the status subresource: no read-modify-write, no conflicts with
    /// the gateway's spec writes, one field manager.
    async fn write_status<K: StoredKind>(&self, object: &K) -> Result<(), StoreError> {
        let (namespace, name) = crate::key_of(object);
        let status = serde_json::to_value(object)
            .ok()
            .and_then(|v| v.get("status").cloned())
            .unwrap_or(Value::Null);
        let body = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": status,
        });
        self.api::<K>(&namespace)
            .patch_status(
                &name,
                &PatchParams::apply(&self.manager).force(),
                &Patch::Apply(body),
            )
            .await
            .map(drop)
            .map_err(|e| Self::not_found::<K>(&name, e.into()))
    }

    async fn delete<K: StoredKind>(&self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        self.delete_with::<K>(namespace, name, DeleteParams::background())
            .await
    }

    async fn delete_if_unchanged<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        resource_version: &str,
    ) -> Result<bool, StoreError> {
        let mut params = DeleteParams::background();
        params.preconditions = Some(kube::api::Preconditions {
            resource_version: Some(resource_version.to_owned()),
            uid: None,
        });
        self.delete_with::<K>(namespace, name, params).await
    }

    async fn set_finalizers<K: StoredKind>(
        &self,
        namespace: &str,
        name: &str,
        finalizers: Vec<String>,
    ) -> Result<(), StoreError> {
        let patch = json!({ "metadata": { "finalizers": finalizers } });
        self.api::<K>(namespace)
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map(drop)
            .map_err(|e| Self::not_found::<K>(name, e.into()))
    }

    async fn record_event<K: StoredKind>(&self, object: &K, event: EventNote) {
        let event = Event {
            type_: if event.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: event.reason,
            note: Some(event.note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::debug!(%error, "publishing an event failed");
        }
    }
}
