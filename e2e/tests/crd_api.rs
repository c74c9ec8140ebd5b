//! The CRDs against the real kube-apiserver: install, kubectl apply/get/explain, schema and CEL
//! validation, immutability and the status subresource.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use oqto_api::workspace::{EgressPolicy, ReclaimPolicy};
use oqto_api::{Harness, Session, SessionPhase, SessionStatus, Workspace};
use oqto_e2e::{TestEnv, repo_root, run_ok};
use serde_json::{Value, json};

fn dynamic<K: Resource<DynamicType = ()>>(env: &TestEnv) -> Api<DynamicObject> {
    Api::namespaced_with(
        env.client.clone(),
        &env.namespace,
        &ApiResource::erase::<K>(&()),
    )
}

fn workspace(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "oqto.dev/v1alpha1", "kind": "Workspace", "metadata": {"name": name}, "spec": spec})
}

fn session(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "oqto.dev/v1alpha1", "kind": "Session", "metadata": {"name": name}, "spec": spec})
}

async fn create(api: &Api<DynamicObject>, body: Value) -> Result<DynamicObject, kube::Error> {
    let obj: DynamicObject = serde_json::from_value(body).expect("test object is valid JSON");
    api.create(&PostParams::default(), &obj).await
}

/// The apiserver's refusal of a request: HTTP code and message.
fn refusal<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.message.clone()),
        other => panic!("expected the apiserver to refuse, got {other:?}"),
    }
}

#[tokio::test]
async fn apiserver_is_the_real_pinned_release() {
    let env = TestEnv::new("version").await.unwrap();
    let version = env.client.apiserver_version().await.unwrap();
    println!(
        "kube-apiserver version: {} ({})",
        version.git_version, version.platform
    );
    assert!(
        version.git_version.starts_with("v1.37."),
        "{}",
        version.git_version
    );
    assert_eq!(version.major, "1");
}

#[tokio::test]
async fn crds_are_served_with_names_categories_and_status_subresource() {
    let env = TestEnv::new("crds-served").await.unwrap();
    let out = run_ok(env.control_plane.kubectl().args([
        "api-resources",
        "--api-group=oqto.dev",
        "-o",
        "wide",
    ]))
    .unwrap();
    println!("{out}");
    let ws = out
        .lines()
        .find(|l| l.starts_with("workspaces"))
        .expect("workspaces served");
    let sess = out
        .lines()
        .find(|l| l.starts_with("sessions"))
        .expect("sessions served");
    for (line, short, kind) in [(ws, "ws", "Workspace"), (sess, "sess", "Session")] {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], short, "{line}");
        assert_eq!(cols[2], "oqto.dev/v1alpha1", "{line}");
        assert_eq!(cols[3], "true", "namespaced: {line}");
        assert_eq!(cols[4], kind, "{line}");
        assert!(line.contains("oqto"), "category: {line}");
    }
}

#[tokio::test]
async fn kubectl_applies_the_examples_and_defaults_are_filled_in() {
    let env = TestEnv::new("examples").await.unwrap();
    let examples = repo_root().join("crds/examples");
    let out = run_ok(env.kubectl().arg("apply").arg("-f").arg(&examples)).unwrap();
    assert!(
        out.contains("workspace.oqto.dev/alice-dev created"),
        "{out}"
    );
    assert!(
        out.contains("session.oqto.dev/alice-refactor created"),
        "{out}"
    );

    // Read back through the typed API: what the apiserver stores deserializes into our types.
    let ws = env.api::<Workspace>().get("alice-dev").await.unwrap();
    assert_eq!(ws.spec.owner, "alice");
    assert_eq!(ws.spec.storage.size.0, "5Gi");
    assert_eq!(
        ws.spec
            .lifecycle
            .max_lifetime
            .map(std::time::Duration::from),
        Some(std::time::Duration::from_secs(12 * 3600))
    );
    let sess = env.api::<Session>().get("alice-refactor").await.unwrap();
    assert_eq!(sess.spec.workspace_ref.name, "alice-dev");
    assert_eq!(sess.spec.harness, Harness::Pi);

    // A minimal Workspace gets every default from the schema.
    let minimal = create(
        &dynamic::<Workspace>(&env),
        workspace("minimal", json!({"owner": "bob"})),
    )
    .await
    .unwrap();
    let minimal: Workspace =
        serde_json::from_value(serde_json::to_value(minimal).unwrap()).unwrap();
    assert_eq!(minimal.spec.storage.size.0, "10Gi");
    assert_eq!(minimal.spec.storage.reclaim_policy, ReclaimPolicy::Retain);
    assert_eq!(minimal.spec.network.egress, EgressPolicy::Restricted);
    assert_eq!(
        std::time::Duration::from(minimal.spec.lifecycle.idle_timeout),
        std::time::Duration::from_secs(1800)
    );
    assert_eq!(
        std::time::Duration::from(minimal.spec.lifecycle.start_timeout),
        std::time::Duration::from_secs(300)
    );

    // Applying the same files again changes nothing.
    let again = run_ok(env.kubectl().arg("apply").arg("-f").arg(&examples)).unwrap();
    assert!(
        again.contains("workspace.oqto.dev/alice-dev unchanged"),
        "{again}"
    );
}

#[tokio::test]
async fn kubectl_get_shows_the_printer_columns() {
    let env = TestEnv::new("printer-columns").await.unwrap();
    run_ok(
        env.kubectl()
            .arg("apply")
            .arg("-f")
            .arg(repo_root().join("crds/examples")),
    )
    .unwrap();
    let status = SessionStatus {
        phase: Some(SessionPhase::Running),
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "RunnerReady".into(),
            message: "pi-bridge answers".into(),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
            observed_generation: Some(1),
        }],
        pod_name: Some("alice-refactor-runner".into()),
        ..Default::default()
    };
    env.api::<Session>()
        .patch_status(
            "alice-refactor",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();

    let out = run_ok(env.kubectl().args(["get", "ws,sessions"])).unwrap();
    println!("{out}");
    let ws_header = out
        .lines()
        .find(|l| l.starts_with("NAME") && l.contains("OWNER"))
        .expect("workspace header");
    for col in ["OWNER", "PHASE", "SIZE", "AGE"] {
        assert!(ws_header.contains(col), "{ws_header}");
    }
    let ws_row = out
        .lines()
        .find(|l| l.starts_with("workspace.oqto.dev/alice-dev"))
        .expect("workspace row");
    assert!(
        ws_row.contains("alice") && ws_row.contains("5Gi"),
        "{ws_row}"
    );
    let sess_header = out
        .lines()
        .find(|l| l.starts_with("NAME") && l.contains("WORKSPACE"))
        .expect("session header");
    for col in ["WORKSPACE", "PHASE", "READY", "AGE"] {
        assert!(sess_header.contains(col), "{sess_header}");
    }
    let sess_row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("session.oqto.dev/alice-refactor"))
        .expect("session row")
        .split_whitespace()
        .collect();
    assert_eq!(
        &sess_row[1..4],
        &["alice-dev", "Running", "True"],
        "{sess_row:?}"
    );

    // The wide output adds the priority-1 columns; the category and short names work too.
    let wide = run_ok(env.kubectl().args(["get", "sess", "-o", "wide"])).unwrap();
    assert!(
        wide.contains("POD") && wide.contains("alice-refactor-runner"),
        "{wide}"
    );
    let category = run_ok(env.kubectl().args(["get", "oqto", "-o", "name"])).unwrap();
    assert!(
        category.contains("workspace.oqto.dev/alice-dev")
            && category.contains("session.oqto.dev/alice-refactor"),
        "{category}"
    );

    // Sessions can be selected by workspace on the server (selectableFields).
    let selected = run_ok(env.kubectl().args([
        "get",
        "sessions",
        "-o",
        "name",
        "--field-selector",
        "spec.workspaceRef.name=alice-dev",
    ]))
    .unwrap();
    assert_eq!(selected.trim(), "session.oqto.dev/alice-refactor");
    let none = run_ok(env.kubectl().args([
        "get",
        "sessions",
        "-o",
        "name",
        "--field-selector",
        "spec.workspaceRef.name=other",
    ]))
    .unwrap();
    assert_eq!(none.trim(), "");
}

#[tokio::test]
async fn kubectl_explain_shows_the_field_docs() {
    let env = TestEnv::new("explain").await.unwrap();
    // kubectl wraps lines itself; compare with the whitespace folded.
    let explain = |what: &str| {
        let out = run_ok(env.control_plane.kubectl().args(["explain", what])).unwrap();
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let storage = explain("workspace.spec.storage");
    assert!(
        storage.contains("Persistent storage for the workspace files and the chat history"),
        "{storage}"
    );
    for field in ["size", "storageClassName", "accessModes", "reclaimPolicy"] {
        assert!(storage.contains(field), "{field} missing:\n{storage}");
    }
    assert!(storage.contains("`Retain` keeps the claim"), "{storage}");

    let reference = explain("session.spec.workspaceRef");
    assert!(
        reference.contains("whose storage and settings this session uses. Immutable."),
        "{reference}"
    );
    let root = explain("session");
    assert!(
        root.contains("one AI coding agent running in a Workspace"),
        "{root}"
    );
}

/// Every expected refusal of one test, checked all together so a run reports each broken case.
#[derive(Default)]
struct Refusals(Vec<String>);

impl Refusals {
    /// `result` must be a 422 whose message contains every one of `needles`.
    fn expect(&mut self, what: &str, result: Result<DynamicObject, kube::Error>, needles: &[&str]) {
        let (code, message) = refusal(result);
        println!("{what}: {code} {message}");
        if code != 422 || !needles.iter().all(|n| message.contains(n)) {
            self.0.push(format!(
                "{what}: expected 422 naming {needles:?}, got {code}: {message}"
            ));
        }
    }

    fn assert_all_refused(self) {
        assert!(self.0.is_empty(), "{}", self.0.join("\n"));
    }
}

#[tokio::test]
async fn invalid_objects_are_refused_with_a_message_naming_the_field() {
    let env = TestEnv::new("invalid").await.unwrap();
    let ws = dynamic::<Workspace>(&env);
    let sess = dynamic::<Session>(&env);
    let mut r = Refusals::default();
    let owned = |spec: Value| {
        let mut spec = spec;
        spec["owner"] = json!("a");
        spec
    };

    let bad_size = owned(json!({"storage": {"size": "ten gigs"}}));
    r.expect(
        "bad quantity",
        create(&ws, workspace("q1", bad_size)).await,
        &["spec.storage.size", "positive quantity"],
    );
    let zero_size = owned(json!({"storage": {"size": "0"}}));
    r.expect(
        "zero quantity",
        create(&ws, workspace("q2", zero_size)).await,
        &["spec.storage.size", "positive quantity"],
    );
    let bad_duration = owned(json!({"lifecycle": {"idleTimeout": "30 minutes"}}));
    r.expect(
        "bad duration",
        create(&ws, workspace("d1", bad_duration)).await,
        &["spec.lifecycle.idleTimeout", "must be a duration such as"],
    );
    // Matches the pattern, but no clock can wait that long (it overflowed the operator's
    // duration type before the rule bounded it).
    let huge = owned(json!({"lifecycle": {"idleTimeout": "99999999999999999999h"}}));
    r.expect(
        "huge duration",
        create(&ws, workspace("d3", huge)).await,
        &["spec.lifecycle.idleTimeout"],
    );
    let negative = owned(json!({"lifecycle": {"startTimeout": "-5m"}}));
    r.expect(
        "negative duration",
        create(&ws, workspace("d2", negative)).await,
        &["spec.lifecycle.startTimeout", "must be a duration such as"],
    );
    r.expect(
        "empty owner",
        create(&ws, workspace("o1", json!({"owner": ""}))).await,
        &["spec.owner"],
    );
    r.expect(
        "missing owner",
        create(&ws, workspace("o2", json!({}))).await,
        &["spec.owner", "Required"],
    );
    let egress = owned(json!({"network": {"egress": "Closed"}}));
    r.expect(
        "unknown egress",
        create(&ws, workspace("e1", egress)).await,
        &["spec.network.egress", "Unsupported value"],
    );
    let reclaim = owned(json!({"storage": {"reclaimPolicy": "Recycle"}}));
    r.expect(
        "unknown reclaim policy",
        create(&ws, workspace("r1", reclaim)).await,
        &["spec.storage.reclaimPolicy"],
    );
    let secret = owned(
        json!({"llm": {"provider": "openai", "model": "m", "credentialsSecretRef": {"name": "Not_A_Name"}}}),
    );
    r.expect(
        "bad secret name",
        create(&ws, workspace("s1", secret)).await,
        &[
            "spec.llm.credentialsSecretRef.name",
            "must be an object name",
        ],
    );

    let harness = json!({"workspaceRef": {"name": "w"}, "harness": "claude"});
    r.expect(
        "unknown harness",
        create(&sess, session("h1", harness)).await,
        &["spec.harness", "Unsupported value", "\"pi\""],
    );
    let empty_ref = json!({"workspaceRef": {"name": ""}});
    r.expect(
        "empty workspaceRef",
        create(&sess, session("w1", empty_ref)).await,
        &["spec.workspaceRef.name"],
    );
    r.expect(
        "missing workspaceRef",
        create(&sess, session("w2", json!({}))).await,
        &["spec.workspaceRef", "Required"],
    );
    let provider_only = json!({"workspaceRef": {"name": "w"}, "provider": "openai"});
    r.expect(
        "provider without model",
        create(&sess, session("p1", provider_only)).await,
        &["spec.model", "model is required when provider is set"],
    );
    let own_parent = json!({"workspaceRef": {"name": "w"}, "parentSessionRef": {"name": "self"}});
    r.expect(
        "parent is itself",
        create(&sess, session("self", own_parent)).await,
        &[
            "spec.parentSessionRef.name",
            "must not name the session itself",
        ],
    );
    r.assert_all_refused();
}

#[tokio::test]
async fn immutable_fields_cannot_change() {
    let env = TestEnv::new("immutable").await.unwrap();
    let ws = dynamic::<Workspace>(&env);
    let sess = dynamic::<Session>(&env);
    create(
        &ws,
        workspace("w", json!({"owner": "alice", "storage": {"size": "5Gi"}})),
    )
    .await
    .unwrap();
    create(&sess, session("s", json!({"workspaceRef": {"name": "w"}})))
        .await
        .unwrap();
    create(
        &sess,
        session(
            "child",
            json!({"workspaceRef": {"name": "w"}, "parentSessionRef": {"name": "s"}}),
        ),
    )
    .await
    .unwrap();
    let pp = PatchParams::default();
    let patch = |spec: Value| Patch::Merge(json!({"spec": spec}));
    let mut r = Refusals::default();

    let moved = patch(json!({"workspaceRef": {"name": "other"}}));
    r.expect(
        "workspaceRef",
        sess.patch("s", &pp, &moved).await,
        &["spec.workspaceRef", "workspaceRef is immutable"],
    );
    let adopted = patch(json!({"parentSessionRef": {"name": "child"}}));
    r.expect(
        "parentSessionRef added",
        sess.patch("s", &pp, &adopted).await,
        &["spec.parentSessionRef", "immutable"],
    );
    let reparented = patch(json!({"parentSessionRef": {"name": "x"}}));
    r.expect(
        "parentSessionRef changed",
        sess.patch("child", &pp, &reparented).await,
        &["spec.parentSessionRef", "immutable"],
    );
    let orphaned = patch(json!({"parentSessionRef": null}));
    r.expect(
        "parentSessionRef removed",
        sess.patch("child", &pp, &orphaned).await,
        &["spec.parentSessionRef", "immutable"],
    );
    let new_owner = patch(json!({"owner": "mallory"}));
    r.expect(
        "owner",
        ws.patch("w", &pp, &new_owner).await,
        &["spec.owner", "owner is immutable"],
    );
    let shrink = patch(json!({"storage": {"size": "1Gi"}}));
    r.expect(
        "storage shrinks",
        ws.patch("w", &pp, &shrink).await,
        &["spec.storage.size", "may grow but not shrink"],
    );
    let class = patch(json!({"storage": {"storageClassName": "fast"}}));
    r.expect(
        "storageClassName added",
        ws.patch("w", &pp, &class).await,
        &["spec.storage.storageClassName", "immutable"],
    );
    let modes = patch(json!({"storage": {"accessModes": ["ReadWriteMany"]}}));
    r.expect(
        "accessModes",
        ws.patch("w", &pp, &modes).await,
        &["spec.storage.accessModes", "immutable"],
    );
    r.assert_all_refused();

    // What may change does: storage grows, timeouts change (fractions too: the CEL expression and
    // the operator's parser agree), a session suspends and switches model.
    let grow = patch(
        json!({"storage": {"size": "20Gi"}, "lifecycle": {"idleTimeout": "1h30m", "maxLifetime": "1.5h"}}),
    );
    ws.patch("w", &pp, &grow).await.unwrap();
    let w = env.api::<Workspace>().get("w").await.unwrap();
    assert_eq!(w.spec.storage.size.0, "20Gi");
    assert_eq!(
        std::time::Duration::from(w.spec.lifecycle.idle_timeout).as_secs(),
        5400
    );
    assert_eq!(
        w.spec
            .lifecycle
            .max_lifetime
            .map(|d| std::time::Duration::from(d).as_secs()),
        Some(5400)
    );
    let switch = patch(json!({"suspended": true, "provider": "openai", "model": "gpt-5"}));
    sess.patch("s", &pp, &switch).await.unwrap();
    let s = env.api::<Session>().get("s").await.unwrap();
    assert!(s.spec.suspended);
    assert_eq!(s.spec.model.as_deref(), Some("gpt-5"));
}

#[tokio::test]
async fn status_is_written_through_the_status_subresource_only() {
    let env = TestEnv::new("status").await.unwrap();
    let sessions = env.api::<Session>();
    create(
        &dynamic::<Session>(&env),
        session("s", json!({"workspaceRef": {"name": "w"}})),
    )
    .await
    .unwrap();
    let status = json!({"status": {"phase": "Running", "podName": "p", "observedGeneration": 1}});

    // Through the main resource the status is dropped, and the generation stays.
    let after = sessions
        .patch("s", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(after.status, None);
    assert_eq!(after.metadata.generation, Some(1));

    // Through /status it is stored, without touching the spec or the generation.
    let after = sessions
        .patch_status("s", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let stored = after.status.expect("status stored");
    assert_eq!(stored.phase, Some(SessionPhase::Running));
    assert_eq!(stored.pod_name.as_deref(), Some("p"));
    assert_eq!(after.metadata.generation, Some(1));

    // And a spec change sent to /status is ignored.
    let after = sessions
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspended": true}})),
        )
        .await
        .unwrap();
    assert!(!after.spec.suspended);

    // A spec change through the main resource bumps the generation; status is untouched.
    let after = sessions
        .patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspended": true}})),
        )
        .await
        .unwrap();
    assert_eq!(after.metadata.generation, Some(2));
    assert_eq!(
        after.status.and_then(|s| s.phase),
        Some(SessionPhase::Running)
    );

    // Status values are validated too.
    let (code, message) = refusal(
        sessions
            .patch_status(
                "s",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Sleeping"}})),
            )
            .await,
    );
    assert_eq!(code, 422, "{message}");
    assert!(message.contains("status.phase"), "{message}");
}
