//! Workspace → its ServiceAccount, NetworkPolicy and PersistentVolumeClaim; status
//! `StorageReady` from the claim.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use oqto_api::{Workspace, WorkspacePhase, WorkspaceStatus};
use serde_json::json;

use super::{Context, Error, MANAGER};
use crate::core::conditions::{Wanted, merge};
use crate::core::{StoragePlan, kube_objects};

pub(super) async fn apply<K>(api: &Api<K>, object: &K) -> Result<K, Error>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    Ok(api
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(object),
        )
        .await?)
}

/// Reads the watched object, reporting it on itself when it cannot be read.
pub async fn reconcile_object(
    object: Arc<kube::api::DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    match super::parse::typed::<Workspace>(&object) {
        Ok(typed) => reconcile(Arc::new(typed), ctx).await,
        Err(reason) => {
            super::parse::report_invalid(
                &ctx,
                &object,
                &kube::api::ApiResource::erase::<Workspace>(&()),
                &reason,
            )
            .await;
            Ok(Action::await_change())
        }
    }
}

pub async fn reconcile(workspace: Arc<Workspace>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = super::ReconcileTimer::new(&ctx, "workspace");
    // Children go with the Workspace through owner references; a Retain claim has none and stays.
    if workspace.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = workspace.name_any();
    let namespace = workspace.namespace().unwrap_or_default();
    let Some(owner) = workspace.controller_owner_ref(&()) else {
        return Ok(Action::await_change());
    };
    let client = &ctx.client;
    apply(
        &Api::<ServiceAccount>::namespaced(client.clone(), &namespace),
        &kube_objects::service_account(&name, &namespace, owner.clone()),
    )
    .await?;
    apply(
        &Api::<NetworkPolicy>::namespaced(client.clone(), &namespace),
        &kube_objects::network_policy(
            &name,
            &namespace,
            workspace.spec.network.egress,
            &ctx.settings.defaults,
            owner.clone(),
        ),
    )
    .await?;
    let storage = StoragePlan::for_workspace(&workspace, &name);
    let claim = apply(
        &Api::<PersistentVolumeClaim>::namespaced(client.clone(), &namespace),
        &kube_objects::claim(&storage, &name, &namespace, owner),
    )
    .await?;

    let claim_phase = claim
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    let bound = claim_phase == "Bound";
    let storage_ready = if bound {
        Wanted::new(
            "StorageReady",
            true,
            "ClaimBound",
            format!("volume claim {} is bound", storage.claim_name),
        )
    } else {
        Wanted::new(
            "StorageReady",
            false,
            "ClaimPending",
            format!(
                "volume claim {} is {claim_phase}: waiting for a volume",
                storage.claim_name
            ),
        )
    };
    let phase = if bound {
        WorkspacePhase::Ready
    } else {
        WorkspacePhase::Pending
    };
    let old = workspace.status.clone().unwrap_or_default();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let status = WorkspaceStatus {
        phase: Some(phase),
        conditions: merge(
            &old.conditions,
            std::slice::from_ref(&storage_ready),
            workspace.metadata.generation,
            &now,
        ),
        observed_generation: workspace.metadata.generation,
    };
    if status != old {
        Api::<Workspace>::namespaced(client.clone(), &namespace)
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await?;
    }
    if old.phase != Some(phase) {
        let event = Event {
            type_: EventType::Normal,
            reason: storage_ready.reason.clone(),
            note: Some(storage_ready.message.clone()),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = ctx
            .recorder
            .publish(&event, &workspace.object_ref(&()))
            .await
        {
            tracing::debug!(error = %e, "publishing an event failed");
        }
    }
    ctx.succeeded(&format!("ws/{namespace}/{name}"));
    Ok(if bound {
        Action::requeue(Duration::from_secs(600))
    } else {
        Action::requeue(Duration::from_secs(10))
    })
}

pub fn error_policy(
    workspace: Arc<kube::api::DynamicObject>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = format!(
        "ws/{}/{}",
        workspace.namespace().unwrap_or_default(),
        workspace.name_any()
    );
    ctx.metrics.failed("workspace", error.reason());
    tracing::warn!(workspace = %key, reason = error.reason(), %error, "reconcile failed");
    if error.is_transient() {
        Action::requeue(ctx.backoff(&key))
    } else {
        Action::await_change()
    }
}
