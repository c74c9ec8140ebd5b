//! Feeds the route table from the operator's local store (single-node mode) by reading it
//! again every `every`: the store is a directory of small JSON files written by another
//! process, so there is no watch to subscribe to.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use oqto_api::{Session, Workspace};
use oqto_store::{LocalStore, StoreError};

use super::{RouteTable, SessionEntry, WorkspaceEntry};

pub async fn poll_local(
    store: Arc<LocalStore>,
    namespace: String,
    table: Arc<RouteTable>,
    every: Duration,
) {
    let mut first = true;
    loop {
        // Directory reads block: off the runtime's workers, which carry the relay.
        let reading = (store.clone(), namespace.clone());
        let read = tokio::task::spawn_blocking(move || read(&reading.0, &reading.1)).await;
        match read.unwrap_or_else(|e| Err(StoreError::Unreadable(e.to_string()))) {
            Ok((sessions, workspaces)) => {
                // Waiters wake only when something changed, not on every read.
                table.update_if(|tables| {
                    let changed = tables.sessions != sessions || tables.workspaces != workspaces;
                    if changed {
                        tables.sessions = sessions;
                        tables.workspaces = workspaces;
                    }
                    changed
                });
                if first {
                    first = false;
                    table.mark_synced();
                }
            }
            Err(error) => tracing::warn!(%error, "reading the local store failed; retrying"),
        }
        tokio::time::sleep(every).await;
    }
}

type Read = (
    std::collections::HashMap<String, SessionEntry>,
    std::collections::HashMap<String, WorkspaceEntry>,
);

fn read(store: &LocalStore, namespace: &str) -> Result<Read, StoreError> {
    let in_namespace = |ns: Option<String>| ns.as_deref() == Some(namespace);
    let sessions = store
        .list::<Session>(Some(namespace))?
        .into_iter()
        .filter(|s| in_namespace(s.namespace()))
        .filter_map(|session| Some((session.name_any(), SessionEntry::of(&session)?)))
        .collect();
    let workspaces = store
        .list::<Workspace>(Some(namespace))?
        .into_iter()
        .filter(|w| in_namespace(w.namespace()))
        .map(|workspace| {
            let entry = WorkspaceEntry {
                owner: workspace.spec.owner.clone(),
                start_timeout: Duration::from(&workspace.spec.lifecycle.start_timeout),
            };
            (workspace.name_any(), entry)
        })
        .collect();
    Ok((sessions, workspaces))
}
