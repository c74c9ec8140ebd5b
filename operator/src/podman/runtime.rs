//! The Podman runtime: the store's Workspaces and Sessions reconciled into Podman volumes and
//! containers through Podman's Docker-compatible API (bollard). Same core, same plan, same
//! phases and conditions as on Kubernetes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveVolumeOptions,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use oqto_api::workspace::ReclaimPolicy;
use oqto_api::{Session, SessionPhase, SessionStatus, Workspace, WorkspacePhase, WorkspaceStatus};

use super::render::{
    self, LABEL_NAMESPACE, LABEL_RECLAIM, LABEL_RUNNER_HASH, LABEL_SESSION_UID, LABEL_STORE,
};
use super::store::Store;
use crate::core::conditions::{Wanted, merge};
use crate::core::restart::{RestartDecision, StoppedRunner, restart_decision};
use crate::core::{OperatorDefaults, RunnerPlan, names};

pub struct PodmanRuntime {
    pub docker: Docker,
    pub store: Arc<Store>,
    pub defaults: OperatorDefaults,
    pub http: reqwest::Client,
    /// How often everything is reconciled even without a change (container state changes).
    pub resync: Duration,
}

fn not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// How often the store's version file is read for other processes' writes: one small read, so a
/// Session created through the gateway starts without waiting for the full resync.
const STORE_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Objects this operator made for this store (filters on several labels must all hold).
/// Lists only this store's objects. One label per filter: Podman 4.3 ORs several `label`
/// filters on volumes (it ANDs them on containers), and an OR would let two stores on one host
/// prune each other's volumes. [`is_ours`] checks the rest on the answer.
fn store_filter(store: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{LABEL_STORE}={store}")])])
}

/// Managed by the operator and of this store: the only objects prune may remove.
fn is_ours(labels: &HashMap<String, String>, store: &str) -> bool {
    labels.get(names::LABEL_MANAGED_BY).map(String::as_str) == Some(names::MANAGED_BY)
        && labels.get(LABEL_STORE).map(String::as_str) == Some(store)
}

impl PodmanRuntime {
    /// Connects to Podman's API socket (`podman system service`).
    pub fn connect(socket: &str) -> Result<Docker, DockerError> {
        Docker::connect_with_unix(socket, 30, bollard::API_DEFAULT_VERSION)
    }

    /// Reconciles until `shutdown` resolves: on every store change (this process's, or another's
    /// seen on disk within `STORE_POLL`) and every `resync`.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut changes = self.store.subscribe();
        tokio::pin!(shutdown);
        loop {
            let seen = self.store.version_on_disk();
            if let Err(e) = self.reconcile_all().await {
                tracing::warn!(error = %e, "podman reconcile failed; retrying");
            }
            let resync = tokio::time::sleep(self.resync);
            tokio::pin!(resync);
            loop {
                tokio::select! {
                    () = &mut shutdown => return,
                    _ = changes.changed() => break,
                    () = &mut resync => break,
                    () = tokio::time::sleep(STORE_POLL) => {
                        // The gateway writes the store from its own process (or container).
                        if self.store.version_on_disk() != seen {
                            break;
                        }
                    }
                }
            }
        }
    }

    pub async fn reconcile_all(&self) -> anyhow::Result<()> {
        let workspaces = self.store.list::<Workspace>()?;
        let sessions = self.store.list::<Session>()?;
        for workspace in &workspaces {
            self.reconcile_workspace(workspace).await?;
        }
        for session in &sessions {
            if let Err(e) = self.reconcile_session(session, &workspaces).await {
                tracing::warn!(session = ?session.metadata.name, error = %e, "session reconcile failed");
            }
        }
        self.prune(&workspaces, &sessions).await
    }

    async fn reconcile_workspace(&self, workspace: &Workspace) -> anyhow::Result<()> {
        let namespace = workspace.metadata.namespace.clone().unwrap_or_default();
        let name = workspace.metadata.name.clone().unwrap_or_default();
        let reclaim = match workspace.spec.storage.reclaim_policy {
            ReclaimPolicy::Retain => "Retain",
            ReclaimPolicy::Delete => "Delete",
        };
        for volume in render::volume_names(&namespace, &name) {
            match self.docker.inspect_volume(&volume).await {
                Ok(_) => {}
                Err(e) if not_found(&e) => {
                    let mut labels = names::workspace_labels(&name, "storage")
                        .into_iter()
                        .collect::<HashMap<_, _>>();
                    labels.insert(LABEL_NAMESPACE.into(), namespace.clone());
                    labels.insert(LABEL_RECLAIM.into(), reclaim.into());
                    labels.insert(LABEL_STORE.into(), self.store.id().into());
                    self.docker
                        .create_volume(VolumeCreateRequest {
                            name: Some(volume),
                            labels: Some(labels),
                            ..Default::default()
                        })
                        .await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let ready = Wanted::new(
            "StorageReady",
            true,
            "VolumesReady",
            "the workspace volumes exist",
        );
        let old = workspace.status.clone().unwrap_or_default();
        let now = Time(Timestamp::now());
        let status = WorkspaceStatus {
            phase: Some(WorkspacePhase::Ready),
            conditions: merge(
                &old.conditions,
                &[ready],
                workspace.metadata.generation,
                &now,
            ),
            observed_generation: workspace.metadata.generation,
        };
        if status != old {
            let mut updated = workspace.clone();
            updated.status = Some(status);
            // A conflict means someone changed it meanwhile: the next pass sees the new one.
            let _ = self.store.update_status(&updated);
        }
        Ok(())
    }

    async fn reconcile_session(
        &self,
        session: &Session,
        workspaces: &[Workspace],
    ) -> anyhow::Result<()> {
        let namespace = session.metadata.namespace.clone().unwrap_or_default();
        let name = session.metadata.name.clone().unwrap_or_default();
        let uid = session.metadata.uid.clone().unwrap_or_default();
        let container = render::container_name(&namespace, &name);
        let workspace = workspaces.iter().find(|w| {
            w.metadata.name.as_deref() == Some(session.spec.workspace_ref.name.as_str())
                && w.metadata.namespace.as_deref() == Some(namespace.as_str())
        });
        let Some(workspace) = workspace else {
            // A runner outlives nothing of its Workspace: stop it (the volumes follow the
            // Workspace's reclaim policy in prune).
            match self
                .docker
                .inspect_container(&container, None::<InspectContainerOptions>)
                .await
            {
                Ok(_) => self.remove_container(&container).await?,
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
            let message = format!(
                "Workspace {:?} does not exist in namespace {namespace:?}; the session starts when it appears",
                session.spec.workspace_ref.name
            );
            return self.write_status(
                session,
                SessionPhase::Pending,
                false,
                "WorkspaceNotFound",
                &message,
                None,
                None,
            );
        };
        let plan = match RunnerPlan::build(workspace, session, &self.defaults) {
            Ok(plan) => plan,
            Err(e) => {
                return self.write_status(
                    session,
                    SessionPhase::Failed,
                    false,
                    e.reason(),
                    &e.to_string(),
                    None,
                    None,
                );
            }
        };
        let existing = match self
            .docker
            .inspect_container(&container, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => Some(c),
            Err(e) if not_found(&e) => None,
            Err(e) => return Err(e.into()),
        };
        if session.spec.suspended {
            if existing.is_some() {
                self.remove_container(&container).await?;
            }
            return self.write_status(
                session,
                SessionPhase::Suspended,
                false,
                "Suspended",
                "the runner is stopped; files and history are kept",
                None,
                None,
            );
        }
        let mut secret_env = Vec::new();
        for secret in plan.env_from.iter().filter_map(|e| e.secret_ref.as_ref()) {
            match self.store.secret(&namespace, &secret.name)? {
                Some(pairs) => secret_env.extend(pairs),
                None => {
                    let message = format!(
                        "Secret {:?} not found: single-node mode reads it from {}",
                        secret.name,
                        self.store.secret_path(&namespace, &secret.name).display()
                    );
                    return self.write_status(
                        session,
                        SessionPhase::Failed,
                        false,
                        "SecretNotFound",
                        &message,
                        None,
                        None,
                    );
                }
            }
        }
        let mut desired = render::container(&plan, &uid, &secret_env);
        if let Some(labels) = desired.labels.as_mut() {
            labels.insert(LABEL_STORE.into(), self.store.id().into());
        }
        let desired_hash = desired
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_RUNNER_HASH))
            .cloned();
        let labels = existing
            .as_ref()
            .and_then(|c| c.config.as_ref())
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        // A container of an older spec, or of an earlier Session of the same name, is replaced.
        if existing.is_some()
            && (labels.get(LABEL_RUNNER_HASH) != desired_hash.as_ref()
                || labels.get(LABEL_SESSION_UID) != Some(&uid))
        {
            self.remove_container(&container).await?;
            return Ok(());
        }
        let container_info = match existing {
            Some(info) => info,
            None => {
                self.docker
                    .create_container(
                        Some(CreateContainerOptions {
                            name: Some(container.clone()),
                            ..Default::default()
                        }),
                        desired,
                    )
                    .await?;
                self.docker.start_container(&container, None).await?;
                self.docker
                    .inspect_container(&container, None::<InspectContainerOptions>)
                    .await?
            }
        };
        let state = container_info.state.as_ref();
        let running = state.and_then(|s| s.running).unwrap_or(false);
        let created = container_info
            .created
            .as_deref()
            .and_then(|c| c.parse::<Timestamp>().ok());
        let waited = created
            .and_then(|c| Duration::try_from(Timestamp::now().duration_since(c)).ok())
            .unwrap_or_default();
        let port = container_info
            .network_settings
            .as_ref()
            .and_then(|n| n.ports.as_ref())
            .and_then(|p| {
                p.get(&format!("{}/tcp", names::RUNNER_PORT))
                    .cloned()
                    .flatten()
            })
            .and_then(|b| b.first().and_then(|b| b.host_port.clone()));
        let endpoint = port.map(|p| format!("http://127.0.0.1:{p}"));
        if !running {
            let exit = state.and_then(|s| s.exit_code).unwrap_or_default();
            let at = |t: Option<&String>| t.and_then(|t| t.parse::<Timestamp>().ok());
            let finished = at(state.and_then(|s| s.finished_at.as_ref()));
            let stopped = StoppedRunner {
                lasted: finished
                    .zip(at(state.and_then(|s| s.started_at.as_ref())))
                    .and_then(|(end, start)| Duration::try_from(end.duration_since(start)).ok()),
                since_exit: finished
                    .and_then(|end| Duration::try_from(Timestamp::now().duration_since(end)).ok())
                    .unwrap_or_default(),
                since_created: waited,
            };
            match restart_decision(stopped, Duration::from_secs(plan.start_timeout_seconds)) {
                RestartDecision::Fail => {
                    let message = format!(
                        "the runner container keeps stopping (exit code {exit}) soon after it starts"
                    );
                    return self.write_status(
                        session,
                        SessionPhase::Failed,
                        false,
                        "RunnerExited",
                        &message,
                        Some(container),
                        None,
                    );
                }
                RestartDecision::BackOff(left) => {
                    let message = format!(
                        "the runner container stopped (exit code {exit}); starting it again in {}s",
                        left.as_secs().max(1)
                    );
                    return self.write_status(
                        session,
                        SessionPhase::Starting,
                        false,
                        "CrashLoopBackOff",
                        &message,
                        Some(container),
                        None,
                    );
                }
                RestartDecision::Restart => {}
            }
            tracing::info!(session = %name, exit, "runner container stopped; starting it again");
            self.docker.start_container(&container, None).await?;
            let message =
                format!("the runner container stopped (exit code {exit}) and was started again");
            return self.write_status(
                session,
                SessionPhase::Starting,
                false,
                "RunnerRestarted",
                &message,
                Some(container),
                None,
            );
        }
        let ready = match &endpoint {
            Some(endpoint) => self
                .http
                .get(format!("{endpoint}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
            None => false,
        };
        if ready
            && let Some(endpoint) = &endpoint
            && let Some(report) =
                crate::kubernetes::activity::fetch_from(&self.http, endpoint).await
        {
            let started = session.status.as_ref().and_then(|s| s.started_at.as_ref());
            let running_for =
                started.and_then(|t| Duration::try_from(Timestamp::now().duration_since(t.0)).ok());
            if let Some((reason, note)) = crate::core::idle::should_suspend(
                &report,
                Timestamp::now().as_millisecond(),
                workspace.spec.lifecycle.idle_timeout.into(),
                running_for,
                workspace.spec.lifecycle.max_lifetime.map(Into::into),
            ) {
                // Suspending is a spec change the user sees and can undo, as on Kubernetes.
                tracing::info!(session = %name, reason, %note, "suspending");
                let mut suspended = session.clone();
                suspended.spec.suspended = true;
                self.store.apply(suspended)?;
                return Ok(());
            }
        }
        if ready {
            self.write_status(
                session,
                SessionPhase::Running,
                true,
                "RunnerReady",
                "the runner accepts connections",
                Some(container),
                endpoint,
            )
        } else if waited > Duration::from_secs(plan.start_timeout_seconds) {
            let message = format!(
                "the runner did not become ready within {}s",
                plan.start_timeout_seconds
            );
            self.write_status(
                session,
                SessionPhase::Failed,
                false,
                "StartTimeout",
                &message,
                Some(container),
                None,
            )
        } else {
            self.write_status(
                session,
                SessionPhase::Starting,
                false,
                "StartingRunner",
                "the runner is starting",
                Some(container),
                None,
            )
        }
    }

    async fn remove_container(&self, name: &str) -> anyhow::Result<()> {
        match self
            .docker
            .remove_container(
                name,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Containers without a live Session go; volumes of deleted Workspaces go when their
    /// reclaim policy says Delete.
    async fn prune(&self, workspaces: &[Workspace], sessions: &[Session]) -> anyhow::Result<()> {
        let live: HashSet<String> = sessions
            .iter()
            .filter_map(|s| s.metadata.uid.clone())
            .collect();
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(store_filter(self.store.id())),
                ..Default::default()
            }))
            .await?;
        for container in containers {
            let labels = container.labels.unwrap_or_default();
            if is_ours(&labels, self.store.id())
                && !labels
                    .get(LABEL_SESSION_UID)
                    .is_some_and(|uid| live.contains(uid))
                && let Some(name) = container.names.and_then(|n| n.first().cloned())
            {
                self.remove_container(name.trim_start_matches('/')).await?;
            }
        }
        let wanted: HashSet<String> = workspaces
            .iter()
            .flat_map(|w| {
                render::volume_names(
                    w.metadata.namespace.as_deref().unwrap_or_default(),
                    w.metadata.name.as_deref().unwrap_or_default(),
                )
            })
            .collect();
        let volumes = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(store_filter(self.store.id())),
            }))
            .await?;
        for volume in volumes.volumes.unwrap_or_default() {
            if is_ours(&volume.labels, self.store.id())
                && !wanted.contains(&volume.name)
                && volume.labels.get(LABEL_RECLAIM).map(String::as_str) == Some("Delete")
            {
                match self
                    .docker
                    .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
                    .await
                {
                    Ok(()) => {}
                    Err(e) if not_found(&e) => {}
                    // Still mounted by a container that is going away: next pass.
                    Err(e) => {
                        tracing::debug!(volume = %volume.name, error = %e, "volume not removed yet")
                    }
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn write_status(
        &self,
        session: &Session,
        phase: SessionPhase,
        ready: bool,
        reason: &str,
        message: &str,
        container: Option<String>,
        endpoint: Option<String>,
    ) -> anyhow::Result<()> {
        let old = session.status.clone().unwrap_or_default();
        let now = Time(Timestamp::now());
        let wanted = [
            Wanted::new("Ready", ready, reason, message),
            Wanted::new(
                "Suspended",
                phase == SessionPhase::Suspended,
                if session.spec.suspended {
                    "SuspendRequested"
                } else {
                    "Active"
                },
                "",
            ),
        ];
        let running = phase == SessionPhase::Running;
        let status = SessionStatus {
            phase: Some(phase),
            conditions: merge(&old.conditions, &wanted, session.metadata.generation, &now),
            observed_generation: session.metadata.generation,
            pod_name: container,
            endpoint,
            started_at: if running {
                old.started_at.clone().or(Some(now))
            } else {
                None
            },
            last_activity_at: if running {
                old.last_activity_at.clone()
            } else {
                None
            },
        };
        if status != old {
            let mut updated = session.clone();
            updated.status = Some(status);
            let _ = self.store.update_status(&updated);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn only_objects_of_this_store_are_ours() {
        let managed = (names::LABEL_MANAGED_BY, names::MANAGED_BY);
        assert!(is_ours(&labels(&[managed, (LABEL_STORE, "a")]), "a"));
        // Another store's runner on the same host (a test beside a developer's stack).
        assert!(!is_ours(&labels(&[managed, (LABEL_STORE, "b")]), "a"));
        // Something else that happens to carry the store label.
        assert!(!is_ours(&labels(&[(LABEL_STORE, "a")]), "a"));
        assert!(!is_ours(&labels(&[managed]), "a"));
    }

    #[test]
    fn the_list_filter_has_one_label() {
        // Podman 4.3 ORs several label filters on volumes; one label keeps the list exact.
        let filter = store_filter("a");
        assert_eq!(filter.len(), 1);
        assert_eq!(filter["label"], vec![format!("{LABEL_STORE}=a")]);
    }
}
