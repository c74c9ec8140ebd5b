//! The Kubernetes path end to end, with the rights the Helm chart gives: the chart rendered by
//! `helm template` and applied to the real control plane; the operator and the gateway run as
//! local processes with the chart's service-account tokens, so a missing permission fails here;
//! a Workspace and a Session applied with kubectl; the test plays the kubelet (it starts the
//! runner the Pod describes, its image with its environment, with Podman, and patches the Pod's
//! status and IP); then a chat through the gateway's mux WebSocket with the scripted LLM.
//! A second test removes one permission from the rendered chart and sees the operator refused.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret};
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
        .env("RUST_LOG", "oqto_operator=info");
    Process::start(command, dir.join("operator.log"))
}

/// The runners' containers and volumes, removed on drop.
struct PodmanObjects(Vec<String>, Vec<String>);

impl Drop for PodmanObjects {
    fn drop(&mut self) {
        for container in &self.0 {
            let _ = Command::new("podman")
                .args(["rm", "-f", container])
                .output();
        }
        for volume in &self.1 {
            let _ = Command::new("podman")
                .args(["volume", "rm", "-f", volume])
                .output();
        }
    }
}

/// Plays the kubelet for one Pod: runs its container with Podman as the Pod spec says (image and
/// its entrypoint, environment with the referenced Secrets' keys, non-root user, read-only root,
/// no capabilities, the workspace volume's sub-paths, a tmpfs /tmp), published on
/// `ip:port`, then reports the Pod running at `ip`.
async fn run_pod(env: &TestEnv, pod: &Pod, ip: &str, port: u16, objects: &mut PodmanObjects) {
    let spec = pod.spec.as_ref().unwrap();
    let container = &spec.containers[0];
    let name = format!("chart-e2e-{}", pod.metadata.name.as_deref().unwrap());
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.clone()];
    let security = container.security_context.as_ref().unwrap();
    let uid = security.run_as_user.unwrap();
    args.push(format!(
        "--user={uid}:{}",
        security.run_as_group.unwrap_or(uid)
    ));
    if security.read_only_root_filesystem == Some(true) {
        args.push("--read-only".into());
    }
    args.extend([
        "--cap-drop=ALL".into(),
        "--security-opt=no-new-privileges".into(),
    ]);
    args.push(format!("--publish={ip}:{port}:8080"));
    let mut environment = BTreeMap::new();
    let secrets: Api<Secret> = env.api();
    for var in container.env.iter().flatten() {
        let value = match (
            &var.value,
            var.value_from
                .as_ref()
                .and_then(|f| f.secret_key_ref.as_ref()),
        ) {
            (Some(value), _) => value.clone(),
            // The runner token, from the Secret the operator wrote beside the Pod.
            (None, Some(key)) => {
                let secret = secrets.get(&key.name).await.unwrap();
                String::from_utf8(secret.data.unwrap()[&key.key].0.clone()).unwrap()
            }
            _ => panic!(
                "env {} has a valueFrom this kubelet does not play",
                var.name
            ),
        };
        environment.insert(var.name.clone(), value);
    }
    for from in container.env_from.iter().flatten() {
        let name = &from.secret_ref.as_ref().unwrap().name;
        let secret = secrets.get(name).await.unwrap();
        for (key, value) in secret.data.unwrap_or_default() {
            environment.insert(key, String::from_utf8(value.0).unwrap());
        }
    }
    for (key, value) in &environment {
        args.push(format!("--env={key}={value}"));
    }
    for mount in container.volume_mounts.iter().flatten() {
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .unwrap();
        if volume.empty_dir.is_some() {
            args.push(format!("--tmpfs={}:rw,size=256m", mount.mount_path));
        } else {
            let claim = &volume.persistent_volume_claim.as_ref().unwrap().claim_name;
            let podman_volume = format!(
                "{}-{claim}-{}",
                env.namespace,
                mount.sub_path.as_deref().unwrap_or("root")
            );
            objects.1.push(podman_volume.clone());
            args.push(format!("--volume={podman_volume}:{}", mount.mount_path));
        }
    }
    args.push(container.image.clone().unwrap());
    args.extend(container.command.iter().flatten().cloned());
    args.extend(container.args.iter().flatten().cloned());
    objects.0.push(name);
    run_ok(Command::new("podman").args(&args)).unwrap();
    let runner = format!("http://{ip}:{port}/readyz");
    eventually("the runner container is ready", WAIT, || {
        let runner = runner.clone();
        async move {
            let ready = reqwest::get(&runner).await.ok()?;
            ready.status().is_success().then_some(())
        }
    })
    .await
    .unwrap();
    let pods: Api<Pod> = env.api();
    pods.patch_status(
        pod.metadata.name.as_deref().unwrap(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status":{"phase":"Running","podIP":ip,"podIPs":[{"ip":ip}],
            "conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True"}],
            "containerStatuses":[{"name":"runner","ready":true,"restartCount":0,"image":container.image,
                "imageID":"","state":{"running":{}}}]}})),
    )
    .await
    .unwrap();
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
async fn a_chat_goes_through_the_chart_installed_operator_and_gateway() {
    let env = TestEnv::new("chart-e2e").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let image = oqto_e2e::runner_image().unwrap();
    apply(&env, &render_chart(&env, &image));

    // The upstream LLM, reachable from the runner container (Podman's host address).
    let script: Script = serde_json::from_value(json!({"rules":[
        {"when_user_contains":"hello","steps":[{"kind":"text","chunks":["Hello ","from ","Kubernetes"],"delay_ms":0}]}
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
    let llm_base_url = format!("http://host.containers.internal:{llm_port}/v1");

    // The operator and the gateway, each with its chart service account's token.
    let operator_config = env.kubeconfig_for("oqto-operator", dir.path()).unwrap();
    let gateway_config = env.kubeconfig_for("oqto-gateway", dir.path()).unwrap();
    let runner_key = chart_runner_key(&env).await;
    let operator = start_operator(&env, &operator_config, &image, dir.path(), &runner_key);
    let runner_port = free_port();
    let gateway_port = free_port();
    let mut command = Command::new(binary("oqto-gateway"));
    command
        .args(["--runtime", "kubernetes", "--namespace", &env.namespace])
        .arg(format!("--listen=127.0.0.1:{gateway_port}"))
        .arg(format!("--runner-port={runner_port}"))
        .arg(format!(
            "--data-dir={}",
            dir.path().join("gateway").display()
        ))
        .args(["--admin-user", "admin", "--insecure-cookies"])
        .env("KUBECONFIG", &gateway_config)
        .env("OQTO_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("OQTO_RUNNER_KEY", &runner_key)
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

    // A power user's kubectl apply.
    llm_keys(&env).await;
    apply(&env, &workspace_and_session(&llm_base_url));

    // The kubelet's part: the operator's Pod, run with Podman, reported running.
    let pods: Api<Pod> = env.api();
    let found = eventually("the operator creates the runner Pod", WAIT, || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&kube::api::ListParams::default().labels("oqto.dev/session=chat"))
                .await
                .ok()?;
            list.items.into_iter().next()
        }
    })
    .await;
    let pod = found.unwrap_or_else(|e| panic!("{e}\noperator log:\n{}", operator.log()));
    let mut objects = PodmanObjects(Vec::new(), Vec::new());
    run_pod(&env, &pod, "127.0.0.1", runner_port, &mut objects).await;

    let sessions: Api<oqto_api::Session> = env.api();
    let running = eventually("the Session is Running", WAIT, || {
        let sessions = sessions.clone();
        async move {
            let session = sessions.get("chat").await.ok()?;
            (session.status?.phase? == oqto_api::SessionPhase::Running).then_some(())
        }
    })
    .await;
    assert!(running.is_ok(), "operator log:\n{}", operator.log());

    // A user's chat through the gateway.
    let login: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username":"admin","password":ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let mut mux = MuxClient::connect(
        &format!("ws://127.0.0.1:{gateway_port}/api/ws/mux"),
        Some(token),
    )
    .await
    .unwrap();
    let created = mux.create_session("chat").await.unwrap();
    assert_eq!(
        created.last().unwrap()["success"],
        true,
        "{created:?}\ngateway log:\n{}",
        gateway.log()
    );
    mux.send(
        json!({"channel":"agent","session_id":"chat","id":"p1","cmd":"prompt","message":"hello"}),
    )
    .await
    .unwrap();
    let frames = mux.until(|f| is_event(f, "agent.idle")).await.unwrap();
    let text: String = frames
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .filter_map(|f| f["delta"].as_str())
        .collect();
    assert_eq!(text, "Hello from Kubernetes", "{frames:?}");
    drop(mux);
    drop(gateway);
    drop(operator);
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
