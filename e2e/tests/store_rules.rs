//! The same bad writes sent to both object stores, the real kube-apiserver (its CEL rules) and
//! the local store of single-node mode (`oqto_api::rules`), get the same refusals: each names
//! the field and says why, and the stored object is unchanged.

#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use common::object;
use oqto_api::{Session, Workspace};
use oqto_e2e::TestEnv;
use oqto_store::{KubeStore, LocalStore, ObjectStore, StoreError, StoredKind};
use serde_json::{Value, json};

/// One refused write: what it does, and the words the refusal must contain.
struct Row {
    what: &'static str,
    kind: &'static str,
    name: &'static str,
    patch: Value,
    expect: [&'static str; 2],
}

fn updates() -> Vec<Row> {
    let row = |what, kind, name, patch, expect| Row {
        what,
        kind,
        name,
        patch,
        expect,
    };
    vec![
        row(
            "owner changes",
            "Workspace",
            "w",
            json!({"owner": "mallory"}),
            ["spec.owner", "owner is immutable"],
        ),
        row(
            "storage shrinks",
            "Workspace",
            "w",
            json!({"storage": {"size": "1Gi"}}),
            ["spec.storage.size", "may grow but not shrink"],
        ),
        row(
            "storageClassName set",
            "Workspace",
            "w",
            json!({"storage": {"storageClassName": "fast"}}),
            [
                "spec.storage.storageClassName",
                "storageClassName is immutable",
            ],
        ),
        row(
            "accessModes change",
            "Workspace",
            "w",
            json!({"storage": {"accessModes": ["ReadWriteMany"]}}),
            ["spec.storage.accessModes", "accessModes is immutable"],
        ),
        row(
            "workspaceRef moves",
            "Session",
            "s",
            json!({"workspaceRef": {"name": "other"}}),
            ["spec.workspaceRef", "workspaceRef is immutable"],
        ),
        row(
            "parentSessionRef added",
            "Session",
            "s",
            json!({"parentSessionRef": {"name": "child"}}),
            ["spec.parentSessionRef", "parentSessionRef is immutable"],
        ),
        row(
            "parentSessionRef changed",
            "Session",
            "child",
            json!({"parentSessionRef": {"name": "x"}}),
            ["spec.parentSessionRef", "parentSessionRef is immutable"],
        ),
        row(
            "parentSessionRef removed",
            "Session",
            "child",
            json!({"parentSessionRef": null}),
            ["spec.parentSessionRef", "parentSessionRef is immutable"],
        ),
        row(
            "provider without model",
            "Session",
            "s",
            json!({"provider": "openai"}),
            ["spec.model", "model is required when provider is set"],
        ),
    ]
}

async fn seed<S: ObjectStore>(store: &S, namespace: &str) {
    store
        .create::<Workspace>(object(
            "Workspace",
            namespace,
            "w",
            json!({"owner": "alice", "storage": {"size": "5Gi"}}),
        ))
        .await
        .unwrap();
    store
        .create::<Session>(object(
            "Session",
            namespace,
            "s",
            json!({"workspaceRef": {"name": "w"}}),
        ))
        .await
        .unwrap();
    store
        .create::<Session>(object(
            "Session",
            namespace,
            "child",
            json!({"workspaceRef": {"name": "w"}, "parentSessionRef": {"name": "s"}}),
        ))
        .await
        .unwrap();
}

async fn refused<S: ObjectStore, K: StoredKind>(
    store: &S,
    namespace: &str,
    row: &Row,
) -> Result<(), String> {
    let before: K = store.get(namespace, row.name).await.unwrap().unwrap();
    let result = store
        .patch_spec::<K>(namespace, row.name, row.patch.clone())
        .await;
    let after: K = store.get(namespace, row.name).await.unwrap().unwrap();
    if before.meta().generation != after.meta().generation {
        return Err(format!("{}: the object changed", row.what));
    }
    match result {
        Err(StoreError::Invalid(message))
            if row.expect.iter().all(|word| message.contains(word)) =>
        {
            Ok(())
        }
        other => Err(format!(
            "{}: expected a refusal naming {:?}, got {other:?}",
            row.what, row.expect
        )),
    }
}

async fn check_all<S: ObjectStore>(store: &S, namespace: &str, name: &str) -> Vec<String> {
    seed(store, namespace).await;
    let mut failures = Vec::new();
    for row in updates() {
        let outcome = match row.kind {
            "Workspace" => refused::<S, Workspace>(store, namespace, &row).await,
            _ => refused::<S, Session>(store, namespace, &row).await,
        };
        if let Err(failure) = outcome {
            failures.push(format!("{name}: {failure}"));
        }
    }
    // A Session that names itself as its parent is refused on create too.
    let own_parent: Session = object(
        "Session",
        namespace,
        "loop",
        json!({"workspaceRef": {"name": "w"}, "parentSessionRef": {"name": "loop"}}),
    );
    match store.create(own_parent).await {
        Err(StoreError::Invalid(m))
            if m.contains("spec.parentSessionRef.name")
                && m.contains("must not name the session itself") => {}
        other => failures.push(format!("{name}: own parent: {other:?}")),
    }
    // A name taken is AlreadyExists, in the apiserver's words.
    match store
        .create::<Workspace>(object(
            "Workspace",
            namespace,
            "w",
            json!({"owner": "alice"}),
        ))
        .await
    {
        Err(StoreError::AlreadyExists(m)) if m.contains("\"w\" already exists") => {}
        other => failures.push(format!("{name}: taken name: {other:?}")),
    }
    failures
}

#[tokio::test]
async fn both_stores_refuse_the_same_bad_writes_with_the_same_words() {
    let env = TestEnv::new("store-rules").await.unwrap();
    let kube = KubeStore::new(env.client.clone(), "oqto-test", None);
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStore::open(dir.path()).unwrap();
    let mut failures = check_all(&kube, &env.namespace, "apiserver").await;
    failures.extend(check_all(&local, &env.namespace, "local store").await);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_finalizer_holds_a_deleted_object_on_both_stores() {
    let env = TestEnv::new("store-finalizer").await.unwrap();
    let kube = KubeStore::new(env.client.clone(), "oqto-test", None);
    let dir = tempfile::tempdir().unwrap();
    let local = LocalStore::open(dir.path()).unwrap();
    async fn check<S: ObjectStore>(store: &S, namespace: &str) {
        store
            .create::<Workspace>(object(
                "Workspace",
                namespace,
                "held",
                json!({"owner": "alice"}),
            ))
            .await
            .unwrap();
        store
            .set_finalizers::<Workspace>(namespace, "held", vec!["oqto.dev/sessions".into()])
            .await
            .unwrap();
        assert!(store.delete::<Workspace>(namespace, "held").await.unwrap());
        let held: Workspace = store.get(namespace, "held").await.unwrap().expect("held");
        assert!(held.metadata.deletion_timestamp.is_some());
        store
            .set_finalizers::<Workspace>(namespace, "held", vec![])
            .await
            .unwrap();
        // The apiserver removes it at once; the local store too.
        let gone = store.get::<Workspace>(namespace, "held").await.unwrap();
        assert!(gone.is_none(), "{gone:?}");
        assert!(!store.delete::<Workspace>(namespace, "held").await.unwrap());
    }
    check(&kube, &env.namespace).await;
    check(&local, &env.namespace).await;
}
