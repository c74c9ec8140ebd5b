//! Session titles (`spec.displayName`, the web UI's sidebar) and the list of all of a user's
//! Sessions: a user renames and lists only their own, and a title is one line of text.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{ADMIN, Cred, Gateway};
use oqto_api::Session;
use oqto_store::LocalStore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NAMESPACE: &str = "oqto";

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn users_title_and_list_only_their_own_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Arc::new(LocalStore::open(&state).unwrap());
    let gateway = Gateway::start_local(&dir.path().join("gateway"), &state, NAMESPACE).await;
    let rest = gateway.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let alice = rest.user(&admin, "alice").await;
    let bob = rest.user(&admin, "bob").await;
    rest.workspace_with_session(&alice, "ws-a", json!({"name": "a1"}))
        .await;
    rest.ok(
        Method::POST,
        "/api/workspaces/ws-a/sessions",
        &alice,
        Some(json!({"name": "a2"})),
    )
    .await;
    rest.workspace_with_session(&bob, "ws-b", json!({"name": "b1"}))
        .await;

    // One list across Workspaces: each user's own; an admin's: all.
    let mine = rest.ok(Method::GET, "/api/sessions", &alice, None).await;
    assert_eq!(names(&mine), ["a1", "a2"]);
    let theirs = rest.ok(Method::GET, "/api/sessions", &bob, None).await;
    assert_eq!(names(&theirs), ["b1"]);
    let all = rest.ok(Method::GET, "/api/sessions", &admin, None).await;
    assert_eq!(names(&all), ["a1", "a2", "b1"]);

    // Renamed: stored in the spec, trimmed, shown in the list.
    let renamed = rest
        .ok(
            Method::PATCH,
            "/api/workspaces/ws-a/sessions/a1",
            &alice,
            Some(json!({"displayName": "  Fix the build  "})),
        )
        .await;
    assert_eq!(renamed["spec"]["displayName"], "Fix the build");
    let stored: Session = store.get(NAMESPACE, "a1").unwrap().unwrap();
    assert_eq!(stored.spec.display_name.as_deref(), Some("Fix the build"));
    let mine = rest.ok(Method::GET, "/api/sessions", &alice, None).await;
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["spec"]["displayName"] == "Fix the build")
    );

    // Another user's session is not found, under its own Workspace or another's.
    for path in [
        "/api/workspaces/ws-a/sessions/a1",
        "/api/workspaces/ws-b/sessions/a1",
    ] {
        let (status, body) = rest
            .call(
                Method::PATCH,
                path,
                Cred::Bearer(&bob),
                Some(json!({"displayName": "mine now"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let stored: Session = store.get(NAMESPACE, "a1").unwrap().unwrap();
    assert_eq!(stored.spec.display_name.as_deref(), Some("Fix the build"));

    // Bad titles and bodies are refused naming the field; nothing changes.
    for (body, field) in [
        (json!({"displayName": "two\nlines"}), "displayName"),
        (json!({"displayName": "x".repeat(129)}), "displayName"),
        (json!({"displayName": 7}), "displayName"),
        (json!({"suspended": true}), "suspended"),
    ] {
        let (status, answer) = rest
            .call(
                Method::PATCH,
                "/api/workspaces/ws-a/sessions/a1",
                Cred::Bearer(&alice),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(answer.to_string().contains(field), "{body}: {answer}");
    }
    let stored: Session = store.get(NAMESPACE, "a1").unwrap().unwrap();
    assert_eq!(stored.spec.display_name.as_deref(), Some("Fix the build"));
    assert!(!stored.spec.suspended);

    // An empty title removes it.
    let cleared = rest
        .ok(
            Method::PATCH,
            "/api/workspaces/ws-a/sessions/a1",
            &alice,
            Some(json!({"displayName": ""})),
        )
        .await;
    assert_eq!(cleared["spec"]["displayName"], Value::Null);
}
