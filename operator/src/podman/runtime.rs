//! The Podman runtime: a Session's runner is a container, a Workspace's storage two volumes,
//! through Podman's Docker-compatible API (bollard). Thin: the lifecycle is decided in
//! `core::lifecycle`; this reads containers back as neutral health and does what it is told.
//! Podman has no kubelet: a running container is `Starting { running }` until the reconciler's
//! ask of `/readyz` says Ready (`Reconciler::confirm`, as on Kubernetes), and a stopped
//! container's times let the lifecycle play the restart policy.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, ListContainersOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveVolumeOptions,
};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use oqto_api::Workspace;
use oqto_api::names;
use oqto_api::workspace::{EgressPolicy, ReclaimPolicy};
use oqto_store::LocalStore;

use super::browser;
use super::render::{
    self, LABEL_NAMESPACE, LABEL_RECLAIM, LABEL_RUNNER_HASH, LABEL_SESSION_UID, LABEL_STORE,
};
use crate::Error;
use crate::core::lifecycle::{RunnerHealth, RunnerSeen};
use crate::core::restart::StoppedRunner;
use crate::core::{RunnerPlan, StoragePlan};
use crate::runtime::{OwnedRunner, Runtime, StorageSeen, Subject};

pub struct PodmanRuntime {
    pub docker: Docker,
    /// Where single-node Secrets are, and the store id every object carries.
    pub store: Arc<LocalStore>,
    /// The network of Restricted runners (see `render::RESTRICTED_NETWORK`).
    pub restricted_network: String,
    /// Whether new Workspaces get a user namespace of their own (`render::LABEL_USERNS_BASE`).
    pub user_namespaces: bool,
    /// Held while a Workspace's volumes are made (see `ensure_volumes`).
    pub volumes_lock: tokio::sync::Mutex<()>,
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

fn since(time: Option<Timestamp>) -> Option<Duration> {
    time.and_then(|t| Duration::try_from(Timestamp::now().duration_since(t)).ok())
}

impl PodmanRuntime {
    /// The Workspace's volumes, labelled as its (made before any runner mounts them: Podman
    /// would make a missing one itself, without labels), and the first host uid of the
    /// Workspace's user namespace (`render::LABEL_USERNS_BASE`) if it has one. With user
    /// namespaces on, one Workspace at a time: two could otherwise be given the same range.
    async fn ensure_volumes(
        &self,
        namespace: &str,
        workspace: &str,
        storage: &StoragePlan,
    ) -> Result<Option<u32>, Error> {
        // Only allocation needs it: without user namespaces, Workspaces do not wait on each other.
        let _one_at_a_time = match self.user_namespaces {
            true => Some(self.volumes_lock.lock().await),
            false => None,
        };
        let volumes = render::volume_names(namespace, storage);
        let mut missing = Vec::new();
        let mut found = Vec::new();
        for volume in &volumes {
            match self.docker.inspect_volume(volume).await {
                Ok(existing) => found.push(
                    existing
                        .labels
                        .get(render::LABEL_USERNS_BASE)
                        .and_then(|l| render::parse_userns_base(l)),
                ),
                Err(e) if not_found(&e) => missing.push(volume),
                Err(e) => return Err(e.into()),
            }
        }
        // The volumes' label is the Workspace's mapping for good: its files belong to that
        // range. Volumes made without one keep the host's namespace.
        let base = match found.first() {
            Some(base) => *base,
            None if self.user_namespaces => Some(self.free_userns_base(&volumes[0]).await?),
            None => None,
        };
        let reclaim = match storage.reclaim_policy {
            ReclaimPolicy::Retain => "Retain",
            ReclaimPolicy::Delete => "Delete",
        };
        for volume in missing {
            let mut labels: HashMap<String, String> = names::workspace_labels(workspace, "storage")
                .into_iter()
                .collect();
            labels.insert(LABEL_NAMESPACE.into(), namespace.to_owned());
            labels.insert(LABEL_RECLAIM.into(), reclaim.into());
            labels.insert(LABEL_STORE.into(), self.store.id().into());
            if let Some(base) = base {
                labels.insert(render::LABEL_USERNS_BASE.into(), base.to_string());
            }
            self.docker
                .create_volume(VolumeCreateRequest {
                    name: Some(volume.clone()),
                    labels: Some(labels),
                    ..Default::default()
                })
                .await?;
        }
        Ok(base)
    }

    /// A range no volume on this host holds (of any store: two stacks share the host's uids),
    /// probing from a point the volume's name picks, so that two operators rarely race for one.
    async fn free_userns_base(&self, volume: &str) -> Result<u32, Error> {
        let filter = HashMap::from([(
            "label".to_owned(),
            vec![render::LABEL_USERNS_BASE.to_owned()],
        )]);
        let used: HashSet<u32> = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filter),
            }))
            .await?
            .volumes
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.labels.get(render::LABEL_USERNS_BASE))
            .filter_map(|l| render::parse_userns_base(l))
            .collect();
        let start = u32::from_str_radix(&render::fnv1a(volume)[..8], 16).unwrap_or_default()
            % render::USERNS_SLOTS;
        (0..render::USERNS_SLOTS)
            .filter_map(|i| render::userns_base((start + i) % render::USERNS_SLOTS))
            .find(|base| !used.contains(base))
            .ok_or_else(|| Error::Refused {
                reason: "UserNamespaceUnavailable",
                message: format!(
                    "all {} user-namespace ranges of this host are in use",
                    render::USERNS_SLOTS
                ),
            })
    }

    async fn create_named(&self, name: &str, body: ContainerCreateBody) -> Result<(), Error> {
        let options = CreateContainerOptions {
            name: Some(name.to_owned()),
            ..Default::default()
        };
        self.docker.create_container(Some(options), body).await?;
        Ok(())
    }

    /// Starts a runner container, then its browser if it has one. A runner that was stopped
    /// got a new network namespace: its browser, still in the old one, is restarted into it.
    async fn start_with_sidecar(&self, runner: &str) -> Result<(), Error> {
        self.docker.start_container(runner, None).await?;
        let browser = browser::container_name(runner);
        match self.docker.restart_container(&browser, None).await {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Connects to Podman's API socket (`podman system service`).
    pub fn connect(socket: &str) -> Result<Docker, DockerError> {
        Docker::connect_with_unix(socket, 30, bollard::API_DEFAULT_VERSION)
    }

    /// Whether Podman answers; `Err(why)` when it does not.
    pub async fn ping(&self) -> Result<(), String> {
        self.docker
            .ping()
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// The label hash of the container the plan describes (secrets are not part of it).
    fn desired_hash(&self, plan: &RunnerPlan, uid: &str) -> Option<String> {
        render::container(plan, uid, &[], &self.restricted_network, None)
            .labels
            .and_then(|l| l.get(LABEL_RUNNER_HASH).cloned())
    }

    /// A Restricted runner starts only on the network whose firewall rules hold it (made and
    /// marked by `hack/podman/egress.sh`): never on an open one instead.
    async fn check_restricted_network(&self) -> Result<(), Error> {
        let name = &self.restricted_network;
        let refused = |why: String| Error::Refused {
            reason: "EgressNotEnforced",
            message: format!(
                "network.egress Restricted: {why}; run hack/podman/egress.sh as root on the host (it makes the network {name:?} and its firewall rules)"
            ),
        };
        match self.docker.inspect_network(name, None).await {
            Ok(network) => {
                let marked = network
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(render::LABEL_EGRESS))
                    .is_some_and(|v| v == "restricted");
                if marked {
                    Ok(())
                } else {
                    Err(refused(format!(
                        "the Podman network {name:?} is not marked {}=restricted",
                        render::LABEL_EGRESS
                    )))
                }
            }
            Err(e) if not_found(&e) => Err(refused(format!("no Podman network {name:?}"))),
            Err(e) => Err(e.into()),
        }
    }
}

impl Runtime for PodmanRuntime {
    async fn observe(&self, subject: Subject<'_>) -> Result<Option<RunnerSeen>, Error> {
        let name = render::container_name(subject.namespace, subject.name);
        let info = match self
            .docker
            .inspect_container(&name, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => info,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let labels = info
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let current = subject.plan.is_none_or(|plan| {
            labels.get(LABEL_RUNNER_HASH) == self.desired_hash(plan, subject.uid).as_ref()
        });
        let at = |t: Option<&String>| t.and_then(|t| t.parse::<Timestamp>().ok());
        let age = since(at(info.created.as_ref())).unwrap_or_default();
        let endpoint = info
            .network_settings
            .as_ref()
            .and_then(|n| n.ports.as_ref())
            .and_then(|p| {
                p.get(&format!("{}/tcp", crate::core::RUNNER_PORT))
                    .cloned()
                    .flatten()
            })
            .and_then(|b| b.first().and_then(|b| b.host_port.clone()))
            .filter(|p| !p.is_empty())
            .map(|p| format!("http://127.0.0.1:{p}"));
        let state = info.state.as_ref();
        let health = if state.and_then(|s| s.running).unwrap_or(false) {
            // Whether pi-bridge answers is the reconciler's to ask (as on Kubernetes).
            RunnerHealth::Starting {
                stuck: None,
                scheduled: None,
                running: endpoint.is_some(),
            }
        } else {
            let finished = at(state.and_then(|s| s.finished_at.as_ref()));
            let started = at(state.and_then(|s| s.started_at.as_ref()));
            RunnerHealth::Exited {
                message: format!(
                    "exit code {}",
                    state.and_then(|s| s.exit_code).unwrap_or_default()
                ),
                restart: Some(StoppedRunner {
                    lasted: finished.zip(started).and_then(|(end, start)| {
                        Duration::try_from(end.duration_since(start)).ok()
                    }),
                    since_exit: since(finished).unwrap_or_default(),
                    since_created: age,
                }),
            }
        };
        Ok(Some(RunnerSeen {
            name,
            ours: labels.get(LABEL_SESSION_UID).map(String::as_str) == Some(subject.uid),
            current,
            deleting: false,
            age,
            health,
            address: endpoint.clone(),
            endpoint,
        }))
    }

    async fn create(
        &self,
        subject: Subject<'_>,
        plan: &RunnerPlan,
    ) -> Result<Option<RunnerSeen>, Error> {
        let uid = subject.uid;
        let mut secret_env = Vec::new();
        for secret in plan.env_from.iter().filter_map(|e| e.secret_ref.as_ref()) {
            match self.store.secret(&plan.namespace, &secret.name)? {
                Some(pairs) => secret_env.extend(pairs),
                None => {
                    return Err(Error::Refused {
                        reason: "SecretNotFound",
                        message: format!(
                            "Secret {:?} not found: single-node mode reads it from {}",
                            secret.name,
                            self.store
                                .secret_path(&plan.namespace, &secret.name)
                                .display()
                        ),
                    });
                }
            }
        }
        if plan.egress == EgressPolicy::Restricted {
            self.check_restricted_network().await?;
        }
        let userns = self
            .ensure_volumes(&plan.namespace, &plan.workspace, &plan.storage)
            .await?;
        let mut desired =
            render::container(plan, uid, &secret_env, &self.restricted_network, userns);
        if let Some(labels) = desired.labels.as_mut() {
            labels.insert(LABEL_STORE.into(), self.store.id().into());
        }
        let name = render::container_name(&plan.namespace, &plan.session);
        self.create_named(&name, desired).await?;
        let sidecar = browser::container(plan, &name, uid, userns.is_some());
        if let Some(mut sidecar) = sidecar {
            if let Some(labels) = sidecar.labels.as_mut() {
                labels.insert(LABEL_STORE.into(), self.store.id().into());
            }
            // Both or neither: a runner left without its browser would look current and never
            // get one. The next pass starts over.
            let browser = browser::container_name(&name);
            if let Err(e) = self.create_named(&browser, sidecar).await {
                self.remove(&plan.namespace, &name).await?;
                return Err(e);
            }
        }
        self.start_with_sidecar(&name).await?;
        // A started container is read back by observing it (its port is known only then).
        Ok(None)
    }

    async fn restart(&self, _namespace: &str, runner: &str) -> Result<(), Error> {
        self.start_with_sidecar(runner).await
    }

    /// The runner's browser first: Podman refuses to remove a container whose network another
    /// one uses, and a browser is never left without its runner.
    async fn remove(&self, _namespace: &str, runner: &str) -> Result<(), Error> {
        for name in [browser::container_name(runner), runner.to_owned()] {
            let options = RemoveContainerOptions {
                force: true,
                ..Default::default()
            };
            match self.docker.remove_container(&name, Some(options)).await {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn list_owned(&self) -> Result<Vec<OwnedRunner>, Error> {
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(store_filter(self.store.id())),
                ..Default::default()
            }))
            .await?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                // A sidecar is removed with its runner, never on its own.
                if !is_ours(&labels, self.store.id())
                    || labels.contains_key(browser::LABEL_SIDECAR_OF)
                {
                    return None;
                }
                let name = c.names?.first()?.trim_start_matches('/').to_owned();
                Some(OwnedRunner {
                    namespace: labels.get(LABEL_NAMESPACE).cloned().unwrap_or_default(),
                    name,
                    session_uid: labels.get(LABEL_SESSION_UID).cloned(),
                })
            })
            .collect())
    }

    async fn ensure_workspace(&self, workspace: &Workspace) -> Result<StorageSeen, Error> {
        let namespace = workspace.namespace().unwrap_or_default();
        let name = workspace.name_any();
        let storage = StoragePlan::for_workspace(workspace, &name);
        self.ensure_volumes(&namespace, &name, &storage).await?;
        Ok(StorageSeen {
            ready: true,
            reason: "VolumesReady",
            message: "the workspace volumes exist".into(),
        })
    }

    async fn release_workspace(&self, workspace: &Workspace) -> Result<bool, Error> {
        if workspace.spec.storage.reclaim_policy == ReclaimPolicy::Retain {
            return Ok(true);
        }
        let namespace = workspace.namespace().unwrap_or_default();
        let mut released = true;
        let storage = StoragePlan::for_workspace(workspace, &workspace.name_any());
        for volume in render::volume_names(&namespace, &storage) {
            match self
                .docker
                .remove_volume(&volume, None::<RemoveVolumeOptions>)
                .await
            {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                // Still mounted by a runner that is going away: next pass.
                Err(e) => {
                    tracing::debug!(%volume, error = %e, "volume not removed yet");
                    released = false;
                }
            }
        }
        Ok(released)
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
