//! The relay with the real pi-bridge, Pi and hstry behind it (the upstream LLM is the
//! scripted server), the operator reconciling in this process, and the test playing the
//! kubelet (see `common::Kubelet`): streaming through the gateway matches streaming from the
//! bridge, files and terminal work, a suspended session wakes for a frame, a gateway killed
//! mid-stream loses no message, and bad frames and floods never take the socket down.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{
    ADMIN, Gateway, Kubelet, Mux, RunnerEnv, event_names, eventually, free_port, is_event,
    is_response, start_operator,
};
use oqto_e2e::TestEnv;
use oqto_e2e::mux::MuxClient;
use reqwest::Method;
use serde_json::{Value, json};

fn script() -> Value {
    let slow: Vec<String> = (0..12).map(|i| format!("word{i} ")).collect();
    json!({"rules":[
        {"when_user_contains":"hello","steps":[{"kind":"text","chunks":["Hello", " from", " the", " agent."],"delay_ms":0}]},
        {"when_user_contains":"tell a story","steps":[{"kind":"slow","chunks":slow,"delay_ms":250}]}
    ]})
}

struct Setup {
    env: TestEnv,
    runners: std::sync::Arc<RunnerEnv>,
    kubelet: Kubelet,
    _operator: common::Operator,
    data: tempfile::TempDir,
    port: u16,
    gateway: Option<Gateway>,
    alice: String,
}

/// A gateway, alice, her workspace `ws` and a running session `s1`.
async fn setup(test: &str, gateway_args: &[&str]) -> Setup {
    let env = TestEnv::new(test).await.unwrap();
    let runners = RunnerEnv::new(script()).await;
    let port = free_port();
    let operator = start_operator(&env, port);
    let kubelet = Kubelet::start(&env, runners.clone(), port);
    let data = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_with(&env, data.path(), port, gateway_args).await;
    let rest = gateway.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let alice = rest.user(&admin, "alice").await;
    rest.workspace_with_session(&alice, "ws", json!({"name":"s1"}))
        .await;
    wait_phase(&gateway, &alice, "Running").await;
    Setup {
        env,
        runners,
        kubelet,
        _operator: operator,
        data,
        port,
        gateway: Some(gateway),
        alice,
    }
}

impl Setup {
    fn gateway(&self) -> &Gateway {
        self.gateway.as_ref().unwrap()
    }

    async fn mux(&self) -> Mux {
        Mux::connect(&self.gateway().ws_url(), &self.alice).await
    }
}

async fn wait_phase(gateway: &Gateway, token: &str, phase: &str) {
    let rest = gateway.rest();
    eventually(&format!("session s1 {phase}"), || async {
        let session = rest
            .ok(Method::GET, "/api/workspaces/ws/sessions/s1", token, None)
            .await;
        (session["status"]["phase"] == phase).then_some(())
    })
    .await;
}

async fn create(mux: &mut Mux, session: &str) -> Vec<Value> {
    let frames = mux
        .command(
            session,
            "create",
            "session.create",
            json!({"config":{"harness":"pi"}}),
        )
        .await;
    assert_eq!(frames.last().unwrap()["success"], true, "{frames:?}");
    frames
}

/// The next frame that is not the shell's late output.
async fn not_terminal(mux: &mut Mux) -> Value {
    mux.until(|f| f["channel"] != "terminal")
        .await
        .pop()
        .unwrap()
}

/// The `event` names of a turn, without the `response` (its timing relative to the stream
/// is the runner's business).
fn turn(frames: &[Value]) -> Vec<String> {
    event_names(frames)
        .into_iter()
        .filter(|e| e != "response")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_relays_agent_files_terminal_and_history_like_the_bridge() {
    let setup = setup("gw-relay", &["--max-frame-bytes", "65536"]).await;
    let mut mux = setup.mux().await;
    create(&mut mux, "s1").await;
    let mut through = mux
        .command("s1", "p1", "prompt", json!({"message":"hello"}))
        .await;
    through.extend(mux.until(|f| is_event(f, "agent.idle")).await);
    for frame in &through {
        assert_eq!(frame["session_id"], "s1", "{frame}");
    }
    let text: String = through
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .map(|f| f["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello from the agent.");

    // The same prompt straight to the runner's bridge (the one pod the kubelet started), which
    // serves its own session only.
    // It answers only its token, which the test derives as the gateway does.
    let pod_ip = "127.0.0.2";
    let uid = kube::ResourceExt::uid(
        &setup
            .env
            .api::<oqto_api::Session>()
            .get("s1")
            .await
            .unwrap(),
    )
    .unwrap();
    let token = oqto_e2e::runner_key().token(&uid);
    let direct_url = format!("ws://{pod_ip}:{}/ws", setup.port);
    assert!(
        MuxClient::connect(&direct_url, Some("a-guessed-token"))
            .await
            .is_err(),
        "no token, no runner"
    );
    let mut direct = Mux::connect(&direct_url, token.expose()).await;
    let other = direct
        .command(
            "other",
            "create",
            "session.create",
            json!({"config":{"harness":"pi"}}),
        )
        .await;
    assert_eq!(other.last().unwrap()["success"], false, "{other:?}");
    create(&mut direct, "s1").await;
    let mut straight = direct
        .command("s1", "p2", "prompt", json!({"message":"hello"}))
        .await;
    straight.extend(direct.until(|f| is_event(f, "agent.idle")).await);
    assert_eq!(
        turn(&through),
        turn(&straight),
        "the gateway changes nothing in the stream"
    );
    // The gateway's client watches s1, so it saw that turn too.
    let seen = mux.until(|f| is_event(f, "agent.idle")).await;
    assert_eq!(turn(&seen), turn(&straight));

    // oqtoctl streams the same reply to the terminal.
    let chat = tokio::process::Command::new(env!("CARGO_BIN_EXE_oqtoctl"))
        .args([
            "--server",
            &setup.gateway().url,
            "--token",
            &setup.alice,
            "chat",
            "s1",
            "hello",
        ])
        .env("XDG_CONFIG_HOME", setup.data.path())
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&chat.stdout);
    assert!(
        chat.status.success(),
        "oqtoctl chat failed: {}",
        String::from_utf8_lossy(&chat.stderr)
    );
    assert_eq!(printed.trim_end(), "Hello from the agent.", "{printed:?}");
    // This connection watches the session too, so it saw that turn as well.
    let watched = mux.until(|f| is_event(f, "agent.idle")).await;
    assert!(watched.iter().any(|f| is_event(f, "stream.text_delta")));
    let manifest = setup.data.path().join("s2.yaml");
    std::fs::write(&manifest, "apiVersion: oqto.dev/v1alpha1\nkind: Session\nmetadata:\n  name: s2\nspec:\n  workspaceRef:\n    name: ws\n  suspended: true\n").unwrap();
    let apply = tokio::process::Command::new(env!("CARGO_BIN_EXE_oqtoctl"))
        .args([
            "--server",
            &setup.gateway().url,
            "--token",
            &setup.alice,
            "apply",
            "-f",
        ])
        .arg(&manifest)
        .env("XDG_CONFIG_HOME", setup.data.path())
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&apply.stdout).trim(),
        "session/s2 created",
        "{apply:?}"
    );

    // Files: a write and a read, answered on the files channel, tagged with the session.
    mux.send(
        json!({"channel":"files","session_id":"s1","id":"w1","type":"write","path":"notes/a.txt",
        "content": B64.encode("through the gateway"),"create_parents":true}),
    )
    .await;
    let written = mux.next().await;
    assert_eq!(
        (
            written["type"].clone(),
            written["id"].clone(),
            written["session_id"].clone()
        ),
        (json!("write_result"), json!("w1"), json!("s1")),
        "{written}"
    );
    assert_eq!(
        std::fs::read_to_string(setup.runners.workspace.join("notes/a.txt")).unwrap(),
        "through the gateway"
    );
    mux.send(
        json!({"channel":"files","session_id":"s1","id":"r1","type":"read","path":"notes/a.txt"}),
    )
    .await;
    let read = mux.next().await;
    assert_eq!(
        B64.decode(read["content"].as_str().unwrap()).unwrap(),
        b"through the gateway"
    );
    mux.send(json!({"channel":"files","session_id":"s1","id":"bad","type":"read","path":"../../etc/passwd"})).await;
    let refused = mux.next().await;
    assert_eq!(
        (refused["type"].clone(), refused["id"].clone()),
        (json!("error"), json!("bad")),
        "{refused}"
    );

    // Terminal: a shell, a command, its output.
    mux.send(
        json!({"channel":"terminal","session_id":"s1","id":"t1","type":"open","cols":80,"rows":24}),
    )
    .await;
    let opened = mux
        .until(|f| f["channel"] == "terminal" && f["type"] == "opened")
        .await;
    let terminal = opened.last().unwrap()["terminal_id"]
        .as_str()
        .unwrap()
        .to_owned();
    mux.send(json!({"channel":"terminal","session_id":"s1","type":"input","terminal_id":terminal,"data":"echo relay-$((40+2))\n"})).await;
    let mut output = String::new();
    while !output.contains("relay-42") {
        let frame = mux.next().await;
        if frame["channel"] == "terminal" && frame["type"] == "output" {
            output.push_str(&String::from_utf8_lossy(
                &B64.decode(frame["data_base64"].as_str().unwrap()).unwrap(),
            ));
        }
    }

    // Order: a command typed one key per frame, as fast as the socket takes them (most go
    // straight to the runner's socket, some wait in the link's queue behind one that could
    // not): the shell gets every key in order, or the command does not print this.
    let keys = "echo order-$((1+1))-abcdefghijklmnopqrstuvwxyz0123456789\n";
    for key in keys.chars() {
        mux.send(json!({"channel":"terminal","session_id":"s1","type":"input","terminal_id":terminal,"data":key.to_string()})).await;
    }
    while !output.contains("order-2-abcdefghijklmnopqrstuvwxyz0123456789") {
        let frame = mux.next().await;
        if frame["channel"] == "terminal" && frame["type"] == "output" {
            output.push_str(&String::from_utf8_lossy(
                &B64.decode(frame["data_base64"].as_str().unwrap()).unwrap(),
            ));
        }
    }

    // History: the turn is in hstry.
    mux.send(
        json!({"channel":"hstry","session_id":"s1","id":"h1","type":"query","session_id":"s1"}),
    )
    .await;
    let history = mux.until(|f| f["channel"] == "hstry").await;
    assert_eq!(history.last().unwrap()["type"], "result", "{history:?}");

    // Browser: relayed to the runner and back; this runner has no browser sidecar.
    mux.send(json!({"channel":"browser","session_id":"s1","id":"b1","type":"watch"}))
        .await;
    let browser = mux.until(|f| f["channel"] == "browser").await;
    let answer = browser.last().unwrap();
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["id"], "b1");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("this runner has no browser"),
        "{answer}"
    );

    // Bad frames: each answered, the socket stays up (all but one too large to read, below).
    mux.send_raw("not json".into()).await;
    let answer = not_terminal(&mut mux).await;
    assert_eq!(
        (answer["channel"].clone(), answer["type"].clone()),
        (json!("system"), json!("error"))
    );
    assert!(
        answer["error"].as_str().unwrap().contains("not JSON"),
        "{answer}"
    );
    mux.send(json!({"channel":"files","id":"x","type":"stat","path":""}))
        .await;
    let answer = not_terminal(&mut mux).await;
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("missing `session_id`"),
        "{answer}"
    );
    mux.send(json!({"channel":"bus","id":"b","type":"publish"}))
        .await;
    assert!(
        not_terminal(&mut mux).await["error"]
            .as_str()
            .unwrap()
            .contains("not served")
    );

    // A flood of file operations, faster than the runner serves them: every frame is
    // answered (a result or "busy"), and an agent command behind it still gets through. The
    // client reads between bursts: one that never reads is held back by TCP (back-pressure).
    const BURST: usize = 500;
    const FLOOD: usize = 4 * BURST;
    let mut busy = 0;
    let mut state_seen = false;
    for burst in 0..FLOOD / BURST {
        for n in 0..BURST {
            mux.send(json!({"channel":"files","session_id":"s1","id":format!("f{burst}-{n}"),"type":"stat","path":"notes/a.txt"})).await;
        }
        if burst == 0 {
            mux.send(json!({"channel":"agent","session_id":"s1","id":"state","cmd":"get_state"}))
                .await;
        }
        let mut answered = 0;
        while answered < BURST {
            let frame = not_terminal(&mut mux).await;
            if frame["channel"] == "files" {
                answered += 1;
                if frame["type"] == "error" {
                    assert!(
                        frame["error"].as_str().unwrap().starts_with("Server busy"),
                        "{frame}"
                    );
                    busy += 1;
                }
            } else if is_response(&frame, "state") {
                state_seen = true;
            }
        }
    }
    while !state_seen {
        state_seen = is_response(&mux.next().await, "state");
    }
    println!("flood of {FLOOD} file frames: {busy} answered busy, the rest served");
    // A frame above the limit is never read into memory: the client is told why and the
    // connection closes with 1009 (message too big).
    mux.send_raw(format!(
        r#"{{"channel":"files","session_id":"s1","type":"write","path":"big","content":"{}"}}"#,
        "A".repeat(70_000)
    ))
    .await;
    let answer = not_terminal(&mut mux).await;
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("exceeds the limit of 65536 bytes"),
        "{answer}"
    );
    assert_eq!(mux.close_code().await, 1009);
    // Metrics count what happened.
    let metrics = reqwest::get(format!("{}/metrics", setup.gateway().url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("oqto_gateway_mux_connections"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"oqto_gateway_frames_refused_total{reason="oversized"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frame_for_a_suspended_session_wakes_it_and_is_answered() {
    let setup = setup("gw-wake", &[]).await;
    let rest = setup.gateway().rest();
    rest.ok(
        Method::POST,
        "/api/workspaces/ws/sessions/s1/suspend",
        &setup.alice,
        None,
    )
    .await;
    wait_phase(setup.gateway(), &setup.alice, "Suspended").await;
    let pods_before = setup.kubelet.started.lock().unwrap().len();

    let mut mux = setup.mux().await;
    let frames = create(&mut mux, "s1").await;
    let working = frames
        .iter()
        .find(|f| is_event(f, "agent.working"))
        .expect("the client is told the session starts");
    assert_eq!(working["phase"], "initializing", "{working}");
    let mut turn = mux
        .command("s1", "p1", "prompt", json!({"message":"hello"}))
        .await;
    turn.extend(mux.until(|f| is_event(f, "agent.idle")).await);
    assert!(
        turn.iter().any(|f| is_event(f, "stream.text_delta")),
        "{turn:?}"
    );
    assert_eq!(
        setup.kubelet.started.lock().unwrap().len(),
        pods_before + 1,
        "a new runner pod"
    );
    let session = rest
        .ok(
            Method::GET,
            "/api/workspaces/ws/sessions/s1",
            &setup.alice,
            None,
        )
        .await;
    assert_eq!(session["spec"]["suspended"], false);

    // The UI's delete is the same delete as `kubectl delete workspace`: the operator deletes
    // the Sessions first (their runner pods go with them), then lets the Workspace go.
    rest.ok(Method::DELETE, "/api/workspaces/ws", &setup.alice, None)
        .await;
    let sessions = setup.env.api::<oqto_api::Session>();
    let pods = setup.env.api::<k8s_openapi::api::core::v1::Pod>();
    let workspaces = setup.env.api::<oqto_api::Workspace>();
    common::eventually("the workspace, its session and runner gone", || async {
        let gone = sessions.get_opt("s1").await.unwrap().is_none()
            && pods
                .get_opt("oqto-sess-s1")
                .await
                .unwrap()
                .is_none_or(|p| p.metadata.deletion_timestamp.is_some())
            && workspaces.get_opt("ws").await.unwrap().is_none();
        gone.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_gateway_crash_the_client_reattaches_and_every_message_is_there_once() {
    let mut setup = setup("gw-crash", &[]).await;
    let mut mux = setup.mux().await;
    create(&mut mux, "s1").await;
    mux.command("s1", "p1", "prompt", json!({"message":"tell a story"}))
        .await;
    // Mid-stream: a few words arrived, most have not.
    mux.until(|f| is_event(f, "stream.text_delta")).await;
    setup.gateway.take().unwrap().kill().await;

    let gateway = Gateway::start(&setup.env, setup.data.path(), setup.port).await;
    setup.gateway = Some(gateway);
    // The old token still works (same secret, same accounts): re-attach and resync.
    let mut mux = setup.mux().await;
    create(&mut mux, "s1").await;
    // The turn went on in the runner while no client listened; wait until it is committed.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let messages = loop {
        let frames = mux.command("s1", "m", "get_messages", json!({})).await;
        let messages = frames.last().unwrap()["data"]["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // Until then the answer carries the turn in progress, marked as such.
        let committed = messages
            .iter()
            .all(|m| m["metadata"]["oqto_turn"].is_null());
        if messages.len() >= 2 && committed {
            break messages;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the interrupted turn was never committed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant"], "{messages:?}");
    let story = serde_json::to_string(&messages[1]).unwrap();
    assert!(
        story.contains("word0") && story.contains("word11"),
        "the whole answer: {story}"
    );

    // One more turn after the resync: every message exactly once, in order.
    mux.command("s1", "p2", "prompt", json!({"message":"hello"}))
        .await;
    mux.until(|f| is_event(f, "agent.idle")).await;
    let frames = mux.command("s1", "m2", "get_messages", json!({})).await;
    let messages = frames.last().unwrap()["data"]["messages"]
        .as_array()
        .cloned()
        .unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["user", "assistant", "user", "assistant"],
        "{messages:?}"
    );
    let ids: std::collections::BTreeSet<&str> =
        messages.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "no duplicates: {messages:?}");
    let idx: Vec<u64> = messages
        .iter()
        .map(|m| m["idx"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, [0, 1, 2, 3]);
}
