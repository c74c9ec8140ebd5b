//! The chart's RBAC is what the operator needs, not more: the chart rendered by `helm template`
//! with one rule fewer and applied to the real control plane, the operator run as a local
//! process with the chart's service-account token; its refused status write is reported with
//! the stable reason and the account's name. (The chart installed and used end to end, its Pods
//! under the kubelet, is `team_admin_day.rs`.)
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use oqto_e2e::{TestEnv, eventually, repo_root, run_ok};

const WAIT: Duration = Duration::from_secs(120);

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
