//! `crds/` must be exactly what the Rust types generate: the manifests users and Helm install
//! are the types the operator reads.

use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn crds_directory_matches_the_generated_crds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    let hint = "regenerate with `cargo run -p oqto-operator -- crd --write crds`";
    let mut expected_files = BTreeSet::new();
    for crd in oqto_api::crds() {
        let name = oqto_api::crd_file_name(&crd);
        let generated = oqto_api::crd_yaml(&crd).expect("CRD serializes");
        let on_disk = std::fs::read_to_string(dir.join(&name))
            .unwrap_or_else(|e| panic!("crds/{name} unreadable ({e}); {hint}"));
        assert!(
            on_disk == generated,
            "crds/{name} differs from the Rust types; {hint}"
        );
        expected_files.insert(name);
    }
    let yaml_files: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    assert_eq!(
        yaml_files, expected_files,
        "crds/ holds a CRD the types do not generate; {hint}"
    );
}

#[test]
fn crd_command_prints_every_crd() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oqto-operator"))
        .arg("crd")
        .output()
        .expect("oqto-operator runs");
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&stdout)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML document"))
        .collect();
    let names: Vec<&str> = docs
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "workspaces.oqto.dev",
            "sessions.oqto.dev",
            "workspaceclasses.oqto.dev",
            "schedules.oqto.dev"
        ]
    );
}

/// The chart's admission rules for `kubectl` users come from the same allow-list and schema as
/// the gateway's check.
#[test]
fn the_charts_admission_rules_are_the_generated_ones() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../charts/oqto/templates/_workspace-user-fields.tpl");
    let crd = serde_json::to_value(&oqto_api::crds()[0]).expect("CRD serializes");
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let generated = oqto_api::tenancy::workspace_admission_template(spec);
    if std::env::var_os("OQTO_WRITE_GENERATED").is_some() {
        std::fs::write(&path, &generated).expect("writes the template");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} differs from the Rust types; rewrite it with \
         `OQTO_WRITE_GENERATED=1 cargo test -p oqto-operator --test crds_up_to_date`",
        path.display()
    );
}
