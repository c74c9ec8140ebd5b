//! Runner start and wake-on-request, on the real Kubernetes node and on Podman, in one run with
//! one scripted LLM and one runner image. For each runtime, `$OQTO_BENCH_STARTS` rounds (default
//! 10, 3 with OQTO_BENCH_QUICK), one after another, in one Workspace owned by the gateway's admin:
//!
//! - apply → Ready: a Session applied until its status is `Running` with an endpoint;
//! - apply → first token: then, through the gateway's mux WebSocket, `session.create` and a
//!   prompt until the first `stream.text_delta` (still counted from the apply);
//! - wake → attached: the Session suspended (`spec.suspended`), its runner gone; then, on a new
//!   connection, `session.create` for it until its successful `response` (the first frame the
//!   woken runner sends);
//! - wake → first token: from the same `session.create` until the first streamed text of a
//!   prompt sent right after the answer.
//!
//! Prints p50/p95 per runtime beside the field's reference (agent-sandbox's wake-on-connect,
//! about 4 s p50 on kind with runc); never pass/fail. Every wait is bounded: a step that gives
//! up ends that runtime's rounds, and the figures gathered so far are printed with what gave up.
//!
//! Kubernetes: a namespace of its own, the operator and the gateway as their binaries (admin
//! kubeconfig), runner Pods placed by kube-scheduler on the node of `hack/k8s/node.sh` (the
//! Workspace tolerates its taint and stores on its `oqto-node` volumes: one per run) and reaching
//! the scripted LLM at the host's public address (`NODE_PUBLIC_IP`: Restricted runners reach no
//! private one when `--netpol` enforces their NetworkPolicies). Podman: the operator's Podman runtime in this process
//! (as `podman_start`), a Podman API service of its own, and the gateway binary in single-node
//! mode on the same store; the runners have Open egress, because Restricted runners may not
//! reach the host (the LLM) unless `hack/podman/egress.sh` admits its port for good.
//!
//! ```text
//! hack/k8s/controlplane.sh up
//! hack/k8s/node.sh up --netpol --taint oqto.dev/test-node=tolerated-only:NoSchedule localhost/oqto-runner:dev
//! cargo build --release --workspace --bins   # the bench runs from target/release: binaries beside it
//! cargo bench -p oqto-e2e --bench runner_start
//! ```
//!
//! Needs Podman too. `$OQTO_RUNNER_IMAGE` (default localhost/oqto-runner:dev, imported into the
//! node), `$OQTO_TEST_LOG` (the operator's and gateway's RUST_LOG, default warn).

#![allow(clippy::unwrap_used)] // A bench that cannot set up has nothing to report.

use std::future::Future;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use oqto_api::{Session, SessionPhase, SessionStatus, Workspace};
use oqto_bench::Figure;
use oqto_e2e::gateway::GatewayProcess;
use oqto_e2e::mux::{MuxClient, is_event, is_response};
use oqto_e2e::podman::{RemoveStoreObjects, podman, podman_service, workspace_volumes};
use oqto_e2e::{NODE_NAME, NODE_PUBLIC_IP, RUNNER_KEY, TestEnv, eventually, node_toleration};
use oqto_e2e::{run_ok, workspace_binary};
use oqto_operator::core::OperatorDefaults;
use oqto_operator::podman::{self as podman_operator, PodmanRuntime, render};
use oqto_scripted_llm::{Script, ScriptedLlm};
use oqto_store::LocalStore;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// How long one step may take before the bench gives up on a runtime (a start, a wake, a
/// runner going away); it bounds a hang, it does not judge speed.
const WAIT: Duration = Duration::from_secs(120);
/// How often a Session's status is read while its start is timed: the figures' resolution.
const POLL: Duration = Duration::from_millis(25);
/// The in-process Podman operator's resync, as `podman_start`'s. Podman sends no events, so
/// a runner's readiness is seen on a pass; the shipped binary resyncs every 2 s, which would
/// measure the interval rather than the start.
const PODMAN_RESYNC: Duration = Duration::from_millis(100);
const ADMIN: (&str, &str) = ("admin", "runner-start-bench-password");
const WORKSPACE: &str = "bench";
const PROMPT: &str = "hello";

/// The figures of one runtime, in the order they were taken, and what gave up if a step did.
#[derive(Default)]
struct Figures {
    ready: Vec<Duration>,
    /// From the apply until the runner answers `session.create` (its Pi loaded and asked for
    /// its state): with `ready` and `first_token`, where a cold start's time goes.
    attached: Vec<Duration>,
    first_token: Vec<Duration>,
    /// A second Session of the Workspace, applied while the first one's runner is up.
    beside_token: Vec<Duration>,
    /// A new Session created through the gateway (as the UI does) while the first one's
    /// runner is up: it claims the Workspace's warm spare.
    claimed_token: Vec<Duration>,
    /// A second Pi started inside the running runner until it answers (Podman): what a new
    /// Session costs when the Workspace's runner hosts one Pi per Session and keeps no spare.
    pi_in_runner: Vec<Duration>,
    wake_attached: Vec<Duration>,
    wake_token: Vec<Duration>,
    gave_up: Option<String>,
}

/// `step`, bounded by [`WAIT`]; its error names `what`.
async fn within<T>(what: &str, step: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::time::timeout(WAIT, step)
        .await
        .map_err(|_| anyhow::anyhow!("gave up after {WAIT:?} waiting for {what}"))?
        .with_context(|| format!("waiting for {what}"))
}

/// A Session of the bench's Workspace (`namespace` for the local store, which has no default).
fn session(name: &str, namespace: Option<&str>) -> Session {
    serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
        "metadata":{"name":name,"namespace":namespace},"spec":{"workspaceRef":{"name":WORKSPACE}}}))
    .unwrap()
}

/// The bench's Workspace: owned by the gateway's admin (who then may attach to its Sessions),
/// with the scripted LLM at `base_url`; `extra` is the runtime's part of the spec.
fn workspace(namespace: Option<&str>, base_url: &str, extra: Value) -> Workspace {
    let mut spec = json!({"owner": ADMIN.0, "llm": {"provider":"scripted","model":"scripted",
        "baseUrl": base_url, "credentialsSecretRef": {"name":"llm-keys"}}});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
        "metadata":{"name":WORKSPACE,"namespace":namespace},"spec":spec}))
    .unwrap()
}

/// Where one runtime's Sessions live, and how the bench tells that their runner is gone.
enum Sessions<'a> {
    Kubernetes(&'a TestEnv),
    Podman {
        store: Arc<LocalStore>,
        namespace: String,
    },
}

impl Sessions<'_> {
    async fn create(&self, name: &str) -> anyhow::Result<()> {
        match self {
            Self::Kubernetes(env) => {
                env.api::<Session>()
                    .create(&PostParams::default(), &session(name, None))
                    .await?;
            }
            Self::Podman { store, namespace } => {
                store.apply(session(name, Some(namespace)))?;
            }
        }
        Ok(())
    }

    async fn status(&self, name: &str) -> anyhow::Result<Option<SessionStatus>> {
        Ok(match self {
            Self::Kubernetes(env) => env.api::<Session>().get_opt(name).await?,
            Self::Podman { store, namespace } => store.get::<Session>(namespace, name)?,
        }
        .and_then(|s| s.status))
    }

    async fn suspend(&self, name: &str) -> anyhow::Result<()> {
        match self {
            Self::Kubernetes(env) => {
                env.api::<Session>()
                    .patch(
                        name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec":{"suspended":true}})),
                    )
                    .await?;
            }
            Self::Podman { store, namespace } => {
                store.patch_spec::<Session>(namespace, name, &json!({"suspended":true}))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, name: &str) -> anyhow::Result<()> {
        match self {
            Self::Kubernetes(env) => {
                match env
                    .api::<Session>()
                    .delete(name, &DeleteParams::default())
                    .await
                {
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    other => {
                        other?;
                    }
                }
            }
            Self::Podman { store, namespace } => {
                store.delete::<Session>(namespace, name)?;
            }
        }
        Ok(())
    }

    /// The Workspace's spare when it is Running with an endpoint.
    async fn spare_ready(&self) -> anyhow::Result<Option<String>> {
        let sessions = match self {
            Self::Kubernetes(env) => {
                let selector = format!("{}=true", oqto_api::spare::SPARE_LABEL);
                env.api::<Session>()
                    .list(&ListParams::default().labels(&selector))
                    .await?
                    .items
            }
            Self::Podman { store, namespace } => store
                .list::<Session>(Some(namespace))?
                .into_iter()
                .filter(|s| s.spec.workspace_ref.name == WORKSPACE)
                .collect(),
        };
        Ok(sessions
            .into_iter()
            .filter(oqto_api::spare::is_spare)
            .find(|s| {
                s.status.as_ref().is_some_and(|status| {
                    status.phase == Some(SessionPhase::Running) && status.endpoint.is_some()
                })
            })
            .and_then(|s| s.metadata.name))
    }

    /// No runner Pod left (a terminating one still counts: its container may run) or no
    /// runner container.
    async fn runner_gone(&self, name: &str) -> anyhow::Result<bool> {
        Ok(match self {
            Self::Kubernetes(env) => {
                let selector = format!("{}={name}", oqto_api::names::LABEL_SESSION);
                env.api::<Pod>()
                    .list(&ListParams::default().labels(&selector))
                    .await?
                    .items
                    .is_empty()
            }
            Self::Podman { namespace, .. } => {
                !podman(&[
                    "container",
                    "exists",
                    &render::container_name(namespace, name),
                ])
                .0
            }
        })
    }

    /// Polls (every [`POLL`]) until the Session is `Running` with an endpoint; a `Failed`
    /// Session ends the wait at once, with its status.
    async fn until_ready(&self, name: &str) -> anyhow::Result<()> {
        loop {
            if let Some(status) = self.status(name).await? {
                match status.phase {
                    Some(SessionPhase::Running) if status.endpoint.is_some() => return Ok(()),
                    Some(SessionPhase::Failed) => anyhow::bail!(
                        "the Session failed: {}",
                        serde_json::to_string(&status).unwrap_or_default()
                    ),
                    _ => {}
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the Session is `Suspended` (when `suspended`) and its runner is gone.
    async fn until_runner_gone(&self, name: &str, suspended: bool) -> anyhow::Result<()> {
        let what = if suspended {
            format!("{name} Suspended and its runner gone")
        } else {
            format!("{name}'s runner gone")
        };
        eventually(&what, WAIT, || async move {
            if suspended {
                let phase = self.status(name).await.ok()??.phase;
                (phase == Some(SessionPhase::Suspended)).then_some(())?;
            }
            self.runner_gone(name).await.ok()?.then_some(())
        })
        .await
    }
}

/// The gateway binary, killed on drop.
struct Gateway(GatewayProcess);

impl Gateway {
    /// Starts `command` (the mode's own arguments set) with the admin, the runner key and a
    /// data directory of its own; waits until it listens and is ready.
    async fn start(mut command: Command, data_dir: &Path) -> anyhow::Result<Self> {
        command
            .arg("--ui-dir")
            .arg(data_dir.join("ui"))
            .env("RUST_LOG", log_filter())
            .stdin(Stdio::null());
        Ok(Self(GatewayProcess::start(command, data_dir, ADMIN).await?))
    }

    /// The admin's token, from a REST login.
    async fn login(&self) -> anyhow::Result<String> {
        self.0.login(ADMIN.0, ADMIN.1).await
    }

    /// A new Session of the bench's Workspace through the REST API, without a name (as the UI
    /// creates one): the name the gateway answers with.
    async fn create_session(&self, token: &str) -> anyhow::Result<String> {
        let path = format!("/api/workspaces/{WORKSPACE}/sessions");
        let (status, answer) = self
            .0
            .call(reqwest::Method::POST, &path, token, Some(json!({})))
            .await?;
        anyhow::ensure!(status == 201, "creating a Session: {status} {answer}");
        answer["metadata"]["name"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no name in the created Session {answer}"))
    }

    async fn connect(&self, token: &str) -> anyhow::Result<MuxClient> {
        within(
            "a mux connection",
            MuxClient::connect(&self.0.mux_url(), Some(token)),
        )
        .await
    }
}

fn log_filter() -> String {
    std::env::var("OQTO_TEST_LOG").unwrap_or_else(|_| "warn".into())
}

/// Sends a prompt and waits for its first streamed text; a refused prompt or a turn that ends
/// without text is an error, not a wait until the timeout.
async fn prompt_until_text(mux: &mut MuxClient, session: &str, id: &str) -> anyhow::Result<()> {
    mux.send(
        json!({"channel":"agent","session_id":session,"id":id,"cmd":"prompt","message":PROMPT}),
    )
    .await?;
    let frames = within(
        "the first streamed text",
        mux.until(|f| {
            is_event(f, "stream.text_delta")
                || is_event(f, "agent.idle")
                || (is_response(f, id) && f["success"] != true)
        }),
    )
    .await?;
    let last = frames.last().cloned().unwrap_or_default();
    anyhow::ensure!(
        is_event(&last, "stream.text_delta"),
        "the prompt streamed no text: {last}"
    );
    Ok(())
}

/// One round on `name`: start, first token, suspend, wake, delete. Each figure is kept as soon
/// as it is taken, so a round that gives up half-way still reports what it measured.
async fn round(
    sessions: &Sessions<'_>,
    gateway: &Gateway,
    token: &str,
    name: &str,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let applied = Instant::now();
    sessions
        .create(name)
        .await
        .context("applying the Session")?;
    within("phase Running with an endpoint", sessions.until_ready(name)).await?;
    figures.ready.push(applied.elapsed());

    let mut mux = gateway.connect(token).await?;
    within("session.create answered", mux.create_session(name)).await?;
    figures.attached.push(applied.elapsed());
    prompt_until_text(&mut mux, name, "p1").await?;
    figures.first_token.push(applied.elapsed());
    // The turn ends before the suspend: a busy runner is not what is measured.
    within("the turn to end", mux.until(|f| is_event(f, "agent.idle"))).await?;
    drop(mux);

    if let Sessions::Podman { namespace, .. } = sessions {
        let container = render::container_name(namespace, name);
        let took = within(
            "a second Pi in the running runner",
            pi_answers(&["exec", "-i", &container, "/usr/local/bin/pi"]),
        )
        .await?;
        figures.pi_in_runner.push(took);
    }

    // A new Session in a Workspace whose runner is up, as the UI creates one: it claims the
    // warm spare the operator started beside the first (issue 19's warm-start figure).
    let spare = within("the Workspace's spare Running", async {
        loop {
            if let Some(spare) = sessions.spare_ready().await? {
                return anyhow::Ok(spare);
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await?;
    let asked = Instant::now();
    let claimed = gateway.create_session(token).await?;
    let mut mux = gateway.connect(token).await?;
    within("session.create answered", mux.create_session(&claimed)).await?;
    prompt_until_text(&mut mux, &claimed, "pc").await?;
    let took = asked.elapsed();
    anyhow::ensure!(
        claimed == spare,
        "the gateway made {claimed} instead of claiming the spare {spare}"
    );
    figures.claimed_token.push(took);
    within("the turn to end", mux.until(|f| is_event(f, "agent.idle"))).await?;
    drop(mux);
    sessions
        .delete(&claimed)
        .await
        .context("deleting the claimed Session")?;
    sessions.until_runner_gone(&claimed, false).await?;

    // A new Session applied by name beside a running one: no spare fits it (a cold start).
    let beside = format!("{name}-b");
    let applied = Instant::now();
    sessions
        .create(&beside)
        .await
        .context("applying the second Session")?;
    within("the second Session Running", sessions.until_ready(&beside)).await?;
    let mut mux = gateway.connect(token).await?;
    within("session.create answered", mux.create_session(&beside)).await?;
    prompt_until_text(&mut mux, &beside, "pb").await?;
    figures.beside_token.push(applied.elapsed());
    within("the turn to end", mux.until(|f| is_event(f, "agent.idle"))).await?;
    drop(mux);
    sessions
        .delete(&beside)
        .await
        .context("deleting the second Session")?;
    sessions.until_runner_gone(&beside, false).await?;

    sessions.suspend(name).await.context("suspending")?;
    sessions.until_runner_gone(name, true).await?;

    // The connection is open before the clock starts: the wake is what is measured.
    let mut mux = gateway.connect(token).await?;
    let woken = Instant::now();
    within(
        "the suspended Session's session.create answered",
        mux.create_session(name),
    )
    .await?;
    figures.wake_attached.push(woken.elapsed());
    prompt_until_text(&mut mux, name, "p2").await?;
    figures.wake_token.push(woken.elapsed());
    within("the turn to end", mux.until(|f| is_event(f, "agent.idle"))).await?;
    drop(mux);

    // Gone before the next round: one runner at a time.
    sessions
        .delete(name)
        .await
        .context("deleting the Session")?;
    sessions.until_runner_gone(name, false).await
}

/// All rounds on one runtime; the first that gives up ends them (its Session is deleted).
async fn rounds(
    runtime: &str,
    sessions: &Sessions<'_>,
    gateway: &Gateway,
    token: &str,
    count: usize,
    figures: &mut Figures,
) {
    for i in 0..count {
        let name = format!("s{i}");
        let started = Instant::now();
        if let Err(e) = round(sessions, gateway, token, &name, figures).await {
            eprintln!("{runtime}: round {}/{count} gave up: {e:#}", i + 1);
            figures.gave_up = Some(format!("round {} ({name}): {e:#}", i + 1));
            let _ = sessions.delete(&name).await;
            let _ = sessions.until_runner_gone(&name, false).await;
            return;
        }
        eprintln!(
            "{runtime}: round {}/{count} done in {:.1?} (ready {:.2?}, wake {:.2?})",
            i + 1,
            started.elapsed(),
            figures.ready.last().copied().unwrap_or_default(),
            figures.wake_attached.last().copied().unwrap_or_default(),
        );
    }
}

/// The node of `hack/k8s/node.sh`, Ready: without it the runners would stay Pending, and the
/// bench would only time that out.
async fn node_ready(env: &TestEnv) -> anyhow::Result<()> {
    let node = Api::<Node>::all(env.client.clone())
        .get_opt(NODE_NAME)
        .await?
        .with_context(|| format!("no node {NODE_NAME}: hack/k8s/node.sh up --taint …"))?;
    let ready = node
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    anyhow::ensure!(ready, "node {NODE_NAME} is not Ready");
    Ok(())
}

async fn kubernetes(image: &str, llm_port: u16, count: usize) -> Figures {
    let mut figures = Figures::default();
    if let Err(e) = run_kubernetes(image, llm_port, count, &mut figures).await {
        eprintln!("kubernetes: {e:#}");
        figures.gave_up.get_or_insert(format!("setup: {e:#}"));
    }
    figures
}

async fn run_kubernetes(
    image: &str,
    llm_port: u16,
    count: usize,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    eprintln!("kubernetes: setting up");
    let env = TestEnv::new("bench-start").await?;
    node_ready(&env).await?;
    let dir = tempfile::tempdir()?;
    run_ok(env.kubectl().args([
        "create",
        "secret",
        "generic",
        "llm-keys",
        "--from-literal=OQTO_LLM_API_KEY=scripted-key",
    ]))?;
    let namespace = env.namespace.as_str();
    let _operator = Command::new(workspace_binary("oqto-operator")?)
        .args([
            "run",
            "--runtime",
            "kubernetes",
            "--identity",
            "bench-start",
            "--warm-spares",
        ])
        .args(["--namespace", namespace, "--lease-namespace", namespace])
        .args(["--runner-image", image, "--http-listen", "127.0.0.1:0"])
        .env("KUBECONFIG", &env.control_plane.kubeconfig)
        .env("OQTO_RUNNER_KEY", RUNNER_KEY)
        .env("RUST_LOG", log_filter())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting oqto-operator")?;
    let workspaces: Api<Workspace> = env.api();
    // The node's Pods reach the host (the scripted LLM) on the bridge's address.
    let llm = format!("http://{NODE_PUBLIC_IP}:{llm_port}/v1");
    let spec = json!({"storage": {"storageClassName":"oqto-node","accessModes":["ReadWriteOnce"],
        "size":"1Gi"}, "runner": {"tolerations": [node_toleration()]}});
    workspaces
        .create(&PostParams::default(), &workspace(None, &llm, spec))
        .await?;
    // From here on the Workspace exists: whatever happens, it is deleted below.
    let measured = async {
        let mut gateway = Command::new(workspace_binary("oqto-gateway")?);
        gateway
            .args(["--runtime", "kubernetes", "--namespace", namespace])
            .env("KUBECONFIG", &env.control_plane.kubeconfig);
        let gateway = Gateway::start(gateway, &dir.path().join("gateway")).await?;
        let token = gateway.login().await?;
        let sessions = Sessions::Kubernetes(&env);
        rounds("kubernetes", &sessions, &gateway, &token, count, figures).await;
        anyhow::Ok(())
    }
    .await;

    // The Workspace goes while the operator runs: its finalizer needs the operator, and a
    // namespace left Terminating would load the next run.
    eprintln!("kubernetes: deleting the Workspace");
    let _ = workspaces.delete(WORKSPACE, &DeleteParams::default()).await;
    let gone = eventually("the Workspace deleted", WAIT, || async {
        workspaces
            .get_opt(WORKSPACE)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    if let Err(e) = gone {
        eprintln!("kubernetes: cleanup: {e:#}");
    }
    measured
}

async fn podman_runtime(image: &str, llm_port: u16, count: usize) -> Figures {
    let mut figures = Figures::default();
    if let Err(e) = run_podman(image, llm_port, count, &mut figures).await {
        eprintln!("podman: {e:#}");
        figures.gave_up.get_or_insert(format!("setup: {e:#}"));
    }
    figures
}

async fn run_podman(
    image: &str,
    llm_port: u16,
    count: usize,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    eprintln!("podman: setting up");
    let dir = tempfile::tempdir()?;
    let socket = dir.path().join("podman.sock");
    let _service = podman_service(&socket).await?;
    let state = dir.path().join("store");
    let store = Arc::new(LocalStore::open(&state)?);
    // Dropped after the operator stopped (declared before it): whatever the store made goes,
    // also when a step failed.
    let _leftovers = RemoveStoreObjects(store.id().to_owned());
    let namespace = format!("bench-start-{}", std::process::id());
    let secret = store.secret_path(&namespace, "llm-keys");
    std::fs::create_dir_all(secret.parent().context("the secret's directory")?)?;
    std::fs::write(&secret, "OQTO_LLM_API_KEY=scripted-key\n")?;
    // Runners on Podman's default network reach the host by this name.
    let llm = format!("http://host.containers.internal:{llm_port}/v1");
    let spec = json!({"storage": {"reclaimPolicy":"Delete"}, "network": {"egress":"Open"}});
    store.apply(workspace(Some(&namespace), &llm, spec))?;

    let reconciler = podman_operator::reconciler(
        store.clone(),
        PodmanRuntime::connect(&socket.display().to_string())?,
        OperatorDefaults {
            runner_image: Some(image.to_owned()),
            warm_spares: true,
            ..OperatorDefaults::new(oqto_e2e::runner_key())
        },
        podman_operator::Settings::default(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(podman_operator::run(reconciler, PODMAN_RESYNC, async {
        let _ = stopped.await;
    }));
    // From here on the operator runs: whatever happens, it takes the Workspace away below.
    let measured = async {
        let mut gateway = Command::new(workspace_binary("oqto-gateway")?);
        gateway
            .args(["--runtime", "podman", "--namespace", &namespace])
            .args(["--poll-ms", "50"])
            .arg("--state-dir")
            .arg(&state);
        let gateway = Gateway::start(gateway, &dir.path().join("gateway")).await?;
        let token = gateway.login().await?;
        let sessions = Sessions::Podman {
            store: store.clone(),
            namespace: namespace.clone(),
        };
        rounds("podman", &sessions, &gateway, &token, count, figures).await;
        anyhow::Ok(())
    }
    .await;

    // As on Kubernetes, the operator takes the Workspace's Sessions and volumes away.
    eprintln!("podman: deleting the Workspace");
    let _ = store.delete::<Workspace>(&namespace, WORKSPACE);
    let gone = eventually("the Workspace and its volumes deleted", WAIT, || async {
        let deleted = store
            .get::<Workspace>(&namespace, WORKSPACE)
            .ok()?
            .is_none();
        (deleted && workspace_volumes(&namespace, WORKSPACE).is_empty()).then_some(())
    })
    .await;
    if let Err(e) = gone {
        eprintln!("podman: cleanup: {e:#}");
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(WAIT, operator).await;
    measured
}

/// The `p`-th percentile of `times`, "-" without any.
fn percentile(times: &[Duration], p: f64) -> String {
    let mut sorted = times.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return "-".to_owned();
    }
    let at = sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    format!("{at:.2?}")
}

/// The bench's name in `hack/bench.sh`'s table, and the row cold starts are compared with.
const BENCH: &str = "runner_start";
const FLOOR: &str = "floor: podman run until Pi answers";

/// Records one row of a runtime's for `hack/bench.sh`, with the goal issue 19 set for it.
fn record(runtime: &str, row: &str, times: &[Duration]) {
    if times.is_empty() {
        return;
    }
    let figure = Figure::latency(BENCH, &format!("{runtime}: {row}"), times);
    let figure = match row {
        "apply -> first streamed token" => figure
            .against(FLOOR)
            .target("≤ 1.5 × floor")
            .plotted_in("start latency"),
        "new Session via REST, spare claimed -> token" => {
            figure.target("p50 ≤ 300 ms").plotted_in("start latency")
        }
        "wake: frame -> first streamed token" => figure.target("agent-sandbox ≈ 4 s (kind, runc)"),
        _ => figure,
    };
    figure.record();
}

/// One figure of a runtime's, as a row of the table takes it.
type Column = fn(&Figures) -> &[Duration];

fn report(count: usize, image: &str, floor: &[Duration], kubernetes: &Figures, podman: &Figures) {
    println!("runner start and wake-on-request: {count} rounds per runtime, image {image}");
    println!(
        "floor: `podman run` of the image until Pi answers get_state: p50 {}, p95 {} (n = {})",
        percentile(floor, 0.50),
        percentile(floor, 0.95),
        floor.len()
    );
    println!(
        "{:<42} {:>10} {:>10} {:>10} {:>10}",
        "", "k8s p50", "k8s p95", "podman p50", "podman p95"
    );
    let rows: [(&str, Column); 8] = [
        ("apply -> Ready (Running, endpoint)", |f| &f.ready),
        ("apply -> session.create answered", |f| &f.attached),
        ("apply -> first streamed token", |f| &f.first_token),
        ("new Session via REST, spare claimed -> token", |f| {
            &f.claimed_token
        }),
        ("beside a running Session: apply -> token", |f| {
            &f.beside_token
        }),
        ("a second Pi in the running runner answers", |f| {
            &f.pi_in_runner
        }),
        ("wake: frame -> session.create answered", |f| {
            &f.wake_attached
        }),
        ("wake: frame -> first streamed token", |f| &f.wake_token),
    ];
    Figure::latency(BENCH, FLOOR, floor)
        .plotted_in("start latency")
        .record();
    for (name, figure) in rows {
        let (k, p) = (figure(kubernetes), figure(podman));
        for (runtime, times) in [("kubernetes", k), ("podman", p)] {
            record(runtime, name, times);
        }
        let mut line = format!(
            "{name:<42} {:>10} {:>10} {:>10} {:>10}",
            percentile(k, 0.50),
            percentile(k, 0.95),
            percentile(p, 0.50),
            percentile(p, 0.95)
        );
        if k.len() < count || p.len() < count {
            line.push_str(&format!("  (n = {} / {})", k.len(), p.len()));
        }
        println!("{line}");
    }
    println!("reference: agent-sandbox wake-on-connect ≈ 4 s p50 (kind, runc)");
    println!(
        "targets (issue 19): a new Session beside a running one (spare claimed) p50 ≤ 300 ms; a cold start ≤ 1.5 × the floor"
    );
    if let Some(floor) = median(floor) {
        for (runtime, figures) in [("kubernetes", kubernetes), ("podman", podman)] {
            if let Some(cold) = median(&figures.first_token) {
                println!(
                    "{runtime}: cold first token / floor = {:.2}",
                    cold.as_secs_f64() / floor.as_secs_f64()
                );
            }
        }
    }
    for (runtime, figures) in [("kubernetes", kubernetes), ("podman", podman)] {
        if let Some(why) = &figures.gave_up {
            println!("{runtime} gave up: {why}");
        }
    }
}

#[tokio::main]
async fn main() {
    let image =
        std::env::var("OQTO_RUNNER_IMAGE").unwrap_or_else(|_| "localhost/oqto-runner:dev".into());
    let count = oqto_bench::count("OQTO_BENCH_STARTS", 10, 3);
    // One LLM for both runtimes, on every address: the node's bridge and Podman's network.
    let script: Script = serde_json::from_value(json!({"rules":[{"when_user_contains":PROMPT,
        "steps":[{"kind":"text","chunks":["Hello ","from ","the ","bench"],"delay_ms":0}]}]}))
    .unwrap();
    let llm = ScriptedLlm::spawn(script, "0.0.0.0:0")
        .await
        .expect("the scripted LLM listens");
    let llm_port = llm.addr().port();

    let extensions = image_extensions(&image).expect("the runner image's Pi extensions");
    eprintln!("Pi loads the image's extensions: {}", extensions.join(", "));
    EXTENSIONS.get_or_init(|| extensions);
    let floor = floor(&image, count).await;
    let kubernetes = kubernetes(&image, llm_port, count).await;
    let podman = podman_runtime(&image, llm_port, count).await;
    report(count, &image, &floor, &kubernetes, &podman);
}

fn median(times: &[Duration]) -> Option<Duration> {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

/// The floor a runner start is compared with: a bare `podman run` of the runner image whose
/// process is Pi itself (RPC mode, every extension the image configures: `image_extensions`),
/// until Pi answers its first command.
/// No pi-bridge, hstry, storage, network or operator: what no design can avoid.
async fn floor(image: &str, count: usize) -> Vec<Duration> {
    let mut times = Vec::new();
    for i in 0..count {
        let run = [
            "run",
            "--rm",
            "-i",
            "--network",
            "none",
            "--entrypoint",
            "/usr/local/bin/pi",
            image,
        ];
        match within("Pi's first answer in a bare container", pi_answers(&run)).await {
            Ok(took) => times.push(took),
            Err(e) => {
                eprintln!("floor: round {}/{count} gave up: {e:#}", i + 1);
                break;
            }
        }
    }
    eprintln!("floor: {} rounds", times.len());
    times
}

/// `podman ARGS… --mode rpc …` (ARGS end with Pi's command), until Pi answers `get_state`.
/// The Pi extensions the runner's Pi loads: the image's `PI_BRIDGE_PI_EXTENSIONS`, so the floor's
/// Pi starts as the runner's does (with each extension the image ships, no fewer).
fn image_extensions(image: &str) -> anyhow::Result<Vec<String>> {
    let out = std::process::Command::new("podman")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Env}}",
            image,
        ])
        .output()
        .context("podman image inspect")?;
    anyhow::ensure!(out.status.success(), "podman image inspect {image} failed");
    let env: Vec<String> = serde_json::from_slice(&out.stdout).context("the image's Env")?;
    let list = env
        .iter()
        .find_map(|var| var.strip_prefix("PI_BRIDGE_PI_EXTENSIONS="))
        .context("the image sets no PI_BRIDGE_PI_EXTENSIONS")?;
    Ok(list
        .split(',')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The image's extensions, read once in `main` (before any Pi is timed).
static EXTENSIONS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

async fn pi_answers(podman_args: &[&str]) -> anyhow::Result<Duration> {
    let extensions = EXTENSIONS
        .get()
        .context("the image's extensions were not read")?;
    use tokio::io::AsyncWriteExt as _;
    let started = Instant::now();
    let mut child = Command::new("podman")
        .args(podman_args)
        .args(["--mode", "rpc", "--session-dir", "/tmp/bench-sessions"])
        .args(extensions.iter().flat_map(|e| ["--extension", e.as_str()]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("podman run")?;
    let mut stdin = child.stdin.take().context("Pi's stdin")?;
    stdin
        .write_all(b"{\"id\":\"floor\",\"type\":\"get_state\"}\n")
        .await?;
    let mut lines = BufReader::new(child.stdout.take().context("Pi's stdout")?).lines();
    while let Some(line) = lines.next_line().await? {
        if line.contains("\"floor\"") && line.contains("\"response\"") {
            let took = started.elapsed();
            drop(stdin);
            let _ = child.kill().await;
            return Ok(took);
        }
    }
    anyhow::bail!("Pi ended without answering")
}
