//! Single-node mode (`--runtime podman`): the REST API writes the operator's local store and
//! the relay finds runners by the endpoint in a Session's status. The test plays the
//! operator's Podman runtime (which needs Podman; its own tests cover it): it starts a real
//! pi-bridge for a Session that should run, stops it for one that is suspended, and writes
//! the status as the runtime would.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{ADMIN, Cred, Gateway, Mux, RunnerEnv, is_event, play_operator};
use oqto_api::{Session, SessionPhase};
use oqto_store::LocalStore;
use reqwest::{Method, StatusCode};
use serde_json::json;

const NAMESPACE: &str = "oqto";

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_serves_the_local_store_and_wakes_its_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Arc::new(LocalStore::open(&state).unwrap());
    let runners = RunnerEnv::new(json!({"rules":[{"when_user_contains":"hello",
        "steps":[{"kind":"text","chunks":["Hello", " locally."],"delay_ms":0}]}]}))
    .await;
    let gateway = Gateway::start_local(&dir.path().join("gateway"), &state, NAMESPACE).await;
    let rest = gateway.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let alice = rest.user(&admin, "alice").await;
    let bob = rest.user(&admin, "bob").await;

    // REST writes the store, as `oqto-operator apply` would.
    rest.workspace_with_session(&alice, "ws", json!({"name":"s1"}))
        .await;
    let stored: Session = store.get(NAMESPACE, "s1").unwrap().unwrap();
    assert_eq!(stored.spec.workspace_ref.name, "ws");
    let workspace: oqto_api::Workspace = store.get(NAMESPACE, "ws").unwrap().unwrap();
    assert_eq!(workspace.spec.owner, "alice");
    let (status, _) = rest
        .call(Method::GET, "/api/workspaces/ws", Cred::Bearer(&bob), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, answer) = rest
        .call(
            Method::POST,
            "/api/apply",
            Cred::Bearer(&alice),
            Some(json!({"apiVersion":"oqto.dev/v1alpha1",
            "kind":"Session","metadata":{"name":"s1"},"spec":{"workspaceRef":{"name":"other"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    let _operator = play_operator(store.clone(), runners.clone());
    let mut mux = Mux::connect(&gateway.ws_url(), &alice).await;
    let frames = mux
        .command(
            "s1",
            "c1",
            "session.create",
            json!({"config":{"harness":"pi"}}),
        )
        .await;
    assert_eq!(frames.last().unwrap()["success"], true, "{frames:?}");
    let mut turn = mux
        .command("s1", "p1", "prompt", json!({"message":"hello"}))
        .await;
    turn.extend(mux.until(|f| is_event(f, "agent.idle")).await);
    let text: String = turn
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .map(|f| f["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello locally.");

    // Suspended through the API, the runner goes; a frame brings it back.
    rest.ok(
        Method::POST,
        "/api/workspaces/ws/sessions/s1/suspend",
        &alice,
        None,
    )
    .await;
    common::eventually("s1 suspended in the store", || async {
        let s: Session = store.get(NAMESPACE, "s1").unwrap().unwrap();
        (s.status.and_then(|s| s.phase) == Some(SessionPhase::Suspended)).then_some(())
    })
    .await;
    // The gateway's route table follows the store by a poll (every 50 ms here): a frame sent
    // the moment the store says Suspended could still be routed to the runner just stopped
    // (seen once in CI under load). Ten polls later the gateway knows.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut mux = Mux::connect(&gateway.ws_url(), &alice).await;
    let frames = mux
        .command(
            "s1",
            "c2",
            "session.create",
            json!({"config":{"harness":"pi"}}),
        )
        .await;
    let working = frames
        .iter()
        .find(|f| is_event(f, "agent.working"))
        .expect("told it starts");
    assert_eq!(working["phase"], "initializing");
    assert_eq!(frames.last().unwrap()["success"], true, "{frames:?}");
    let resumed: Session = store.get(NAMESPACE, "s1").unwrap().unwrap();
    assert!(
        !resumed.spec.suspended,
        "the gateway resumed it in the store"
    );
    // History is the workspace's: the first turn is still there.
    let frames = mux.command("s1", "m", "get_messages", json!({})).await;
    let messages = frames.last().unwrap()["data"]["messages"]
        .as_array()
        .cloned()
        .unwrap();
    assert_eq!(messages.len(), 2, "{messages:?}");
}
