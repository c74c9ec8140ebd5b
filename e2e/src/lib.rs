//! Test support against the real control plane that `hack/k8s/controlplane.sh up` starts
//! (etcd + kube-apiserver + kube-controller-manager built from source, on loopback).
//!
//! Each test calls [`TestEnv::new`]: it connects, installs the CRDs generated from the Rust types
//! (server-side apply, then waits for `Established`) and creates a namespace of its own, which is
//! deleted when the `TestEnv` drops. A missing control plane is an error, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Config};

pub mod gateway;
pub mod llm_proxy;
pub mod mux;
pub mod oqtoctl;
pub mod podman;
pub mod postgres;
pub mod proxy;

/// Field manager of everything the test support applies.
pub const FIELD_MANAGER: &str = "oqto-e2e";

/// Environment variable naming the kubeconfig of the control plane; defaults to the one
/// `hack/k8s/controlplane.sh up` writes into this checkout's `target/`.
pub const KUBECONFIG_ENV: &str = "OQTO_TEST_KUBECONFIG";

/// The repository root (tests run with the crate directory as working directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Where the control plane of this checkout keeps its state.
fn controlplane_dir() -> PathBuf {
    std::env::var_os("OQTO_CONTROLPLANE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/controlplane"))
}

/// The running control plane: how to reach it with a client and with kubectl.
#[derive(Clone, Debug)]
pub struct ControlPlane {
    pub kubeconfig: PathBuf,
    pub bin_dir: PathBuf,
}

impl ControlPlane {
    /// Finds the control plane, or explains how to start one.
    pub fn discover() -> anyhow::Result<Self> {
        let dir = controlplane_dir();
        let kubeconfig = std::env::var_os(KUBECONFIG_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("kubeconfig"));
        if !kubeconfig.is_file() {
            bail!(
                "no control plane: {} does not exist. Start one with `hack/k8s/controlplane.sh up` \
                 (or run everything with `hack/test.sh`); integration tests never skip",
                kubeconfig.display()
            );
        }
        let bin_dir = std::fs::read_to_string(dir.join("bin-dir"))
            .map(|s| PathBuf::from(s.trim()))
            .with_context(|| {
                format!(
                    "reading {}/bin-dir written by controlplane.sh",
                    dir.display()
                )
            })?;
        Ok(Self {
            kubeconfig,
            bin_dir,
        })
    }

    /// A client authenticated as the control plane's admin.
    pub async fn client(&self) -> anyhow::Result<Client> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// The apiserver's address, as the kubeconfig names it.
    pub async fn apiserver(&self) -> anyhow::Result<std::net::SocketAddr> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        let (host, port) = (
            config
                .cluster_url
                .host()
                .context("the kubeconfig's server has no host")?,
            config.cluster_url.port_u16().unwrap_or(443),
        );
        tokio::net::lookup_host((host, port))
            .await?
            .next()
            .context("the apiserver's host does not resolve")
    }

    /// A client of the admin that reaches the apiserver at `addr` (a proxy in front of it;
    /// the serving certificate names 127.0.0.1, so a loopback proxy verifies).
    pub async fn client_at(&self, addr: std::net::SocketAddr) -> anyhow::Result<Client> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let mut config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        config.cluster_url = format!("https://{addr}").parse()?;
        Ok(Client::try_from(config)?)
    }

    /// `kubectl` built at the same Kubernetes version, pointed at this control plane.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }
}

/// Installs (or updates) every Oqto CRD and waits until the apiserver serves them.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in oqto_api::crds() {
        let name = crd
            .metadata
            .name
            .clone()
            .context("generated CRD has no name")?;
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .with_context(|| format!("applying CRD {name}"))?;
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .with_context(|| format!("CRD {name} not Established after 30s"))??;
    }
    Ok(())
}

/// Polls `check` every 100 ms until it gives Some; an error naming `what` after `wait`.
pub async fn eventually<T, F, Fut>(what: &str, wait: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out after {wait:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The pinned Pi: `$variable` when set, else what `hack/pi/install.sh <line>` installs (cached
/// outside the checkout; `line` is `current` or `legacy`).
pub fn installed_pi(variable: &str, line: &str) -> anyhow::Result<PathBuf> {
    env_or_script(variable, "hack/pi/install.sh", &[line]).map(PathBuf::from)
}

/// The runner image: $OQTO_RUNNER_IMAGE, or the one `runner-image/build.sh` builds (skipped
/// when its inputs did not change).
pub fn runner_image() -> anyhow::Result<String> {
    env_or_script("OQTO_RUNNER_IMAGE", "runner-image/build.sh", &[])
}

/// The browser sidecar's image: $OQTO_BROWSER_IMAGE, or the one `runner-image/browser/build.sh`
/// builds (skipped when its inputs did not change).
pub fn browser_image() -> anyhow::Result<String> {
    env_or_script("OQTO_BROWSER_IMAGE", "runner-image/browser/build.sh", &[])
}

/// The `helm` binary: $OQTO_HELM, or the one `hack/helm/build.sh` builds from the Go module
/// proxy (cached).
pub fn helm() -> anyhow::Result<PathBuf> {
    env_or_script("OQTO_HELM", "hack/helm/build.sh", &[]).map(PathBuf::from)
}

/// `$variable`, or the last line a script of the repository prints (its progress goes to
/// this test's stderr): how tests find what `hack/test.sh` prepared, or prepare it themselves.
fn env_or_script(variable: &str, script: &str, args: &[&str]) -> anyhow::Result<String> {
    if let Some(value) = std::env::var_os(variable) {
        return Ok(value.to_string_lossy().into_owned());
    }
    let script = repo_root().join(script);
    let output = Command::new(&script)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(output.status.success(), "{} failed", script.display());
    let stdout = String::from_utf8(output.stdout)?;
    let last = stdout
        .lines()
        .last()
        .with_context(|| format!("{} printed nothing", script.display()))?;
    Ok(last.trim().to_owned())
}

/// The size of a chaos test: `OQTO_CHAOS_SESSIONS` Sessions (default `sessions`) across
/// `OQTO_CHAOS_WORKSPACES` Workspaces (default `workspaces`, at least 2: two are deleted).
pub fn chaos_counts(sessions: usize, workspaces: usize) -> (usize, usize) {
    let count = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (
        count("OQTO_CHAOS_SESSIONS", sessions),
        count("OQTO_CHAOS_WORKSPACES", workspaces).max(2),
    )
}

/// The `reclaimPolicy` of a chaos test's Workspace `w`: both policies, alternating.
pub fn chaos_reclaim_policy(w: usize) -> &'static str {
    if w.is_multiple_of(2) {
        "Retain"
    } else {
        "Delete"
    }
}

impl Rng {
    /// Seeded from the clock (never zero).
    pub fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Self(nanos | 1)
    }
}

/// xorshift: reproducible "random" kill points for the chaos tests (they print the seed, so a
/// failure can be replayed). The seed must not be zero.
pub struct Rng(pub u64);

impl Rng {
    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A binary of this workspace, built next to the running test (`cargo test --workspace` builds
/// every member's binaries); a test runs it as the process it is in production.
pub fn workspace_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .context("the test binary has no target directory")?;
    anyhow::ensure!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins`",
        path.display()
    );
    Ok(path)
}

/// One test's view of the control plane: a client, kubectl, and a namespace of its own.
pub struct TestEnv {
    pub control_plane: ControlPlane,
    pub client: Client,
    pub namespace: String,
}

impl TestEnv {
    /// Connects, installs the CRDs and creates a fresh namespace named after `test`.
    pub async fn new(test: &str) -> anyhow::Result<Self> {
        let control_plane = ControlPlane::discover()?;
        let client = control_plane.client().await?;
        install_crds(&client).await?;
        let namespace = unique_namespace(test);
        let ns = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(namespace.clone()),
                labels: Some([("oqto.dev/test".to_owned(), "true".to_owned())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .with_context(|| format!("creating namespace {namespace}"))?;
        Ok(Self {
            control_plane,
            client,
            namespace,
        })
    }

    /// A typed API for namespaced objects in this test's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// kubectl with `--namespace` set to this test's namespace.
    pub fn kubectl(&self) -> Command {
        let mut cmd = self.control_plane.kubectl();
        cmd.arg("--namespace").arg(&self.namespace);
        cmd
    }

    /// A kubeconfig (written into `dir`) that authenticates as `service_account` of this
    /// namespace with a TokenRequest token, for the same apiserver as the admin's: an ordinary
    /// user with only the rights RBAC gives that account.
    pub fn kubeconfig_for(
        &self,
        service_account: &str,
        dir: &std::path::Path,
    ) -> anyhow::Result<PathBuf> {
        let token =
            run_ok(
                self.kubectl()
                    .args(["create", "token", service_account, "--duration=1h"]),
            )?;
        let admin: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&self.control_plane.kubeconfig)?)?;
        let cluster = admin["clusters"][0]["cluster"].clone();
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": cluster}],
            "users": [{"name": service_account, "user": {"token": token.trim()}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": service_account,
                "namespace": self.namespace}}],
            "current-context": "test",
        });
        let path = dir.join(format!("{service_account}.kubeconfig"));
        std::fs::write(&path, serde_yaml::to_string(&config)?)?;
        Ok(path)
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Drop cannot await; kubectl asks for deletion without waiting, and the
        // controller-manager's namespace controller removes what is inside.
        let _ = self
            .control_plane
            .kubectl()
            .args([
                "delete",
                "namespace",
                &self.namespace,
                "--wait=false",
                "--ignore-not-found",
            ])
            .output();
        // Then the Workspaces' finalizer goes (once the namespace is being deleted an operator
        // still running adds it to none): the test's operator is gone or going, and a
        // namespace held in Terminating for good is retried by the namespace controller, which
        // loads the apiserver for every later test of the run.
        let workspaces = self
            .control_plane
            .kubectl()
            .args([
                "-n",
                &self.namespace,
                "get",
                "workspaces.oqto.dev",
                "-o",
                "name",
            ])
            .output();
        if let Ok(listed) = workspaces {
            for workspace in String::from_utf8_lossy(&listed.stdout).lines() {
                let _ = self
                    .control_plane
                    .kubectl()
                    .args(["-n", &self.namespace, "patch", workspace, "--type=merge"])
                    .args(["-p", r#"{"metadata":{"finalizers":null}}"#])
                    .output();
            }
        }
    }
}

/// A DNS-label namespace name that no other test of any run shares.
fn unique_namespace(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let stem: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let stem = stem.trim_matches('-');
    // Time and pid tell runs apart (an old namespace may still be terminating); the counter
    // tells tests of one process apart.
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64 & 0xff_ffff)
        .unwrap_or_default();
    format!(
        "{stem}-{millis:x}{:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Output of a command that must succeed, or an error with its stderr.
pub fn run_ok(cmd: &mut Command) -> anyhow::Result<String> {
    let output = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !output.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The node `hack/k8s/node.sh` runs beside the control plane, and the taint `hack/test.sh`
/// gives it: only the Pods of tests that tolerate it are scheduled there; the tests that play
/// the kubelet keep their Pods (Pending, unschedulable) to themselves.
pub const NODE_NAME: &str = "oqto-node";
pub const NODE_TAINT: (&str, &str, &str) = ("oqto.dev/test-node", "tolerated-only", "NoSchedule");
/// The host as the node's Pods reach it: the address of the node's bridge (`oqto-cni0`).
pub const NODE_HOST_IP: &str = "10.244.0.1";
/// The host as an internet address (TEST-NET-2, on the node's bridge): outside every private
/// range, so a Restricted runner reaches a service here (the scripted LLM) as one on the internet.
pub const NODE_PUBLIC_IP: &str = "198.51.100.1";

/// Where the node's ingress controller (Traefik, `hack/k8s/node.sh up --ingress`) serves the
/// Ingresses of the IngressClass `oqto`: an address on 127.0.0.1; the Ingress's host picks the
/// route (`Host` header, or the browser's host resolver rules).
pub fn ingress_address() -> anyhow::Result<std::net::SocketAddr> {
    let file = controlplane_dir().join("node/ingress-address");
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "no ingress: {} is missing; start the node with `hack/k8s/node.sh up --ingress`",
            file.display()
        )
    })?;
    text.trim()
        .parse()
        .with_context(|| format!("{} holds no address", file.display()))
}

/// The toleration of [`NODE_TAINT`], as a Pod spec (or a runner spec) writes it.
pub fn node_toleration() -> serde_json::Value {
    let (key, value, effect) = NODE_TAINT;
    serde_json::json!({"key": key, "operator": "Equal", "value": value, "effect": effect})
}

/// The runner key of tests that start the gateway and the operator themselves
/// (`OQTO_RUNNER_KEY`): both must derive the same runner tokens.
pub const RUNNER_KEY: &str = "oqto-test-runner-key-0123456789abcdef";

pub fn runner_key() -> oqto_proto::runner::RunnerKey {
    oqto_proto::runner::RunnerKey::new(RUNNER_KEY.as_bytes().to_vec())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A port that is free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// The body of a GET of `url` (a `/metrics` page, say), with a bearer token when one is needed;
/// an error status is an error.
pub async fn fetch_text(url: &str, bearer: Option<&str>) -> anyhow::Result<String> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    Ok(request.send().await?.error_for_status()?.text().await?)
}

#[cfg(test)]
mod tests {
    use super::unique_namespace;

    #[test]
    fn namespaces_are_unique_dns_labels() {
        let a = unique_namespace("Invalid_Objects::are refused");
        let b = unique_namespace("Invalid_Objects::are refused");
        assert_ne!(a, b);
        for ns in [a, b] {
            assert!(ns.len() <= 63, "{ns}");
            assert!(ns.starts_with("invalid-objects--are-refused-"), "{ns}");
            assert!(
                ns.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{ns}"
            );
        }
    }
}
