//! The single-node stack as a user meets it. `hack/up.sh` (the README's run command) has started
//! it: `hack/test.sh` runs it before this suite, and this suite runs `hack/down.sh` and
//! `hack/up.sh` itself for the restart, and a second stack beside it that comes and goes.
//! Nothing is played here: the operator runs in its
//! container and creates real Podman runner containers with the real Pi, the demo provider
//! answers as the LLM, and every step goes through the gateway as a user's would: REST, `oqtoctl`
//! and the mux WebSocket.
//!
//! `$OQTO_STACK_URL` (default `http://127.0.0.1:$OQTO_PORT`), the first admin's password from
//! `$OQTO_HOME/admin-password`, `$OQTO_OQTOCTL` (default `target/release/oqtoctl`, built by
//! `hack/images/build.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use oqto_e2e::mux::{MuxClient, is_event};
use oqto_e2e::{eventually, free_port, repo_root};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A first start pulls nothing but creates volumes and a container and starts Pi.
const START: Duration = Duration::from_secs(180);

struct Stack {
    url: String,
    http: reqwest::Client,
}

fn oqto_home() -> PathBuf {
    std::env::var_os("OQTO_HOME").map_or_else(
        || {
            let data = std::env::var_os("XDG_DATA_HOME").map_or_else(
                || PathBuf::from(std::env::var_os("HOME").unwrap()).join(".local/share"),
                PathBuf::from,
            );
            data.join("oqto")
        },
        PathBuf::from,
    )
}

impl Stack {
    fn new() -> Self {
        let port = std::env::var("OQTO_PORT").unwrap_or_else(|_| "8080".into());
        let url =
            std::env::var("OQTO_STACK_URL").unwrap_or_else(|_| format!("http://127.0.0.1:{port}"));
        Self {
            url,
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, body) = self.call(method, path, Some(token), body).await;
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login as {username}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn phase(&self, token: &str, workspace: &str, session: &str) -> Value {
        let path = format!("/api/workspaces/{workspace}/sessions/{session}");
        let body = self.ok(Method::GET, &path, token, None).await;
        body["status"]["phase"].clone()
    }

    async fn wait_phase(&self, token: &str, workspace: &str, session: &str, want: &str) {
        eventually(&format!("session {session} {want}"), START, || async {
            (self.phase(token, workspace, session).await == want).then_some(())
        })
        .await
        .unwrap();
    }

    async fn mux(&self, token: &str) -> MuxClient {
        let ws = format!("{}/api/ws/mux", self.url.replacen("http://", "ws://", 1));
        MuxClient::connect(&ws, Some(token)).await.unwrap()
    }
}

/// Runs a hack/ script as a user's shell would: without the variables cargo sets for this test
/// (a nested `cargo build` that sees them rebuilds crates whose build scripts read them).
fn hack(script: &str) {
    let status = hack_command(script).status().unwrap();
    assert!(status.success(), "hack/{script} failed");
}

fn hack_command(script: &str) -> Command {
    let mut command = Command::new(repo_root().join("hack").join(script));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && !matches!(&*key, "CARGO_HOME" | "CARGO_TARGET_DIR") {
            command.env_remove(&*key);
        }
    }
    command
}

/// A second single-node stack on this host, as a second developer's checkout would run one:
/// its own project, ports and home. Stopped (and purged) when dropped, also on a failed test.
struct SecondStack {
    env: Vec<(&'static str, String)>,
    url: String,
    _home: tempfile::TempDir,
}

impl SecondStack {
    fn up() -> Self {
        let project = format!(
            "{}-second",
            std::env::var("OQTO_PROJECT").unwrap_or_else(|_| "oqto".into())
        );
        let home = tempfile::tempdir().unwrap();
        let port = free_port();
        let env = vec![
            ("OQTO_PROJECT", project),
            ("OQTO_HOME", home.path().join("home").display().to_string()),
            ("OQTO_PORT", port.to_string()),
            ("OQTO_OPERATOR_PORT", free_port().to_string()),
            ("OQTO_DEMO_LLM_PORT", free_port().to_string()),
            ("OQTO_LLM_PROXY_PORT", free_port().to_string()),
            ("OQTO_LLM_PROXY_METRICS_PORT", free_port().to_string()),
            // The runners' listener binds 0.0.0.0: the first stack's port is taken.
            ("OQTO_GATEWAY_RUNNER_PORT", free_port().to_string()),
            ("OQTO_LISTEN", "127.0.0.1".into()),
        ];
        let stack = Self {
            env,
            url: format!("http://127.0.0.1:{port}"),
            _home: home,
        };
        let status = stack.run("up.sh", &[]).status().unwrap();
        assert!(status.success(), "hack/up.sh of the second stack failed");
        stack
    }

    fn run(&self, script: &str, args: &[&str]) -> Command {
        let mut command = hack_command(script);
        command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }
}

impl Drop for SecondStack {
    fn drop(&mut self) {
        let _ = self.run("down.sh", &["--purge"]).status();
    }
}

fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn containers_with(label: &str) -> Vec<String> {
    let listed = podman(&["ps", "-a", "--format", "{{.Names}}", "--filter", label]);
    listed.lines().map(str::to_owned).collect()
}

/// A prompt's frames up to `agent.idle`, after a successful `response`.
async fn turn(mux: &mut MuxClient, session: &str, id: &str, message: &str) -> Vec<Value> {
    let mut frames = mux
        .exchange(session, id, "prompt", json!({ "message": message }))
        .await
        .unwrap();
    let response = frames.last().unwrap().clone();
    assert_eq!(response["success"], true, "prompt refused: {response}");
    frames.extend(mux.until(|f| is_event(f, "agent.idle")).await.unwrap());
    frames
}

fn text_of(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .filter_map(|f| f["delta"].as_str())
        .collect()
}

/// `session.create` (attach) then `get_messages`, retried while the runner comes back.
async fn messages_after_restart(mux: &mut MuxClient, session: &str) -> Vec<Value> {
    let deadline = Instant::now() + START;
    loop {
        // Refused while the runner is still down; `create_session` says why.
        let created = mux.create_session(session).await;
        if created.is_ok() {
            let frames = mux
                .command(session, "m", "get_messages", json!({}))
                .await
                .unwrap();
            if let Some(messages) = frames["data"]["messages"].as_array() {
                return messages.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the runner never came back: {:?}",
            created.err()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn ids(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A file's text through the `files` channel (`read_result` carries it base64-encoded).
async fn read_file(mux: &mut MuxClient, session: &str, id: &str, path: &str) -> String {
    mux.send(json!({"channel":"files","session_id":session,"id":id,"type":"read","path":path}))
        .await
        .unwrap();
    let frame = mux
        .until(|f| f["channel"] == "files" && f["id"] == id)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(frame["type"], "read_result", "{frame}");
    let bytes = B64
        .decode(frame["content"].as_str().unwrap_or_default())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_chats_edits_and_keeps_everything_across_restarts() {
    let stack = Stack::new();
    let ready = stack.http.get(format!("{}/readyz", stack.url)).send().await;
    assert!(
        ready.is_ok_and(|r| r.status().is_success()),
        "no single-node stack at {}: start it with hack/up.sh",
        stack.url
    );
    let password_file = oqto_home().join("admin-password");
    let admin_password = std::fs::read_to_string(&password_file)
        .unwrap_or_else(|e| panic!("{}: {e} (written by hack/up.sh)", password_file.display()));
    let admin = stack.login("admin", admin_password.trim()).await;
    // By default the stack serves this machine only.
    if std::env::var_os("OQTO_LISTEN").is_none() {
        let project = std::env::var("OQTO_PROJECT").unwrap_or_else(|_| "oqto".into());
        let args = podman(&[
            "inspect",
            "--format",
            "{{json .Args}}",
            &format!("{project}-gateway"),
        ]);
        assert!(args.contains("--listen=127.0.0.1:"), "{args}");
    }

    // A user of their own, as an admin would make one.
    let suffix = std::process::id();
    let user = format!("e2e-{suffix}");
    let password = format!("{user}-secret-password");
    stack
        .ok(
            Method::POST,
            "/api/users",
            &admin,
            Some(json!({"username": user, "password": password})),
        )
        .await;
    let token = stack.login(&user, &password).await;
    let (workspace, session) = (format!("w-{suffix}"), format!("chat-{suffix}"));

    // The Workspace and Session with oqtoctl apply -f, the same YAML kubectl takes.
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("oqto.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: oqto.dev/v1alpha1\nkind: Workspace\nmetadata:\n  name: {workspace}\nspec:\n  displayName: e2e\n---\napiVersion: oqto.dev/v1alpha1\nkind: Session\nmetadata:\n  name: {session}\nspec:\n  workspaceRef:\n    name: {workspace}\n"
        ),
    )
    .unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let oqtoctl = std::env::var_os("OQTO_OQTOCTL")
        .map_or_else(|| target.join("release/oqtoctl"), PathBuf::from);
    let applied = Command::new(&oqtoctl)
        .args(["--server", &stack.url, "--token", &token, "apply", "-f"])
        .arg(&manifest)
        .env("XDG_CONFIG_HOME", dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", oqtoctl.display()));
    assert!(
        applied.status.success(),
        "oqtoctl apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let started = Instant::now();
    stack
        .wait_phase(&token, &workspace, &session, "Running")
        .await;
    println!(
        "session start (applied → Running, a new workspace): {:?}",
        started.elapsed()
    );
    let container = format!("oqto-default-sess-{session}");
    assert_eq!(
        podman(&["inspect", "--format", "{{.Config.User}}", &container]),
        "1000:1000",
        "the runner runs as the unprivileged user"
    );

    // Chat: the demo provider thinks, streams and makes a real tool call that writes a file.
    let mut mux = stack.mux(&token).await;
    mux.create_session(&session).await.unwrap();
    let frames = turn(&mut mux, &session, "p1", "please write a file").await;
    assert!(
        frames.iter().any(|f| is_event(f, "stream.thinking_delta")),
        "reasoning is streamed"
    );
    let tool = frames
        .iter()
        .find(|f| is_event(f, "tool.start"))
        .expect("tool.start");
    assert_eq!(tool["name"], "write", "{tool}");
    assert!(frames.iter().any(|f| is_event(f, "tool.end")));
    let deltas = frames
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .count();
    assert!(deltas > 1, "text arrives in pieces, not at once ({deltas})");
    assert!(
        text_of(&frames).contains("hello-from-oqto.md"),
        "{}",
        text_of(&frames)
    );
    // The same demo in Anthropic's shape: the catalogue's other model, through the proxy.
    let pick = |provider: &str, model: &str| json!({"provider": provider, "model_id": model});
    let picked = mux
        .command(
            &session,
            "m-a",
            "set_model",
            pick("oqto-anthropic", "demo-not-a-real-llm-anthropic"),
        )
        .await
        .unwrap();
    assert_eq!(picked["success"], true, "{picked}");
    let frames = turn(&mut mux, &session, "p1a", "hello").await;
    assert!(
        text_of(&frames).contains("demo model"),
        "{}",
        text_of(&frames)
    );
    let metrics_port =
        std::env::var("OQTO_LLM_PROXY_METRICS_PORT").unwrap_or_else(|_| "9092".into());
    let metrics = oqto_e2e::fetch_text(&format!("http://127.0.0.1:{metrics_port}/metrics"), None)
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"model="demo-not-a-real-llm-anthropic",status="200""#),
        "the proxy relayed the Anthropic-shaped turn: {metrics}"
    );
    let picked = mux
        .command(
            &session,
            "m-o",
            "set_model",
            pick("oqto", "demo-not-a-real-llm"),
        )
        .await
        .unwrap();
    assert_eq!(picked["success"], true, "{picked}");
    let file = read_file(&mut mux, &session, "r1", "hello-from-oqto.md").await;
    assert!(
        file.starts_with("# Hello from Oqto"),
        "the agent's file through the files channel: {file:?}"
    );

    // Terminal round trip, in the same workspace.
    mux.terminal(
        &session,
        "head -1 hello-from-oqto.md; echo term-$((40+2))\n",
        |output| output.contains("term-42") && output.contains("# Hello from Oqto"),
    )
    .await
    .unwrap();

    // What the chat used, as the user and an admin see it (the LLM proxy's records).
    let usage = eventually("the chat's usage is recorded", START, || {
        let (stack, token, session) = (&stack, token.clone(), session.clone());
        async move {
            let usage = stack.ok(Method::GET, "/api/usage", &token, None).await;
            let tokens = usage["lines"]
                .as_array()?
                .iter()
                .find(|l| l["session"] == session.as_str())?["tokens"]
                .as_u64()?;
            (tokens > 0).then_some(usage)
        }
    })
    .await
    .unwrap();
    assert_eq!(usage["user"], user.as_str(), "{usage}");
    let all = stack
        .ok(Method::GET, "/api/admin/usage", &admin, None)
        .await;
    assert!(
        all["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user"] == user.as_str()),
        "{all}"
    );
    let (status, _) = stack
        .call(Method::GET, "/api/admin/usage", Some(&token), None)
        .await;
    assert_eq!(status, 403, "a user sees only their own usage");

    // The provider's key is in the LLM proxy alone: the agent's own terminal finds its
    // Session's virtual key, and the provider's key nowhere a runner can look (its
    // environment, its files, its container's spec, its logs).
    let provider_key = std::fs::read_to_string(oqto_home().join("llm-proxy.env"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SCRIPTED_LLM_API_KEY=").map(str::to_owned))
        .expect("hack/up.sh gave the demo provider a key");
    let printed = mux
        .terminal(&session, "echo \"vk=[$OQTO_LLM_API_KEY]\"\n", |output| {
            output.contains("vk=[oqto-vk_")
        })
        .await
        .unwrap();
    let virtual_key = printed
        .split("vk=[")
        .filter_map(|rest| rest.split(']').next())
        .find(|k| k.starts_with("oqto-vk_"))
        .unwrap()
        .to_owned();
    assert!(!printed.contains(&provider_key));
    for (what, text) in [
        ("environment", podman(&["exec", &container, "env"])),
        ("spec", podman(&["inspect", &container])),
        ("logs", podman(&["logs", &container])),
        (
            "files",
            podman(&[
                "exec",
                &container,
                "sh",
                "-c",
                &format!(
                    "grep -rlF -e '{provider_key}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null; true"
                ),
            ]),
        ),
    ] {
        assert!(
            !text.contains(&provider_key),
            "the provider's key is in the runner's {what}"
        );
    }
    let proxy_url = format!(
        "http://127.0.0.1:{}",
        std::env::var("OQTO_LLM_PROXY_PORT").unwrap_or_else(|_| "8092".into())
    );
    let catalogue = stack
        .http
        .get(format!("{proxy_url}/v1/models"))
        .bearer_auth(&virtual_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        catalogue.status(),
        200,
        "the virtual key works while its Session lives"
    );

    let before = mux
        .command(&session, "m0", "get_messages", json!({}))
        .await
        .unwrap();
    let before = before["data"]["messages"].as_array().cloned().unwrap();
    assert!(before.len() >= 2, "{before:?}");

    // The runner container is killed: it is started again and the history is all there.
    podman(&["kill", &container]);
    let after_kill = messages_after_restart(&mut mux, &session).await;
    assert_eq!(
        ids(&after_kill),
        ids(&before),
        "history after the runner was killed"
    );

    // Suspend, then a prompt wakes the session.
    stack
        .ok(
            Method::POST,
            &format!("/api/workspaces/{workspace}/sessions/{session}/suspend"),
            &token,
            None,
        )
        .await;
    stack
        .wait_phase(&token, &workspace, &session, "Suspended")
        .await;
    assert!(
        containers_with(&format!("label=oqto.dev/session={session}")).is_empty(),
        "a suspended session has no container"
    );
    let woke = Instant::now();
    // The client re-attaches (as a browser tab does) and that frame wakes the session.
    let attached = mux.create_session(&session).await.unwrap();
    let working = attached
        .iter()
        .find(|f| is_event(f, "agent.working"))
        .expect("the client is told the session starts");
    assert_eq!(working["phase"], "initializing", "{working}");
    let frames = turn(&mut mux, &session, "p2", "hello").await;
    println!("wake-on-request (frame → answered): {:?}", woke.elapsed());
    assert!(
        text_of(&frames).contains("demo model"),
        "{}",
        text_of(&frames)
    );
    let woken = mux
        .command(&session, "m1", "get_messages", json!({}))
        .await
        .unwrap();
    let woken = woken["data"]["messages"].as_array().cloned().unwrap();
    assert_eq!(
        ids(&woken[..before.len()]),
        ids(&before),
        "the history before the suspend is kept"
    );
    drop(mux);

    // down, then up: users, workspaces, files and history are kept.
    hack("down.sh");
    // This stack's runners only: another stack on the host (a developer's) keeps its own.
    assert!(
        containers_with(&format!("label=oqto.dev/workspace={workspace}")).is_empty(),
        "down stops the runners"
    );
    hack("up.sh");
    let token = stack.login(&user, &password).await;
    let listed = stack.ok(Method::GET, "/api/workspaces", &token, None).await;
    assert!(
        listed.to_string().contains(&workspace),
        "the workspace is kept: {listed}"
    );
    stack
        .wait_phase(&token, &workspace, &session, "Running")
        .await;
    let mut mux = stack.mux(&token).await;
    let kept = messages_after_restart(&mut mux, &session).await;
    assert_eq!(
        ids(&kept),
        ids(&woken),
        "the history is kept across down and up"
    );
    let file = read_file(&mut mux, &session, "r2", "hello-from-oqto.md").await;
    assert!(file.starts_with("# Hello from Oqto"), "{file:?}");

    // A second stack on the same host comes up and is stopped: this one keeps its Podman API
    // (each stack has its own service), its runner and its operator.
    let second = SecondStack::up();
    let ready = stack
        .http
        .get(format!("{}/readyz", second.url))
        .send()
        .await;
    assert!(
        ready.is_ok_and(|r| r.status().is_success()),
        "the second stack answers at {}",
        second.url
    );
    drop(second);
    let frames = turn(&mut mux, &session, "p3", "hello").await;
    assert!(
        text_of(&frames).contains("demo model"),
        "the running session answers after the other stack stopped: {}",
        text_of(&frames)
    );
    drop(mux);
    let another = format!("after-{suffix}");
    stack
        .ok(
            Method::POST,
            &format!("/api/workspaces/{workspace}/sessions"),
            &token,
            Some(json!({ "name": another })),
        )
        .await;
    stack
        .wait_phase(&token, &workspace, &another, "Running")
        .await;

    // Deleting the Workspace leaves no container behind.
    stack
        .ok(
            Method::DELETE,
            &format!("/api/workspaces/{workspace}"),
            &token,
            None,
        )
        .await;
    let label = format!("label=oqto.dev/workspace={workspace}");
    eventually("no containers of the deleted workspace", START, || async {
        containers_with(&label).is_empty().then_some(())
    })
    .await
    .unwrap();
    // Its Sessions are gone, and with them the key the agent could print.
    let refused = stack
        .http
        .get(format!("{proxy_url}/v1/models"))
        .bearer_auth(&virtual_key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "a deleted Session's key is dead");
}
