//! Single-node mode against real Podman: the operator's Podman runtime turns Workspaces and
//! Sessions from the local store into volumes and a running runner container (the image built
//! by runner-image/build.sh, $OQTO_RUNNER_IMAGE), through Podman's API socket. Podman missing
//! is a failure, not a skip.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{PodmanOperator, object};
use futures::FutureExt as _;
use oqto_api::{Session, SessionPhase, Workspace};
use oqto_e2e::podman::{podman, podman_service};
use oqto_operator::podman::render;
use oqto_store::LocalStore;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    oqto_e2e::eventually(what, WAIT, check).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_runs_as_a_container_and_its_files_survive_suspend_and_resume() {
    let mut operator = PodmanOperator::start(Duration::from_millis(500)).await;
    let store = operator.store.clone();
    let namespace = format!("t{}", std::process::id());
    // Another store's volume on this host (a developer's stack beside the test), marked for
    // deletion and named by no Workspace here: this operator must leave it alone.
    let foreign = format!("oqto-{namespace}-foreign-files");
    let (created, _) = podman(&[
        "volume",
        "create",
        "--label",
        "app.kubernetes.io/managed-by=oqto-operator",
        "--label",
        "oqto.dev/reclaim-policy=Delete",
        "--label",
        "oqto.dev/store=another-store",
        &foreign,
    ]);
    assert!(created, "podman volume create {foreign}");

    let secret = store.secret_path(&namespace, "llm-keys");
    std::fs::create_dir_all(secret.parent().unwrap()).unwrap();
    std::fs::write(&secret, "OQTO_LLM_API_KEY=sekrit\n").unwrap();
    store
        .apply::<Workspace>(object(
            "Workspace",
            &namespace,
            "dev",
            json!({"owner":"alice","storage":{"reclaimPolicy":"Delete"},
                "llm":{"provider":"scripted","model":"scripted","credentialsSecretRef":{"name":"llm-keys"}}}),
        ))
        .unwrap();
    store
        .apply::<Workspace>(object(
            "Workspace",
            &namespace,
            "keep",
            json!({"owner":"alice"}),
        ))
        .unwrap();
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "s1",
            json!({"workspaceRef":{"name":"dev"}}),
        ))
        .unwrap();
    let container = render::container_name(&namespace, "s1");
    // A second runner in a workspace with a short idleTimeout suspends itself: nobody connects.
    store
        .apply::<Workspace>(object(
            "Workspace",
            &namespace,
            "idle",
            json!({"owner":"bob","storage":{"reclaimPolicy":"Delete"},"lifecycle":{"idleTimeout":"3s"}}),
        ))
        .unwrap();
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "sleepy",
            json!({"workspaceRef":{"name":"idle"}}),
        ))
        .unwrap();

    let phase = |store: Arc<LocalStore>, ns: String| async move {
        store
            .get::<Session>(&ns, "s1")
            .unwrap()
            .and_then(|s| s.status)
            .and_then(|s| s.phase)
    };
    eventually("Running", || {
        phase(store.clone(), namespace.clone())
            .then(|p| async move { p.filter(|p| *p == SessionPhase::Running) })
    })
    .await;
    let status = store
        .get::<Session>(&namespace, "s1")
        .unwrap()
        .unwrap()
        .status
        .unwrap();
    let endpoint = status.endpoint.clone().expect("an endpoint");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let health = reqwest::get(format!("{endpoint}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(status.pod_name.as_deref(), Some(container.as_str()));
    let (user_ok, user) = podman(&["exec", &container, "id", "-u"]);
    assert!(user_ok);
    assert_eq!(user, "1000", "the runner is not root");

    let (_, key) = podman(&["exec", &container, "printenv", "OQTO_LLM_API_KEY"]);
    assert_eq!(
        key, "sekrit",
        "the Secret's keys are the runner's environment"
    );
    let status_text = serde_json::to_string(&status).unwrap();
    assert!(!status_text.contains("sekrit"), "no secret in status");

    let (written, _) = podman(&[
        "exec",
        &container,
        "sh",
        "-c",
        "echo kept > /workspace/proof.txt",
    ]);
    assert!(written);

    // Suspend: the container goes, the volumes stay.
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "s1",
            json!({"workspaceRef":{"name":"dev"},"suspended":true}),
        ))
        .unwrap();
    eventually("Suspended", || {
        phase(store.clone(), namespace.clone())
            .then(|p| async move { p.filter(|p| *p == SessionPhase::Suspended) })
    })
    .await;
    eventually("the container removed", || async {
        (!podman(&["container", "exists", &container]).0).then_some(())
    })
    .await;

    // Resume: a new container, same files.
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "s1",
            json!({"workspaceRef":{"name":"dev"}}),
        ))
        .unwrap();
    eventually("Running again", || {
        phase(store.clone(), namespace.clone())
            .then(|p| async move { p.filter(|p| *p == SessionPhase::Running) })
    })
    .await;
    let (read, content) = podman(&["exec", &container, "cat", "/workspace/proof.txt"]);
    assert!(read);
    assert_eq!(content, "kept");

    let sleepy = store.clone();
    let ns = namespace.clone();
    eventually("the idle runner suspended itself", || {
        let sleepy = sleepy.clone();
        let ns = ns.clone();
        async move {
            let session = sleepy.get::<Session>(&ns, "sleepy").unwrap()?;
            let suspended = session.spec.suspended
                && session.status.and_then(|s| s.phase) == Some(SessionPhase::Suspended);
            suspended.then_some(())
        }
    })
    .await;
    assert!(
        !podman(&[
            "container",
            "exists",
            &render::container_name(&namespace, "sleepy")
        ])
        .0
    );
    store.delete::<Session>(&namespace, "sleepy").unwrap();
    store.delete::<Workspace>(&namespace, "idle").unwrap();

    // Delete: the container goes; the Delete workspace's volumes go, the Retain one's stay.
    store.delete::<Session>(&namespace, "s1").unwrap();
    eventually("the container removed", || async {
        (!podman(&["container", "exists", &container]).0).then_some(())
    })
    .await;
    store.delete::<Workspace>(&namespace, "dev").unwrap();
    store.delete::<Workspace>(&namespace, "keep").unwrap();
    let [files, home] = render::volume_names(&namespace, "dev");
    eventually("the Delete volumes removed", || async {
        (!podman(&["volume", "exists", &files]).0 && !podman(&["volume", "exists", &home]).0)
            .then_some(())
    })
    .await;
    let [kept_files, kept_home] = render::volume_names(&namespace, "keep");
    assert!(
        podman(&["volume", "exists", &kept_files]).0,
        "Retain keeps the volumes"
    );
    assert!(
        podman(&["volume", "exists", &foreign]).0,
        "another store's volume is not pruned"
    );
    podman(&["volume", "rm", "-f", &foreign]);
    operator.stop().await;
    podman(&["volume", "rm", "-f", &kept_files, &kept_home]);
}

/// The Podman API goes away under a running operator: `/readyz` and the waiting Session say
/// so; when a service answers on the socket again, the Session starts without an operator
/// restart.
#[tokio::test]
async fn a_lost_podman_api_is_reported_and_the_operator_recovers_when_it_returns() {
    let mut operator = PodmanOperator::start(Duration::from_millis(300)).await;
    let (store, health) = (operator.store.clone(), operator.health.clone());
    let namespace = format!("lost{}", std::process::id());
    store
        .apply::<Workspace>(object("Workspace", &namespace, "w", json!({"owner":"eve"})))
        .unwrap();
    eventually("the workspace's volumes", || async {
        let [files, _] = render::volume_names(&namespace, "w");
        podman(&["volume", "exists", &files]).0.then_some(())
    })
    .await;

    drop(operator.service.take());
    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "waits",
            json!({"workspaceRef":{"name":"w"}}),
        ))
        .unwrap();
    let message = eventually("the session says the runtime is unreachable", || async {
        let status = store.get::<Session>(&namespace, "waits").unwrap()?.status?;
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
        (ready.reason == "RuntimeUnreachable").then(|| ready.message.clone())
    })
    .await;
    assert!(message.contains("Podman API"), "{message}");
    assert!(
        health.unreachable().is_some(),
        "/readyz reports the runtime unreachable"
    );

    // A new service on the same socket path (a new socket file).
    let _service = podman_service(&operator.socket).await.unwrap();
    eventually("the session runs once Podman answers again", || async {
        let phase = store
            .get::<Session>(&namespace, "waits")
            .unwrap()?
            .status?
            .phase?;
        (phase == SessionPhase::Running).then_some(())
    })
    .await;
    assert_eq!(health.unreachable(), None);
    operator.stop().await;
    podman(&[
        "volume",
        "rm",
        "-f",
        &render::volume_names(&namespace, "w")[0],
    ]);
    podman(&[
        "volume",
        "rm",
        "-f",
        &render::volume_names(&namespace, "w")[1],
    ]);
}
