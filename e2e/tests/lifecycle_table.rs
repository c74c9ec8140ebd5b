//! One table of Session lifecycle behaviours, run on both runtimes: Kubernetes (the real
//! control plane; the test plays the kubelet by patching a Pod's status, as there is none) and
//! Podman (real containers of `$OQTO_RUNNER_IMAGE`). The same objects go through the same
//! `ObjectStore` interface the gateway uses; only looking at runners and storage differs.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::{PodmanOperator, object};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::api::events::v1::Event as EventsV1;
use kube::api::{ListParams, Patch, PatchParams};
use oqto_api::{Session, SessionPhase, Workspace, names};
use oqto_e2e::TestEnv;
use oqto_e2e::podman::{podman, workspace_volumes};
use oqto_operator::core::OperatorDefaults;
use oqto_operator::podman::render;
use oqto_store::{KubeStore, LocalStore, ObjectStore};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

/// What differs between the runtimes: how a runner and storage are seen, and who plays the
/// kubelet.
trait Runners {
    /// The Session's runner exists (and is not being removed).
    fn runner_exists(&self, session: &str) -> impl Future<Output = bool>;
    /// Makes the runner ready where no kubelet does it.
    fn make_ready(&self, session: &str) -> impl Future<Output = ()>;
    /// The Workspace's storage exists.
    fn storage_exists(&self, workspace: &str) -> impl Future<Output = bool>;
    /// The reasons of the Events recorded about a Session.
    fn event_reasons(&self, session: &str) -> impl Future<Output = Vec<String>>;
    /// Deletes a Workspace the way its users do: `kubectl delete`, or the local store's delete
    /// (the gateway's and `oqto-operator delete`).
    fn delete_workspace(&self, workspace: &str) -> impl Future<Output = ()>;
}

async fn until<F, Fut>(what: &str, check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut check = check;
    oqto_e2e::eventually(what, WAIT, || {
        let done = check();
        async move { done.await.then_some(()) }
    })
    .await
    .map_err(|e| e.to_string())
}

/// The Ready condition's (status, reason) and the phase.
async fn state<S: ObjectStore>(
    store: &S,
    ns: &str,
    name: &str,
) -> Option<(SessionPhase, String, String)> {
    let session: Session = store.get(ns, name).await.ok()??;
    let status = session.status?;
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((status.phase?, ready.status.clone(), ready.reason.clone()))
}

async fn reaches<S: ObjectStore>(
    store: &S,
    ns: &str,
    name: &str,
    phase: SessionPhase,
    reason: &str,
) -> Result<(), String> {
    let outcome = until(&format!("{name}: {phase:?}/{reason}"), || async {
        state(store, ns, name)
            .await
            .is_some_and(|(p, _, r)| p == phase && r == reason)
    })
    .await;
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => Err(format!("{e}; last seen {:?}", state(store, ns, name).await)),
    }
}

async fn behaviours<S: ObjectStore, R: Runners>(store: &S, runners: &R, ns: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let mut record = |name: &str, outcome: Result<(), String>| {
        println!("{name}: {}", if outcome.is_ok() { "ok" } else { "FAILED" });
        if let Err(e) = outcome {
            failures.push(format!("{name}: {e}"));
        }
    };

    // 1. A Session gets a runner, runs, and its status and Events say so.
    let outcome = async {
        store
            .create::<Workspace>(object("Workspace", ns, "one", json!({"owner":"alice"})))
            .await
            .map_err(|e| e.to_string())?;
        store
            .create::<Session>(object(
                "Session",
                ns,
                "one-s",
                json!({"workspaceRef":{"name":"one"}}),
            ))
            .await
            .map_err(|e| e.to_string())?;
        until("a runner", || runners.runner_exists("one-s")).await?;
        runners.make_ready("one-s").await;
        reaches(store, ns, "one-s", SessionPhase::Running, "RunnerReady").await?;
        let session: Session = store.get(ns, "one-s").await.unwrap().unwrap();
        let status = session.status.unwrap();
        if status.observed_generation != session.metadata.generation {
            return Err(format!(
                "observedGeneration {:?} of {:?}",
                status.observed_generation, session.metadata.generation
            ));
        }
        if status.endpoint.is_none() || status.pod_name.is_none() || status.started_at.is_none() {
            return Err(format!(
                "endpoint, podName and startedAt are set: {status:?}"
            ));
        }
        until("a RunnerReady Event", || async {
            runners
                .event_reasons("one-s")
                .await
                .iter()
                .any(|r| r == "RunnerReady")
        })
        .await
    }
    .await;
    record("a session runs, with status and events", outcome);

    // 2. Suspend removes the runner and keeps the storage; resume starts a new one.
    let outcome = async {
        store
            .patch_spec::<Session>(ns, "one-s", json!({"suspended": true}))
            .await
            .map_err(|e| e.to_string())?;
        reaches(store, ns, "one-s", SessionPhase::Suspended, "Suspended").await?;
        until("the runner removed", || async {
            !runners.runner_exists("one-s").await
        })
        .await?;
        if !runners.storage_exists("one").await {
            return Err("suspend removed the storage".into());
        }
        store
            .patch_spec::<Session>(ns, "one-s", json!({"suspended": false}))
            .await
            .map_err(|e| e.to_string())?;
        until("a runner again", || runners.runner_exists("one-s")).await?;
        runners.make_ready("one-s").await;
        reaches(store, ns, "one-s", SessionPhase::Running, "RunnerReady").await
    }
    .await;
    record("suspend and resume", outcome);

    // 3. A Session waits for its Workspace and starts when it appears.
    let outcome = async {
        store
            .create::<Session>(object(
                "Session",
                ns,
                "early",
                json!({"workspaceRef":{"name":"later"}}),
            ))
            .await
            .map_err(|e| e.to_string())?;
        reaches(
            store,
            ns,
            "early",
            SessionPhase::Pending,
            "WorkspaceNotFound",
        )
        .await?;
        if runners.runner_exists("early").await {
            return Err("a runner without a workspace".into());
        }
        store
            .create::<Workspace>(object("Workspace", ns, "later", json!({"owner":"bob"})))
            .await
            .map_err(|e| e.to_string())?;
        until("a runner once the workspace exists", || {
            runners.runner_exists("early")
        })
        .await
    }
    .await;
    record("a session waits for its workspace", outcome);

    // 4. A runner spec the operator refuses fails the Session with the reason, and no runner.
    let outcome = async {
        store
            .create::<Workspace>(object(
                "Workspace",
                ns,
                "bad",
                json!({"owner":"carol","runner":{"env":[{"name":"PI_BRIDGE_MODEL","value":"x"}]}}),
            ))
            .await
            .map_err(|e| e.to_string())?;
        store
            .create::<Session>(object(
                "Session",
                ns,
                "bad-s",
                json!({"workspaceRef":{"name":"bad"}}),
            ))
            .await
            .map_err(|e| e.to_string())?;
        reaches(store, ns, "bad-s", SessionPhase::Failed, "InvalidSpec").await?;
        if runners.runner_exists("bad-s").await {
            return Err("a runner for an invalid spec".into());
        }
        Ok(())
    }
    .await;
    record("an invalid spec fails with its reason", outcome);

    // 5. Deleting a Workspace deletes its Sessions and their runners, then its storage as
    //    reclaimPolicy says.
    let outcome = async {
        for (workspace, policy) in [("keep", "Retain"), ("drop", "Delete")] {
            store
                .create::<Workspace>(object(
                    "Workspace",
                    ns,
                    workspace,
                    json!({"owner":"dan","storage":{"reclaimPolicy":policy}}),
                ))
                .await
                .map_err(|e| e.to_string())?;
            store
                .create::<Session>(object(
                    "Session",
                    ns,
                    &format!("{workspace}-s"),
                    json!({"workspaceRef":{"name":workspace}}),
                ))
                .await
                .map_err(|e| e.to_string())?;
        }
        until("runners for both", || async {
            runners.runner_exists("keep-s").await && runners.runner_exists("drop-s").await
        })
        .await?;
        until("storage for both", || async {
            runners.storage_exists("keep").await && runners.storage_exists("drop").await
        })
        .await?;
        runners.delete_workspace("keep").await;
        runners.delete_workspace("drop").await;
        let gone = until("the sessions, runners and workspaces gone", || async {
            let mut gone = true;
            for name in ["keep", "drop"] {
                gone &= store
                    .get::<Session>(ns, &format!("{name}-s"))
                    .await
                    .unwrap()
                    .is_none();
                gone &= !runners.runner_exists(&format!("{name}-s")).await;
                gone &= store.get::<Workspace>(ns, name).await.unwrap().is_none();
            }
            gone
        })
        .await;
        if let Err(e) = gone {
            let mut seen = Vec::new();
            for name in ["keep", "drop"] {
                let session = store.get::<Session>(ns, &format!("{name}-s")).await;
                let workspace = store.get::<Workspace>(ns, name).await;
                seen.push(format!(
                    "{name}: session {:?}, runner {}, workspace {:?}",
                    session.map(|s| s.map(|s| s.status)),
                    runners.runner_exists(&format!("{name}-s")).await,
                    workspace.map(|w| w.map(|w| (w.metadata.finalizers, w.status))),
                ));
            }
            return Err(format!("{e}; {seen:#?}"));
        }
        until("Delete's storage removed", || async {
            !runners.storage_exists("drop").await
        })
        .await?;
        if !runners.storage_exists("keep").await {
            return Err("Retain's storage was removed".into());
        }
        Ok(())
    }
    .await;
    record("deleting a workspace cascades", outcome);
    failures
}

struct KubeRunners {
    env: TestEnv,
}

impl Runners for KubeRunners {
    async fn runner_exists(&self, session: &str) -> bool {
        self.env
            .api::<Pod>()
            .get_opt(&names::runner(session))
            .await
            .unwrap()
            .is_some_and(|p| p.metadata.deletion_timestamp.is_none())
    }

    /// Plays the kubelet: the runner started and passed its readiness probe.
    async fn make_ready(&self, session: &str) {
        let _ = self
            .env
            .api::<Pod>()
            .patch_status(&names::runner(session), &PatchParams::default(), &Patch::Merge(json!({"status":{"phase":"Running",
                "podIP":"127.0.0.1","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True"}]}})))
            .await;
    }

    /// By label: the claim's name carries the Workspace's uid.
    async fn storage_exists(&self, workspace: &str) -> bool {
        self.env
            .api::<PersistentVolumeClaim>()
            .list(&ListParams::default().labels(&format!("{}={workspace}", names::LABEL_WORKSPACE)))
            .await
            .unwrap()
            .items
            .iter()
            .any(|c| c.metadata.deletion_timestamp.is_none())
    }

    async fn event_reasons(&self, session: &str) -> Vec<String> {
        self.env
            .api::<EventsV1>()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(session))
            .filter_map(|e| e.reason)
            .collect()
    }

    async fn delete_workspace(&self, workspace: &str) {
        oqto_e2e::run_ok(self.env.kubectl().args([
            "delete",
            "workspace",
            workspace,
            "--wait=false",
        ]))
        .unwrap();
    }
}

#[tokio::test]
async fn the_lifecycle_on_kubernetes() {
    let env = TestEnv::new("lifecycle").await.unwrap();
    let settings = oqto_operator::kubernetes::Settings {
        namespace: Some(env.namespace.clone()),
        defaults: OperatorDefaults {
            runner_image: Some("localhost/oqto-runner:dev".into()),
            ..OperatorDefaults::new(oqto_e2e::runner_key())
        },
        runner_port: 1,
        activity_every: Duration::from_secs(1),
        prune_every: Duration::from_secs(2),
        identity: "lifecycle-table".into(),
    };
    let context = Arc::new(oqto_operator::kubernetes::Context::new(
        env.client.clone(),
        settings,
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(oqto_operator::kubernetes::run(context, async {
        let _ = stopped.await;
    }));
    let store = KubeStore::new(env.client.clone(), "oqto-test", None);
    let namespace = env.namespace.clone();
    let runners = KubeRunners { env };
    let failures = behaviours(&store, &runners, &namespace).await;
    let _ = stop.send(());
    let _ = operator.await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

struct PodmanRunners {
    store: Arc<LocalStore>,
    namespace: String,
}

impl Runners for PodmanRunners {
    async fn runner_exists(&self, session: &str) -> bool {
        podman(&[
            "container",
            "exists",
            &render::container_name(&self.namespace, session),
        ])
        .0
    }

    /// A real runner becomes ready by itself.
    async fn make_ready(&self, _session: &str) {}

    async fn storage_exists(&self, workspace: &str) -> bool {
        workspace_volumes(&self.namespace, workspace).len() == 2
    }

    async fn event_reasons(&self, session: &str) -> Vec<String> {
        self.store
            .events::<Session>(&self.namespace, session)
            .into_iter()
            .map(|e| e.reason)
            .collect()
    }

    async fn delete_workspace(&self, workspace: &str) {
        self.store
            .delete::<Workspace>(&self.namespace, workspace)
            .unwrap();
    }
}

#[tokio::test]
async fn the_lifecycle_on_podman() {
    let mut operator = PodmanOperator::start(Duration::from_millis(500)).await;
    let namespace = format!("table{}", std::process::id());
    let runners = PodmanRunners {
        store: operator.store.clone(),
        namespace: namespace.clone(),
    };
    let failures = behaviours(operator.store.as_ref(), &runners, &namespace).await;
    operator.stop().await;
    for volume in workspace_volumes(&namespace, "keep") {
        podman(&["volume", "rm", "-f", &volume]);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
