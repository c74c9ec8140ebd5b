//! The team admin's day, in one test, on the real control plane and its real node (kubelet,
//! containerd, runc, kube-proxy, Traefik, kube-router's NetworkPolicies; `hack/k8s/node.sh`):
//! `helm install` with the images imported into the node, two gateway replicas sharing their
//! accounts in PostgreSQL, an Ingress of the node's Traefik → the operator and the gateways run
//! as Pods → the admin logs in through the ingress host and makes an Oqto user, alice → alice,
//! with only the RBAC the chart gives `kubectlUsers`, `kubectl apply`s a Workspace and a
//! Session → the runner Pod starts under the `restricted` Pod Security Standard → a chat (the
//! real Pi, the scripted LLM at the host's public address), a file and a terminal through the
//! ingress → from that terminal, the runner reaches neither the apiserver, nor another runner,
//! nor a private service, but the internet → `oqtoctl chat`, whose gateway Pod is killed
//! mid-answer, carries on through the other → the runner Pod deleted mid-session, history and
//! files intact → suspend (Pod gone, claim kept) and wake-on-request → `helm upgrade` with
//! changed values (a new class, a faster activity check), accounts and keys kept → idle suspend
//! → `helm uninstall`, the users' namespace and storage kept (`reclaimPolicy: Retain` is the
//! chart's `keep`).
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Pod, Secret};
use kube::Api;
use kube::api::ListParams;
use oqto_e2e::mux::MuxClient;
use oqto_e2e::oqtoctl::Chat;
use oqto_e2e::{TestEnv, eventually, repo_root, run_ok};
use oqto_scripted_llm::{Script, ScriptedLlm};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(180);
const ALICE_PASSWORD: &str = "alice-password-on-the-node";
/// The provider's key: in the LLM proxy's Secret, and nowhere a runner can look.
const UPSTREAM_KEY: &str = "sk-upstream-team-day-7f3c9a2e51d84b06";
/// The chart's ingress host, which the node's Traefik serves on [`oqto_e2e::ingress_address`]
/// (loopback): every client here, `oqtoctl` included, resolves it without help.
const HOST: &str = "localhost";

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The chart's values for this test: images from the node's containerd, everything tolerating
/// the test node's taint and storing on its volumes, `alice` a kubectl user, the class's LLM the
/// scripted one on the node's bridge.
fn values(workspaces: &str, llm_port: u16, proxy_ip: &str, upgraded: bool) -> String {
    let taint = oqto_e2e::NODE_TAINT.0;
    // Restricted runners reach no private address: the LLM is on the host's "internet" one.
    let host = oqto_e2e::NODE_PUBLIC_IP;
    let (activity, extra_class) = if upgraded {
        (
            "2s",
            "    large:\n      displayName: Large\n      users: [alice]\n      network: {egress: Restricted}\n",
        )
    } else {
        ("30s", "")
    };
    format!(
        "image: {{registry: localhost, tag: dev, pullPolicy: Never}}
operator:
  replicas: 1
  watchNamespaces: [{workspaces}]
  tolerations: [{{key: {taint}, operator: Exists}}]
  activityEvery: {activity}
gateway:
  # Two replicas sharing their accounts in PostgreSQL (on the host, reached on the bridge).
  replicas: 2
  database: {{existingSecret: gateway-db}}
  tolerations: [{{key: {taint}, operator: Exists}}]
  ingress: {{enabled: true, className: oqto, host: {HOST}}}
  # The ingress controller reaches Pods from the node's bridge address.
  trustedProxies: [{host}/32]
kubectlUsers:
  users: [alice]
# Runners reach the LLM only through the proxy; its key is in the admin's Secret llm-upstream.
# The node resolves no Service names: a fixed ClusterIP instead.
llmProxy:
  enabled: true
  providers:
    - {{name: scripted, api: openai-completions, baseUrl: 'http://{host}:{llm_port}/v1', apiKeyEnv: UPSTREAM_KEY}}
    - {{name: scripted-anthropic, api: anthropic-messages, baseUrl: 'http://{host}:{llm_port}', apiKeyEnv: UPSTREAM_KEY}}
  models:
    - {{provider: scripted, id: scripted, contextWindow: 128000, maxTokens: 4096, price: {{input: 1, output: 2}}}}
    - {{provider: scripted-anthropic, id: scripted-claude, contextWindow: 200000, maxTokens: 4096}}
  existingSecret: llm-upstream
  url: http://{proxy_ip}:8091
  service: {{clusterIP: {proxy_ip}}}
  persistence: {{storageClassName: oqto-node}}
  tolerations: [{{key: {taint}, operator: Exists}}]
workspaceClasses:
  classes:
    standard:
      network: {{egress: Restricted}}
      storage: {{storageClassName: oqto-node, maxSize: 50Gi}}
      runner: {{tolerations: [{{key: {taint}, operator: Exists}}]}}
      llm:
        provider: scripted
        model: scripted
{extra_class}"
    )
}

/// The Ready gateway Pods' addresses.
async fn gateway_ips(pods: &Api<Pod>) -> Vec<String> {
    pods.list(&ListParams::default().labels("app.kubernetes.io/name=oqto-gateway"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| pod_ready(p) && p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.status?.pod_ip)
        .collect()
}

/// The gateway Pod that holds a mux connection now (its `oqto_gateway_mux_connections`).
async fn gateway_with_a_connection(pods: &Api<Pod>) -> Option<String> {
    for pod in pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=oqto-gateway"))
        .await
        .ok()?
        .items
    {
        let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.clone()) else {
            continue;
        };
        let metrics = reqwest::get(format!("http://{ip}:8080/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let open = metrics
            .lines()
            .find_map(|l| l.strip_prefix("oqto_gateway_mux_connections "))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if open >= 1.0 {
            return pod.metadata.name;
        }
    }
    None
}

/// `helm install` or `helm upgrade` of the chart with these values, waiting for the Pods.
fn helm_deploy(env: &TestEnv, verb: &str, release: &str, values: &str) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), values).unwrap();
    let deployed = run_ok(
        Command::new(oqto_e2e::helm().unwrap())
            .args([verb, release])
            .arg(repo_root().join("charts/oqto"))
            .args(["--namespace", &env.namespace, "--skip-crds", "--wait"])
            .args(["--timeout", "180s", "--values"])
            .arg(file.path())
            .env("KUBECONFIG", &env.control_plane.kubeconfig),
    );
    if let Err(error) = deployed {
        panic!("helm {verb}: {error}\n{}", cluster_view(env));
    }
}

/// kubectl in the users' namespace as alice (the admin impersonating her: her name, the group
/// `system:authenticated`, and only the chart's RBAC for kubectl users).
fn kubectl_as_alice(env: &TestEnv, workspaces: &str) -> Command {
    let mut kubectl = env.control_plane.kubectl();
    kubectl.args(["--as=alice", "--namespace", workspaces]);
    kubectl
}

/// Waits for a Ready gateway Pod on the node, and for the ingress to route to a ready gateway.
async fn gateway_ready(pods: &Api<Pod>, http: &reqwest::Client, base: &str) {
    let pod = eventually("a Ready gateway Pod", WAIT, || {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels("app.kubernetes.io/name=oqto-gateway"))
                .await
                .ok()?
                .items
                .into_iter()
                .find(|p| pod_ready(p) && p.metadata.deletion_timestamp.is_none())
        }
    })
    .await
    .unwrap();
    assert_eq!(
        pod.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some(oqto_e2e::NODE_NAME),
        "the gateway runs on the node"
    );
    let ready = format!("{base}/readyz");
    eventually("the gateway answers through the ingress", WAIT, || {
        let (http, ready) = (http.clone(), ready.clone());
        async move {
            let answer = http.get(&ready).send().await.ok()?;
            answer.status().is_success().then_some(())
        }
    })
    .await
    .unwrap();
}

async fn login(http: &reqwest::Client, base: &str, user: &str, password: &str) -> String {
    let answer: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{user} logs in: {answer}"))
        .to_owned()
}

/// The Session's runner Pod once the kubelet reports it Ready and the Session is Running.
async fn running_runner(
    sessions: &Api<oqto_api::Session>,
    runners: &Api<Pod>,
    old_uid: Option<String>,
) -> Pod {
    eventually("the Session is Running on a Ready runner Pod", WAIT, || {
        let (sessions, runners, old_uid) = (sessions.clone(), runners.clone(), old_uid.clone());
        async move {
            let session = sessions.get("alices-chat").await.ok()?;
            (session.status?.phase? == oqto_api::SessionPhase::Running).then_some(())?;
            runners
                .list(&ListParams::default().labels("oqto.dev/session=alices-chat"))
                .await
                .ok()?
                .items
                .into_iter()
                .find(|p| {
                    pod_ready(p)
                        && p.metadata.uid != old_uid
                        && p.metadata.deletion_timestamp.is_none()
                })
        }
    })
    .await
    .unwrap()
}

/// Waits until no Pod of `api` matches `selector`.
async fn pods_gone(api: &Api<Pod>, selector: &str, what: &str) {
    eventually(what, WAIT, || {
        let api = api.clone();
        async move {
            let list = api
                .list(&ListParams::default().labels(selector))
                .await
                .ok()?;
            list.items.is_empty().then_some(())
        }
    })
    .await
    .unwrap();
}

/// The apiserver as a Pod would reach it on the host: the bridge's address, its secure port.
fn apiserver_on_the_bridge(env: &TestEnv) -> String {
    let config = kube::config::Kubeconfig::read_from(&env.control_plane.kubeconfig).unwrap();
    let server = config.clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.server.clone())
        .unwrap();
    let port = server.rsplit(':').next().unwrap().trim_end_matches('/');
    format!("{}:{port}", oqto_e2e::NODE_HOST_IP)
}

/// The texts without the whitespace a streamed answer ends with.
fn trimmed(texts: Vec<String>) -> Vec<String> {
    texts.into_iter().map(|t| t.trim().to_owned()).collect()
}

/// What went wrong, from the cluster's side, for a failed step's message.
fn cluster_view(env: &TestEnv) -> String {
    env.control_plane
        .kubectl()
        .args(["get", "pods,sessions,workspaces,events", "-A", "-o", "wide"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_team_admins_day_from_helm_install_to_helm_uninstall() {
    let env = TestEnv::new("admin-day").await.unwrap();
    let release = format!("oqto-{}", env.namespace);
    let workspaces = format!("{}-workspaces", env.namespace);
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    // The users' namespace outlives the release (and so this test's namespace): removed at
    // the end whatever happens, its Workspaces without the finalizer of the operator that the
    // uninstall removed (the chart's README: delete them before uninstalling).
    struct RemoveNamespace(kube::Client, String);
    impl Drop for RemoveNamespace {
        fn drop(&mut self) {
            let (client, name) = (self.0.clone(), self.1.clone());
            let _ = std::thread::spawn(move || {
                tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(async move {
                        let workspaces: Api<oqto_api::Workspace> =
                            Api::namespaced(client.clone(), &name);
                        let unfinalized = serde_json::json!({"metadata": {"finalizers": null}});
                        for workspace in workspaces.list(&Default::default()).await?.items {
                            let name = workspace.metadata.name.unwrap_or_default();
                            let patch = kube::api::Patch::Merge(&unfinalized);
                            workspaces.patch(&name, &Default::default(), &patch).await?;
                        }
                        Api::<Namespace>::all(client)
                            .delete(&name, &Default::default())
                            .await
                            .map(|_| ())
                    })
            })
            .join();
        }
    }
    let _cleanup = RemoveNamespace(env.client.clone(), workspaces.clone());

    // The upstream LLM, reachable from the node's Pods on the bridge's address.
    let counting: Vec<String> = (0..30).map(|i| format!("word{i} ")).collect();
    let script: Script = serde_json::from_value(json!({"api_key": UPSTREAM_KEY, "rules":[
        {"when_user_contains":"hello","steps":[{"kind":"text","chunks":["Hello ","from ","the ","node"],"delay_ms":0}]},
        {"when_user_contains":"again","steps":[{"kind":"text","chunks":["Awake ","again"],"delay_ms":0}]},
        {"when_user_contains":"upgraded","steps":[{"kind":"text","chunks":["Still ","here"],"delay_ms":0}]},
        {"when_user_contains":"count","steps":[{"kind":"text","chunks":counting,"delay_ms":150}]}
    ]}))
    .unwrap();
    let llm = ScriptedLlm::spawn(script, "0.0.0.0:0").await.unwrap();
    let llm_port = llm.addr().port();

    // The gateways' accounts database, its URL as the Pods reach it, in the admin's Secret.
    let database = oqto_e2e::postgres::fresh_database()
        .await
        .unwrap()
        .replacen("@127.0.0.1:", &format!("@{}:", oqto_e2e::NODE_HOST_IP), 1);
    run_ok(
        env.kubectl()
            .args(["create", "secret", "generic", "gateway-db"])
            .arg(format!("--from-literal=url={database}")),
    )
    .unwrap();

    // The provider's key, for the LLM proxy alone (the chart's llmProxy.existingSecret).
    run_ok(
        env.kubectl()
            .args(["create", "secret", "generic", "llm-upstream"])
            .arg(format!("--from-literal=UPSTREAM_KEY={UPSTREAM_KEY}")),
    )
    .unwrap();
    // A ClusterIP of the Service range of its own (runs of this test never share one).
    let proxy_ip = format!(
        "10.96.{}.{}",
        200 + std::process::id() % 50,
        1 + std::process::id() % 250
    );

    // 1. helm install; the operator, the LLM proxy and two gateways run as Pods on the node.
    helm_deploy(
        &env,
        "install",
        &release,
        &values(&workspaces, llm_port, &proxy_ip, false),
    );
    let pods: Api<Pod> = env.api();
    // The admin's browser and alice's reach the gateway only through the ingress host.
    let ingress = oqto_e2e::ingress_address().unwrap();
    let base = format!("http://{HOST}:{}", ingress.port());
    let http = reqwest::Client::new();
    let mux_url = format!("ws://{HOST}:{}/api/ws/mux", ingress.port());
    let connect = |token: String| {
        let url = mux_url.clone();
        async move { MuxClient::connect(&url, Some(&token)).await.unwrap() }
    };
    gateway_ready(&pods, &http, &base).await;
    let ready_gateways = eventually("two Ready gateway Pods", WAIT, || {
        let pods = pods.clone();
        async move { (gateway_ips(&pods).await.len() == 2).then_some(()) }
    })
    .await;
    assert!(ready_gateways.is_ok(), "{}", cluster_view(&env));
    let operator_pods = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=oqto-operator"))
        .await
        .unwrap();
    assert!(
        operator_pods.items.iter().any(pod_ready),
        "a Ready operator Pod"
    );

    // 2. The admin logs in through the ingress with the chart's generated password and makes
    // alice's account.
    let secret = env
        .api::<Secret>()
        .get(&format!("{release}-admin"))
        .await
        .unwrap();
    let admin_password = String::from_utf8(secret.data.unwrap()["password"].0.clone()).unwrap();
    let admin = login(&http, &base, "admin", &admin_password).await;
    let created = http
        .post(format!("{base}/api/users"))
        .bearer_auth(&admin)
        .json(&json!({"username": "alice", "password": ALICE_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "{}",
        created.text().await.unwrap_or_default()
    );

    // 3. alice kubectl-applies a Workspace and a Session, with only the chart's RBAC.
    let manifests = "apiVersion: oqto.dev/v1alpha1\nkind: Workspace\nmetadata: {name: alices}\n\
        spec: {owner: alice}\n---\n\
        apiVersion: oqto.dev/v1alpha1\nkind: Session\nmetadata: {name: alices-chat}\n\
        spec: {workspaceRef: {name: alices}}\n";
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), manifests).unwrap();
    let applied = run_ok(
        kubectl_as_alice(&env, &workspaces)
            .args(["apply", "--server-side", "-f"])
            .arg(file.path()),
    );
    assert!(applied.is_ok(), "alice's kubectl apply: {applied:?}");
    let denied = kubectl_as_alice(&env, &workspaces)
        .args(["get", "secrets"])
        .output()
        .unwrap();
    assert!(!denied.status.success(), "alice reads no Secrets");

    // 4. The runner starts under the restricted standard, placed by the scheduler.
    let labels = namespaces
        .get(&workspaces)
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(
        labels
            .get("pod-security.kubernetes.io/enforce")
            .map(String::as_str),
        Some("restricted")
    );
    let sessions: Api<oqto_api::Session> = Api::namespaced(env.client.clone(), &workspaces);
    let runners: Api<Pod> = Api::namespaced(env.client.clone(), &workspaces);
    let first = tokio::time::timeout(WAIT, running_runner(&sessions, &runners, None)).await;
    let Ok(first) = first else {
        panic!("no running runner\n{}", cluster_view(&env));
    };
    assert_eq!(
        first.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some(oqto_e2e::NODE_NAME)
    );

    // 5. alice chats, writes a file and uses a terminal, through the ingress and the gateway.
    let alice = login(&http, &base, "alice", ALICE_PASSWORD).await;
    let mut mux = connect(alice.clone()).await;
    mux.create_session("alices-chat").await.unwrap();
    assert_eq!(
        mux.prompt("alices-chat", "p1", "hello").await.unwrap(),
        "Hello from the node"
    );
    // The proxy recorded the answer; alice sees it through the gateway, as her own.
    let usage = eventually("alice's usage is recorded", WAIT, || {
        let (http, url, alice) = (http.clone(), format!("{base}/api/usage"), alice.clone());
        async move {
            let usage: Value = http
                .get(&url)
                .bearer_auth(&alice)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let line = usage["lines"]
                .as_array()?
                .iter()
                .find(|l| l["session"] == "alices-chat")?;
            (line["tokens"].as_u64()? > 0 && line["cost"].as_f64()? > 0.0).then_some(usage)
        }
    })
    .await;
    assert!(usage.is_ok(), "no usage of alice's chat: {usage:?}");
    // The same chat in Anthropic's shape: alice picks the catalogue's other model.
    let picked = mux
        .command(
            "alices-chat",
            "m1",
            "set_model",
            json!({"provider": "oqto-anthropic", "model_id": "scripted-claude"}),
        )
        .await
        .unwrap();
    assert_eq!(picked["success"], true, "{picked}");
    assert_eq!(
        mux.prompt("alices-chat", "p1b", "hello").await.unwrap(),
        "Hello from the node"
    );
    assert!(
        llm.requests()
            .iter()
            .any(|r| r["model"] == "scripted-claude" && r.get("max_tokens").is_some()),
        "the turn went to the provider in Anthropic's shape"
    );
    let content = B64.encode("written on the node");
    mux.send(
        json!({"channel":"files","session_id":"alices-chat","id":"w1","type":"write",
        "path":"notes/day.txt","content":content,"create_parents":true}),
    )
    .await
    .unwrap();
    let written = mux.until(|f| f["id"] == "w1").await.unwrap();
    assert_eq!(
        written.last().unwrap()["type"],
        "write_result",
        "{written:?}"
    );
    let output = mux
        .terminal(
            "alices-chat",
            "cat notes/day.txt; echo; echo uid-$(id -u)-$((40+2))\n",
            |output| output.contains("written on the node") && output.contains("-42"),
        )
        .await
        .unwrap();
    assert!(
        !output.contains("uid-0-"),
        "the terminal does not run as root: {output}"
    );

    // 5a. NetworkPolicies, enforced on the node: from alice's terminal, her runner reaches
    // neither the apiserver (its Service, nor the host's address), nor another runner, nor a
    // private service (the gateways' PostgreSQL); it does reach the internet (the LLM).
    let second = "apiVersion: oqto.dev/v1alpha1\nkind: Session\nmetadata: {name: alices-second}\n\
        spec: {workspaceRef: {name: alices}}\n";
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), second).unwrap();
    run_ok(
        kubectl_as_alice(&env, &workspaces)
            .args(["apply", "--server-side", "-f"])
            .arg(file.path()),
    )
    .unwrap();
    let other_runner = eventually("alice's second runner has an address", WAIT, || {
        let runners = runners.clone();
        async move {
            let pod = runners
                .list(&ListParams::default().labels("oqto.dev/session=alices-second"))
                .await
                .ok()?
                .items
                .into_iter()
                .find(pod_ready)?;
            pod.status?.pod_ip
        }
    })
    .await
    .unwrap();
    let apiserver = apiserver_on_the_bridge(&env);
    let database_port = database
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let blocked = [
        "10.96.0.1:443".to_owned(),
        apiserver,
        format!("{}:{database_port}", oqto_e2e::NODE_HOST_IP),
        format!("{other_runner}:8080"),
    ];
    let public = format!("{}:{llm_port}", oqto_e2e::NODE_PUBLIC_IP);
    let probe = blocked
        .iter()
        .chain([&public])
        .map(|t| {
            let (ip, port) = t.rsplit_once(':').unwrap();
            format!("if timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/{port}' 2>/dev/null; then echo o\"\"pen-{t}; else echo sh\"\"ut-{t}; fi; ")
        })
        .collect::<String>()
        + "echo probed-$((6*7))\n";
    // The terminal echoes what is typed: the verdicts are spelt so that only their output
    // reads "open-…" or "shut-…".
    let output = mux
        .terminal("alices-chat", &probe, |output| output.contains("probed-42"))
        .await
        .unwrap();
    for target in &blocked {
        assert!(
            output.contains(&format!("shut-{target}")),
            "a runner reached {target}: {output}"
        );
    }
    assert!(
        output.contains(&format!("open-{public}")),
        "a runner reaches the internet: {output}"
    );

    // 5a'. The provider's key is nowhere a runner can look: not in its Pod spec, not in its
    // Secret (that holds the Session's virtual key), not in its environment, not in a file.
    let pod_spec = serde_json::to_string(&first).unwrap();
    assert!(
        !pod_spec.contains(UPSTREAM_KEY),
        "the provider's key is in the Pod spec"
    );
    let runner_secrets: Api<Secret> = Api::namespaced(env.client.clone(), &workspaces);
    let second_secret = runner_secrets
        .get(&oqto_api::names::runner("alices-second"))
        .await
        .unwrap();
    let data = second_secret.data.unwrap();
    let second_key = String::from_utf8(data["llm-key"].0.clone()).unwrap();
    assert!(second_key.starts_with("oqto-vk_"), "a virtual key");
    assert!(
        data.values()
            .all(|v| !String::from_utf8_lossy(&v.0).contains(UPSTREAM_KEY))
    );
    // The runner's logs as the kubelet keeps them on the node.
    let logs = std::path::Path::new("/var/log/pods").join(format!(
        "{workspaces}_{}_{}",
        first.metadata.name.as_deref().unwrap(),
        first.metadata.uid.as_deref().unwrap()
    ));
    let mut log_files = 0;
    for entry in std::fs::read_dir(logs.join("runner")).unwrap().flatten() {
        let text = std::fs::read(entry.path()).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&text).contains(UPSTREAM_KEY),
            "the provider's key is in the runner's log {}",
            entry.path().display()
        );
        log_files += 1;
    }
    assert!(
        log_files > 0,
        "no log of the runner under {}",
        logs.display()
    );
    // A part of the key to look for (typing the whole key into the runner would put it there).
    let part = &UPSTREAM_KEY[12..30];
    let output = mux
        .terminal(
            "alices-chat",
            &format!(
                "env | grep -c '{part}' | sed \"s/^/in-e\"\"nv=/\"; grep -rlF -e '{part}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null | wc -l | sed \"s/^/in-fi\"\"les=/\"; echo \"vk=${{OQTO_LLM_API_KEY:0:8}}\"; echo looked-$((6*7))\n"
            ),
            |output| output.contains("looked-42"),
        )
        .await
        .unwrap();
    for verdict in ["in-env=0", "in-files=0", "vk=oqto-vk_"] {
        assert!(output.contains(verdict), "{verdict} expected: {output}");
    }
    // The proxy (reached from the host on its ClusterIP) knows the second Session's key
    // until the Session is deleted.
    let proxy_models = format!("http://{proxy_ip}:8091/v1/models");
    let status = http
        .get(&proxy_models)
        .bearer_auth(&second_key)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "the live Session's key");
    run_ok(kubectl_as_alice(&env, &workspaces).args(["delete", "session", "alices-second"]))
        .unwrap();
    let revoked = eventually("the deleted Session's key is refused", WAIT, || {
        let (http, url, key) = (http.clone(), proxy_models.clone(), second_key.clone());
        async move {
            let status = http.get(&url).bearer_auth(&key).send().await.ok()?.status();
            (status == 401).then_some(())
        }
    })
    .await;
    assert!(
        revoked.is_ok(),
        "a deleted Session's virtual key still works"
    );
    drop(mux);

    // 5b. `oqtoctl chat` through the ingress; the gateway Pod carrying it is killed
    // mid-answer; the chat carries on through the other one and prints the answer once.
    let whole: String = (0..30).map(|i| format!("word{i} ")).collect();
    let config = tempfile::tempdir().unwrap();
    let oqtoctl = oqto_e2e::workspace_binary("oqtoctl").unwrap();
    let mut chat = Chat::start(
        &oqtoctl,
        &base,
        &alice,
        "alices-chat",
        "count for me",
        config.path(),
    )
    .unwrap();
    let head = chat.first_words(WAIT).await.unwrap();
    assert!(head < whole.len(), "mid-answer: {head} bytes");
    let carrying = gateway_with_a_connection(&pods)
        .await
        .expect("a gateway Pod holds oqtoctl's connection");
    run_ok(
        env.kubectl()
            .args(["delete", "pod", &carrying, "--grace-period=0", "--force"]),
    )
    .unwrap();
    let ended = chat.end(WAIT).await.unwrap();
    assert!(ended.success, "oqtoctl chat failed: {}", ended.stderr);
    assert!(ended.stderr.contains("reconnected"), "{}", ended.stderr);
    assert_eq!(ended.stdout, format!("{whole}\n"), "the whole answer, once");

    // 6. The runner Pod deleted mid-session: a new one, the history and the file intact.
    runners
        .delete(first.metadata.name.as_deref().unwrap(), &Default::default())
        .await
        .unwrap();
    let second = running_runner(&sessions, &runners, first.metadata.uid.clone()).await;
    assert_ne!(second.metadata.uid, first.metadata.uid);
    let mut mux = connect(alice.clone()).await;
    mux.create_session("alices-chat").await.unwrap();
    let counted = whole.trim_end();
    assert_eq!(
        trimmed(mux.history_texts("alices-chat").await.unwrap()),
        [
            "hello",
            "Hello from the node",
            "hello",
            "Hello from the node",
            "count for me",
            counted
        ]
    );
    mux.send(
        json!({"channel":"files","session_id":"alices-chat","id":"r1","type":"read",
        "path":"notes/day.txt"}),
    )
    .await
    .unwrap();
    let read = mux.until(|f| f["id"] == "r1").await.unwrap();
    assert_eq!(
        read.last().unwrap()["content"],
        content.as_str(),
        "{read:?}"
    );
    drop(mux);

    // 7. alice suspends it: the Pod goes, the claim stays; a frame wakes it.
    run_ok(kubectl_as_alice(&env, &workspaces).args([
        "patch",
        "session",
        "alices-chat",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspended":true}}"#,
    ]))
    .unwrap();
    pods_gone(
        &runners,
        "oqto.dev/session=alices-chat",
        "the runner Pod is gone",
    )
    .await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(env.client.clone(), &workspaces);
    let bound = claims.list(&Default::default()).await.unwrap().items;
    assert!(
        bound
            .iter()
            .any(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")),
        "the Workspace's claim stays bound"
    );
    let mut mux = connect(alice.clone()).await;
    let woken = mux.create_session("alices-chat").await;
    assert!(woken.is_ok(), "{woken:?}\n{}", cluster_view(&env));
    assert_eq!(
        mux.prompt("alices-chat", "p2", "again").await.unwrap(),
        "Awake again"
    );
    drop(mux);

    // 8. helm upgrade with changed values: a class for alice, a faster activity check. The
    // admin's password, the signing and runner keys are kept: old logins still work.
    helm_deploy(
        &env,
        "upgrade",
        &release,
        &values(&workspaces, llm_port, &proxy_ip, true),
    );
    gateway_ready(&pods, &http, &base).await;
    let classes: Value = http
        .get(format!("{base}/api/workspaceclasses"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = classes["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{classes}"))
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"large") && names.contains(&"standard"),
        "{classes}"
    );
    login(&http, &base, "admin", &admin_password).await;
    let operator_args = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=oqto-operator"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .flat_map(|p| {
            p.spec.unwrap().containers[0]
                .args
                .clone()
                .unwrap_or_default()
        })
        .collect::<Vec<_>>();
    assert!(
        operator_args.contains(&"--activity-every=2s".to_owned()),
        "{operator_args:?}"
    );
    let mut mux = connect(alice.clone()).await;
    mux.create_session("alices-chat").await.unwrap();
    assert_eq!(
        mux.prompt("alices-chat", "p3", "upgraded").await.unwrap(),
        "Still here"
    );
    assert_eq!(
        trimmed(mux.history_texts("alices-chat").await.unwrap()),
        [
            "hello",
            "Hello from the node",
            "hello",
            "Hello from the node",
            "count for me",
            counted,
            "again",
            "Awake again",
            "upgraded",
            "Still here"
        ]
    );
    drop(mux);

    // 9. Idle suspend: alice gives her Workspace a 5 s idle timeout; nobody connected, no
    // turn, quiet that long: the operator suspends the Session.
    run_ok(kubectl_as_alice(&env, &workspaces).args([
        "patch",
        "workspace",
        "alices",
        "--type=merge",
        "-p",
        r#"{"spec":{"lifecycle":{"idleTimeout":"5s"}}}"#,
    ]))
    .unwrap();
    let suspended = eventually("the idle Session suspends itself", WAIT, || {
        let sessions = sessions.clone();
        async move {
            sessions
                .get("alices-chat")
                .await
                .ok()?
                .spec
                .suspended
                .then_some(())
        }
    })
    .await;
    assert!(suspended.is_ok(), "{suspended:?}\n{}", cluster_view(&env));
    pods_gone(
        &runners,
        "oqto.dev/session=alices-chat",
        "the runner Pod is gone",
    )
    .await;
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), &workspaces);
    let events: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("alices-chat"))
        .filter_map(|e| e.reason)
        .collect();
    assert!(
        events.iter().any(|r| r == "IdleTimeout"),
        "the Session's events: {events:?}"
    );

    // 10. helm uninstall: the platform's Pods go, the users' namespace and claim stay.
    run_ok(
        Command::new(oqto_e2e::helm().unwrap())
            .args([
                "uninstall",
                &release,
                "--namespace",
                &env.namespace,
                "--wait",
            ])
            .args(["--timeout", "120s"])
            .env("KUBECONFIG", &env.control_plane.kubeconfig),
    )
    .unwrap();
    pods_gone(
        &pods,
        "app.kubernetes.io/part-of=oqto",
        "the operator and gateway Pods are gone",
    )
    .await;
    assert!(
        namespaces.get(&workspaces).await.is_ok(),
        "the users' namespace is kept"
    );
    let kept = claims.list(&Default::default()).await.unwrap().items.len();
    assert_eq!(kept, 1, "the Workspace's claim outlives the uninstall");
}
