//! The Kubernetes path end to end, with the rights the Helm chart gives: the chart rendered by
//! `helm template` and applied to the real control plane; the operator and the gateway run as
//! local processes with the chart's service-account tokens, so a missing permission fails here;
//! a Workspace and a Session applied with kubectl in a namespace that enforces the `restricted`
//! Pod Security Standard. The runner Pod is placed by kube-scheduler on the real node
//! (`hack/k8s/node.sh`: the chart's class tolerates its taint and stores on its volumes) and
//! runs under the kubelet, containerd and runc; the gateway reaches it on its Pod IP and it
//! reaches the scripted LLM on the node's bridge. Then: a chat and a file through the gateway's
//! mux WebSocket; the runner Pod deleted mid-session and the history intact; suspend (Pod gone,
//! claim kept) and a frame that wakes the Session.
//! A second test removes one permission from the rendered chart and sees the operator refused.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams};
use oqto_e2e::mux::{MuxClient, is_event};
use oqto_e2e::{TestEnv, eventually, free_port, repo_root, run_ok};
use oqto_scripted_llm::{Script, ScriptedLlm};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(120);
const ADMIN_PASSWORD: &str = "chart-e2e-password";

/// A binary of this workspace, built beside the test (`cargo test --workspace` builds them).
fn binary(name: &str) -> PathBuf {
    oqto_e2e::workspace_binary(name).unwrap()
}

/// The chart as `helm template` renders it for this test's namespace (no CRDs: the test env
/// installed them), the operator watching only that namespace.
fn render_chart(env: &TestEnv, runner_image: &str) -> String {
    let (repository, tag) = runner_image.rsplit_once(':').unwrap();
    let chart = repo_root().join("charts/oqto");
    let sets = [
        format!("operator.watchNamespaces[0]={}", env.namespace),
        format!("gateway.namespace={}", env.namespace),
        format!("operator.runnerImage={repository}"),
        format!("image.tag={tag}"),
        // The chart's class keeps runners on the test node (its taint, its volumes), as an
        // admin's would keep them on a node pool of their own.
        "workspaceClasses.classes.standard.storage.storageClassName=oqto-node".to_owned(),
        format!(
            "workspaceClasses.classes.standard.runner.tolerations[0].key={}",
            oqto_e2e::NODE_TAINT.0
        ),
        "workspaceClasses.classes.standard.runner.tolerations[0].operator=Exists".to_owned(),
    ];
    let mut args = vec![
        "template".to_owned(),
        "oqto".to_owned(),
        chart.display().to_string(),
        "--namespace".to_owned(),
        env.namespace.clone(),
    ];
    for set in sets {
        args.push("--set".into());
        args.push(set);
    }
    run_ok(Command::new(oqto_e2e::helm().unwrap()).args(&args)).unwrap()
}

/// `kubectl apply --server-side`: a server-side dry run first (the apiserver's validation and
/// admission, nothing stored), then for real.
fn apply(env: &TestEnv, manifests: &str) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), manifests).unwrap();
    for dry_run in ["--dry-run=server", "--dry-run=none"] {
        run_ok(env.kubectl().args([
            "apply",
            "--server-side",
            "--field-manager=chart-e2e",
            dry_run,
            "-f",
            file.path().to_str().unwrap(),
        ]))
        .unwrap();
    }
}

/// A child process with its output in a file, killed on drop.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn start(mut command: Command, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Self { child, log }
    }

    /// The output so far, without terminal colours.
    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut plain = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // CSI: ESC [ parameters final-byte
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The runner key the chart made (`<release>-runner-key`), which the chart hands to both.
async fn chart_runner_key(env: &TestEnv) -> String {
    let secret = env.api::<Secret>().get("oqto-runner-key").await.unwrap();
    String::from_utf8(secret.data.unwrap()["key"].0.clone()).unwrap()
}

fn start_operator(
    env: &TestEnv,
    kubeconfig: &Path,
    image: &str,
    dir: &Path,
    runner_key: &str,
) -> Process {
    let mut command = Command::new(binary("oqto-operator"));
    command
        .args(["run", "--runtime", "kubernetes", "--identity", "chart-e2e"])
        .args([
            "--namespace",
            &env.namespace,
            "--lease-namespace",
            &env.namespace,
        ])
        .args(["--runner-image", image, "--http-listen", "127.0.0.1:0"])
        .env("KUBECONFIG", kubeconfig)
        .env("OQTO_RUNNER_KEY", runner_key)
        // As the chart's Deployment sets it: Workspaces that name no class get the chart's.
        .env("OQTO_DEFAULT_WORKSPACE_CLASS", "standard")
        .env("RUST_LOG", "oqto_operator=info");
    Process::start(command, dir.join("operator.log"))
}

fn workspace_and_session(llm_base_url: &str) -> String {
    format!(
        "apiVersion: oqto.dev/v1alpha1\nkind: Workspace\nmetadata:\n  name: team\nspec:\n  owner: admin\n  llm:\n    provider: scripted\n    model: scripted\n    baseUrl: {llm_base_url}\n    credentialsSecretRef:\n      name: llm-keys\n---\napiVersion: oqto.dev/v1alpha1\nkind: Session\nmetadata:\n  name: chat\nspec:\n  workspaceRef:\n    name: team\n"
    )
}

async fn llm_keys(env: &TestEnv) {
    run_ok(env.kubectl().args([
        "create",
        "secret",
        "generic",
        "llm-keys",
        "--from-literal=OQTO_LLM_API_KEY=scripted-key",
    ]))
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_of_the_chart_runs_on_the_real_node_survives_its_pod_and_wakes() {
    let env = TestEnv::new("chart-e2e").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let image = oqto_e2e::runner_image().unwrap();
    // The runner must meet the `restricted` standard, or the apiserver refuses its Pod.
    run_ok(env.kubectl().args([
        "label",
        "namespace",
        &env.namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    ]))
    .unwrap();
    apply(&env, &render_chart(&env, &image));

    // The upstream LLM, reachable from the node's Pods on the bridge's address.
    let script: Script = serde_json::from_value(json!({"rules":[
        {"when_user_contains":"hello","steps":[{"kind":"text","chunks":["Hello ","from ","Kubernetes"],"delay_ms":0}]},
        {"when_user_contains":"again","steps":[{"kind":"text","chunks":["Awake ","again"],"delay_ms":0}]}
    ]}))
    .unwrap();
    let llm = ScriptedLlm::spawn(script, "0.0.0.0:0").await.unwrap();
    let llm_port = llm
        .base_url()
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let llm_base_url = format!("http://{}:{llm_port}/v1", oqto_e2e::NODE_HOST_IP);

    // The operator and the gateway, each with its chart service account's token.
    let operator_config = env.kubeconfig_for("oqto-operator", dir.path()).unwrap();
    let gateway_config = env.kubeconfig_for("oqto-gateway", dir.path()).unwrap();
    let runner_key = chart_runner_key(&env).await;
    let operator = start_operator(&env, &operator_config, &image, dir.path(), &runner_key);
    let gateway_port = free_port();
    let mut command = Command::new(binary("oqto-gateway"));
    command
        .args(["--runtime", "kubernetes", "--namespace", &env.namespace])
        .arg(format!("--listen=127.0.0.1:{gateway_port}"))
        .arg(format!(
            "--data-dir={}",
            dir.path().join("gateway").display()
        ))
        .args(["--admin-user", "admin", "--insecure-cookies"])
        .env("KUBECONFIG", &gateway_config)
        .env("OQTO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("OQTO_RUNNER_KEY", &runner_key)
        .env("OQTO_DEFAULT_WORKSPACE_CLASS", "standard")
        .env("RUST_LOG", "oqto_gateway=info")
        .stdin(Stdio::null());
    let gateway = Process::start(command, dir.path().join("gateway.log"));
    let base = format!("http://127.0.0.1:{gateway_port}");
    let http = reqwest::Client::new();
    let ready = format!("{base}/readyz");
    let waited = eventually("the gateway is ready", WAIT, || {
        let (http, ready) = (http.clone(), ready.clone());
        async move {
            let answer = http.get(&ready).send().await.ok()?;
            answer.status().is_success().then_some(())
        }
    })
    .await;
    assert!(waited.is_ok(), "gateway log:\n{}", gateway.log());

    // A power user's kubectl apply; the scheduler and the kubelet do the rest.
    llm_keys(&env).await;
    apply(&env, &workspace_and_session(&llm_base_url));
    let first_pod = running_pod(&env, &operator).await;
    let pod_spec = first_pod.spec.clone().unwrap();
    assert_eq!(
        pod_spec.node_name.as_deref(),
        Some(oqto_e2e::NODE_NAME),
        "placed by the scheduler"
    );

    // A user's chat and a file through the gateway.
    let login: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username":"admin","password":ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let mux_url = format!("ws://127.0.0.1:{gateway_port}/api/ws/mux");
    let mut mux = MuxClient::connect(&mux_url, Some(&token)).await.unwrap();
    let created = mux.create_session("chat").await.unwrap();
    assert_eq!(
        created.last().unwrap()["success"],
        true,
        "{created:?}\ngateway log:\n{}",
        gateway.log()
    );
    assert_eq!(
        prompt(&mut mux, "p1", "hello").await,
        "Hello from Kubernetes"
    );
    mux.send(
        json!({"channel":"files","session_id":"chat","id":"w1","type":"write",
        "path":"notes/day.txt","content":"d3JpdHRlbiBvbiB0aGUgbm9kZQ==","create_parents":true}),
    )
    .await
    .unwrap();
    let written = mux.until(|f| f["id"] == "w1").await.unwrap();
    assert_eq!(
        written.last().unwrap()["type"],
        "write_result",
        "{written:?}"
    );

    // The runner Pod deleted mid-session: the operator makes a new one, and the chat's history
    // and files are still there (they live on the Workspace's claim).
    let pods: Api<Pod> = env.api();
    let first_name = first_pod.metadata.name.clone().unwrap();
    pods.delete(&first_name, &Default::default()).await.unwrap();
    let second_pod = eventually("a new runner Pod, Ready", WAIT, || {
        let pods = pods.clone();
        let old_uid = first_pod.metadata.uid.clone();
        async move {
            let pod = pods
                .list(&kube::api::ListParams::default().labels("oqto.dev/session=chat"))
                .await
                .ok()?
                .items
                .into_iter()
                .find(|p| p.metadata.uid != old_uid && p.metadata.deletion_timestamp.is_none())?;
            pod_ready(&pod).then_some(pod)
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\noperator log:\n{}", operator.log()));
    assert_ne!(second_pod.metadata.uid, first_pod.metadata.uid);
    let mut mux = MuxClient::connect(&mux_url, Some(&token)).await.unwrap();
    mux.create_session("chat").await.unwrap();
    assert_eq!(
        history_texts(&mut mux).await,
        ["hello", "Hello from Kubernetes"]
    );
    mux.send(json!({"channel":"files","session_id":"chat","id":"r1","type":"read","path":"notes/day.txt"}))
        .await
        .unwrap();
    let read = mux.until(|f| f["id"] == "r1").await.unwrap();
    assert_eq!(
        read.last().unwrap()["content"],
        "d3JpdHRlbiBvbiB0aGUgbm9kZQ==",
        "{read:?}"
    );
    drop(mux);

    // Suspended: the Pod goes, the claim stays.
    let sessions: Api<oqto_api::Session> = env.api();
    sessions
        .patch(
            "chat",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec":{"suspended":true}})),
        )
        .await
        .unwrap();
    eventually("the runner Pod is gone", WAIT, || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&kube::api::ListParams::default().labels("oqto.dev/session=chat"))
                .await
                .ok()?;
            list.items.is_empty().then_some(())
        }
    })
    .await
    .unwrap();
    let claims: Api<PersistentVolumeClaim> = env.api();
    let claim = claims.list(&Default::default()).await.unwrap();
    assert!(
        claim
            .items
            .iter()
            .any(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")),
        "the Workspace's claim stays bound: {:?}",
        claim
            .items
            .iter()
            .map(|c| &c.metadata.name)
            .collect::<Vec<_>>()
    );

    // A frame for the suspended Session wakes it; the conversation goes on where it was.
    let mut mux = MuxClient::connect(&mux_url, Some(&token)).await.unwrap();
    let woken = mux.create_session("chat").await;
    assert!(woken.is_ok(), "{woken:?}\ngateway log:\n{}", gateway.log());
    assert_eq!(prompt(&mut mux, "p2", "again").await, "Awake again");
    assert_eq!(
        history_texts(&mut mux).await,
        ["hello", "Hello from Kubernetes", "again", "Awake again"]
    );
    let session = sessions.get("chat").await.unwrap();
    assert!(!session.spec.suspended);
    drop(mux);
    drop(gateway);
    drop(operator);
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The Session's runner Pod once the kubelet reports it Ready and the Session is Running.
async fn running_pod(env: &TestEnv, operator: &Process) -> Pod {
    let pods: Api<Pod> = env.api();
    let sessions: Api<oqto_api::Session> = env.api();
    let found = eventually(
        "the runner Pod runs and the Session is Running",
        WAIT,
        || {
            let (pods, sessions) = (pods.clone(), sessions.clone());
            async move {
                let session = sessions.get("chat").await.ok()?;
                (session.status?.phase? == oqto_api::SessionPhase::Running).then_some(())?;
                let list = pods
                    .list(&kube::api::ListParams::default().labels("oqto.dev/session=chat"))
                    .await
                    .ok()?;
                list.items.into_iter().find(pod_ready)
            }
        },
    )
    .await;
    found.unwrap_or_else(|e| panic!("{e}\noperator log:\n{}", operator.log()))
}

/// Sends a prompt and returns the streamed answer.
async fn prompt(mux: &mut MuxClient, id: &str, message: &str) -> String {
    mux.send(
        json!({"channel":"agent","session_id":"chat","id":id,"cmd":"prompt","message":message}),
    )
    .await
    .unwrap();
    let frames = mux.until(|f| is_event(f, "agent.idle")).await.unwrap();
    frames
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .filter_map(|f| f["delta"].as_str())
        .collect()
}

/// The stored conversation's texts, in order (users' and the agent's).
async fn history_texts(mux: &mut MuxClient) -> Vec<String> {
    let response = mux
        .command("chat", "history", "get_messages", json!({}))
        .await
        .unwrap();
    response["data"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {response}"))
        .iter()
        .filter(|m| matches!(m["role"].as_str(), Some("user" | "assistant")))
        .map(|m| {
            m["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["type"] == "text")
                .filter_map(|p| p["text"].as_str())
                .collect::<String>()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_status_permission_the_operator_is_refused_with_an_rbac_error() {
    let env = TestEnv::new("chart-rbac").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let image = oqto_e2e::runner_image().unwrap();
    // The chart with one rule fewer: the operator may no longer write Session status.
    let rendered = render_chart(&env, &image);
    let removed = "\n    - sessions/status";
    assert!(
        rendered.contains(removed),
        "the chart grants sessions/status"
    );
    apply(&env, &rendered.replace(removed, ""));

    let operator_config = env.kubeconfig_for("oqto-operator", dir.path()).unwrap();
    let runner_key = chart_runner_key(&env).await;
    let operator = start_operator(&env, &operator_config, &image, dir.path(), &runner_key);
    llm_keys(&env).await;
    apply(&env, &workspace_and_session("http://127.0.0.1:9/v1"));

    let refused =
        eventually(
            "the operator reports the refused status write",
            WAIT,
            || {
                let log = operator.log();
                async move {
                    (log.contains("forbidden") && log.contains("sessions/status")).then_some(())
                }
            },
        )
        .await;
    let log = operator.log();
    assert!(
        refused.is_ok(),
        "no RBAC error in the operator's log:\n{log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("forbidden") && l.contains("sessions/status"))
        .unwrap();
    println!("the operator's RBAC error: {line}");
    assert!(
        line.contains("reason=\"Forbidden\""),
        "the stable reason: {line}"
    );
    assert!(
        line.contains("system:serviceaccount:") && line.contains(":oqto-operator"),
        "the error names the service account: {line}"
    );
    // And nothing claims the session is fine.
    let sessions: Api<oqto_api::Session> = env.api();
    let session = sessions.get("chat").await.unwrap();
    assert!(session.status.and_then(|s| s.phase).is_none());
}

/// The chart as a team admin installs it: `helm install` with the images imported into the
/// node, the operator and the gateway running as Pods under the kubelet, reaching the apiserver
/// through the `kubernetes` Service (kube-proxy) with the tokens the ServiceAccount admission
/// plugin mounts. The admin logs in at the gateway Pod, a Session made through its REST API runs
/// its runner in the chart's `restricted` workspaces namespace, and `helm uninstall` leaves that
/// namespace and the Workspace's claim behind (the chart's `keep`).
#[tokio::test(flavor = "multi_thread")]
async fn helm_install_runs_the_operator_and_the_gateway_as_pods_that_serve_a_session() {
    let env = TestEnv::new("chart-pods").await.unwrap();
    let release = format!("oqto-{}", env.namespace);
    let workspaces = format!("{}-workspaces", env.namespace);
    let taint = oqto_e2e::NODE_TAINT.0;
    let values = format!(
        "image: {{registry: localhost, tag: dev, pullPolicy: Never}}
operator:
  replicas: 1
  watchNamespaces: [{workspaces}]
  tolerations: [{{key: {taint}, operator: Exists}}]
gateway:
  tolerations: [{{key: {taint}, operator: Exists}}]
  persistence: {{storageClassName: oqto-node, size: 1Gi}}
workspaceClasses:
  classes:
    standard:
      network: {{egress: Restricted}}
      storage: {{storageClassName: oqto-node, maxSize: 50Gi}}
      runner: {{tolerations: [{{key: {taint}, operator: Exists}}]}}
"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), values).unwrap();
    let chart = repo_root().join("charts/oqto");
    let helm = || Command::new(oqto_e2e::helm().unwrap());
    let kubeconfig = env.control_plane.kubeconfig.clone();
    let installed = run_ok(
        helm()
            .args(["install", &release])
            .arg(&chart)
            .args([
                "--namespace",
                &env.namespace,
                "--skip-crds",
                "--wait",
                "--timeout",
                "180s",
            ])
            .arg("--values")
            .arg(file.path())
            .env("KUBECONFIG", &kubeconfig),
    );
    let pods: Api<Pod> = env.api();
    if let Err(error) = installed {
        let listed = run_ok(env.kubectl().args(["get", "pods,pvc,events", "-o", "wide"]));
        panic!("helm install: {error}\n{listed:?}");
    }
    let gateway = pods
        .list(&kube::api::ListParams::default().labels("app.kubernetes.io/name=oqto-gateway"))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(pod_ready)
        .expect("a Ready gateway Pod");
    assert_eq!(
        gateway.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some(oqto_e2e::NODE_NAME)
    );
    let ip = gateway.status.and_then(|s| s.pod_ip).unwrap();
    let base = format!("http://{ip}:8080");

    let secret = env
        .api::<Secret>()
        .get(&format!("{release}-admin"))
        .await
        .unwrap();
    let password = String::from_utf8(secret.data.unwrap()["password"].0.clone()).unwrap();
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"]
        .as_str()
        .expect("the admin logs in")
        .to_owned();
    for (path, body) in [
        (
            "/api/workspaces",
            json!({"name": "ws", "spec": {"llm": {"provider": "openai", "model": "gpt"}}}),
        ),
        ("/api/workspaces/ws/sessions", json!({"name": "s1"})),
    ] {
        let answer = http
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_success(),
            "{path}: {}",
            answer.text().await.unwrap_or_default()
        );
    }
    // The operator Pod reconciles it: the runner runs in the restricted workspaces namespace.
    let sessions: Api<oqto_api::Session> = Api::namespaced(env.client.clone(), &workspaces);
    let runners: Api<Pod> = Api::namespaced(env.client.clone(), &workspaces);
    let running = eventually("the Session is Running on the node", WAIT, || {
        let (sessions, runners) = (sessions.clone(), runners.clone());
        async move {
            let session = sessions.get("s1").await.ok()?;
            (session.status?.phase? == oqto_api::SessionPhase::Running).then_some(())?;
            let pod = runners.get("oqto-sess-s1").await.ok()?;
            (pod.spec?.node_name.as_deref() == Some(oqto_e2e::NODE_NAME)).then_some(())
        }
    })
    .await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    let labels = namespaces
        .get(&workspaces)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    if running.is_err() {
        let listed =
            run_ok(
                env.kubectl()
                    .args(["get", "pods,sessions,events", "-A", "-o", "wide"]),
            );
        let _ = namespaces.delete(&workspaces, &Default::default()).await;
        panic!("{running:?}\n{listed:?}");
    }
    assert_eq!(
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );

    // Uninstalled: the platform's Pods go; the users' namespace and storage stay.
    run_ok(
        helm()
            .args([
                "uninstall",
                &release,
                "--namespace",
                &env.namespace,
                "--wait",
                "--timeout",
                "120s",
            ])
            .env("KUBECONFIG", &kubeconfig),
    )
    .unwrap();
    let gone = eventually("the operator and gateway Pods are gone", WAIT, || {
        let pods = pods.clone();
        async move {
            let left = pods
                .list(&kube::api::ListParams::default().labels("app.kubernetes.io/part-of=oqto"))
                .await
                .ok()?;
            left.items.is_empty().then_some(())
        }
    })
    .await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), &workspaces);
    let kept = claims.list(&Default::default()).await.unwrap().items.len();
    let _ = namespaces.delete(&workspaces, &Default::default()).await;
    gone.unwrap();
    assert_eq!(kept, 1, "the Workspace's claim outlives the uninstall");
}
