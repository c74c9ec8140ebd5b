//! Delegation end to end (issue 19): a parent agent (the real Pi, scripted LLM) calls the
//! runner image's `delegate` tool twice; pi-bridge starts each child through the gateway with
//! its Session's credential and drives it over the mux; both children run in runners of their
//! own, report back, and the parent's answer quotes their results. A sub-agent may not delegate
//! again, the credential opens nothing else, and deleting the parent deletes its children. The
//! control plane is real (etcd, kube-apiserver, controller-manager's garbage collector); the
//! kubelet's part is played by the test (`common::Kubelet` runs pi-bridge for each runner Pod).
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use common::{
    ADMIN, Gateway, Kubelet, Mux, RunnerEnv, eventually, free_port, is_event, start_operator_with,
};
use oqto_e2e::TestEnv;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn script() -> Value {
    json!({"rules": [
        {"when_user_contains": "research two topics", "steps": [
            {"kind": "tool_call", "name": "delegate", "arguments": {"task": "summarise alpha"}},
            {"kind": "tool_call", "name": "delegate", "arguments": {"task": "summarise beta"}},
            {"kind": "echo_tool_results", "prefix": "Combined: "}
        ]},
        {"when_user_contains": "summarise alpha", "steps": [
            {"kind": "text", "chunks": ["ALPHA-", "RESULT"], "delay_ms": 0}
        ]},
        {"when_user_contains": "summarise beta", "steps": [
            {"kind": "text", "chunks": ["BETA-RESULT"], "delay_ms": 0}
        ]},
        {"when_user_contains": "nest deeper", "steps": [
            {"kind": "tool_call", "name": "delegate", "arguments": {"task": "go one level down"}},
            {"kind": "echo_tool_results", "prefix": "Parent saw: "}
        ]},
        {"when_user_contains": "go one level down", "steps": [
            {"kind": "tool_call", "name": "delegate", "arguments": {"task": "a third level"}},
            {"kind": "echo_tool_results", "prefix": "Child saw: "}
        ]}
    ]})
}

/// The text the agent streamed in one turn, and the turn's events.
async fn prompt(mux: &mut Mux, session: &str, text: &str) -> (String, Vec<Value>) {
    mux.send(json!({"channel": "agent", "session_id": session, "id": "p",
        "cmd": "prompt", "message": text}))
        .await;
    let frames = mux
        .until(|f| {
            f["session_id"] == session && (is_event(f, "agent.idle") || is_event(f, "agent.error"))
        })
        .await;
    let streamed: String = frames
        .iter()
        .filter(|f| is_event(f, "stream.text_delta") && f["session_id"] == session)
        .filter_map(|f| f["delta"].as_str())
        .collect();
    (streamed, frames)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_agent_delegates_two_tasks_and_answers_with_their_results() {
    let env = TestEnv::new("delegation").await.unwrap();
    let runners = RunnerEnv::new(script()).await;
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(&env, data.path(), port).await;
    let _operator = start_operator_with(&env, port, Some(&gateway.url));
    let _kubelet = Kubelet::start(&env, runners.clone(), port);
    let rest = gateway.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let alice = rest.user(&admin, "alice").await;
    rest.workspace_with_session(&alice, "ws", json!({"name": "lead"}))
        .await;
    let mut mux = Mux::connect(&gateway.ws_url(), &alice).await;
    let created = mux
        .command(
            "lead",
            "c",
            "session.create",
            json!({"config": {"harness": "pi"}}),
        )
        .await;
    assert_eq!(created.last().unwrap()["success"], true, "{created:?}");

    // 1. Two tasks, two sub-agents, one answer built from both results.
    let (answer, frames) = prompt(&mut mux, "lead", "research two topics").await;
    let of = |name: &str| -> Vec<&Value> { frames.iter().filter(|f| is_event(f, name)).collect() };
    let started = of("delegate.start");
    let ended = of("delegate.end");
    assert_eq!(started.len(), 2, "two delegate.start: {frames:#?}");
    assert_eq!(ended.len(), 2, "two delegate.end: {frames:#?}");
    let children: Vec<String> = started
        .iter()
        .map(|f| f["target_session_id"].as_str().unwrap().to_owned())
        .collect();
    assert_ne!(children[0], children[1]);
    let answers: Vec<String> = ended.iter().map(|f| f["response"].to_string()).collect();
    assert!(answers[0].contains("ALPHA-RESULT"), "{answers:?}");
    assert!(answers[1].contains("BETA-RESULT"), "{answers:?}");
    assert!(
        !of("delegate.delta").is_empty(),
        "the children's text streamed to the parent's clients"
    );
    assert!(
        answer.contains("Combined: ")
            && answer.contains("ALPHA-RESULT")
            && answer.contains("BETA-RESULT"),
        "the parent's answer uses both results: {answer:?}"
    );
    // The children are Sessions of the same Workspace that name their parent.
    let listed = rest
        .ok(Method::GET, "/api/workspaces/ws/sessions", &alice, None)
        .await;
    for child in &children {
        let session = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["metadata"]["name"] == child.as_str())
            .unwrap_or_else(|| panic!("{child} listed: {listed}"));
        assert_eq!(session["spec"]["parentSessionRef"]["name"], "lead");
        assert_eq!(session["spec"]["workspaceRef"]["name"], "ws");
    }
    // kubectl's table names the parent (the CRD's Parent column).
    let table = oqto_e2e::run_ok(env.kubectl().args(["get", "sessions"])).unwrap();
    for child in &children {
        let row = table
            .lines()
            .find(|line| line.split_whitespace().next() == Some(child.as_str()))
            .unwrap_or_else(|| panic!("{child} in kubectl get sessions: {table}"));
        assert!(
            row.split_whitespace().any(|cell| cell == "lead"),
            "no parent in {row:?}"
        );
    }

    // A child whose turn ended gives up its runner: finished sub-agents do not count as
    // running (a follow-up prompt would wake it).
    eventually("both children suspended after their turns", || async {
        let listed = rest
            .ok(Method::GET, "/api/workspaces/ws/sessions", &alice, None)
            .await;
        let suspended = listed["items"]
            .as_array()?
            .iter()
            .filter(|s| children.iter().any(|c| s["metadata"]["name"] == c.as_str()))
            .filter(|s| s["spec"]["suspended"] == true)
            .count();
        (suspended == 2).then_some(())
    })
    .await;

    // 2. A sub-agent may not delegate again: the third level is refused, and says why.
    let (nested, _) = prompt(&mut mux, "lead", "nest deeper").await;
    assert!(
        nested.contains("Parent saw: ") && nested.contains("at most 2 levels"),
        "{nested:?}"
    );

    // 3. The credential opens nothing but the children: not a user route, not the parent's
    // own agent, not another session's.
    let lead = rest
        .ok(
            Method::GET,
            "/api/workspaces/ws/sessions/lead",
            &alice,
            None,
        )
        .await;
    let uid = lead["metadata"]["uid"].as_str().unwrap();
    let credential = oqto_e2e::runner_key().session_credential("lead", uid);
    let http = reqwest::Client::new();
    let users = http
        .get(format!("{}/api/workspaces", gateway.url))
        .bearer_auth(credential.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), StatusCode::UNAUTHORIZED, "no user route");
    let forged = oqto_e2e::runner_key().session_credential("lead", "another-uid");
    let refused = http
        .post(format!("{}/api/delegation/children", gateway.url))
        .bearer_auth(forged.expose())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "a forged credential"
    );
    let user_token = http
        .post(format!("{}/api/delegation/children", gateway.url))
        .bearer_auth(&alice)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        user_token.status(),
        StatusCode::UNAUTHORIZED,
        "a user's token"
    );
    let mut runner_mux = Mux::connect(&gateway.ws_url(), credential.expose()).await;
    let create = json!({"config": {"harness": "pi"}});
    let own = runner_mux
        .command("lead", "s", "session.create", create.clone())
        .await;
    assert!(
        own.last().unwrap()["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not found"),
        "the parent's own agent is not reachable with its credential: {own:?}"
    );
    // Its (suspended) child is: the frame wakes it.
    let child = runner_mux
        .command(&children[0], "s", "session.create", create)
        .await;
    assert_eq!(
        child.last().unwrap()["success"],
        true,
        "its child is: {child:?}"
    );
    runner_mux
        .send(
            json!({"channel": "files", "session_id": children[0], "id": "f",
            "type": "list", "path": "."}),
        )
        .await;
    let refusal = runner_mux
        .until(|f| f["id"] == "f" || f["channel"] == "system")
        .await;
    assert!(
        refusal.last().unwrap().to_string().contains("not found"),
        "not its child's files: {refusal:?}"
    );

    // 4. Deleting the parent deletes its children (owner references, garbage collector).
    rest.ok(
        Method::DELETE,
        "/api/workspaces/ws/sessions/lead",
        &alice,
        None,
    )
    .await;
    eventually("the children deleted with their parent", || async {
        let listed = rest
            .ok(Method::GET, "/api/workspaces/ws/sessions", &alice, None)
            .await;
        let left = listed["items"].as_array().map_or(0, Vec::len);
        (left == 0).then_some(())
    })
    .await;
}
