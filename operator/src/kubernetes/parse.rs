//! The controllers watch Workspaces and Sessions as untyped objects and read each one here, so a
//! single object that cannot be read (it passed the CRD schema of its day but not the Rust
//! types) is reported on itself instead of stalling the whole watch.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::Context;

/// The typed object, or why it cannot be read.
pub fn typed<K: DeserializeOwned>(object: &DynamicObject) -> Result<K, String> {
    let value = serde_json::to_value(object).map_err(|e| e.to_string())?;
    serde_json::from_value::<K>(value).map_err(|e| e.to_string())
}

/// Reports the reason on the object: a Warning Event always, and the status (phase Failed,
/// Ready=False/InvalidObject) when the apiserver lets it be written (it refuses status writes
/// to an object whose spec its current schema rejects).
pub async fn report_invalid(
    ctx: &Context,
    object: &DynamicObject,
    resource: &ApiResource,
    reason: &str,
) {
    let message = format!("the object cannot be read: {reason}; fix its spec");
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &object.namespace().unwrap_or_default(),
        resource,
    );
    let status = json!({"status": {"phase": "Failed", "observedGeneration": object.metadata.generation,
        "conditions": [{"type": "Ready", "status": "False", "reason": "InvalidObject", "message": message,
            "lastTransitionTime": Time(Timestamp::now()), "observedGeneration": object.metadata.generation}]}});
    if let Err(e) = api
        .patch_status(
            &object.name_any(),
            &PatchParams::default(),
            &Patch::Merge(status),
        )
        .await
    {
        tracing::debug!(error = %e, "the unreadable object's status could not be written");
    }
    let event = Event {
        type_: EventType::Warning,
        reason: "InvalidObject".into(),
        note: Some(message),
        action: "Reconcile".into(),
        secondary: None,
    };
    let _ = ctx
        .recorder
        .publish(&event, &object.object_ref(resource))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use oqto_api::Workspace;

    #[test]
    fn an_unreadable_object_is_an_error_not_a_panic() {
        let object: DynamicObject = serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
            "metadata":{"name":"w"},"spec":{"owner":"a","lifecycle":{"idleTimeout":"99999999999999999999h"}}}))
        .unwrap();
        let error = typed::<Workspace>(&object).unwrap_err();
        assert!(error.contains("at most 2562047h"), "{error}");
        let good: DynamicObject =
            serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
            "metadata":{"name":"w"},"spec":{"owner":"a"}}))
            .unwrap();
        assert_eq!(typed::<Workspace>(&good).unwrap().spec.owner, "a");
    }
}
