//! Warm spares in single-node mode (issue 19), against real Podman, the real runner image with
//! the real Pi, the gateway binary and the scripted LLM: once a Workspace has a Session in use
//! the operator starts a spare beside it; a Session created through the REST API without a name
//! claims it (one claim per spare, however many ask at once), answers a prompt, and a new spare
//! follows; `oqtoctl session create` claims the next; a named Session never takes one; with no
//! Session in use the spare goes.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::time::Duration;

use oqto_api::spare::{CLAIMED_AT_ANNOTATION, is_spare};
use oqto_api::{Session, SessionPhase, Workspace};
use oqto_e2e::gateway::GatewayProcess;
use oqto_e2e::mux::{MuxClient, is_event};
use oqto_e2e::podman::{podman, workspace_volumes};
use oqto_e2e::{eventually, workspace_binary};
use oqto_scripted_llm::{Script, ScriptedLlm};
use oqto_store::LocalStore;
use reqwest::Method;
use serde_json::json;
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(180);
const ADMIN: (&str, &str) = ("admin", "warm-spare-podman-password");
const KEY: &str = "warm-spare-upstream-key";

/// The Workspace's spare once it is Running with an endpoint.
fn running_spare(store: &LocalStore, namespace: &str) -> Option<String> {
    store
        .list::<Session>(Some(namespace))
        .unwrap()
        .into_iter()
        .filter(|s| s.spec.workspace_ref.name == "team")
        .filter(is_spare)
        .find(|s| {
            s.status.as_ref().is_some_and(|status| {
                status.phase == Some(SessionPhase::Running) && status.endpoint.is_some()
            })
        })
        .and_then(|s| s.metadata.name)
}

fn spares(store: &LocalStore, namespace: &str) -> Vec<String> {
    store
        .list::<Session>(Some(namespace))
        .unwrap()
        .into_iter()
        .filter(|s| s.spec.workspace_ref.name == "team")
        .filter(is_spare)
        .filter_map(|s| s.metadata.name)
        .collect()
}

/// Prompts `session` and returns the text of its answer.
async fn answer(mux: &mut MuxClient, session: &str, prompt: &str) -> String {
    mux.create_session(session).await.unwrap();
    mux.send(
        json!({"channel": "agent", "session_id": session, "id": "p", "cmd": "prompt",
        "message": prompt}),
    )
    .await
    .unwrap();
    let frames = mux
        .until(|f| {
            f["session_id"] == session && (is_event(f, "agent.idle") || is_event(f, "agent.error"))
        })
        .await
        .unwrap();
    frames
        .iter()
        .filter(|f| f["session_id"] == session && is_event(f, "stream.text_delta"))
        .filter_map(|f| f["delta"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_session_claims_the_workspaces_warm_spare_once() {
    let mut operator = common::PodmanOperator::start_with(
        Duration::from_millis(200),
        Default::default(),
        |defaults| defaults.warm_spares = true,
    )
    .await;
    let store = operator.store.clone();
    let dir = tempfile::tempdir().unwrap();
    let namespace = format!("spare{}", std::process::id());

    let script: Script = serde_json::from_value(json!({"api_key": KEY, "rules": [
        {"when_user_contains": "hello", "steps": [
            {"kind": "text", "chunks": ["WARM-", "ANSWER"], "delay_ms": 0}]}
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
    let mut command = Command::new(workspace_binary("oqto-gateway").unwrap());
    command
        .args(["--runtime", "podman", "--namespace", &namespace])
        .args(["--poll-ms", "50"])
        .arg("--state-dir")
        .arg(operator.state_dir());
    let gateway = GatewayProcess::start(command, &dir.path().join("gateway"), ADMIN)
        .await
        .unwrap();
    let token = gateway.login(ADMIN.0, ADMIN.1).await.unwrap();
    let sessions_path = "/api/workspaces/team/sessions";

    // 1. No Session in use, no spare (the operator decides spares before it reports the
    // Workspace Ready).
    eventually("the Workspace Ready", WAIT, || async {
        let workspace = store.get::<Workspace>(&namespace, "team").unwrap()?;
        (workspace.status?.phase? == oqto_api::WorkspacePhase::Ready).then_some(())
    })
    .await
    .unwrap();
    assert!(
        spares(&store, &namespace).is_empty(),
        "a spare for an unused Workspace"
    );

    // 2. The first Session (made as any other) brings a spare beside it, hidden from listings.
    let (status, first) = gateway
        .call(
            Method::POST,
            sessions_path,
            &token,
            Some(json!({"name": "first"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{first}");
    let spare = eventually("the spare Running", WAIT, || async {
        running_spare(&store, &namespace)
    })
    .await
    .unwrap();
    assert_ne!(spare, "first");
    let (_, listed) = gateway
        .call(Method::GET, sessions_path, &token, None)
        .await
        .unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["first"], "the spare is not listed");

    // 2b. Nobody uses or reshapes a spare before a create claims it: by name it is "not found"
    // (REST and mux), and /api/apply can neither mark a Session as a spare nor rewrite one.
    let (status, _) = gateway
        .call(
            Method::GET,
            &format!("{sessions_path}/{spare}"),
            &token,
            None,
        )
        .await
        .unwrap();
    assert_eq!(status, 404, "an unclaimed spare is readable by name");
    let mut peek = MuxClient::connect(&gateway.mux_url(), Some(&token))
        .await
        .unwrap();
    let refused = peek.create_session(&spare).await.unwrap_err().to_string();
    assert!(refused.contains("not found"), "{refused}");
    drop(peek);
    let applied = |name: &str, metadata: serde_json::Value| {
        let mut metadata = metadata;
        metadata["name"] = json!(name);
        Some(json!({"apiVersion": "oqto.dev/v1alpha1", "kind": "Session",
            "metadata": metadata, "spec": {"workspaceRef": {"name": "team"}}}))
    };
    let (status, refusal) = gateway
        .call(
            Method::POST,
            "/api/apply",
            &token,
            applied("forged", json!({"labels": {"oqto.dev/spare": "true"}})),
        )
        .await
        .unwrap();
    assert_eq!(status, 422, "{refusal}");
    assert!(refusal.to_string().contains("metadata.labels"), "{refusal}");
    let (status, refusal) = gateway
        .call(
            Method::POST,
            "/api/apply",
            &token,
            applied(
                "forged",
                json!({"annotations": {CLAIMED_AT_ANNOTATION: "2099-01-01T00:00:00Z"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, 422, "{refusal}");
    assert!(
        refusal.to_string().contains("metadata.annotations"),
        "{refusal}"
    );
    let (status, refusal) = gateway
        .call(
            Method::POST,
            "/api/apply",
            &token,
            applied(&spare, json!({})),
        )
        .await
        .unwrap();
    assert_eq!(status, 404, "applied over an unclaimed spare: {refusal}");
    assert!(
        is_spare(&store.get::<Session>(&namespace, &spare).unwrap().unwrap()),
        "the spare was changed"
    );

    // 3. Two unnamed creates at once: exactly one claims the spare (its resourceVersion
    // decides), the other gets a Session of its own.
    let body = || Some(json!({"spec": {"displayName": "Warm one"}}));
    let (a, b) = tokio::join!(
        gateway.call(Method::POST, sessions_path, &token, body()),
        gateway.call(Method::POST, sessions_path, &token, body()),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.0, b.0), (201, 201), "{a:?} {b:?}");
    let made = [
        a.1["metadata"]["name"].as_str().unwrap().to_owned(),
        b.1["metadata"]["name"].as_str().unwrap().to_owned(),
    ];
    assert_ne!(made[0], made[1], "one spare claimed twice");
    let claimed_answer = if made[0] == spare { &a.1 } else { &b.1 };
    assert!(
        made.contains(&spare),
        "neither create claimed the spare: {made:?}"
    );
    let other = made.iter().find(|n| **n != spare).unwrap().clone();
    assert_eq!(claimed_answer["spec"]["displayName"], "Warm one");
    assert!(
        claimed_answer["metadata"]["labels"]["oqto.dev/spare"].is_null(),
        "{claimed_answer}"
    );
    assert!(
        claimed_answer["metadata"]["annotations"][CLAIMED_AT_ANNOTATION].is_string(),
        "{claimed_answer}"
    );
    assert_eq!(
        claimed_answer["status"]["phase"], "Running",
        "the claimed spare is already running"
    );

    // 4. The claimed Session answers at once, as any other.
    let mut mux = MuxClient::connect(&gateway.mux_url(), Some(&token))
        .await
        .unwrap();
    let text = answer(&mut mux, &spare, "hello").await;
    assert_eq!(text, "WARM-ANSWER");
    // Its Pi was the one started ahead, not one started for the prompt (the bridge counts it).
    let claimed = store.get::<Session>(&namespace, &spare).unwrap().unwrap();
    let endpoint = claimed.status.unwrap().endpoint.unwrap();
    let container = oqto_operator::podman::render::container_name(&namespace, &spare);
    let (read, bridge_token) = podman(&["exec", &container, "printenv", "PI_BRIDGE_TOKEN"]);
    assert!(read);
    let metrics = oqto_e2e::fetch_text(&format!("{endpoint}/metrics"), Some(bridge_token.trim()))
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"pi_bridge_pi_starts_total{how="ahead"} 1"#)
            && !metrics.contains(r#"how="on_demand""#),
        "the claimed spare's Pi was not the one started ahead:\n{metrics}"
    );

    // 5. A new spare follows; a named create never takes it.
    let next = eventually("the next spare Running", WAIT, || async {
        running_spare(&store, &namespace).filter(|s| *s != spare)
    })
    .await
    .unwrap();
    // `oqtoctl session create` without a name claims it too.
    let created = tokio::process::Command::new(workspace_binary("oqtoctl").unwrap())
        .args(["--server", &gateway.url, "--token", &token, "-o", "json"])
        .args(["session", "create", "-w", "team"])
        .env("XDG_CONFIG_HOME", dir.path())
        .output()
        .await
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(
        created["metadata"]["name"],
        next.as_str(),
        "oqtoctl's create claimed no spare"
    );
    let next = eventually("the spare after that Running", WAIT, || async {
        running_spare(&store, &namespace)
            .filter(|s| *s != spare && *s != created["metadata"]["name"])
    })
    .await
    .unwrap();
    let (status, named) = gateway
        .call(
            Method::POST,
            sessions_path,
            &token,
            Some(json!({"name": "named"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{named}");
    assert_eq!(named["metadata"]["name"], "named");
    assert_eq!(
        spares(&store, &namespace),
        [next],
        "the named create took the spare"
    );

    // 6. No Session in use: the spare goes.
    drop(mux);
    let by_oqtoctl = created["metadata"]["name"].as_str().unwrap().to_owned();
    for name in ["first", "named", &spare, &other, &by_oqtoctl] {
        let path = format!("{sessions_path}/{name}/suspend");
        let (status, body) = gateway
            .call(Method::POST, &path, &token, None)
            .await
            .unwrap();
        assert_eq!(status, 200, "suspending {name}: {body}");
    }
    eventually("the spare deleted", WAIT, || async {
        spares(&store, &namespace).is_empty().then_some(())
    })
    .await
    .unwrap();
    let claimed: Session = store.get(&namespace, &spare).unwrap().unwrap();
    assert!(
        claimed.spec.suspended,
        "the claimed Session is a user's: kept, suspended"
    );

    let _ = store.delete::<Workspace>(&namespace, "team");
    let _ = eventually("the Workspace's volumes deleted", WAIT, || async {
        workspace_volumes(&namespace, "team")
            .is_empty()
            .then_some(())
    })
    .await;
    operator.stop().await;
    for volume in workspace_volumes(&namespace, "team") {
        podman(&["volume", "rm", "-f", &volume]);
    }
}
