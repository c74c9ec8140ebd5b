//! Feeds the route table from watches on Sessions, Workspaces and runner Pods. Sessions and
//! Workspaces are watched untyped and read one by one (as the operator does), so one object
//! that cannot be read is skipped instead of stopping the watch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use oqto_api::names;
use oqto_api::{Session, Workspace};

use super::{PodEntry, RouteTable, SessionEntry, Tables, WorkspaceEntry};

/// The typed object, or `None` for one that cannot be read (skipped, as the operator reports it).
fn typed<K: serde::de::DeserializeOwned>(object: &DynamicObject) -> Option<K> {
    serde_json::to_value(object)
        .ok()
        .and_then(|value| serde_json::from_value(value).ok())
}

/// Starts the three watches; returns when each has listed once.
pub async fn watch_kubernetes(client: Client, namespace: String, table: Arc<RouteTable>) {
    let sessions: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &ApiResource::erase::<Session>(&()),
    );
    let workspaces: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &namespace,
        &ApiResource::erase::<Workspace>(&()),
    );
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let runner_pods = watcher::Config::default().labels(&format!(
        "{}={},{}=runner",
        names::LABEL_MANAGED_BY,
        names::MANAGED_BY,
        names::LABEL_COMPONENT
    ));

    let (synced_tx, mut synced_rx) = tokio::sync::mpsc::channel::<()>(3);
    spawn_feed(
        "sessions",
        watcher(sessions, watcher::Config::default()),
        table.clone(),
        synced_tx.clone(),
        |object: DynamicObject| {
            let session: Session = typed(&object)?;
            Some((session.name_any(), SessionEntry::of(&session)?))
        },
        |tables| &mut tables.sessions,
    );
    spawn_feed(
        "workspaces",
        watcher(workspaces, watcher::Config::default()),
        table.clone(),
        synced_tx.clone(),
        |object: DynamicObject| {
            let workspace: Workspace = typed(&object)?;
            Some((
                workspace.name_any(),
                WorkspaceEntry {
                    owner: workspace.spec.owner.clone(),
                    start_timeout: Duration::from(&workspace.spec.lifecycle.start_timeout),
                },
            ))
        },
        |tables| &mut tables.workspaces,
    );
    spawn_feed(
        "pods",
        watcher(pods, runner_pods),
        table.clone(),
        synced_tx,
        |pod: Pod| {
            let status = pod.status.as_ref();
            let ready = status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            let running = ready
                || status
                    .and_then(|s| s.container_statuses.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|c| {
                        c.name == oqto_proto::runner::CONTAINER
                            && c.state.as_ref().is_some_and(|s| s.running.is_some())
                    });
            Some((
                pod.name_any(),
                PodEntry {
                    ip: status.and_then(|s| s.pod_ip.clone()),
                    running: running && pod.metadata.deletion_timestamp.is_none(),
                },
            ))
        },
        |tables| &mut tables.pods,
    );
    for _ in 0..3 {
        if synced_rx.recv().await.is_none() {
            break;
        }
    }
    table.mark_synced();
}

fn watcher<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    watcher::watcher(api, config).default_backoff()
}

/// Applies one watch's events to its table: a full listing replaces it, changes update it.
fn spawn_feed<K, V, S>(
    what: &'static str,
    stream: S,
    table: Arc<RouteTable>,
    synced: tokio::sync::mpsc::Sender<()>,
    read: impl Fn(K) -> Option<(String, V)> + Send + 'static,
    select: fn(&mut Tables) -> &mut HashMap<String, V>,
) where
    K: kube::Resource + Send + 'static,
    V: Send + 'static,
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut listing: Option<HashMap<String, V>> = None;
        let mut first = true;
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Init) => listing = Some(HashMap::new()),
                Ok(Event::InitApply(object)) => {
                    if let (Some(listing), Some((name, value))) = (listing.as_mut(), read(object)) {
                        listing.insert(name, value);
                    }
                }
                Ok(Event::InitDone) => {
                    let fresh = listing.take().unwrap_or_default();
                    table.update(|tables| *select(tables) = fresh);
                    if first {
                        first = false;
                        let _ = synced.send(()).await;
                    }
                }
                Ok(Event::Apply(object)) => {
                    let name = object.meta().name.clone().unwrap_or_default();
                    match read(object) {
                        Some((name, value)) => table.update(|tables| {
                            select(tables).insert(name, value);
                        }),
                        // Unreadable now: it cannot be routed to.
                        None => table.update(|tables| {
                            select(tables).remove(&name);
                        }),
                    }
                }
                Ok(Event::Delete(object)) => {
                    let name = object.meta().name.clone().unwrap_or_default();
                    table.update(|tables| {
                        select(tables).remove(&name);
                    });
                }
                Err(error) => tracing::warn!(what, %error, "watch failed; retrying"),
            }
        }
    });
}
