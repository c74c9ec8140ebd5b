//! The Kubernetes runtime: controllers for Workspaces and Sessions that apply the core's objects
//! with server-side apply and write status back. Thin: decisions live in `crate::core`.

pub mod activity;
mod context;
mod error;
pub mod lease;
pub mod parse;
mod session;
mod workspace;

pub use context::{Context, Settings};
pub use error::Error;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::controller::Controller;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use oqto_api::{Session, Workspace};

use crate::core::names;

/// Records a reconcile's duration when dropped (whichever way the reconcile ends).
struct ReconcileTimer<'a> {
    context: &'a Context,
    controller: &'static str,
    started: std::time::Instant,
}

impl<'a> ReconcileTimer<'a> {
    fn new(context: &'a Context, controller: &'static str) -> Self {
        Self {
            context,
            controller,
            started: std::time::Instant::now(),
        }
    }
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.context
            .metrics
            .observe_reconcile(self.controller, self.started.elapsed().as_secs_f64());
    }
}

/// The field manager of everything the operator applies.
pub const MANAGER: &str = "oqto-operator";

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the controllers while this replica holds the leader Lease: waits as a standby until it
/// can acquire it, renews it, and stops acting (returns) when it loses it or `shutdown`
/// resolves. Returns whether it stopped because the lease was lost.
pub async fn run_as_leader(
    context: Arc<Context>,
    lock: lease::LeaseLock,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> bool {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let wait_stop = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    loop {
        match lock.try_acquire().await {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "reading the leader lease failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(lock.renew_every()) => {}
            () = wait_stop(stopped.clone()) => return false,
        }
    }
    tracing::info!(identity = lock.identity(), "leading");
    context.set_leading(true);
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
    let renew_stopped = stopped.clone();
    let renew = async {
        loop {
            tokio::select! {
                () = tokio::time::sleep(lock.renew_every()) => {}
                () = wait_stop(renew_stopped.clone()) => return false,
            }
            match lock.try_acquire().await {
                Ok(true) => {}
                outcome => {
                    tracing::error!(?outcome, "lost the leader lease; stopping");
                    let _ = lost_tx.send(());
                    return true;
                }
            }
        }
    };
    let controllers = run(context.clone(), async move {
        tokio::select! {
            () = wait_stop(stopped) => {}
            _ = lost_rx => {}
        }
    });
    let (lost, ()) = tokio::join!(renew, controllers);
    context.set_leading(false);
    if !lost {
        lock.release().await;
    }
    lost
}

/// Runs both controllers until `shutdown` resolves.
pub async fn run(
    context: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = context.client.clone();
    let ns = context.settings.namespace.as_deref();
    let managed = watcher::Config::default().labels(&format!(
        "{}={}",
        names::LABEL_MANAGED_BY,
        names::MANAGED_BY
    ));
    let (stop_sessions, sessions_stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_workspaces, workspaces_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_sessions.send(());
        let _ = stop_workspaces.send(());
    });

    // Untyped watches: one unreadable object is reported on itself, never stalls the list.
    let session_resource = ApiResource::erase::<Session>(&());
    let workspace_resource = ApiResource::erase::<Workspace>(&());
    let dynamic = |resource: &ApiResource| match ns {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, resource),
        None => Api::<DynamicObject>::all_with(client.clone(), resource),
    };
    let session_controller = Controller::new_with(
        dynamic(&session_resource),
        watcher::Config::default(),
        session_resource.clone(),
    );
    let sessions = session_controller.store();
    let prune = prune_orphans(context.clone(), sessions.clone());
    let mapped_resource = session_resource.clone();
    let session_controller = session_controller
        .owns(api::<Pod>(&client, ns), managed.clone())
        .owns(api::<Service>(&client, ns), managed.clone())
        // A Session waiting for its Workspace starts as soon as the Workspace appears.
        .watches_with(
            dynamic(&workspace_resource),
            workspace_resource.clone(),
            watcher::Config::default(),
            move |workspace| {
                let name = workspace.metadata.name.clone().unwrap_or_default();
                let namespace = workspace.metadata.namespace.clone();
                sessions
                    .state()
                    .into_iter()
                    .filter(|s| {
                        s.data["spec"]["workspaceRef"]["name"].as_str() == Some(name.as_str())
                            && s.metadata.namespace == namespace
                    })
                    .map(|s| ObjectRef::from_obj_with(&*s, mapped_resource.clone()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(async {
            let _ = sessions_stopped.await;
        })
        .run(
            session::reconcile_object,
            session::error_policy,
            context.clone(),
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "session reconcile failed");
            }
        });

    let claim_resource = workspace_resource.clone();
    let workspace_controller = Controller::new_with(
        dynamic(&workspace_resource),
        watcher::Config::default(),
        workspace_resource.clone(),
    )
    .owns(api::<NetworkPolicy>(&client, ns), managed.clone())
    .owns(api::<ServiceAccount>(&client, ns), managed.clone())
    // Claims with reclaimPolicy Retain have no owner: map them back by label.
    .watches(
        api::<PersistentVolumeClaim>(&client, ns),
        managed,
        move |claim| {
            let labels = claim.metadata.labels.clone().unwrap_or_default();
            labels.get(names::LABEL_WORKSPACE).map(|name| {
                ObjectRef::<DynamicObject>::new_with(name, claim_resource.clone())
                    .within(claim.metadata.namespace.as_deref().unwrap_or_default())
            })
        },
    )
    .graceful_shutdown_on(async {
        let _ = workspaces_stopped.await;
    })
    .run(
        workspace::reconcile_object,
        workspace::error_policy,
        context,
    )
    .for_each(|result| async move {
        if let Err(e) = result {
            tracing::debug!(error = %e, "workspace reconcile failed");
        }
    });

    // The prune loop never ends: it lives exactly as long as the controllers.
    tokio::select! {
        _ = async { tokio::join!(session_controller, workspace_controller) } => {}
        () = prune => {}
    }
}

/// Runner pods and services whose Session is gone (or was recreated under the same name) are
/// deleted. Garbage collection does the same through owner references; this covers clusters
/// where it lags or objects that lost their owner reference.
async fn prune_orphans(
    context: Arc<Context>,
    sessions: kube::runtime::reflector::Store<DynamicObject>,
) {
    let every = context.settings.prune_every;
    let client = context.client.clone();
    let ns = context.settings.namespace.clone();
    let selector = format!(
        "{}={},{}=runner",
        names::LABEL_MANAGED_BY,
        names::MANAGED_BY,
        names::LABEL_COMPONENT
    );
    loop {
        tokio::time::sleep(every).await;
        // An empty store may just not be synced yet: never prune on it.
        if sessions.wait_until_ready().await.is_err() {
            continue;
        }
        let live: std::collections::HashSet<String> = sessions
            .state()
            .iter()
            .filter_map(|s| s.metadata.uid.clone())
            .collect();
        let params = kube::api::ListParams::default().labels(&selector);
        let owned_by_live =
            |refs: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]| {
                refs.iter()
                    .any(|o| o.kind == "Session" && live.contains(&o.uid))
            };
        if let Ok(pods) = api::<Pod>(&client, ns.as_deref()).list(&params).await {
            for pod in pods
                .items
                .iter()
                .filter(|p| !owned_by_live(p.owner_references()))
            {
                let (Some(name), Some(namespace)) = (&pod.metadata.name, &pod.metadata.namespace)
                else {
                    continue;
                };
                tracing::info!(pod = %name, %namespace, "pruning a runner pod without a live Session");
                let _ = Api::<Pod>::namespaced(client.clone(), namespace)
                    .delete(name, &Default::default())
                    .await;
            }
        }
        if let Ok(services) = api::<Service>(&client, ns.as_deref()).list(&params).await {
            for service in services
                .items
                .iter()
                .filter(|s| !owned_by_live(s.owner_references()))
            {
                let (Some(name), Some(namespace)) =
                    (&service.metadata.name, &service.metadata.namespace)
                else {
                    continue;
                };
                let _ = Api::<Service>::namespaced(client.clone(), namespace)
                    .delete(name, &Default::default())
                    .await;
            }
        }
    }
}
