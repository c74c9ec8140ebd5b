//! The Kubernetes runtime: a Session's runner is a Pod, a Workspace's storage a
//! PersistentVolumeClaim (with its ServiceAccount and NetworkPolicy). Thin: it applies what
//! `core::kube_objects` renders and reads Pods back as neutral health.
//!
//! A runner has no Service: the gateway reaches it on its Pod's IP, and a Service per Session
//! doubled the operator's writes and the apiserver's work for nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::FutureExt;

use k8s_openapi::api::core::v1::{
    Event as CoreEvent, PersistentVolumeClaim, Pod, Secret, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use oqto_api::workspace::ReclaimPolicy;
use oqto_api::{Session, Workspace, names};

use crate::Error;
use crate::core::lifecycle::{RunnerHealth, RunnerSeen};
use crate::core::observe::read_pod;
use crate::core::{OperatorDefaults, RunnerPlan, StoragePlan, kube_objects};
use crate::runtime::{OwnedRunner, Runtime, StorageSeen, Subject};

/// The field manager of everything the operator applies.
pub const MANAGER: &str = "oqto-operator";

/// Annotation with a hash of the desired pod: a pod built from an older spec is replaced
/// (a pod's spec is immutable).
const RUNNER_HASH: &str = "oqto.dev/runner-hash";

/// How long a runner may start before its warning Events are read for what it is stuck on.
const WARNINGS_AFTER: Duration = Duration::from_secs(10);

pub struct KubeRuntime {
    pub client: Client,
    /// One namespace, or all with None.
    pub namespace: Option<String>,
    pub defaults: OperatorDefaults,
    /// pi-bridge's port on the Pod's IP.
    pub runner_port: u16,
    /// The controller's cache of runner Pods, once it runs: observing reads it instead of the
    /// apiserver. It is fed by the same watch that triggers reconciles, so it is never older
    /// than the change a reconcile was woken for.
    pub pods: RwLock<Option<Store<Pod>>>,
}

fn fnv1a(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn namespace_of<K: Resource>(object: &K) -> String {
    object.meta().namespace.clone().unwrap_or_default()
}

/// The owner reference of a Workspace's or Session's children.
fn owner_of<K: Resource<DynamicType = ()>>(object: &K) -> Result<OwnerReference, Error> {
    object
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Refused {
            reason: "InvalidObject",
            message: format!("the {} has no uid yet", K::kind(&())),
        })
}

/// The Pod the plan describes, with the hash of its spec.
fn desired_pod(plan: &RunnerPlan, session: &Session) -> Result<(Pod, String), Error> {
    let owner = owner_of(session)?;
    let mut pod = kube_objects::pod(plan, owner.clone());
    // How a spare's start is judged over (its Pi loaded) is no reason to replace its Pod once
    // claimed: hashed as any runner's.
    let identity = if plan.ready_when_warm {
        let plain = RunnerPlan {
            ready_when_warm: false,
            ..plan.clone()
        };
        kube_objects::pod(&plain, owner).spec
    } else {
        pod.spec.clone()
    };
    let hash = fnv1a(
        &serde_json::to_string(&identity).map_err(|source| Error::Serialize {
            what: "pod",
            source,
        })?,
    );
    pod.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(RUNNER_HASH.into(), hash.clone());
    Ok((pod, hash))
}

async fn apply<K>(api: &Api<K>, object: &K) -> Result<K, Error>
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

async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<(), Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl KubeRuntime {
    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The newest warning Event about the runner pod, if any.
    async fn last_warning(&self, namespace: &str, pod: &str) -> Option<(String, String)> {
        let events = self
            .api::<CoreEvent>(namespace)
            .list(&ListParams::default().fields(&format!(
                "involvedObject.kind=Pod,involvedObject.name={pod},type=Warning"
            )))
            .await
            .ok()?;
        events
            .items
            .into_iter()
            .max_by_key(|e| {
                e.last_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .or(e.event_time.as_ref().map(|t| t.0))
            })
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
    }

    /// Observing reads `pods` from now on.
    pub fn read_pods_from(&self, pods: Store<Pod>) {
        if let Ok(mut cache) = self.pods.write() {
            *cache = Some(pods);
        }
    }

    /// The runner Pod from the cache: `None` while there is no synced cache to ask.
    fn cached_pod(&self, namespace: &str, name: &str) -> Option<Option<Arc<Pod>>> {
        let cache = self.pods.read().ok()?;
        let pods = cache.as_ref()?;
        pods.wait_until_ready().now_or_never()?.ok()?;
        Some(pods.get(&ObjectRef::new(name).within(namespace)))
    }

    /// What the lifecycle needs of a runner Pod.
    async fn seen(&self, pod: &Pod, subject: Subject<'_>) -> Result<RunnerSeen, Error> {
        let namespace = subject.namespace;
        let name = pod.name_any();
        let ours = pod
            .owner_references()
            .iter()
            .any(|o| o.kind == "Session" && o.uid == subject.uid);
        let current = match subject.plan {
            Some(plan) => {
                let (_, hash) = desired_pod(plan, subject.session)?;
                pod.annotations().get(RUNNER_HASH) == Some(&hash)
            }
            None => true,
        };
        let age = pod
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|t| Duration::try_from(Timestamp::now().duration_since(t.0)).ok())
            .unwrap_or_default();
        let plain = read_pod(pod, None);
        // The Events list is read only for a pod that has been starting a while and whose
        // container does not run: a running fleet, a burst of new runners, or runners that
        // run but do not answer yet, cost no extra requests.
        let quiet = matches!(
            plain,
            RunnerHealth::Ready | RunnerHealth::Starting { running: true, .. }
        );
        let warning = if quiet || age < WARNINGS_AFTER {
            None
        } else {
            self.last_warning(namespace, &name).await
        };
        let health = read_pod(pod, warning.as_ref().map(|(r, m)| (r.as_str(), m.as_str())));
        let address = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.as_deref())
            .map(|ip| {
                let host = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_owned()
                };
                format!("http://{host}:{}", self.runner_port)
            });
        Ok(RunnerSeen {
            name,
            ours,
            current,
            deleting: pod.metadata.deletion_timestamp.is_some(),
            age,
            health,
            endpoint: address.clone(),
            address,
        })
    }
}

impl Runtime for KubeRuntime {
    async fn observe(&self, subject: Subject<'_>) -> Result<Option<RunnerSeen>, Error> {
        let name = names::runner(subject.name);
        let pod = match self.cached_pod(subject.namespace, &name) {
            Some(cached) => cached,
            None => self
                .api::<Pod>(subject.namespace)
                .get_opt(&name)
                .await?
                .map(Arc::new),
        };
        match pod {
            Some(pod) => self.seen(&pod, subject).await.map(Some),
            None => Ok(None),
        }
    }

    /// A plain create, not an apply: a Pod is never updated (one from an older plan is
    /// replaced), and the apiserver's structured merge of a whole Pod spec was its largest cost
    /// in a burst. The answer is the Pod as created: no second read. One that exists already (a
    /// reconcile that raced a stale cache) is read instead.
    async fn create(
        &self,
        subject: Subject<'_>,
        plan: &RunnerPlan,
    ) -> Result<Option<RunnerSeen>, Error> {
        let (pod, _) = desired_pod(plan, subject.session)?;
        let secret = kube_objects::token_secret(plan, owner_of(subject.session)?);
        let api = self.api::<Pod>(&plan.namespace);
        let params = PostParams {
            field_manager: Some(MANAGER.into()),
            ..Default::default()
        };
        // Both at once: the kubelet waits for the Secret if the Pod is first. A create, for
        // the same reason as the Pod's (an apply's structured merge costs the apiserver more);
        // a Secret left by an earlier Session of that name is applied over with this one's
        // token and owner.
        let secrets = self.api::<Secret>(&plan.namespace);
        let (created, token) =
            tokio::join!(api.create(&params, &pod), secrets.create(&params, &secret));
        match token {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {
                apply(&secrets, &secret).await?;
            }
            Err(e) => return Err(e.into()),
        }
        let pod = match created {
            Ok(pod) => pod,
            Err(kube::Error::Api(status)) if status.code == 409 => {
                match api.get_opt(&pod.name_any()).await? {
                    Some(pod) => pod,
                    None => return Ok(None),
                }
            }
            Err(e) => return Err(e.into()),
        };
        self.seen(&pod, subject).await.map(Some)
    }

    /// The kubelet restarts containers; a Pod is never restarted by the operator.
    async fn restart(&self, _namespace: &str, _runner: &str) -> Result<(), Error> {
        Ok(())
    }

    async fn remove(&self, namespace: &str, runner: &str) -> Result<(), Error> {
        delete_if_present(&self.api::<Pod>(namespace), runner).await
    }

    async fn list_owned(&self) -> Result<Vec<OwnedRunner>, Error> {
        let selector = format!(
            "{}={},{}=runner",
            names::LABEL_MANAGED_BY,
            names::MANAGED_BY,
            names::LABEL_COMPONENT
        );
        let pods: Api<Pod> = match &self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let list = pods.list(&ListParams::default().labels(&selector)).await?;
        Ok(list
            .items
            .iter()
            .map(|pod| OwnedRunner {
                namespace: namespace_of(pod),
                name: pod.name_any(),
                session_uid: pod
                    .owner_references()
                    .iter()
                    .find(|o| o.kind == "Session")
                    .map(|o| o.uid.clone()),
            })
            .collect())
    }

    async fn ensure_workspace(&self, workspace: &Workspace) -> Result<StorageSeen, Error> {
        let name = workspace.name_any();
        let namespace = namespace_of(workspace);
        let owner = owner_of(workspace)?;
        apply(
            &self.api::<ServiceAccount>(&namespace),
            &kube_objects::service_account(&name, &namespace, owner.clone()),
        )
        .await?;
        apply(
            &self.api::<NetworkPolicy>(&namespace),
            &kube_objects::network_policy(
                &name,
                &namespace,
                workspace.spec.network.egress,
                &self.defaults,
                owner.clone(),
            ),
        )
        .await?;
        let storage = StoragePlan::for_workspace(workspace, &name);
        let claim = apply(
            &self.api::<PersistentVolumeClaim>(&namespace),
            &kube_objects::claim(&storage, &name, &namespace, owner),
        )
        .await?;
        let phase = claim
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".into());
        Ok(if phase == "Bound" {
            StorageSeen {
                ready: true,
                reason: "ClaimBound",
                message: format!("volume claim {} is bound", storage.claim_name),
            }
        } else {
            StorageSeen {
                ready: false,
                reason: "ClaimPending",
                message: format!(
                    "volume claim {} is {phase}: waiting for a volume",
                    storage.claim_name
                ),
            }
        })
    }

    /// `Delete` removes the claim now (garbage collection would too, through its owner
    /// reference); `Retain` keeps it, without an owner.
    async fn release_workspace(&self, workspace: &Workspace) -> Result<bool, Error> {
        if workspace.spec.storage.reclaim_policy == ReclaimPolicy::Delete {
            let name = workspace.name_any();
            let claim = StoragePlan::for_workspace(workspace, &name).claim_name;
            delete_if_present(
                &self.api::<PersistentVolumeClaim>(&namespace_of(workspace)),
                &claim,
            )
            .await?;
        }
        Ok(true)
    }
}
