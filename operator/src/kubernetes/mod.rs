//! The Kubernetes runtime: controllers for Workspaces and Sessions that apply the core's objects
//! with server-side apply and write status back. Thin: decisions live in `crate::core`.

mod backoff;
pub mod lease;
pub mod parse;
mod runtime;

pub use runtime::{KubeRuntime, MANAGER};

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::runtime::{WatchStreamExt, predicates, reflector};
use kube::{Api, Client, ResourceExt};
use oqto_api::names;
use oqto_api::{Schedule, Session, Workspace, WorkspaceClass};
use oqto_store::KubeStore;

use crate::Error;
use crate::core::OperatorDefaults;
use crate::core::lifecycle::Requeue;
use crate::http::Health;
use crate::reconcile::Reconciler;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch one namespace only (tests, single-tenant installs); all when None.
    pub namespace: Option<String>,
    pub defaults: OperatorDefaults,
    /// Port of the runner's HTTP server (pi-bridge) on its Pod's IP.
    pub runner_port: u16,
    /// How often a running Session's activity is checked.
    pub activity_every: Duration,
    /// How often runner pods without a live Session are looked for.
    pub prune_every: Duration,
    /// This replica's name in Events and the leader Lease (the pod name in a cluster).
    pub identity: String,
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub reconciler: Reconciler<KubeStore, KubeRuntime>,
    /// For objects that cannot be read as their type (reported untyped).
    pub recorder: Recorder,
}

impl Context {
    pub fn new(client: Client, settings: Settings) -> Self {
        let store = KubeStore::new(client.clone(), MANAGER, Some(settings.identity.clone()));
        let runtime = KubeRuntime {
            client: client.clone(),
            namespace: settings.namespace.clone(),
            defaults: settings.defaults.clone(),
            runner_port: settings.runner_port,
            pods: Default::default(),
        };
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: Some(settings.identity.clone()),
        };
        let mut reconciler = Reconciler::new(
            Arc::new(store),
            Arc::new(runtime),
            settings.defaults.clone(),
        );
        reconciler.activity_every = settings.activity_every;
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            reconciler,
            client,
            settings,
        }
    }

    pub fn health(&self) -> Arc<Health> {
        self.reconciler.health.clone()
    }

    pub fn metrics(&self) -> Arc<crate::metrics::Metrics> {
        self.reconciler.metrics.clone()
    }

    /// Whether this replica currently reconciles (for /readyz).
    pub fn is_leading(&self) -> bool {
        self.reconciler.health.is_leading()
    }

    pub fn set_leading(&self, leading: bool) {
        self.reconciler.health.set_leading(leading);
    }
}

/// Reconciles in flight per controller: enough to keep the apiserver busy, few enough that a
/// burst of Sessions does not queue thousands of requests at once.
const CONCURRENCY: u16 = 32;

/// What the caches drop of every object.
fn trim(object: &mut DynamicObject) {
    object.managed_fields_mut().clear();
    object
        .annotations_mut()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
}

fn action(requeue: Requeue) -> Action {
    match requeue {
        Requeue::After(after) => Action::requeue(after),
        Requeue::OnChange => Action::await_change(),
    }
}

/// Reads the watched object, reporting it on itself when it cannot be read.
async fn reconcile_session(object: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, Error> {
    match parse::typed::<Session>(&object) {
        Ok(session) => Ok(action(ctx.reconciler.session(&session).await?)),
        Err(reason) => {
            parse::report_invalid(&ctx, &object, &ApiResource::erase::<Session>(&()), &reason)
                .await;
            Ok(Action::await_change())
        }
    }
}

async fn reconcile_schedule(
    object: Arc<DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    match parse::typed::<Schedule>(&object) {
        Ok(schedule) => Ok(action(
            ctx.reconciler
                .schedule(&schedule, ctx.reconciler.clock.now())
                .await?,
        )),
        Err(reason) => {
            parse::report_invalid(&ctx, &object, &ApiResource::erase::<Schedule>(&()), &reason)
                .await;
            Ok(Action::await_change())
        }
    }
}

async fn reconcile_workspace(
    object: Arc<DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    match parse::typed::<Workspace>(&object) {
        Ok(workspace) => Ok(action(ctx.reconciler.workspace(&workspace).await?)),
        Err(reason) => {
            parse::report_invalid(
                &ctx,
                &object,
                &ApiResource::erase::<Workspace>(&()),
                &reason,
            )
            .await;
            Ok(Action::await_change())
        }
    }
}

fn error_policy(
    controller: &'static str,
) -> impl Fn(Arc<DynamicObject>, &Error, Arc<Context>) -> Action {
    move |object, error, ctx| {
        let key = format!(
            "{controller}/{}/{}",
            object.namespace().unwrap_or_default(),
            object.name_any()
        );
        action(ctx.reconciler.failed(controller, &key, error))
    }
}

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

/// How soon a failed renewal of the leader Lease is tried again.
const LEASE_RETRY: Duration = Duration::from_secs(1);

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
    let health = context.health();
    let renew = async {
        let mut renewed = tokio::time::Instant::now();
        let mut wait = lock.renew_every();
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = wait_stop(renew_stopped.clone()) => return false,
            }
            match lock.try_acquire().await {
                Ok(true) => {
                    renewed = tokio::time::Instant::now();
                    wait = lock.renew_every();
                    // The API answered: whatever made it unreachable is over.
                    health.set_unreachable(None);
                }
                Ok(false) => {
                    tracing::error!("another replica holds the leader lease; stopping");
                    let _ = lost_tx.send(());
                    return true;
                }
                Err(error) if renewed.elapsed() < lock.renew_deadline() => {
                    // A moment without the API: keep acting on what is known, say so on
                    // /readyz, and try again soon.
                    let error = crate::Error::from(error);
                    tracing::warn!(%error, "renewing the leader lease failed; retrying");
                    if let Some(why) = error.unreachable() {
                        health.set_unreachable(Some(why));
                    }
                    wait = LEASE_RETRY;
                }
                Err(error) => {
                    tracing::error!(%error, "the leader lease could not be renewed in time; stopping");
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
    let (stop_schedules, schedules_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_sessions.send(());
        let _ = stop_workspaces.send(());
        let _ = stop_schedules.send(());
    });

    // Untyped watches: one unreadable object is reported on itself, never stalls the list.
    let session_resource = ApiResource::erase::<Session>(&());
    let workspace_resource = ApiResource::erase::<Workspace>(&());
    let dynamic = |resource: &ApiResource| match ns {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, resource),
        None => Api::<DynamicObject>::all_with(client.clone(), resource),
    };
    // The operator keeps only what it reads: no managedFields or last-applied annotation in
    // the Session cache (at a thousand Sessions they were most of its memory).
    let writer = reflector::store::Writer::<DynamicObject>::new(session_resource.clone());
    let sessions = writer.as_reader();
    // The cache follows every change; a reconcile only a new generation (a spec change, or
    // a new Session): the operator's own status writes would otherwise schedule a second pass
    // for every Session (at a thousand new Sessions, half of all reconciles). Runner changes
    // come from the Pod watch, Workspace changes from theirs, timers from the requeues.
    let session_stream = watcher::watcher(dynamic(&session_resource), watcher::Config::default())
        .backoff(backoff::watch_backoff())
        .modify(trim)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let prune = prune_orphans(context.clone(), sessions.clone());
    // A reconcile reads its runner Pod and its Workspace from these caches, not the apiserver:
    // each is fed by the watch whose changes trigger reconciles, so it is as new as the trigger.
    // Pods are kept without their spec (the lifecycle reads metadata and status).
    let pod_writer = reflector::store::Writer::<Pod>::default();
    context
        .reconciler
        .runtime
        .read_pods_from(pod_writer.as_reader());
    let pod_triggers = watcher::watcher(api::<Pod>(&client, ns), managed.clone())
        .backoff(backoff::watch_backoff())
        .modify(|pod: &mut Pod| {
            pod.metadata.managed_fields = None;
            pod.spec = None;
        })
        .reflect(pod_writer)
        .touched_objects();
    let workspace_writer =
        reflector::store::Writer::<DynamicObject>::new(workspace_resource.clone());
    context
        .reconciler
        .store
        .read_from_cache::<Workspace>(workspace_writer.as_reader());
    let workspace_triggers =
        watcher::watcher(dynamic(&workspace_resource), watcher::Config::default())
            .backoff(backoff::watch_backoff())
            .modify(trim)
            .reflect(workspace_writer)
            .touched_objects();
    // Classes are read, never reconciled: a cache spares the apiserver a GET per reconcile.
    let class_resource = ApiResource::erase::<WorkspaceClass>(&());
    let class_writer = reflector::store::Writer::<DynamicObject>::new(class_resource.clone());
    context
        .reconciler
        .store
        .read_from_cache::<WorkspaceClass>(class_writer.as_reader());
    let classes = watcher::watcher(dynamic(&class_resource), watcher::Config::default())
        .backoff(backoff::watch_backoff())
        .modify(trim)
        .reflect(class_writer)
        .for_each(|_| async {});
    let mapped_resource = session_resource.clone();
    // Only Pods are a Session's children (a runner has no Service).
    let session_controller =
        Controller::for_stream_with(session_stream, sessions.clone(), session_resource.clone())
            .with_config(ControllerConfig::default().concurrency(CONCURRENCY))
            .owns_stream(pod_triggers)
            // A Session waiting for its Workspace starts as soon as the Workspace appears.
            .watches_stream_with(
                workspace_triggers,
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
                workspace_resource.clone(),
            )
            .graceful_shutdown_on(async {
                let _ = sessions_stopped.await;
            })
            .run(reconcile_session, error_policy("session"), context.clone())
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "session reconcile failed");
                }
            });

    let context_for_schedules = context.clone();
    let schedule_resource = ApiResource::erase::<Schedule>(&());
    let schedule_api = dynamic(&schedule_resource);
    let claim_resource = workspace_resource.clone();
    // With warm spares, a Workspace is looked at again whenever one of its Sessions changes
    // (started, claimed, suspended, deleted): its spare follows. Without, no second watch.
    let spare_triggers = if context.reconciler.defaults.warm_spares {
        watcher::watcher(dynamic(&session_resource), watcher::Config::default())
            .backoff(backoff::watch_backoff())
            .touched_objects()
            .boxed()
    } else {
        futures::stream::pending().boxed()
    };
    let spare_workspace = workspace_resource.clone();
    let workspace_controller = Controller::new_with(
        dynamic(&workspace_resource),
        watcher::Config::default(),
        workspace_resource.clone(),
    )
    .with_config(ControllerConfig::default().concurrency(CONCURRENCY))
    .owns_stream(
        watcher::watcher(
            api::<PartialObjectMeta<NetworkPolicy>>(&client, ns),
            managed.clone(),
        )
        .backoff(backoff::watch_backoff())
        .touched_objects(),
    )
    .owns_stream(
        watcher::watcher(
            api::<PartialObjectMeta<ServiceAccount>>(&client, ns),
            managed.clone(),
        )
        .backoff(backoff::watch_backoff())
        .touched_objects(),
    )
    .watches_stream_with(
        spare_triggers,
        move |session: DynamicObject| {
            session.data["spec"]["workspaceRef"]["name"]
                .as_str()
                .map(|name| {
                    ObjectRef::<DynamicObject>::new_with(name, spare_workspace.clone())
                        .within(session.metadata.namespace.as_deref().unwrap_or_default())
                })
        },
        session_resource.clone(),
    )
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
    .run(reconcile_workspace, error_policy("workspace"), context)
    .for_each(|result| async move {
        if let Err(e) = result {
            tracing::debug!(error = %e, "workspace reconcile failed");
        }
    });

    // Schedules: their own status writes bring them back here, and each reconcile writes
    // only what changed, so the echo ends after one pass. Their runs' Sessions are watched by
    // the runs themselves.
    let schedule_controller = Controller::new_with(
        schedule_api,
        watcher::Config::default(),
        schedule_resource.clone(),
    )
    .with_config(ControllerConfig::default().concurrency(CONCURRENCY))
    .graceful_shutdown_on(async {
        let _ = schedules_stopped.await;
    })
    .run(
        reconcile_schedule,
        error_policy("schedule"),
        context_for_schedules,
    )
    .for_each(|result| async move {
        if let Err(e) = result {
            tracing::debug!(error = %e, "schedule reconcile failed");
        }
    });

    // The prune loop never ends: it lives exactly as long as the controllers.
    tokio::select! {
        _ = async { tokio::join!(session_controller, workspace_controller, schedule_controller) } => {}
        () = prune => {}
        () = classes => {}
    }
}

/// Runner pods whose Session is gone (or was recreated under the same name) are
/// deleted. Garbage collection does the same through owner references; this covers clusters
/// where it lags or objects that lost their owner reference.
async fn prune_orphans(
    context: Arc<Context>,
    sessions: kube::runtime::reflector::Store<DynamicObject>,
) {
    loop {
        tokio::time::sleep(context.settings.prune_every).await;
        // An empty store may just not be synced yet: never prune on it.
        if sessions.wait_until_ready().await.is_err() {
            continue;
        }
        let live: std::collections::HashSet<String> = sessions
            .state()
            .iter()
            .filter_map(|s| s.metadata.uid.clone())
            .collect();
        if let Err(error) = context.reconciler.prune(&live).await {
            tracing::warn!(%error, "pruning runners failed");
        }
    }
}
