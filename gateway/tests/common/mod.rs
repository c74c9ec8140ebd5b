//! Test support: the gateway binary against the real control plane (etcd + kube-apiserver
//! built by hack/k8s), the operator in this process, and, where a runner is needed, the real
//! pi-bridge (in this process, on its own runtime) with the real Pi and hstry and the
//! scripted LLM. No kubelet runs here: [`Kubelet`] plays its part for runner pods (starts a
//! bridge on a loopback address of its own and reports the pod ready with that IP), and
//! says so.

#![allow(dead_code)] // Each test file uses its own part of this module.
#![allow(clippy::unwrap_used)] // Test support: a failed step is a failed test.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{EnvVar, Pod, Secret};
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher::{self, Event};
use kube::{Api, ResourceExt};
use oqto_e2e::TestEnv;
use oqto_e2e::mux::MuxClient;
use oqto_hstry::listen::ListenAddr;
use oqto_scripted_llm::{RunningLlm, Script, ScriptedLlm};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// Bounds a hang; never a speed requirement.
pub const WAIT: Duration = Duration::from_secs(60);
pub const ADMIN: (&str, &str) = ("admin", "admin-password");
/// The token secret the test gateways use, so tests can forge expired and foreign tokens.
pub const JWT_SECRET: &str = "gateway-test-secret-gateway-test-secret";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The gateway binary, in Kubernetes mode on the test's namespace.
pub struct Gateway {
    child: Child,
    pub url: String,
}

impl Gateway {
    pub async fn start(env: &TestEnv, data_dir: &Path, runner_port: u16) -> Self {
        Self::start_with(env, data_dir, runner_port, &[]).await
    }

    pub async fn start_with(
        env: &TestEnv,
        data_dir: &Path,
        runner_port: u16,
        extra: &[&str],
    ) -> Self {
        let kubeconfig = narrow_kubeconfig(env, data_dir).await;
        let mut command = Self::command(data_dir);
        command
            .args(["--runtime", "kubernetes", "--namespace", &env.namespace])
            .args(["--runner-port", &runner_port.to_string()])
            .args(extra)
            .env("KUBECONFIG", kubeconfig);
        Self::spawn(command).await
    }

    /// Single-node mode: Workspaces and Sessions in the operator's store at `state_dir`.
    pub async fn start_local(data_dir: &Path, state_dir: &Path, namespace: &str) -> Self {
        Self::start_local_with(data_dir, state_dir, namespace, &[]).await
    }

    pub async fn start_local_with(
        data_dir: &Path,
        state_dir: &Path,
        namespace: &str,
        extra: &[&str],
    ) -> Self {
        let mut command = Self::command(data_dir);
        command
            .args([
                "--runtime",
                "podman",
                "--namespace",
                namespace,
                "--poll-ms",
                "50",
            ])
            .arg("--state-dir")
            .arg(state_dir)
            .args(extra);
        Self::spawn(command).await
    }

    /// Single-node mode with accounts in a shared PostgreSQL database and no configured token
    /// secret: what replicas of one gateway share comes from the database.
    pub async fn start_local_on_database(
        data_dir: &Path,
        state_dir: &Path,
        namespace: &str,
        database_url: &str,
        extra: &[&str],
    ) -> Self {
        let mut command = Self::command(data_dir);
        command
            .args(["--runtime", "podman", "--namespace", namespace])
            .arg("--state-dir")
            .arg(state_dir)
            .args(extra)
            .env("OQTO_DATABASE_URL", database_url)
            .env_remove("OQTO_JWT_SECRET");
        Self::spawn(command).await
    }

    /// The gateway's command line common to both modes.
    fn command(data_dir: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_oqto-gateway"));
        command
            .args(["--listen", "127.0.0.1:0", "--insecure-cookies"])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--ui-dir")
            .arg(data_dir.join("ui"))
            .env("OQTO_ADMIN_USER", ADMIN.0)
            .env("OQTO_ADMIN_PASSWORD", ADMIN.1)
            .env("OQTO_JWT_SECRET", JWT_SECRET)
            .env("OQTO_RUNNER_KEY", oqto_e2e::RUNNER_KEY)
            .env(
                "RUST_LOG",
                std::env::var("OQTO_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        command
    }

    /// Starts it and waits until it serves with its session table listed.
    async fn spawn(mut command: Command) -> Self {
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let line = tokio::time::timeout(WAIT, lines.next_line())
                .await
                .expect("the gateway announces its address")
                .unwrap()
                .expect("the gateway printed a line");
            if let Some(url) = line.strip_prefix("oqto-gateway listening on ") {
                break url.to_owned();
            }
        };
        let gateway = Self { child, url };
        // Ready once the session table has listed.
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{}/readyz", gateway.url)).send().await
                && r.status() == StatusCode::OK
            {
                return gateway;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway did not become ready");
    }

    pub fn rest(&self) -> Rest {
        Rest {
            http: reqwest::Client::new(),
            base: self.url.clone(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or_default()
    }

    pub fn ws_url(&self) -> String {
        format!("{}/api/ws/mux", self.url.replacen("http://", "ws://", 1))
    }

    /// Kills the process (SIGKILL): a crash, not a shutdown.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The gateway's shipped RBAC (gateway/deploy/rbac.yaml) in the test's namespace, and a
/// kubeconfig with its service account's token: the gateway under test has exactly the
/// access it ships with, not the control plane's admin.
async fn narrow_kubeconfig(env: &TestEnv, dir: &Path) -> PathBuf {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let rbac = repo_root().join("gateway/deploy/rbac.yaml");
    oqto_e2e::run_ok(env.kubectl().arg("apply").arg("-f").arg(&rbac)).unwrap();
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token = env
        .api::<ServiceAccount>()
        .create_token_request("oqto-gateway", &Default::default(), &request)
        .await
        .unwrap()
        .status
        .and_then(|status| status.token)
        .unwrap();
    let admin = std::fs::read_to_string(&env.control_plane.kubeconfig).unwrap();
    let narrow: String = admin
        .lines()
        .map(|line| match line.split_once("token: ") {
            Some((indent, _)) if indent.trim().is_empty() => format!("{indent}token: {token}\n"),
            _ => format!("{line}\n"),
        })
        .collect();
    assert_ne!(narrow, admin, "the kubeconfig has a token line to replace");
    let path = dir.join("gateway-kubeconfig");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&path, narrow).unwrap();
    // Narrow indeed: Secrets (say) are out of its reach.
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, &env.namespace);
    match secrets.list(&Default::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("the gateway's account may list secrets: {other:?}"),
    }
    path
}

#[derive(Clone, Copy)]
pub enum Cred<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
    Cookie(&'a str),
}

pub struct Rest {
    pub http: reqwest::Client,
    pub base: String,
}

impl Rest {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        cred: Cred<'_>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        request = match cred {
            Cred::None => request,
            Cred::Bearer(token) => request.bearer_auth(token),
            Cred::ApiKey(key) => request.header("x-api-key", key),
            Cred::Cookie(token) => request.header("cookie", format!("auth_token={token}")),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/login",
                Cred::None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a user as the admin and returns their token.
    pub async fn user(&self, admin: &str, username: &str) -> String {
        let password = format!("{username}-password");
        let (status, body) = self
            .call(
                Method::POST,
                "/api/users",
                Cred::Bearer(admin),
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.login(username, &password).await
    }

    /// Creates a Workspace and one Session in it (`session` is the Session's body: its name,
    /// its spec) as the token's user; fails the test on any refusal.
    pub async fn workspace_with_session(&self, token: &str, workspace: &str, session: Value) {
        self.ok(
            Method::POST,
            "/api/workspaces",
            token,
            Some(json!({ "name": workspace })),
        )
        .await;
        self.ok(
            Method::POST,
            &format!("/api/workspaces/{workspace}/sessions"),
            token,
            Some(session),
        )
        .await;
    }

    pub async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, path, Cred::Bearer(token), body).await;
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }
}

/// The mux client of the test support, failing the test on any error.
pub struct Mux(MuxClient);

impl Mux {
    pub async fn connect(url: &str, token: &str) -> Self {
        Self(MuxClient::connect(url, Some(token)).await.unwrap())
    }

    pub async fn send(&mut self, frame: Value) {
        self.0.send(frame).await.unwrap();
    }

    /// The close code the gateway ends the connection with.
    pub async fn close_code(&mut self) -> u16 {
        self.0.close_code().await.unwrap()
    }

    pub async fn send_raw(&mut self, text: String) {
        self.0.send_raw(text).await.unwrap();
    }

    /// The next frame that is not a ping.
    pub async fn next(&mut self) -> Value {
        self.0.next().await.unwrap()
    }

    pub async fn until(&mut self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.0.until(done).await.unwrap()
    }

    /// Sends an agent command and returns the frames up to its `response`.
    pub async fn command(
        &mut self,
        session: &str,
        id: &str,
        cmd: &str,
        fields: Value,
    ) -> Vec<Value> {
        self.0.exchange(session, id, cmd, fields).await.unwrap()
    }
}

#[allow(unused_imports)] // Each test file uses its own part.
pub use oqto_e2e::mux::{event_names, is_event, is_response};

/// The pinned Pi (hack/pi/install.sh; $OQTO_PI when set).
pub fn pi_program() -> PathBuf {
    static PI: OnceLock<PathBuf> = OnceLock::new();
    PI.get_or_init(|| oqto_e2e::installed_pi("OQTO_PI", "current").unwrap())
        .clone()
}

/// What every runner of one workspace shares: its files, Pi's home, hstry, and the LLM.
pub struct RunnerEnv {
    pub dir: tempfile::TempDir,
    pub workspace: PathBuf,
    pub home: PathBuf,
    pub hstry: ListenAddr,
    stop_hstry: Option<oneshot::Sender<()>>,
    pub llm: RunningLlm,
}

impl RunnerEnv {
    pub async fn new(script: Value) -> Arc<Self> {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("workspace");
        let home = dir.path().join("home");
        let agent_dir = home.join(".pi/agent");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::create_dir_all(&agent_dir).unwrap();
        let script: Script = serde_json::from_value(script).unwrap();
        let llm = ScriptedLlm::spawn(script, "127.0.0.1:0").await.unwrap();
        std::fs::write(
            agent_dir.join("models.json"),
            oqto_scripted_llm::models_json(&llm.base_url()).to_string(),
        )
        .unwrap();
        let listener =
            oqto_hstry::server::Listener::bind(&ListenAddr::Unix(dir.path().join("hstry.sock")))
                .await
                .unwrap();
        let hstry = listener.local_addr().unwrap();
        let store = oqto_hstry::store::Store::open(&dir.path().join("hstry.db")).unwrap();
        let (stop_hstry, stopped) = oneshot::channel::<()>();
        tokio::spawn(oqto_hstry::server::serve(listener, store, async {
            let _ = stopped.await;
        }));
        Arc::new(Self {
            dir,
            workspace,
            home,
            hstry,
            stop_hstry: Some(stop_hstry),
            llm,
        })
    }

    /// The bridge's configuration, as its command line would give it; with `delegation`
    /// (the gateway's URL and the Session's credential) it may start sub-agents, with the
    /// runner image's `delegate` extension and its API on a port of its own.
    fn config(
        &self,
        listen: SocketAddr,
        session: &str,
        token: &str,
        delegation: Option<&Delegation>,
    ) -> oqto_pi_bridge::config::Config {
        let args = self
            .base_args(listen, session, token)
            .into_iter()
            .chain(args_tail(delegation, listen));
        oqto_pi_bridge::config::Config::try_parse_from(args).unwrap()
    }

    fn base_args(&self, listen: SocketAddr, session: &str, token: &str) -> Vec<String> {
        vec![
            "pi-bridge".into(),
            "--listen".into(),
            listen.to_string(),
            "--session".into(),
            session.to_owned(),
            "--token".into(),
            token.to_owned(),
            "--runner-id".into(),
            "test-runner".into(),
            "--workspace".into(),
            self.workspace.display().to_string(),
            "--pi".into(),
            pi_program().display().to_string(),
            "--hstry".into(),
            self.hstry.to_string(),
            "--agent-dir".into(),
            self.home.join(".pi/agent").display().to_string(),
            "--provider".into(),
            "scripted".into(),
            "--model".into(),
            "scripted".into(),
        ]
    }
}

/// What a runner that may delegate is given (as the operator gives a runner Pod).
#[derive(Debug, Clone)]
pub struct Delegation {
    pub gateway_url: String,
    pub credential: String,
}

fn args_tail(delegation: Option<&Delegation>, listen: SocketAddr) -> Vec<String> {
    let Some(delegation) = delegation else {
        return Vec::new();
    };
    // Port 0: pi-bridge tells Pi (the delegate extension) the address it bound.
    let api = SocketAddr::new(listen.ip(), 0);
    vec![
        "--gateway-url".into(),
        delegation.gateway_url.clone(),
        "--session-credential".into(),
        delegation.credential.clone(),
        "--delegate-listen".into(),
        api.to_string(),
        "--pi-extension".into(),
        repo_root()
            .join("runner-image/pi-extensions/delegate.ts")
            .display()
            .to_string(),
    ]
}

/// A real pi-bridge serving on `listen`, on a runtime of its own: dropping it stops it at
/// once (its connections close and its Pi processes are killed), as when a pod goes away.
pub struct Runner {
    runtime: Option<tokio::runtime::Runtime>,
    pub listen: SocketAddr,
}

impl Runner {
    /// A bridge serving `session`, to whoever presents `token`.
    pub fn start(env: &RunnerEnv, listen: SocketAddr, session: &str, token: &str) -> Self {
        Self::start_with(env, listen, session, token, None)
    }

    /// The same, for a runner that may delegate.
    pub fn start_with(
        env: &RunnerEnv,
        listen: SocketAddr,
        session: &str,
        token: &str,
        delegation: Option<&Delegation>,
    ) -> Self {
        let config = env.config(listen, session, token, delegation);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // Bound here, so the address is taken when this returns (a pod's port is open once
        // it is ready).
        let listener = std::net::TcpListener::bind(listen).unwrap();
        listener.set_nonblocking(true).unwrap();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            if let Err(error) =
                oqto_pi_bridge::app::run(config, listener, std::future::pending()).await
            {
                eprintln!("pi-bridge failed: {error:#}");
            }
        });
        Self {
            runtime: Some(runtime),
            listen,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.listen)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Plays the kubelet for the runner pods of one namespace (there is none in this control
/// plane): each new pod gets a pi-bridge on a loopback address of its own (127.0.0.N, the
/// runner port) and is reported Running and Ready with that IP; a deleted pod's bridge is
/// stopped.
pub struct Kubelet {
    task: tokio::task::JoinHandle<()>,
    pub started: Arc<Mutex<Vec<String>>>,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Kubelet {
    pub fn start(env: &TestEnv, runners: Arc<RunnerEnv>, port: u16) -> Self {
        let pods: Api<Pod> = env.api();
        let secrets: Api<Secret> = env.api();
        let started = Arc::new(Mutex::new(Vec::new()));
        let log = started.clone();
        let task = tokio::spawn(async move {
            let mut running: HashMap<String, (String, Runner)> = HashMap::new();
            let mut next_ip = 2u8;
            let mut events =
                std::pin::pin!(watcher::watcher(pods.clone(), watcher::Config::default()));
            while let Some(event) = events.next().await {
                let (pod, deleted) = match event {
                    Ok(Event::Apply(pod) | Event::InitApply(pod)) => (pod, false),
                    Ok(Event::Delete(pod)) => (pod, true),
                    _ => continue,
                };
                let name = pod.name_any();
                let uid = pod.uid().unwrap_or_default();
                let gone = deleted || pod.metadata.deletion_timestamp.is_some();
                if gone {
                    // The container stops with its pod.
                    if running.get(&name).is_some_and(|(u, _)| *u == uid) {
                        running.remove(&name);
                    }
                    continue;
                }
                if running.get(&name).is_some_and(|(u, _)| *u == uid) {
                    continue;
                }
                let ip = format!("127.0.0.{next_ip}");
                next_ip = next_ip.wrapping_add(1).max(2);
                // The Session the operator told the runner to serve, and its token from the
                // Secret the Pod names, as the kubelet hands them to pi-bridge.
                let env_var = |name: &str| {
                    pod.spec
                        .iter()
                        .flat_map(|spec| &spec.containers)
                        .flat_map(|container| container.env.iter().flatten())
                        .find(|var| var.name == name)
                        .cloned()
                };
                let session = env_var(oqto_proto::runner::ENV_SESSION)
                    .and_then(|var| var.value)
                    .unwrap_or_default();
                let Some(token) =
                    secret_value(&secrets, env_var(oqto_proto::runner::ENV_TOKEN)).await
                else {
                    // As a kubelet does: the container waits for its Secret.
                    continue;
                };
                // A runner that may delegate gets the gateway's URL and its credential.
                let gateway_url =
                    env_var(oqto_proto::runner::ENV_GATEWAY_URL).and_then(|v| v.value);
                let delegation = match gateway_url {
                    Some(gateway_url) => secret_value(
                        &secrets,
                        env_var(oqto_proto::runner::ENV_SESSION_CREDENTIAL),
                    )
                    .await
                    .map(|credential| Delegation {
                        gateway_url,
                        credential,
                    }),
                    None => None,
                };
                let listen = format!("{ip}:{port}").parse().unwrap();
                let runner =
                    Runner::start_with(&runners, listen, &session, &token, delegation.as_ref());
                running.insert(name.clone(), (uid, runner));
                let status = json!({"status":{"phase":"Running","podIP":ip,
                    "conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True"}]}});
                if pods
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                    .await
                    .is_ok()
                {
                    log.lock().unwrap().push(name);
                }
            }
        });
        Self { task, started }
    }
}

/// The value an env var's `secretKeyRef` names, read a few times while the operator may still
/// be writing the Secret.
async fn secret_value(secrets: &Api<Secret>, var: Option<EnvVar>) -> Option<String> {
    let selector = var?.value_from?.secret_key_ref?;
    for _ in 0..50 {
        if let Ok(Some(secret)) = secrets.get_opt(&selector.name).await
            && let Some(value) = secret.data.as_ref().and_then(|d| d.get(&selector.key))
        {
            return String::from_utf8(value.0.clone()).ok();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[allow(unused_imports)] // Not every test binary needs it.
pub use oqto_e2e::free_port;

/// The operator as its own process (the binary `cargo test --workspace` built), reconciling the
/// test's namespace; killed when dropped.
pub struct Operator {
    _child: tokio::process::Child,
}

pub fn start_operator(env: &TestEnv, runner_port: u16) -> Operator {
    start_operator_with(env, runner_port, None)
}

/// The same; with `gateway_url`, its runners may delegate through that gateway.
pub fn start_operator_with(env: &TestEnv, runner_port: u16, gateway_url: Option<&str>) -> Operator {
    let binary = oqto_e2e::workspace_binary("oqto-operator").unwrap();
    let mut command = Command::new(binary);
    command.args([
        "run",
        "--runtime",
        "kubernetes",
        "--identity",
        "gateway-test-operator",
    ]);
    if let Some(url) = gateway_url {
        command.args(["--runner-gateway-url", url]);
    }
    let child = command
        .args([
            "--namespace",
            &env.namespace,
            "--lease-namespace",
            &env.namespace,
        ])
        .args(["--runner-image", "localhost/oqto-runner:dev"])
        .args(["--runner-port", &runner_port.to_string()])
        .args(["--activity-every", "500ms", "--http-listen", "127.0.0.1:0"])
        .env("KUBECONFIG", &env.control_plane.kubeconfig)
        .env("OQTO_RUNNER_KEY", oqto_e2e::RUNNER_KEY)
        .env(
            "RUST_LOG",
            std::env::var("OQTO_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Operator { _child: child }
}

/// Polls until `check` gives Some, or fails after WAIT.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    oqto_e2e::eventually(what, WAIT, check).await.unwrap()
}

/// Runs a runner for every Session of the store that should run; reports it in the status.
pub fn play_operator(
    store: Arc<oqto_store::LocalStore>,
    runners: Arc<RunnerEnv>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut running: Option<Runner> = None;
        loop {
            for session in store.list::<oqto_api::Session>(None).unwrap() {
                let phase = session.status.as_ref().and_then(|s| s.phase);
                let (want, status) = if session.spec.suspended {
                    running = None;
                    (
                        oqto_api::SessionPhase::Suspended,
                        oqto_api::SessionStatus {
                            phase: Some(oqto_api::SessionPhase::Suspended),
                            ..Default::default()
                        },
                    )
                } else {
                    let runner = running.get_or_insert_with(|| {
                        let listen: SocketAddr =
                            format!("127.0.0.1:{}", free_port()).parse().unwrap();
                        // The token the operator would give it; the gateway derives the same.
                        let uid = session.metadata.uid.as_deref().unwrap_or_default();
                        Runner::start(
                            &runners,
                            listen,
                            session.metadata.name.as_deref().unwrap_or_default(),
                            oqto_e2e::runner_key().token(uid).expose(),
                        )
                    });
                    (
                        oqto_api::SessionPhase::Running,
                        oqto_api::SessionStatus {
                            phase: Some(oqto_api::SessionPhase::Running),
                            endpoint: Some(format!("http://{}", runner.listen)),
                            ..Default::default()
                        },
                    )
                };
                if phase != Some(want) {
                    let mut updated = session.clone();
                    updated.status = Some(status);
                    // A conflict means the gateway wrote meanwhile: the next round retries.
                    let _ = store.update_status(&updated);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}
