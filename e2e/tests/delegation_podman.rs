//! Delegation in single-node mode (issue 19), against real Podman, the real runner image (Pi
//! with its `delegate` tool, pi-bridge) and the gateway binary: the parent's runner container
//! reaches the gateway's runners-only listener on the host, starts two children, each in a
//! runner container of its own, and answers with their results; the children are suspended
//! when their turns end and deleted with their parent (the operator plays the garbage
//! collector single-node mode lacks).
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::object;
use oqto_api::{Session, Workspace};
use oqto_e2e::gateway::GatewayProcess;
use oqto_e2e::mux::{MuxClient, is_event};
use oqto_e2e::podman::{RemoveStoreObjects, podman, podman_service, workspace_volumes};
use oqto_e2e::{eventually, free_port, workspace_binary};
use oqto_operator::core::OperatorDefaults;
use oqto_operator::podman::{self as podman_operator, PodmanRuntime};
use oqto_scripted_llm::{Script, ScriptedLlm};
use oqto_store::LocalStore;
use serde_json::{Value, json};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(180);
const ADMIN: (&str, &str) = ("admin", "delegation-podman-password");
const KEY: &str = "delegation-upstream-key";

fn children(store: &LocalStore, namespace: &str) -> Vec<Session> {
    store
        .list::<Session>(Some(namespace))
        .unwrap()
        .into_iter()
        .filter(|s| s.spec.parent_session_ref.is_some())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_container_delegates_through_the_gateways_runner_listener() {
    let image = oqto_e2e::runner_image().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("podman.sock");
    let _service = podman_service(&socket).await.unwrap();
    let state = dir.path().join("store");
    let store = Arc::new(LocalStore::open(&state).unwrap());
    let _leftovers = RemoveStoreObjects(store.id().to_owned());
    let namespace = format!("delegate{}", std::process::id());

    let script: Script = serde_json::from_value(json!({"api_key": KEY, "rules": [
        {"when_user_contains": "research two topics", "steps": [
            {"kind": "tool_call", "name": "delegate", "arguments": {"task": "summarise alpha"}},
            {"kind": "tool_call", "name": "delegate", "arguments": {"task": "summarise beta"}},
            {"kind": "echo_tool_results", "prefix": "Combined: "}
        ]},
        {"when_user_contains": "summarise alpha", "steps": [
            {"kind": "text", "chunks": ["ALPHA-RESULT"], "delay_ms": 0}]},
        {"when_user_contains": "summarise beta", "steps": [
            {"kind": "text", "chunks": ["BETA-RESULT"], "delay_ms": 0}]}
    ]}))
    .unwrap();
    let llm = ScriptedLlm::spawn(script, "0.0.0.0:0").await.unwrap();
    common::scripted_workspace(
        &store,
        &namespace,
        "team",
        ADMIN.0,
        &format!("http://host.containers.internal:{}/v1", llm.addr().port()),
        KEY,
    );

    // The gateway's runners-only listener, as compose.yaml sets it up.
    let runner_port = free_port();
    let reconciler = podman_operator::reconciler(
        store.clone(),
        PodmanRuntime::connect(&socket.display().to_string()).unwrap(),
        OperatorDefaults {
            runner_image: Some(image),
            gateway_url: Some(format!("http://host.containers.internal:{runner_port}")),
            ..OperatorDefaults::new(oqto_e2e::runner_key())
        },
        podman_operator::Settings::default(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = tokio::spawn(podman_operator::run(
        reconciler,
        Duration::from_millis(200),
        async {
            let _ = stopped.await;
        },
    ));

    let mut command = Command::new(workspace_binary("oqto-gateway").unwrap());
    command
        .args(["--runtime", "podman", "--namespace", &namespace])
        .args(["--poll-ms", "50"])
        .arg("--state-dir")
        .arg(&state)
        .args(["--runner-listen", &format!("0.0.0.0:{runner_port}")]);
    let gateway = GatewayProcess::start(command, &dir.path().join("gateway"), ADMIN)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    // The runners' listener serves runners only: no user route there.
    let user_route = http
        .get(format!("http://127.0.0.1:{runner_port}/api/workspaces"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        user_route.status(),
        404,
        "no user route on the runners' listener"
    );
    let token = gateway.login(ADMIN.0, ADMIN.1).await.unwrap();

    store
        .apply::<Session>(object(
            "Session",
            &namespace,
            "lead",
            json!({"workspaceRef": {"name": "team"}}),
        ))
        .unwrap();
    let mut mux = MuxClient::connect(&gateway.mux_url(), Some(&token))
        .await
        .unwrap();
    mux.create_session("lead").await.unwrap();
    mux.send(
        json!({"channel": "agent", "session_id": "lead", "id": "p", "cmd": "prompt",
        "message": "research two topics"}),
    )
    .await
    .unwrap();
    let frames = mux
        .until(|f| {
            f["session_id"] == "lead" && (is_event(f, "agent.idle") || is_event(f, "agent.error"))
        })
        .await
        .unwrap();
    let ended: Vec<&Value> = frames
        .iter()
        .filter(|f| is_event(f, "delegate.end"))
        .collect();
    assert_eq!(ended.len(), 2, "two delegate.end: {frames:#?}");
    let answer: String = frames
        .iter()
        .filter(|f| f["session_id"] == "lead" && is_event(f, "stream.text_delta"))
        .filter_map(|f| f["delta"].as_str())
        .collect();
    assert!(
        answer.contains("ALPHA-RESULT") && answer.contains("BETA-RESULT"),
        "the parent's answer uses both results: {answer:?}"
    );
    let made = children(&store, &namespace);
    assert_eq!(made.len(), 2, "two child Sessions");
    assert!(
        made.iter()
            .all(|c| c.spec.parent_session_ref.as_ref().unwrap().name == "lead")
    );
    eventually("the children suspended after their turns", WAIT, || async {
        children(&store, &namespace)
            .iter()
            .all(|c| c.spec.suspended)
            .then_some(())
    })
    .await
    .unwrap();

    // oqtoctl: a chat shows the sub-agents at work and the answer that uses them; the session
    // table names each child's parent.
    let oqtoctl = |args: &[&str]| {
        let mut command = Command::new(workspace_binary("oqtoctl").unwrap());
        command
            .args(["--server", &gateway.url, "--token", &token])
            .args(args)
            .env("XDG_CONFIG_HOME", dir.path());
        command
    };
    let chat = oqtoctl(&["chat", "lead", "research two topics"])
        .output()
        .await
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&chat.stdout),
        String::from_utf8_lossy(&chat.stderr),
    );
    assert!(chat.status.success(), "{out}\n{err}");
    assert!(
        out.contains("ALPHA-RESULT") && out.contains("BETA-RESULT"),
        "the answer: {out}"
    );
    assert_eq!(
        err.matches("⇠ sub-agent ").count(),
        2,
        "each sub-agent's end on stderr: {err}"
    );
    let table = oqtoctl(&["session", "get", "-w", "team"])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    let children_rows: Vec<&str> = table
        .lines()
        .filter(|line| line.split_whitespace().nth(4) == Some("lead"))
        .collect();
    assert_eq!(children_rows.len(), 4, "four children under lead: {table}");

    // Deleting the parent deletes its children.
    drop(mux);
    store.delete::<Session>(&namespace, "lead").unwrap();
    eventually("the children deleted with their parent", WAIT, || async {
        children(&store, &namespace).is_empty().then_some(())
    })
    .await
    .unwrap();

    let _ = store.delete::<Workspace>(&namespace, "team");
    let _ = eventually("the Workspace's volumes deleted", WAIT, || async {
        workspace_volumes(&namespace, "team")
            .is_empty()
            .then_some(())
    })
    .await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(WAIT, operator).await;
    for volume in workspace_volumes(&namespace, "team") {
        podman(&["volume", "rm", "-f", &volume]);
    }
}
