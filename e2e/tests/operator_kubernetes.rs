//! The operator's Kubernetes runtime against the real control plane (etcd, kube-apiserver,
//! kube-controller-manager). Each test runs an operator in-process, scoped to the test's
//! namespace. There is no kubelet: where a runner must be running, the test plays the kubelet and
//! patches the Pod's status (it says so at each place).
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::events::v1::Event as EventsV1;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use oqto_api::{Session, SessionPhase, Workspace};
use oqto_e2e::TestEnv;
use oqto_operator::core::OperatorDefaults;
use oqto_operator::kubernetes::lease::LeaseLock;
use oqto_operator::kubernetes::{Context, Settings, run, run_as_leader};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(60);

struct Operator {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    context: Option<Arc<Context>>,
}

impl Operator {
    /// Stops it abruptly, mid-reconcile if it is in one: a crash, not a shutdown.
    fn kill(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn settings(env: &TestEnv, runner_port: u16, identity: &str) -> Settings {
    Settings {
        namespace: Some(env.namespace.clone()),
        defaults: OperatorDefaults {
            runner_image: Some("localhost/oqto-runner:dev".into()),
            ..OperatorDefaults::new(oqto_e2e::runner_key())
        },
        runner_port,
        activity_every: Duration::from_millis(500),
        prune_every: Duration::from_secs(1),
        identity: identity.into(),
    }
}

fn start_operator(env: &TestEnv, runner_port: u16) -> Operator {
    let context = Arc::new(Context::new(
        env.client.clone(),
        settings(env, runner_port, "test-operator"),
    ));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(context.clone(), async {
        let _ = stopped.await;
    }));
    Operator {
        stop: Some(stop),
        task: Some(task),
        context: Some(context),
    }
}

async fn create_workspace(env: &TestEnv, name: &str, spec: Value) -> Workspace {
    let ws: Workspace =
        serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
        "metadata":{"name":name},"spec":spec}))
        .unwrap();
    env.api::<Workspace>()
        .create(&PostParams::default(), &ws)
        .await
        .unwrap()
}

async fn create_session(env: &TestEnv, name: &str, workspace: &str) -> Session {
    let s: Session =
        serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
        "metadata":{"name":name},"spec":{"workspaceRef":{"name":workspace}}}))
        .unwrap();
    env.api::<Session>()
        .create(&PostParams::default(), &s)
        .await
        .unwrap()
}

/// Polls `check` until it returns Some, or fails the test after WAIT with `what`.
async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(WAIT, what, check).await
}

async fn eventually_within<T, F, Fut>(wait: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    oqto_e2e::eventually(what, wait, check).await.unwrap()
}

async fn session_phase(env: &TestEnv, name: &str) -> Option<SessionPhase> {
    env.api::<Session>().get(name).await.ok()?.status?.phase
}

async fn condition(env: &TestEnv, name: &str, type_: &str) -> Option<(String, String, String)> {
    let status = env.api::<Session>().get(name).await.ok()?.status?;
    let c = status.conditions.into_iter().find(|c| c.type_ == type_)?;
    Some((c.status, c.reason, c.message))
}

/// Plays the kubelet: the runner container started and passed its readiness probe.
async fn kubelet_reports_ready(env: &TestEnv, pod: &str) {
    try_kubelet_reports_ready(env, pod).await.unwrap();
}

/// The same, for a pod that may be deleted meanwhile.
async fn try_kubelet_reports_ready(env: &TestEnv, pod: &str) -> Result<Pod, kube::Error> {
    env.api::<Pod>()
        .patch_status(pod, &PatchParams::default(), &Patch::Merge(json!({"status":{"phase":"Running",
            "podIP":"127.0.0.1","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True"}]}})))
        .await
}

/// A stand-in pi-bridge for the operator's readiness question: `/readyz` answers 503, a redirect
/// to a path that answers 200, or 200, as `answer` says (0, 1, 2), and counts the questions.
struct Bridge {
    port: u16,
    answer: Arc<std::sync::atomic::AtomicU8>,
    asked: Arc<std::sync::atomic::AtomicUsize>,
}

const NOT_READY: u8 = 0;
const REDIRECTS: u8 = 1;
const READY: u8 = 2;

impl Bridge {
    fn asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn answer(&self, answer: u8) {
        self.answer
            .store(answer, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn stand_in_bridge() -> Bridge {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    let answer = Arc::new(AtomicU8::new(NOT_READY));
    let asked = Arc::new(AtomicUsize::new(0));
    let (a, q) = (answer.clone(), asked.clone());
    let app = axum::Router::new()
        .route(
            oqto_proto::runner::READY_PATH,
            axum::routing::get(move || {
                let (a, q) = (a.clone(), q.clone());
                async move {
                    q.fetch_add(1, Ordering::SeqCst);
                    match a.load(Ordering::SeqCst) {
                        READY => StatusCode::OK.into_response(),
                        REDIRECTS => {
                            (StatusCode::FOUND, [(header::LOCATION, "/elsewhere")]).into_response()
                        }
                        _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    }
                }
            }),
        )
        .route(
            "/elsewhere",
            axum::routing::get(|| async { StatusCode::OK }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Bridge {
        port,
        answer,
        asked,
    }
}

/// The kubelet has started the runner's container (the Pod has its IP) but has not probed it
/// yet: its probes tick once a second. The operator asks pi-bridge itself, again and again
/// while it does not answer, follows no redirect (a hostile runner could point it anywhere),
/// and the Session is Running as soon as it answers 200, before the kubelet would say Ready
/// (which this test never reports). Running, one failed answer does not stop it; three in a
/// row do.
#[tokio::test]
async fn a_runner_is_running_as_soon_as_it_answers_the_operator_before_the_kubelet_says_ready() {
    let env = TestEnv::new("op-asks").await.unwrap();
    let bridge = stand_in_bridge().await;
    let _operator = start_operator(&env, bridge.port);
    create_workspace(&env, "alice-dev", json!({"owner":"alice"})).await;
    create_session(&env, "quick", "alice-dev").await;
    eventually("the runner pod", || async {
        env.api::<Pod>().get_opt("oqto-sess-quick").await.unwrap()
    })
    .await;
    // Plays the kubelet: the container runs, not Ready (no probe has run).
    env.api::<Pod>()
        .patch_status("oqto-sess-quick", &PatchParams::default(), &Patch::Merge(json!({"status":{
            "phase":"Running","podIP":"127.0.0.1",
            "conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"False"}],
            "containerStatuses":[{"name":"runner","image":"localhost/oqto-runner:dev","imageID":"",
                "ready":false,"started":false,"restartCount":0,
                "state":{"running":{"startedAt":"2026-12-04T20:10:07Z"}}}]}})))
        .await
        .unwrap();
    let asked_again = |after: usize| {
        let bridge = &bridge;
        async move {
            eventually_within(
                Duration::from_secs(10),
                "the operator asking again",
                || async { (bridge.asked() >= after).then_some(()) },
            )
            .await;
        }
    };
    // Not answering yet: asked again without any change to the Pod, and still Starting.
    asked_again(3).await;
    assert_eq!(
        session_phase(&env, "quick").await,
        Some(SessionPhase::Starting),
        "a runner that answers 503 is not ready"
    );
    bridge.answer(REDIRECTS);
    let asked = bridge.asked();
    asked_again(asked + 3).await;
    assert_eq!(
        session_phase(&env, "quick").await,
        Some(SessionPhase::Starting),
        "a redirect is not followed"
    );
    bridge.answer(READY);
    eventually_within(Duration::from_secs(10), "phase Running", || async {
        session_phase(&env, "quick")
            .await
            .filter(|p| *p == SessionPhase::Running)
    })
    .await;
    let status = env
        .api::<Session>()
        .get("quick")
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(
        status.endpoint,
        Some(format!("http://127.0.0.1:{}", bridge.port))
    );

    // Running: asked again with each look at its activity (every 500 ms here).
    bridge.answer(NOT_READY);
    let asked = bridge.asked();
    asked_again(asked + 1).await;
    assert_eq!(
        session_phase(&env, "quick").await,
        Some(SessionPhase::Running),
        "one failed answer does not stop a Running Session"
    );
    eventually_within(
        Duration::from_secs(20),
        "phase Starting after three",
        || async {
            session_phase(&env, "quick")
                .await
                .filter(|p| *p == SessionPhase::Starting)
        },
    )
    .await;
    assert!(bridge.asked() >= asked + 3, "three asks in a row failed");
}

#[tokio::test]
async fn a_session_gets_a_secured_runner_and_survives_suspend_and_resume() {
    let env = TestEnv::new("op-lifecycle").await.unwrap();
    let operator = start_operator(&env, 1);
    let workspace = create_workspace(
        &env,
        "alice-dev",
        json!({"owner":"alice","storage":{"size":"1Gi"}}),
    )
    .await;
    let claim_name =
        oqto_api::names::claim("alice-dev", workspace.metadata.uid.as_deref().unwrap());
    create_session(&env, "fix-bug", "alice-dev").await;

    let pod = eventually("the runner pod", || async {
        env.api::<Pod>().get_opt("oqto-sess-fix-bug").await.unwrap()
    })
    .await;
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.automount_service_account_token, Some(false));
    let sc = spec.containers[0].security_context.as_ref().unwrap();
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(
        pod.metadata.owner_references.as_ref().unwrap()[0].kind,
        "Session"
    );
    // The Workspace's controller works independently of the Session's: wait for its claim.
    let claim = eventually("the workspace claim", || async {
        env.api::<PersistentVolumeClaim>()
            .get_opt(&claim_name)
            .await
            .unwrap()
    })
    .await;
    assert!(
        claim.metadata.owner_references.is_none(),
        "Retain: the claim has no owner"
    );
    eventually("the network policy", || async {
        env.api::<NetworkPolicy>()
            .get_opt("oqto-ws-alice-dev")
            .await
            .unwrap()
    })
    .await;
    assert!(
        env.api::<Service>()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "a runner has no Service: the gateway reaches it on its Pod's IP"
    );
    assert_eq!(
        eventually("phase Starting", || async {
            session_phase(&env, "fix-bug")
                .await
                .filter(|p| *p == SessionPhase::Starting)
        })
        .await,
        SessionPhase::Starting
    );

    kubelet_reports_ready(&env, "oqto-sess-fix-bug").await;
    eventually("phase Running", || async {
        session_phase(&env, "fix-bug")
            .await
            .filter(|p| *p == SessionPhase::Running)
    })
    .await;
    let status = env
        .api::<Session>()
        .get("fix-bug")
        .await
        .unwrap()
        .status
        .unwrap();
    // The runner's Pod IP (reported by the test's kubelet) and the operator's runner port.
    assert_eq!(status.endpoint.as_deref(), Some("http://127.0.0.1:1"));
    assert_eq!(status.pod_name.as_deref(), Some("oqto-sess-fix-bug"));
    assert!(status.started_at.is_some());
    assert_eq!(status.observed_generation, Some(1));
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "RunnerReady")
    );

    // The operator's /metrics, scraped over HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let context = operator.context.clone().unwrap();
    let router = oqto_operator::http::router(context.health(), context.metrics());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let metrics = oqto_e2e::fetch_text(&metrics_url, None).await.unwrap();
    assert!(
        metrics.contains(r#"oqto_operator_sessions{phase="Running"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"oqto_operator_reconcile_duration_seconds_count{controller="session"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("oqto_operator_session_start_seconds_count 1"),
        "{metrics}"
    );

    // Suspend: the pod goes, the claim stays.
    env.api::<Session>()
        .patch(
            "fix-bug",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec":{"suspended":true}})),
        )
        .await
        .unwrap();
    eventually("phase Suspended", || async {
        session_phase(&env, "fix-bug")
            .await
            .filter(|p| *p == SessionPhase::Suspended)
    })
    .await;
    eventually("the pod deleted", || async {
        env.api::<Pod>()
            .get_opt("oqto-sess-fix-bug")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    env.api::<PersistentVolumeClaim>()
        .get(&claim_name)
        .await
        .unwrap();

    // Resume: a new pod.
    env.api::<Session>()
        .patch(
            "fix-bug",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec":{"suspended":false}})),
        )
        .await
        .unwrap();
    let again = eventually("a new runner pod", || async {
        env.api::<Pod>().get_opt("oqto-sess-fix-bug").await.unwrap()
    })
    .await;
    assert_ne!(again.metadata.uid, pod.metadata.uid);

    // Delete the Session: garbage collection (kube-controller-manager) removes pod and service.
    env.api::<Session>()
        .delete("fix-bug", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually("the pod garbage-collected", || async {
        env.api::<Pod>()
            .get_opt("oqto-sess-fix-bug")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;

    // Delete the Workspace: with Retain its claim stays.
    env.api::<Workspace>()
        .delete("alice-dev", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually("the workspace gone", || async {
        env.api::<Workspace>()
            .get_opt("alice-dev")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    eventually("the network policy garbage-collected", || async {
        env.api::<NetworkPolicy>()
            .get_opt("oqto-ws-alice-dev")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        env.api::<PersistentVolumeClaim>()
            .get_opt(&claim_name)
            .await
            .unwrap()
            .is_some(),
        "Retain keeps the claim"
    );

    // The attack: mallory creates a Workspace of the same name to get alice's retained files.
    // Its storage is its own (named from its uid); its runner mounts that, not alice's claim.
    let again = create_workspace(&env, "alice-dev", json!({"owner":"mallory"})).await;
    let new_claim = oqto_api::names::claim("alice-dev", again.metadata.uid.as_deref().unwrap());
    assert_ne!(new_claim, claim_name);
    create_session(&env, "loot", "alice-dev").await;
    let pod = eventually("mallory's runner pod", || async {
        env.api::<Pod>().get_opt("oqto-sess-loot").await.unwrap()
    })
    .await;
    let mounted: Vec<String> = pod
        .spec
        .unwrap()
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| v.persistent_volume_claim.map(|c| c.claim_name))
        .collect();
    assert_eq!(mounted, vec![new_claim.clone()], "only its own claim");
    eventually("its own claim", || async {
        env.api::<PersistentVolumeClaim>()
            .get_opt(&new_claim)
            .await
            .unwrap()
    })
    .await;
}

#[tokio::test]
async fn a_stuck_image_pull_fails_after_the_start_timeout_with_that_reason() {
    let env = TestEnv::new("op-imagepull").await.unwrap();
    let _operator = start_operator(&env, 1);
    create_workspace(
        &env,
        "ws",
        json!({"owner":"bob","runner":{"image":"registry.invalid/nope:1"},
        "lifecycle":{"startTimeout":"2s"}}),
    )
    .await;
    create_session(&env, "s", "ws").await;
    eventually("the runner pod", || async {
        env.api::<Pod>().get_opt("oqto-sess-s").await.unwrap()
    })
    .await;
    // Plays the kubelet: the image cannot be pulled.
    env.api::<Pod>()
        .patch_status("oqto-sess-s", &PatchParams::default(), &Patch::Merge(json!({"status":{"phase":"Pending",
            "conditions":[{"type":"PodScheduled","status":"True"}],
            "containerStatuses":[{"name":"runner","image":"registry.invalid/nope:1","imageID":"","ready":false,"restartCount":0,
                "state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"registry.invalid/nope:1\""}}}]}})))
        .await
        .unwrap();
    eventually("phase Failed", || async {
        session_phase(&env, "s")
            .await
            .filter(|p| *p == SessionPhase::Failed)
    })
    .await;
    let (status, reason, message) = condition(&env, "s", "Ready").await.unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ImagePullBackOff")
    );
    assert!(message.contains("within 2s"), "{message}");
}

#[tokio::test]
async fn a_session_waits_for_its_workspace_and_starts_when_it_appears() {
    let env = TestEnv::new("op-missing-ws").await.unwrap();
    let _operator = start_operator(&env, 1);
    create_session(&env, "early", "later").await;
    let (status, _reason, message) = eventually("WorkspaceNotFound", || async {
        condition(&env, "early", "Ready")
            .await
            .filter(|c| c.1 == "WorkspaceNotFound")
    })
    .await;
    assert_eq!(status, "False");
    assert!(message.contains("\"later\""), "{message}");
    create_workspace(&env, "later", json!({"owner":"carol"})).await;
    eventually("the runner pod", || async {
        env.api::<Pod>().get_opt("oqto-sess-early").await.unwrap()
    })
    .await;
}

#[tokio::test]
async fn an_idle_runner_is_suspended_but_not_while_a_client_is_connected() {
    use axum::{Json, Router, routing::get};
    let env = TestEnv::new("op-idle").await.unwrap();
    // The runner's activity endpoint (pi-bridge's /activity), served by the test: like
    // pi-bridge it answers only the runner's token, so the suspend below also proves that the
    // operator presents it.
    let clients = Arc::new(std::sync::atomic::AtomicU64::new(1));
    let served = clients.clone();
    let expected: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let wanted = expected.clone();
    let app = Router::new().route(
        "/activity",
        get(move |headers: axum::http::HeaderMap| {
            let clients = served.load(std::sync::atomic::Ordering::SeqCst);
            let presented = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let allowed = presented.is_some() && presented == *wanted.lock().unwrap();
            async move {
                if !allowed {
                    return Err(axum::http::StatusCode::UNAUTHORIZED);
                }
                Ok(Json(json!({"busy": false, "connected_clients": clients, "busy_conversations": 0, "last_activity_ms": 1_000})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let _operator = start_operator(&env, port);
    create_workspace(
        &env,
        "ws",
        json!({"owner":"dan","lifecycle":{"idleTimeout":"1s"}}),
    )
    .await;
    create_session(&env, "idle", "ws").await;
    let uid = kube::ResourceExt::uid(&env.api::<Session>().get("idle").await.unwrap()).unwrap();
    *expected.lock().unwrap() = Some(oqto_e2e::runner_key().token(&uid).bearer());
    eventually("the runner pod", || async {
        env.api::<Pod>().get_opt("oqto-sess-idle").await.unwrap()
    })
    .await;
    kubelet_reports_ready(&env, "oqto-sess-idle").await;
    eventually("phase Running", || async {
        session_phase(&env, "idle")
            .await
            .filter(|p| *p == SessionPhase::Running)
    })
    .await;
    // A client is connected: several activity checks pass without a suspend.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let session = env.api::<Session>().get("idle").await.unwrap();
    assert!(
        !session.spec.suspended,
        "not suspended while a client is connected"
    );
    assert!(session.status.unwrap().last_activity_at.is_some());
    // The client leaves: idle for longer than idleTimeout → suspended.
    clients.store(0, std::sync::atomic::Ordering::SeqCst);
    eventually("suspended for idleness", || async {
        env.api::<Session>()
            .get("idle")
            .await
            .ok()
            .filter(|s| s.spec.suspended)
            .map(|_| ())
    })
    .await;
    eventually("phase Suspended", || async {
        session_phase(&env, "idle")
            .await
            .filter(|p| *p == SessionPhase::Suspended)
    })
    .await;
}

/// One replica of the operator, with leader election on a Lease in the test namespace.
fn start_replica(env: &TestEnv, identity: &str) -> (Operator, Arc<Context>) {
    let context = Arc::new(Context::new(env.client.clone(), settings(env, 1, identity)));
    let lock = LeaseLock::new(env.api(), "oqto-operator", identity, Duration::from_secs(3));
    let context_for_task = context.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        run_as_leader(context_for_task, lock, async {
            let _ = stopped.await;
        })
        .await;
    });
    (
        Operator {
            stop: Some(stop),
            task: Some(task),
            context: None,
        },
        context,
    )
}

async fn lease_holder(env: &TestEnv) -> Option<String> {
    env.api::<Lease>()
        .get_opt("oqto-operator")
        .await
        .ok()??
        .spec?
        .holder_identity
}

/// The replicas that published Events in the test namespace.
/// The operator replicas that wrote Events here (the scheduler's, about Pods it cannot place
/// on the tainted test node, are not the operator's).
async fn event_reporters(env: &TestEnv) -> BTreeSet<String> {
    env.api::<EventsV1>()
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reporting_controller.as_deref() == Some(oqto_operator::kubernetes::MANAGER))
        .filter_map(|e| e.reporting_instance)
        .collect()
}

#[tokio::test]
async fn of_two_replicas_only_the_lease_holder_acts_and_a_standby_takes_over() {
    let env = TestEnv::new("op-leader").await.unwrap();
    let (a, a_ctx) = start_replica(&env, "replica-a");
    let first = eventually("a leader", || async { lease_holder(&env).await }).await;
    assert_eq!(first, "replica-a");
    let (_b, b_ctx) = start_replica(&env, "replica-b");
    create_workspace(&env, "ws", json!({"owner":"erin"})).await;
    create_session(&env, "s", "ws").await;
    eventually("phase Starting", || async {
        session_phase(&env, "s")
            .await
            .filter(|p| *p == SessionPhase::Starting)
    })
    .await;
    let set_suspended = |suspended: bool| {
        let env = &env;
        async move {
            env.api::<Session>()
                .patch(
                    "s",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec":{"suspended":suspended}})),
                )
                .await
                .unwrap();
        }
    };
    // Suspended: a phase change, so an Event (a new Session's Starting is none).
    set_suspended(true).await;
    eventually("phase Suspended", || async {
        session_phase(&env, "s")
            .await
            .filter(|p| *p == SessionPhase::Suspended)
    })
    .await;
    // The Event follows the status write (a note, written after it): it may lag the phase.
    eventually("an Event reported by replica-a", || async {
        event_reporters(&env)
            .await
            .contains("replica-a")
            .then_some(())
    })
    .await;
    assert!(a_ctx.is_leading() && !b_ctx.is_leading());
    assert_eq!(
        event_reporters(&env).await,
        BTreeSet::from(["replica-a".to_owned()]),
        "only the holder wrote"
    );

    // The leader stops (and releases the lease): the standby takes over and acts.
    drop(a);
    eventually("replica-b leads", || async {
        lease_holder(&env).await.filter(|h| h == "replica-b")
    })
    .await;
    eventually("b leading", || async { b_ctx.is_leading().then_some(()) }).await;
    set_suspended(false).await;
    eventually("phase Starting again", || async {
        session_phase(&env, "s")
            .await
            .filter(|p| *p == SessionPhase::Starting)
    })
    .await;
    eventually("an Event reported by replica-b", || async {
        event_reporters(&env)
            .await
            .contains("replica-b")
            .then_some(())
    })
    .await;
    assert!(!a_ctx.is_leading());
}

#[tokio::test]
async fn the_lease_is_exclusive_between_concurrent_candidates() {
    let env = TestEnv::new("op-lease").await.unwrap();
    let locks: Vec<LeaseLock> = (0..5)
        .map(|i| {
            LeaseLock::new(
                env.api(),
                "contested",
                &format!("candidate-{i}"),
                Duration::from_secs(30),
            )
        })
        .collect();
    let results = futures::future::join_all(locks.iter().map(|l| l.try_acquire())).await;
    let winners = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(winners, 1, "{results:?}");
    // Renewing works for the holder only.
    let holder = locks
        .iter()
        .zip(&results)
        .find(|(_, r)| matches!(r, Ok(true)))
        .unwrap()
        .0;
    assert!(holder.try_acquire().await.unwrap());
    let other = locks
        .iter()
        .find(|l| l.identity() != holder.identity())
        .unwrap();
    assert!(!other.try_acquire().await.unwrap());
}

/// Sessions created and deleted concurrently across Workspaces while the operator is killed
/// (its tasks dropped mid-flight, as SIGKILL would) and started again at random moments.
/// Afterwards: exactly one runner Pod per live Session, owned by it, none for
/// deleted Sessions; every live Session Running at its current `observedGeneration`; the
/// deleted Workspaces gone (their finalizer cleared) with their claims as `reclaimPolicy` says.
/// Counts: `OQTO_CHAOS_SESSIONS` (default 24) across `OQTO_CHAOS_WORKSPACES` (default 4).
/// The kubelet's part (reporting runner Pods ready) is played by the test.
#[tokio::test(flavor = "multi_thread")]
async fn killed_at_random_points_the_operator_converges_without_duplicates_or_orphans() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "oqto_operator=warn,kube_runtime=warn",
        ))
        .with_test_writer()
        .try_init();
    let (total, workspaces) = oqto_e2e::chaos_counts(24, 4);
    let env = TestEnv::new("op-crash").await.unwrap();
    let mut rng = oqto_e2e::Rng::from_clock();
    let seed = rng.0;
    println!("chaos: {total} sessions, {workspaces} workspaces, seed {seed}");
    let policy = oqto_e2e::chaos_reclaim_policy;
    let mut claim_names = Vec::new();
    for w in 0..workspaces {
        let made = create_workspace(
            &env,
            &format!("w{w}"),
            json!({"owner":"fay","storage":{"accessModes":["ReadWriteMany"],"reclaimPolicy":policy(w)}}),
        )
        .await;
        claim_names.push(oqto_api::names::claim(
            &format!("w{w}"),
            made.metadata.uid.as_deref().unwrap(),
        ));
    }
    let mut operator = start_operator(&env, 1);
    let started = std::time::Instant::now();

    let sessions = env.api::<Session>();
    let creating = tokio::spawn(async move {
        for i in 0..total {
            let s: Session =
                serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
                "metadata":{"name":format!("s{i}")},"spec":{"workspaceRef":{"name":format!("w{}", i % workspaces)}}}))
                .unwrap();
            sessions.create(&PostParams::default(), &s).await.unwrap();
        }
    });
    let mut kills = 0;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(50 + rng.below(400))).await;
        operator.kill();
        kills += 1;
        tokio::time::sleep(Duration::from_millis(rng.below(200))).await;
        operator = start_operator(&env, 1);
    }
    creating.await.unwrap();
    // Every other Session goes, and the last two Workspaces (one of each policy) with theirs.
    for i in (0..total).step_by(2) {
        env.api::<Session>()
            .delete(&format!("s{i}"), &DeleteParams::background())
            .await
            .unwrap();
        if rng.below(5) == 0 {
            operator.kill();
            kills += 1;
            operator = start_operator(&env, 1);
        }
    }
    let gone_workspaces = [workspaces - 2, workspaces - 1];
    for w in gone_workspaces {
        env.api::<Workspace>()
            .delete(&format!("w{w}"), &DeleteParams::background())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(rng.below(300))).await;
    operator.kill();
    kills += 1;
    let _operator = start_operator(&env, 1);

    let live_sessions: BTreeSet<String> = (0..total)
        .filter(|i| i % 2 == 1 && !gone_workspaces.contains(&(i % workspaces)))
        .map(|i| format!("s{i}"))
        .collect();
    let live: BTreeSet<String> = live_sessions
        .iter()
        .map(|s| format!("oqto-sess-{s}"))
        .collect();
    let diagnose = {
        let api = env.api::<Session>();
        let pods = env.api::<Pod>();
        async move {
            for s in api.list(&Default::default()).await.unwrap().items {
                let status = s.status.unwrap_or_default();
                let conditions: Vec<_> = status
                    .conditions
                    .iter()
                    .map(|c| (&c.type_, &c.status, &c.reason))
                    .collect();
                println!(
                    "session {:?}: phase {:?} {conditions:?}",
                    s.metadata.name, status.phase
                );
            }
            for p in pods.list(&Default::default()).await.unwrap().items {
                println!(
                    "pod {:?} deleting={}",
                    p.metadata.name,
                    p.metadata.deletion_timestamp.is_some()
                );
            }
        }
    };
    let converged = tokio::time::timeout(
        Duration::from_secs(300),
        eventually_within(
            Duration::from_secs(3600),
            "convergence: one ready runner per live session, none for deleted ones",
            || async {
                let pods = env
                    .api::<Pod>()
                    .list(&Default::default())
                    .await
                    .unwrap()
                    .items;
                let present: Vec<&Pod> = pods
                    .iter()
                    .filter(|p| p.metadata.deletion_timestamp.is_none())
                    .collect();
                // Plays the kubelet for every runner that is not ready yet.
                for pod in &present {
                    let ready = pod
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| {
                            c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                        });
                    if !ready {
                        // The pod may be garbage-collected meanwhile.
                        let _ =
                            try_kubelet_reports_ready(&env, pod.metadata.name.as_deref().unwrap())
                                .await;
                    }
                }
                // One runner per live Session, by name and by its session label: no
                // duplicates, no orphans.
                let names: BTreeSet<String> = present
                    .iter()
                    .filter_map(|p| p.metadata.name.clone())
                    .collect();
                let per_session: BTreeMap<String, usize> =
                    present.iter().fold(BTreeMap::new(), |mut counts, p| {
                        let session = p
                            .metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get("oqto.dev/session").cloned())
                            .unwrap_or_default();
                        *counts.entry(session).or_default() += 1;
                        counts
                    });
                if names != live
                    || present.len() != live.len()
                    || per_session.values().any(|n| *n != 1)
                {
                    return None;
                }
                let sessions = env
                    .api::<Session>()
                    .list(&Default::default())
                    .await
                    .unwrap()
                    .items;
                let all_running = sessions.len() == live_sessions.len()
                    && sessions.iter().all(|s| {
                        let uid = s.metadata.uid.clone();
                        let pod = present.iter().find(|p| {
                            p.metadata.name.as_deref()
                                == Some(&format!(
                                    "oqto-sess-{}",
                                    s.metadata.name.as_deref().unwrap_or_default()
                                ))
                        });
                        let status = s.status.as_ref();
                        status.and_then(|st| st.phase) == Some(SessionPhase::Running)
                            && status.and_then(|st| st.observed_generation) == s.metadata.generation
                            && pod.is_some_and(|p| {
                                p.metadata
                                    .owner_references
                                    .as_ref()
                                    .is_some_and(|o| o.iter().any(|o| Some(&o.uid) == uid.as_ref()))
                            })
                    });
                all_running.then_some(())
            },
        ),
    )
    .await;
    println!(
        "chaos: {kills} kills, converged: {} after {:.1} s",
        converged.is_ok(),
        started.elapsed().as_secs_f64()
    );
    if converged.is_err() {
        diagnose.await;
        panic!("no convergence within 300 s (seed {seed})");
    }
    eventually("workspaces and claims converge too", || async {
        let workspaces_left: BTreeSet<String> = env
            .api::<Workspace>()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|w| w.metadata.name)
            .collect();
        if gone_workspaces
            .iter()
            .any(|w| workspaces_left.contains(&format!("w{w}")))
        {
            return None;
        }
        let claims: BTreeSet<String> = env
            .api::<PersistentVolumeClaim>()
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|c| c.metadata.deletion_timestamp.is_none())
            .filter_map(|c| c.metadata.name)
            .collect();
        // Retain keeps a deleted Workspace's claim; Delete removes it.
        let expected: BTreeSet<String> = (0..workspaces)
            .filter(|w| !gone_workspaces.contains(w) || policy(*w) == "Retain")
            .map(|w| claim_names[w].clone())
            .collect();
        (claims == expected).then_some(())
    })
    .await;
}

/// The Kubernetes API goes away under a leading operator (a proxy between them is cut) and
/// comes back: meanwhile /readyz names the lost API; afterwards the operator, never
/// restarted, clears it and reconciles what changed while it was away. The kubelet's part
/// (reporting runner Pods ready) is played by the test.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_kubernetes_api_is_reported_and_the_operator_recovers_when_it_returns() {
    let env = TestEnv::new("op-lost-api").await.unwrap();
    let apiserver = env.control_plane.apiserver().await.unwrap();
    let mut proxy = oqto_e2e::proxy::CuttableProxy::start(apiserver)
        .await
        .unwrap();
    let client = env.control_plane.client_at(proxy.addr).await.unwrap();
    let context = Arc::new(Context::new(client.clone(), settings(&env, 1, "cut-off")));
    let lock = LeaseLock::new(
        kube::Api::namespaced(client, &env.namespace),
        "oqto-operator",
        "cut-off",
        Duration::from_secs(15),
    );
    let (_stop, stopped) = oneshot::channel::<()>();
    let operator = tokio::spawn(run_as_leader(context.clone(), lock, async {
        let _ = stopped.await;
    }));
    create_workspace(&env, "ws", json!({"owner":"gus"})).await;
    create_session(&env, "before", "ws").await;
    eventually("the first runner pod", || async {
        try_kubelet_reports_ready(&env, "oqto-sess-before")
            .await
            .ok()
    })
    .await;
    eventually("before Running", || async {
        session_phase(&env, "before")
            .await
            .filter(|p| *p == SessionPhase::Running)
    })
    .await;
    let health = context.health();
    assert_eq!(health.unreachable(), None);

    proxy.cut();
    let why = eventually("/readyz reports the lost API", || async {
        health.unreachable()
    })
    .await;
    assert!(why.contains("Kubernetes API"), "{why}");
    let readyz = oqto_operator::http::router(health.clone(), context.metrics());
    let answer = tower::ServiceExt::oneshot(
        readyz,
        axum::http::Request::get("/readyz")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 503);
    // Written while the operator cannot see it.
    create_session(&env, "during", "ws").await;

    proxy.restore().await.unwrap();
    eventually("/readyz is ready again", || async {
        health.unreachable().is_none().then_some(())
    })
    .await;
    eventually("a runner pod for the Session written meanwhile", || async {
        try_kubelet_reports_ready(&env, "oqto-sess-during")
            .await
            .ok()
    })
    .await;
    eventually("during Running", || async {
        session_phase(&env, "during")
            .await
            .filter(|p| *p == SessionPhase::Running)
    })
    .await;
    assert!(
        !operator.is_finished(),
        "the operator kept leading, no restart"
    );
}

/// A runner under a real kubelet (issue 16): the Pod exactly as the operator builds it (the
/// `restricted` security context, read-only root, the token from its Secret, the Workspace's
/// claim bound to one of the node script's volumes, of its class `oqto-node`) is placed by
/// kube-scheduler (the Workspace tolerates the test node's taint, as an admin's node pool
/// would be) and runs under containerd and runc. The operator asks pi-bridge on the Pod's IP
/// once its container runs, the kubelet's own probes agree (Ready), and pi-bridge answers that
/// Pi and hstry are up: both wrote their home on the claim as uid 1000.
#[tokio::test]
async fn a_runner_runs_under_a_real_kubelet() {
    let env = TestEnv::new("real-node").await.unwrap();
    let _operator = start_operator(&env, oqto_proto::runner::PORT);
    create_workspace(
        &env,
        "real",
        json!({"owner":"alice","storage":{"size":"1Gi","accessModes":["ReadWriteOnce"],
            "storageClassName":"oqto-node"},
            "runner":{"tolerations":[oqto_e2e::node_toleration()]}}),
    )
    .await;
    create_session(&env, "on-node", "real").await;
    let running = eventually_within(Duration::from_secs(240), "phase Running", || async {
        session_phase(&env, "on-node")
            .await
            .filter(|p| *p == SessionPhase::Running)
    })
    .await;
    assert_eq!(running, SessionPhase::Running);
    // The operator asked pi-bridge itself; the kubelet's own probes agree a moment later.
    let pod = eventually_within(
        Duration::from_secs(30),
        "the kubelet's own readiness",
        || async {
            let pod = env.api::<Pod>().get("oqto-sess-on-node").await.ok()?;
            let ready = pod
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            ready.then_some(pod)
        },
    )
    .await;
    let status = pod.status.unwrap();
    assert_eq!(
        pod.spec.and_then(|s| s.node_name).as_deref(),
        Some(oqto_e2e::NODE_NAME),
        "placed by the scheduler"
    );
    let ip = status.pod_ip.unwrap();
    assert!(
        ip.starts_with("10.244.0."),
        "a Pod IP of the node's bridge: {ip}"
    );
    let endpoint = env
        .api::<Session>()
        .get("on-node")
        .await
        .unwrap()
        .status
        .unwrap()
        .endpoint
        .unwrap();
    assert_eq!(
        endpoint,
        format!("http://{ip}:{}", oqto_proto::runner::PORT)
    );
    let readyz: Value = reqwest::get(format!("{endpoint}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&readyz["hstry"], &readyz["pi"], &readyz["ready"]),
        (&json!(true), &json!(true), &json!(true)),
        "Pi and hstry run and wrote their home: {readyz}"
    );
    assert!(
        readyz["piLoading"].is_boolean(),
        "the bridge says whether its Pi still loads: {readyz}"
    );
}

/// The browser sidecar under the real kubelet: the runner Pod gets a second container
/// `browser` that runs (as uid 1001, read-only root) beside pi-bridge, whose readiness alone
/// makes the Session Running, and CDP answers on the Pod's loopback from inside the runner.
/// Needs the browser image imported into the node (`hack/k8s/node.sh up … localhost/oqto-browser:dev`).
#[tokio::test]
async fn a_runner_with_a_browser_runs_its_sidecar_under_a_real_kubelet() {
    let env = TestEnv::new("real-browser").await.unwrap();
    let _operator = start_operator(&env, oqto_proto::runner::PORT);
    create_workspace(
        &env,
        "real",
        json!({"owner":"alice","storage":{"size":"1Gi","accessModes":["ReadWriteOnce"],
            "storageClassName":"oqto-node"},
            "runner":{"tolerations":[oqto_e2e::node_toleration()],
                "browser":{"enabled":true}}}),
    )
    .await;
    create_session(&env, "with-browser", "real").await;
    eventually_within(Duration::from_secs(240), "phase Running", || async {
        session_phase(&env, "with-browser")
            .await
            .filter(|p| *p == SessionPhase::Running)
    })
    .await;
    let browser = eventually_within(
        Duration::from_secs(60),
        "the browser container runs",
        || async {
            let pod = env.api::<Pod>().get("oqto-sess-with-browser").await.ok()?;
            let status = pod.status?.container_statuses?;
            let browser = status.into_iter().find(|c| c.name == "browser")?;
            browser.state.as_ref()?.running.as_ref()?;
            Some(browser)
        },
    )
    .await;
    assert_eq!(browser.image, "localhost/oqto-browser:dev");
    // The runner alone gets the CDP address.
    let pod = env
        .api::<Pod>()
        .get("oqto-sess-with-browser")
        .await
        .unwrap();
    let spec = pod.spec.unwrap();
    let runner = spec.containers.iter().find(|c| c.name == "runner").unwrap();
    let cdp = runner
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "OQTO_BROWSER_CDP");
    assert_eq!(
        cdp.and_then(|e| e.value.as_deref()),
        Some("http://127.0.0.1:9222")
    );
    // CDP answers on the Pod's loopback, which the runner shares. The apiserver cannot reach
    // this node's kubelet by name (no `kubectl exec`): the test enters the Pod's network
    // namespace, found by its IP, as the node's root.
    let ip = pod.status.unwrap().pod_ip.unwrap();
    let version = eventually_within(Duration::from_secs(30), "CDP answers", || async {
        cdp_in_pod_network(&ip)
    })
    .await;
    assert!(version.contains("webSocketDebuggerUrl"), "{version}");
}

/// `curl` of CDP's version inside the network namespace that holds `ip` (the node's CNI
/// namespaces are named ones, `ip netns`).
fn cdp_in_pod_network(ip: &str) -> Option<String> {
    let run = |args: &[&str]| {
        std::process::Command::new("ip")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let namespaces = run(&["netns", "list"])?;
    namespaces
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .find(|ns| {
            run(&["netns", "exec", ns, "ip", "-4", "-o", "addr"])
                .is_some_and(|a| a.contains(&format!(" {ip}/")))
        })
        .and_then(|ns| {
            run(&[
                "netns",
                "exec",
                ns,
                "curl",
                "-s",
                "--max-time",
                "2",
                "http://127.0.0.1:9222/json/version",
            ])
        })
        .filter(|text| text.contains("HeadlessChrome"))
}

/// A Schedule on Kubernetes, its run under the real kubelet (issue 19): the test sets the
/// operator's clock to the due time (nothing sleeps until a cron minute) and annotates the
/// Schedule so the controller looks again at once. The run's Session gets a runner Pod from
/// kube-scheduler and containerd; the operator sends the prompt to pi-bridge on the Pod's IP,
/// Pi asks the scripted LLM, and the run is recorded. `kubectl get schedules` shows it, and
/// the garbage collector deletes the run's Session with its Schedule.
#[tokio::test]
async fn a_schedule_runs_its_prompt_under_the_real_kubelet_and_kubectl_shows_it() {
    use k8s_openapi::api::core::v1::Secret;
    use k8s_openapi::jiff::{SignedDuration, Timestamp};
    use oqto_api::{RunOutcome, Schedule};

    const KEY: &str = "scheduled-on-the-node";
    let env = TestEnv::new("sched").await.unwrap();
    let operator = start_operator(&env, oqto_proto::runner::PORT);
    let clock = operator.context.clone().unwrap().reconciler.clock.clone();
    let script: oqto_scripted_llm::Script = serde_json::from_value(json!({"api_key": KEY,
        "rules": [{"when_user_contains": "weekly summary",
            "steps": [{"kind": "text", "chunks": ["Summary ", "written"], "delay_ms": 0}]}]}))
    .unwrap();
    let llm = oqto_scripted_llm::ScriptedLlm::spawn(script, "0.0.0.0:0")
        .await
        .unwrap();
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "llm-keys"},
        "stringData": {"OQTO_LLM_API_KEY": KEY}}))
    .unwrap();
    env.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    create_workspace(
        &env,
        "team",
        json!({"owner": "alice", "storage": {"size": "1Gi", "accessModes": ["ReadWriteOnce"],
            "storageClassName": "oqto-node"},
            "network": {"egress": "Open"},
            "runner": {"tolerations": [oqto_e2e::node_toleration()]},
            "llm": {"provider": "scripted", "model": "scripted",
                "baseUrl": format!("http://{}:{}/v1", oqto_e2e::NODE_HOST_IP, llm.addr().port()),
                "credentialsSecretRef": {"name": "llm-keys"}}}),
    )
    .await;

    let start = Timestamp::now();
    clock.set(Some(start));
    let schedule: Schedule = serde_json::from_value(json!({
        "apiVersion": "oqto.dev/v1alpha1", "kind": "Schedule", "metadata": {"name": "weekly"},
        "spec": {"schedule": "0 9 * * 1", "timeZone": "Europe/Berlin",
            "prompt": "write the weekly summary",
            "target": {"newSession": {"workspaceRef": {"name": "team"}}}}}))
    .unwrap();
    let schedules = env.api::<Schedule>();
    schedules
        .create(&PostParams::default(), &schedule)
        .await
        .unwrap();
    let due = eventually("the next run time", || async {
        schedules
            .get("weekly")
            .await
            .ok()?
            .status?
            .next_schedule_time
    })
    .await
    .0;
    let local = due.to_zoned(k8s_openapi::jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    assert_eq!(
        (local.weekday(), local.hour(), local.minute()),
        (k8s_openapi::jiff::civil::Weekday::Monday, 9, 0),
        "Monday 09:00 in Berlin: {local}"
    );

    // The clock reaches the due time; the annotation makes the controller look now.
    clock.set(Some(due + SignedDuration::from_secs(3)));
    schedules
        .patch(
            "weekly",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"test/clock": "moved"}}})),
        )
        .await
        .unwrap();
    let run = eventually_within(Duration::from_secs(300), "the run's end", || async {
        schedules
            .get("weekly")
            .await
            .ok()?
            .status?
            .runs
            .first()
            .cloned()
    })
    .await;
    assert_eq!(run.outcome, Some(RunOutcome::Succeeded), "{run:?}");
    assert!(
        llm.requests()
            .iter()
            .any(|r| r.to_string().contains("write the weekly summary")),
        "Pi sent the scheduled prompt to the LLM"
    );
    let session = env.api::<Session>().get(&run.session).await.unwrap();
    let owner = session.metadata.owner_references.unwrap_or_default();
    assert_eq!(
        owner.first().map(|o| (o.kind.as_str(), o.name.as_str())),
        Some(("Schedule", "weekly"))
    );

    let table = oqto_e2e::run_ok(env.kubectl().args(["get", "schedules"])).unwrap();
    for column in [
        "SCHEDULE",
        "TIME ZONE",
        "SUSPEND",
        "LAST SCHEDULE",
        "LAST OUTCOME",
    ] {
        assert!(table.contains(column), "{column} in\n{table}");
    }
    assert!(
        table.contains("0 9 * * 1")
            && table.contains("Europe/Berlin")
            && table.contains("Succeeded"),
        "{table}"
    );
    let sessions = oqto_e2e::run_ok(env.kubectl().args(["get", "sessions"])).unwrap();
    assert!(sessions.contains(&run.session), "{sessions}");

    // Deleting the Schedule: its Session goes with it (owner reference, garbage collector).
    schedules
        .delete("weekly", &DeleteParams::background())
        .await
        .unwrap();
    eventually_within(
        Duration::from_secs(120),
        "the run's Session deleted",
        || async {
            env.api::<Session>()
                .get_opt(&run.session)
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
    )
    .await;
}

/// Warm spares on Kubernetes under the real kubelet (issue 19): with `warm_spares`, a Workspace
/// with a Session in use gets a spare Session whose runner Pod runs; `kubectl get sessions`
/// marks it; `kubectl label session NAME oqto.dev/spare-` claims it (a stale claim is refused
/// by its resourceVersion) and a new spare follows; with no Session in use the spare goes.
#[tokio::test]
async fn a_warm_spare_runs_beside_a_session_and_kubectl_claims_it() {
    use oqto_api::spare::{SPARE_LABEL, is_spare};
    use oqto_store::ObjectStore;

    let env = TestEnv::new("spare").await.unwrap();
    let mut settings = settings(&env, oqto_proto::runner::PORT, "test-operator");
    settings.defaults.warm_spares = true;
    let context = Arc::new(Context::new(env.client.clone(), settings));
    let (stop, stopped) = oneshot::channel::<()>();
    let _operator = Operator {
        stop: Some(stop),
        task: Some(tokio::spawn(run(context, async {
            let _ = stopped.await;
        }))),
        context: None,
    };
    create_workspace(
        &env,
        "team",
        json!({"owner":"alice","storage":{"size":"1Gi","accessModes":["ReadWriteOnce"],
            "storageClassName":"oqto-node"},
            "runner":{"tolerations":[oqto_e2e::node_toleration()]}}),
    )
    .await;
    let spares = || async {
        env.api::<Session>()
            .list(&kube::api::ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(is_spare)
            .collect::<Vec<_>>()
    };
    let running_spare = |not: Option<String>| {
        let spares = &spares;
        async move {
            spares().await.into_iter().find(|s| {
                s.metadata.name != not
                    && s.status.as_ref().and_then(|st| st.phase) == Some(SessionPhase::Running)
            })
        }
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(spares().await.is_empty(), "a spare for an unused Workspace");

    create_session(&env, "first", "team").await;
    let spare = eventually_within(Duration::from_secs(240), "the spare Running", || {
        running_spare(None)
    })
    .await;
    let spare_name = spare.metadata.name.clone().unwrap();
    let pod = env
        .api::<Pod>()
        .get(&format!("oqto-sess-{spare_name}"))
        .await
        .unwrap();
    assert!(
        pod.spec.and_then(|s| s.node_name).is_some(),
        "the spare's runner is a Pod on the node"
    );
    let table = oqto_e2e::run_ok(env.kubectl().args(["get", "sessions"])).unwrap();
    let spare_row = table
        .lines()
        .find(|l| l.starts_with(&spare_name))
        .unwrap_or_else(|| panic!("no row for the spare:\n{table}"));
    assert!(spare_row.contains("true"), "the Spare column:\n{table}");
    assert!(table.lines().next().unwrap().contains("SPARE"), "{table}");

    // A claim on a stale read is refused: two claimants cannot both take one spare.
    let store = oqto_store::KubeStore::new(env.client.clone(), "oqto-e2e", None);
    let stale = spare.metadata.resource_version.clone().unwrap();
    oqto_e2e::run_ok(env.kubectl().args([
        "label",
        "session",
        &spare_name,
        &format!("{SPARE_LABEL}-"),
    ]))
    .unwrap();
    let second = store
        .patch_if_unchanged::<Session>(
            &env.namespace,
            &spare_name,
            &stale,
            json!({"metadata": {"labels": {SPARE_LABEL: null}}}),
        )
        .await;
    assert!(
        matches!(second, Err(oqto_store::StoreError::Conflict(_))),
        "{second:?}"
    );
    let next = eventually_within(Duration::from_secs(240), "the next spare Running", || {
        running_spare(Some(spare_name.clone()))
    })
    .await;
    assert_ne!(next.metadata.name, spare.metadata.name);
    assert_eq!(
        session_phase(&env, &spare_name).await,
        Some(SessionPhase::Running),
        "the claimed spare keeps running, a user's Session now"
    );

    // No Session in use: the spare goes, the claimed Session stays (suspended).
    for name in ["first", spare_name.as_str()] {
        env.api::<Session>()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"suspended": true}})),
            )
            .await
            .unwrap();
    }
    eventually_within(Duration::from_secs(120), "no spare left", || async {
        spares().await.is_empty().then_some(())
    })
    .await;
    assert!(
        env.api::<Session>()
            .get_opt(&spare_name)
            .await
            .unwrap()
            .is_some()
    );
}
