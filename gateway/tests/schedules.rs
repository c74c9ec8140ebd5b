//! Schedules through the REST API, in single-node mode (the operator's local store): created,
//! listed, suspended and deleted within a Workspace; bad cron expressions and time zones refused
//! naming the field; a user reaches only the Schedules of their own Workspaces and cannot aim one
//! at another user's Workspace or Session; a Workspace holds at most 20.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{ADMIN, Cred, Gateway, Rest};
use oqto_api::Schedule;
use oqto_store::LocalStore;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NAMESPACE: &str = "oqto";

/// A gateway on a fresh local store, and that store, read directly to see what was written.
struct Started {
    _dir: tempfile::TempDir,
    _gateway: Gateway,
    rest: Rest,
    store: Arc<LocalStore>,
    admin: String,
}

async fn start() -> Started {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Arc::new(LocalStore::open(&state).unwrap());
    let gateway = Gateway::start_local(&dir.path().join("gateway"), &state, NAMESPACE).await;
    let rest = gateway.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    Started {
        _dir: dir,
        _gateway: gateway,
        rest,
        store,
        admin,
    }
}

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

/// A weekday-morning Schedule in a new Session per run.
fn daily(name: &str) -> Value {
    json!({"name": name, "spec": {"schedule": "0 9 * * 1-5", "prompt": "Summarise the open issues"}})
}

fn stored(store: &LocalStore, name: &str) -> Option<Schedule> {
    store.get(NAMESPACE, name).unwrap()
}

/// The status and body of a call that must be refused.
async fn refused(
    rest: &Rest,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
    let (status, answer) = rest
        .call(method, path, Cred::Bearer(token), Some(body))
        .await;
    assert!(!status.is_success(), "{path}: {status} {answer}");
    (status, answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn schedules_are_created_listed_suspended_and_deleted() {
    let Started {
        rest, store, admin, ..
    } = &start().await;
    let alice = rest.user(admin, "alice").await;
    rest.workspace_with_session(&alice, "dev", json!({"name": "chat"}))
        .await;

    // A new Session per run: the Workspace comes from the path.
    let (status, created) = rest
        .call(
            Method::POST,
            "/api/workspaces/dev/schedules",
            Cred::Bearer(&alice),
            Some(daily("morning")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["spec"]["target"],
        json!({"newSession": {"workspaceRef": {"name": "dev"}}})
    );
    assert_eq!(
        created["spec"]["concurrencyPolicy"], "Forbid",
        "the default"
    );
    assert!(created["metadata"].get("managedFields").is_none());
    let kept = stored(store, "morning").unwrap();
    assert_eq!(kept.spec.schedule, "0 9 * * 1-5");
    assert!(!kept.spec.suspend);

    // An existing Session of the Workspace; a generated name.
    let nudge = rest
        .ok(
            Method::POST,
            "/api/workspaces/dev/schedules",
            &alice,
            Some(
                json!({"spec": {"schedule": "@hourly", "timeZone": "Europe/Berlin",
                "prompt": "Anything new?", "target": {"sessionRef": {"name": "chat"}}}}),
            ),
        )
        .await;
    let nudge = nudge["metadata"]["name"].as_str().unwrap().to_owned();
    assert!(nudge.starts_with("dev-sched-"), "{nudge}");
    assert_eq!(
        stored(store, &nudge).unwrap().spec.time_zone.as_deref(),
        Some("Europe/Berlin")
    );

    // Listed in the Workspace, among all of the user's, and one by one.
    let expected = {
        let mut both = vec!["morning".to_owned(), nudge.clone()];
        both.sort();
        both
    };
    let listed = rest
        .ok(Method::GET, "/api/workspaces/dev/schedules", &alice, None)
        .await;
    assert_eq!(names(&listed), expected);
    let all = rest.ok(Method::GET, "/api/schedules", &alice, None).await;
    assert_eq!(names(&all), expected);
    let one = rest
        .ok(
            Method::GET,
            &format!("/api/workspaces/dev/schedules/{nudge}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(one["spec"]["target"]["sessionRef"]["name"], "chat");

    // Suspended, then changed field by field; what the patch leaves out stays.
    let suspended = rest
        .ok(
            Method::PATCH,
            "/api/workspaces/dev/schedules/morning",
            &alice,
            Some(json!({"suspend": true})),
        )
        .await;
    assert_eq!(suspended["spec"]["suspend"], true);
    assert!(stored(store, "morning").unwrap().spec.suspend);
    rest.ok(
        Method::PATCH,
        "/api/workspaces/dev/schedules/morning",
        &alice,
        Some(json!({"schedule": "@daily", "timeZone": "America/New_York",
            "prompt": "Plan the day", "concurrencyPolicy": "Replace"})),
    )
    .await;
    let kept = stored(store, "morning").unwrap();
    assert_eq!(kept.spec.schedule, "@daily");
    assert_eq!(kept.spec.time_zone.as_deref(), Some("America/New_York"));
    assert_eq!(kept.spec.prompt, "Plan the day");
    assert_eq!(
        kept.spec.concurrency_policy,
        oqto_api::ConcurrencyPolicy::Replace
    );
    assert!(kept.spec.suspend, "left as it was");
    // `null` takes the time zone back to UTC.
    let resumed = rest
        .ok(
            Method::PATCH,
            "/api/workspaces/dev/schedules/morning",
            &alice,
            Some(json!({"suspend": false, "timeZone": null})),
        )
        .await;
    assert_eq!(resumed["spec"]["suspend"], false);
    let kept = stored(store, "morning").unwrap();
    assert_eq!(kept.spec.time_zone, None);
    assert!(!kept.spec.suspend);
    // Only these fields: the target and the rest are not changed this way.
    let (status, answer) = refused(
        rest,
        Method::PATCH,
        "/api/workspaces/dev/schedules/morning",
        &alice,
        json!({"target": {"sessionRef": {"name": "chat"}}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("target"),
        "{answer}"
    );

    // A name that is taken.
    let (status, answer) = refused(
        rest,
        Method::POST,
        "/api/workspaces/dev/schedules",
        &alice,
        daily("morning"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");

    // Deleted: gone from the store and the lists; a second delete finds nothing.
    let (status, _) = rest
        .call(
            Method::DELETE,
            "/api/workspaces/dev/schedules/morning",
            Cred::Bearer(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(stored(store, "morning").is_none());
    let listed = rest
        .ok(Method::GET, "/api/workspaces/dev/schedules", &alice, None)
        .await;
    assert_eq!(names(&listed), [nudge.as_str()]);
    let (status, _) = rest
        .call(
            Method::DELETE,
            "/api/workspaces/dev/schedules/morning",
            Cred::Bearer(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The OpenAPI document describes the routes.
    let doc = rest
        .ok(Method::GET, "/api/openapi.json", &alice, None)
        .await;
    for (path, method) in [
        ("/api/schedules", "get"),
        ("/api/workspaces/{workspace}/schedules", "post"),
        ("/api/workspaces/{workspace}/schedules/{schedule}", "patch"),
        ("/api/workspaces/{workspace}/schedules/{schedule}", "delete"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_schedules_and_time_zones_are_refused_naming_the_field() {
    let Started {
        rest, store, admin, ..
    } = &start().await;
    let alice = rest.user(admin, "alice").await;
    rest.workspace_with_session(&alice, "dev", json!({"name": "chat"}))
        .await;
    let base = |spec: Value| {
        let mut body = daily("bad");
        for (key, value) in spec.as_object().unwrap() {
            body["spec"][key] = value.clone();
        }
        body
    };
    for (body, field) in [
        (base(json!({"schedule": "every day"})), "spec.schedule"),
        (base(json!({"schedule": "61 * * * *"})), "spec.schedule"),
        (base(json!({"schedule": "0 0 0 * * *"})), "spec.schedule"),
        (base(json!({"timeZone": "Mars/Olympus"})), "spec.timeZone"),
        (base(json!({"prompt": "   "})), "spec.prompt"),
        (
            base(json!({"target": {"newSession": {"workspaceRef": {"name": "elsewhere"}}}})),
            "spec.target.newSession.workspaceRef",
        ),
        (
            base(json!({"target": {"newSession": {"provider": "openai"}}})),
            "spec.target.newSession.model",
        ),
        (
            base(json!({"target": {"sessionRef": {"name": "missing"}}})),
            "spec.target.sessionRef.name",
        ),
        (
            base(json!({"concurrencyPolicy": "Sometimes"})),
            "spec.concurrencyPolicy",
        ),
    ] {
        let (status, answer) = refused(
            rest,
            Method::POST,
            "/api/workspaces/dev/schedules",
            &alice,
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["details"]["field"], field, "{body}: {answer}");
        assert!(
            stored(store, "bad").is_none(),
            "{body}: nothing was created"
        );
    }

    // The same rules on a change; the stored Schedule stays as it was.
    rest.ok(
        Method::POST,
        "/api/workspaces/dev/schedules",
        &alice,
        Some(daily("good")),
    )
    .await;
    for (body, field) in [
        (json!({"schedule": "every day"}), "spec.schedule"),
        (json!({"timeZone": "Mars/Olympus"}), "spec.timeZone"),
        (json!({"prompt": ""}), "spec.prompt"),
    ] {
        let (status, answer) = refused(
            rest,
            Method::PATCH,
            "/api/workspaces/dev/schedules/good",
            &alice,
            body.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["details"]["field"], field, "{body}: {answer}");
    }
    let kept = stored(store, "good").unwrap();
    assert_eq!(kept.spec.schedule, "0 9 * * 1-5");
    assert_eq!(kept.spec.time_zone, None);
    assert_eq!(kept.spec.prompt, "Summarise the open issues");
}

#[tokio::test(flavor = "multi_thread")]
async fn users_reach_only_the_schedules_of_their_own_workspaces() {
    let Started {
        rest, store, admin, ..
    } = &start().await;
    let alice = rest.user(admin, "alice").await;
    let bob = rest.user(admin, "bob").await;
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
    rest.ok(
        Method::POST,
        "/api/workspaces/ws-a/schedules",
        &alice,
        Some(daily("a-new")),
    )
    .await;
    rest.ok(
        Method::POST,
        "/api/workspaces/ws-a/schedules",
        &alice,
        Some(
            json!({"name": "a-existing", "spec": {"schedule": "@hourly", "prompt": "p",
            "target": {"sessionRef": {"name": "a2"}}}}),
        ),
    )
    .await;
    rest.ok(
        Method::POST,
        "/api/workspaces/ws-b/schedules",
        &bob,
        Some(
            json!({"name": "b-existing", "spec": {"schedule": "@hourly", "prompt": "p",
            "target": {"sessionRef": {"name": "b1"}}}}),
        ),
    )
    .await;

    // Nothing without a login.
    for (method, path, body) in [
        (Method::GET, "/api/schedules", None),
        (Method::GET, "/api/workspaces/ws-a/schedules", None),
        (
            Method::POST,
            "/api/workspaces/ws-a/schedules",
            Some(daily("anonymous")),
        ),
        (Method::GET, "/api/workspaces/ws-a/schedules/a-new", None),
        (
            Method::PATCH,
            "/api/workspaces/ws-a/schedules/a-new",
            Some(json!({"suspend": true})),
        ),
        (Method::DELETE, "/api/workspaces/ws-a/schedules/a-new", None),
    ] {
        let (status, answer) = rest.call(method.clone(), path, Cred::None, body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {answer}"
        );
    }

    // Each user's own; an admin's: all.
    let mine = rest.ok(Method::GET, "/api/schedules", &alice, None).await;
    assert_eq!(names(&mine), ["a-existing", "a-new"]);
    let theirs = rest.ok(Method::GET, "/api/schedules", &bob, None).await;
    assert_eq!(names(&theirs), ["b-existing"]);
    let all = rest.ok(Method::GET, "/api/schedules", admin, None).await;
    assert_eq!(names(&all), ["a-existing", "a-new", "b-existing"]);
    let bobs = rest
        .ok(Method::GET, "/api/workspaces/ws-b/schedules", &bob, None)
        .await;
    assert_eq!(names(&bobs), ["b-existing"]);

    // Alice's Workspace and Schedules are not found for Bob, under her Workspace or his.
    let (status, _) = rest
        .call(
            Method::GET,
            "/api/workspaces/ws-a/schedules",
            Cred::Bearer(&bob),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for workspace in ["ws-a", "ws-b"] {
        for name in ["a-new", "a-existing"] {
            let path = format!("/api/workspaces/{workspace}/schedules/{name}");
            for (method, body) in [
                (Method::GET, None),
                (Method::PATCH, Some(json!({"suspend": true}))),
                (Method::DELETE, None),
            ] {
                let (status, answer) = rest
                    .call(method.clone(), &path, Cred::Bearer(&bob), body)
                    .await;
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
            }
        }
    }
    for name in ["a-new", "a-existing"] {
        let kept = stored(store, name).expect("still there");
        assert!(!kept.spec.suspend, "{name} unchanged");
    }

    // Nor can he create one in her Workspace, or aim one of his at her Workspace or Session.
    let (status, answer) = refused(
        rest,
        Method::POST,
        "/api/workspaces/ws-a/schedules",
        &bob,
        daily("intruder"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    for (spec, field) in [
        (
            json!({"sessionRef": {"name": "a1"}}),
            "spec.target.sessionRef.name",
        ),
        (
            json!({"newSession": {"workspaceRef": {"name": "ws-a"}}}),
            "spec.target.newSession.workspaceRef",
        ),
    ] {
        let mut body = daily("intruder");
        body["spec"]["target"] = spec.clone();
        let (status, answer) = refused(
            rest,
            Method::POST,
            "/api/workspaces/ws-b/schedules",
            &bob,
            body,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{spec}: {answer}");
        assert_eq!(answer["details"]["field"], field, "{answer}");
        if field == "spec.target.sessionRef.name" {
            // Worded as for a missing Session: nothing tells Bob that hers exists.
            let message = answer["error"].as_str().unwrap();
            assert!(
                message.contains(r#"session "a1" not found in workspace "ws-b""#),
                "{message}"
            );
        }
    }
    assert!(stored(store, "intruder").is_none());

    // A Schedule whose Session is gone belongs to no Workspace: only admins see it.
    let (status, _) = rest
        .call(
            Method::DELETE,
            "/api/workspaces/ws-a/sessions/a2",
            Cred::Bearer(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mine = rest.ok(Method::GET, "/api/schedules", &alice, None).await;
    assert_eq!(names(&mine), ["a-new"]);
    let listed = rest
        .ok(Method::GET, "/api/workspaces/ws-a/schedules", &alice, None)
        .await;
    assert_eq!(names(&listed), ["a-new"]);
    let all = rest.ok(Method::GET, "/api/schedules", admin, None).await;
    assert_eq!(names(&all), ["a-existing", "a-new", "b-existing"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_holds_at_most_twenty_schedules() {
    let Started {
        rest, store, admin, ..
    } = &start().await;
    let alice = rest.user(admin, "alice").await;
    rest.workspace_with_session(&alice, "dev", json!({"name": "chat"}))
        .await;
    rest.workspace_with_session(&alice, "other", json!({"name": "chat2"}))
        .await;
    // Schedules on an existing Session count as well as those of new Sessions.
    for i in 0..20 {
        let mut body = daily(&format!("s{i}"));
        if i % 2 == 0 {
            body["spec"]["target"] = json!({"sessionRef": {"name": "chat"}});
        }
        rest.ok(
            Method::POST,
            "/api/workspaces/dev/schedules",
            &alice,
            Some(body),
        )
        .await;
    }
    let (status, answer) = refused(
        rest,
        Method::POST,
        "/api/workspaces/dev/schedules",
        &alice,
        daily("s20"),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let message = answer["error"].as_str().unwrap();
    assert!(message.contains("(20)"), "the limit is named: {message}");
    assert!(stored(store, "s20").is_none());

    // The bound is per Workspace, and a deleted Schedule frees its place.
    rest.ok(
        Method::POST,
        "/api/workspaces/other/schedules",
        &alice,
        Some(daily("elsewhere")),
    )
    .await;
    let (status, _) = rest
        .call(
            Method::DELETE,
            "/api/workspaces/dev/schedules/s0",
            Cred::Bearer(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    rest.ok(
        Method::POST,
        "/api/workspaces/dev/schedules",
        &alice,
        Some(daily("s20")),
    )
    .await;
}
