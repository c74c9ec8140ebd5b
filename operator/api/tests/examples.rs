//! The example manifests in `crds/examples/` are valid for the Rust types, and the types keep
//! the wire names and defaults the CRDs promise.

use oqto_api::workspace::{AccessMode, EgressPolicy, ReclaimPolicy};
use oqto_api::{Harness, Session, Workspace};

fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crds/examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn example_workspace_parses() {
    let ws: Workspace = serde_yaml::from_str(&example("workspace.yaml")).unwrap();
    assert_eq!(ws.spec.owner, "alice");
    assert_eq!(ws.spec.storage.size.0, "5Gi");
    assert_eq!(ws.spec.storage.access_modes, [AccessMode::ReadWriteOnce]);
    let llm = ws.spec.llm.expect("llm set");
    assert_eq!(
        llm.credentials_secret_ref.expect("secret ref").name,
        "alice-llm-keys"
    );
    assert_eq!(
        std::time::Duration::from(ws.spec.lifecycle.idle_timeout).as_secs(),
        30 * 60
    );
    assert_eq!(ws.spec.network.egress, EgressPolicy::Restricted);
}

#[test]
fn example_session_parses() {
    let s: Session = serde_yaml::from_str(&example("session.yaml")).unwrap();
    assert_eq!(s.spec.workspace_ref.name, "alice-dev");
    assert_eq!(s.spec.harness, Harness::Pi);
    assert!(!s.spec.suspended);
}

#[test]
fn a_minimal_workspace_takes_safe_defaults() {
    let ws: Workspace = serde_yaml::from_str(
        "apiVersion: oqto.dev/v1alpha1\nkind: Workspace\nmetadata: {name: w}\nspec: {owner: bob}\n",
    )
    .unwrap();
    assert_eq!(ws.spec.storage.size.0, "10Gi");
    // Data outlives a deleted Workspace unless the owner asks otherwise; egress is fail-closed.
    assert_eq!(ws.spec.storage.reclaim_policy, ReclaimPolicy::Retain);
    assert_eq!(ws.spec.network.egress, EgressPolicy::Restricted);
    assert_eq!(
        std::time::Duration::from(ws.spec.lifecycle.start_timeout).as_secs(),
        300
    );
    assert!(ws.spec.lifecycle.max_lifetime.is_none());
}

#[test]
fn wire_names_are_camel_case_and_omit_unset_fields() {
    let s: Session = serde_yaml::from_str(
        "apiVersion: oqto.dev/v1alpha1\nkind: Session\nmetadata: {name: s}\nspec: {workspaceRef: {name: w}}\n",
    )
    .unwrap();
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        json["spec"],
        serde_json::json!({"workspaceRef": {"name": "w"}, "harness": "pi", "suspended": false})
    );
    assert!(json.get("status").is_none());
}

#[test]
fn schema_defaults_match_rust_defaults() {
    // The apiserver fills in schema defaults; the operator falls back to Rust defaults. They agree.
    let crd = serde_json::to_value(<Workspace as kube::CustomResourceExt>::crd()).unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    let rust = serde_json::to_value(oqto_api::workspace::StorageSpec::default()).unwrap();
    assert_eq!(spec["storage"]["default"], rust);
    let rust = serde_json::to_value(oqto_api::workspace::LifecycleSpec::default()).unwrap();
    assert_eq!(spec["lifecycle"]["default"], rust);
}
