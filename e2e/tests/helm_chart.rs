//! The Helm chart (`charts/oqto`): its CRDs are `crds/`, `helm lint` passes, the rendered
//! manifests match the golden files and pass the real apiserver (server-side dry run, then for
//! real), and values that break `values.schema.json` are refused naming the value.
//! `OQTO_WRITE_GENERATED=1 cargo test -p oqto-e2e --test helm_chart` rewrites the golden files.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use oqto_e2e::{TestEnv, repo_root, run_ok};
use serde_yaml::Value;

const HINT: &str =
    "regenerate with `OQTO_WRITE_GENERATED=1 cargo test -p oqto-e2e --test helm_chart`";

fn chart() -> PathBuf {
    repo_root().join("charts/oqto")
}

fn helm(args: &[&str]) -> Output {
    Command::new(oqto_e2e::helm().unwrap())
        .args(args)
        .output()
        .expect("helm runs")
}

fn template(extra: &[&str]) -> String {
    let chart = chart();
    let mut args = vec![
        "template",
        "oqto",
        chart.to_str().unwrap(),
        "--namespace",
        "oqto",
    ];
    args.extend_from_slice(extra);
    let out = helm(&args);
    assert!(
        out.status.success(),
        "helm template {extra:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The rendered documents, with the random secrets of a fresh install blanked (in a cluster
/// they are looked up and kept; `helm template` sees no cluster).
fn normalized(rendered: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(rendered)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|d: &Value| !d.is_null())
        .map(|mut doc: Value| {
            if doc["kind"] == "Secret"
                && let Some(data) = doc.get_mut("data").and_then(Value::as_mapping_mut)
            {
                for (_, value) in data.iter_mut() {
                    *value = Value::String("<random at install>".into());
                }
            }
            doc
        })
        .collect()
}

fn check_golden(name: &str, rendered: &str) {
    let path = chart().join("tests").join(name);
    let docs = normalized(rendered);
    let text: String = docs
        .iter()
        .map(|d| format!("---\n{}", serde_yaml::to_string(d).unwrap()))
        .collect();
    if std::env::var_os("OQTO_WRITE_GENERATED").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} unreadable ({e}); {HINT}", path.display()));
    let expected = normalized(&golden);
    assert_eq!(
        docs.len(),
        expected.len(),
        "{name}: another number of manifests; {HINT}"
    );
    for (doc, want) in docs.iter().zip(&expected) {
        assert!(
            doc == want,
            "{name}: {} {} differs from the golden file; {HINT}",
            doc["kind"].as_str().unwrap_or("?"),
            doc["metadata"]["name"].as_str().unwrap_or("?")
        );
    }
}

#[test]
fn the_charts_crds_are_the_generated_ones() {
    let generated = repo_root().join("crds");
    let in_chart = chart().join("crds");
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        names.sort();
        names
    };
    let hint = "copy them: cp crds/*.yaml charts/oqto/crds/";
    assert_eq!(names(&in_chart), names(&generated), "{hint}");
    for name in names(&generated) {
        assert!(
            std::fs::read(in_chart.join(&name)).unwrap()
                == std::fs::read(generated.join(&name)).unwrap(),
            "charts/oqto/crds/{name} differs from crds/{name}; {hint}"
        );
    }
}

#[test]
fn helm_lint_passes_with_the_default_and_the_production_values() {
    let chart = chart();
    let production = chart.join("tests/values-production.yaml");
    for extra in [vec![], vec!["-f", production.to_str().unwrap()]] {
        let mut args = vec!["lint", "--strict", chart.to_str().unwrap()];
        args.extend(extra.iter().copied());
        let out = helm(&args);
        assert!(
            out.status.success(),
            "helm lint {extra:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_rendered_chart_matches_the_golden_files() {
    check_golden("default.golden.yaml", &template(&[]));
    let production = chart().join("tests/values-production.yaml");
    check_golden(
        "production.golden.yaml",
        &template(&["-f", production.to_str().unwrap()]),
    );
}

#[test]
fn values_that_break_the_schema_are_refused_naming_the_value() {
    for (set, named) in [
        ("operator.replicas=0", "/operator/replicas"),
        ("gateway.replicas=21", "/gateway/replicas"),
        (
            "gateway.database.caSecret=Bad_Name",
            "/gateway/database/caSecret",
        ),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("gateway.ingress.host=Not_A_Host", "/gateway/ingress/host"),
        ("operator.replica=3", "replica"),
        ("gateway.persistence.size=lots", "/gateway/persistence/size"),
        ("llmProxy.providers[0].api=grpc", "/llmProxy/providers/0"),
        ("llmProxy.budgets[0].period=week", "/llmProxy/budgets/0"),
    ] {
        let chart = chart();
        let out = helm(&["template", "oqto", chart.to_str().unwrap(), "--set", set]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("--set {set}: {}", stderr.trim());
        assert!(!out.status.success(), "--set {set} was accepted");
        assert!(
            stderr.contains("values don't meet the specifications of the schema")
                && stderr.contains(named),
            "--set {set}: the error does not name {named}: {stderr}"
        );
    }
    // A provider without a model is refused with the value to set.
    let chart = chart();
    let out = helm(&[
        "template",
        "oqto",
        chart.to_str().unwrap(),
        "--set",
        "operator.llm.provider=openai",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("operator.llm.model is required"));
    // Replicas of a gateway whose accounts are SQLite on one volume are refused, naming the
    // value that allows them.
    let out = helm(&[
        "template",
        "oqto",
        chart.to_str().unwrap(),
        "--set",
        "gateway.replicas=2",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs gateway.database.existingSecret"));
    // Behind the LLM proxy (the default), values that would hand a provider's endpoint or key
    // to runners are refused, naming the value and where the key belongs instead.
    for (set, named) in [
        (
            "operator.llm.secretName=llm-keys",
            "operator.llm.secretName",
        ),
        (
            "operator.llm.baseUrl=http://llm.example/v1",
            "operator.llm.baseUrl",
        ),
        (
            "workspaceClasses.classes.standard.llm.credentialsSecretRef.name=llm-keys",
            "workspaceClasses.classes.standard.llm",
        ),
    ] {
        let out = helm(&["template", "oqto", chart.to_str().unwrap(), "--set", set]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--set {set} was accepted");
        assert!(
            stderr.contains(named) && stderr.contains("llmProxy.providers"),
            "--set {set}: {stderr}"
        );
        // Without the proxy the admin may choose so.
        let out = helm(&[
            "template",
            "oqto",
            chart.to_str().unwrap(),
            "--set",
            set,
            "--set",
            "llmProxy.enabled=false",
        ]);
        assert!(
            out.status.success(),
            "--set {set} without the proxy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rendered_chart_passes_a_server_side_dry_run_and_applies() {
    let env = TestEnv::new("helm").await.unwrap();
    let chart = chart();
    let production = chart.join("tests/values-production.yaml");
    let watched = format!("operator.watchNamespaces[0]={}", env.namespace);
    let gateway_ns = format!("gateway.namespace={}", env.namespace);
    let variants: [Vec<&str>; 2] = [
        vec![],
        // Production-like, without the kinds whose CRDs this control plane lacks
        // (ServiceMonitor, HTTPRoute), in the test's namespace.
        vec![
            "-f",
            production.to_str().unwrap(),
            "--set",
            "serviceMonitor.enabled=false",
            "--set",
            "gateway.httpRoute.enabled=false",
            "--set",
            &watched,
            "--set",
            &gateway_ns,
        ],
    ];
    // The default variant's Workspaces namespace, which the chart itself creates: a dry run
    // cannot place objects in a namespace that does not exist yet.
    let workspaces_ns = format!("{}-workspaces", env.namespace);
    run_ok(
        env.control_plane
            .kubectl()
            .args(["create", "namespace", &workspaces_ns]),
    )
    .unwrap();
    for (index, extra) in variants.iter().enumerate() {
        let release = format!("oqto{index}");
        let mut args = vec![
            "template",
            release.as_str(),
            chart.to_str().unwrap(),
            "--namespace",
            env.namespace.as_str(),
            "--include-crds",
        ];
        args.extend(extra.iter().copied());
        let out = helm(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = std::env::temp_dir().join(format!("oqto-chart-{}-{index}.yaml", env.namespace));
        std::fs::write(&file, &out.stdout).unwrap();
        let file = file.to_str().unwrap();
        // Every namespaced template names its namespace, and the default variant spans two:
        // no --namespace.
        let dry = run_ok(env.control_plane.kubectl().args([
            "apply",
            "--server-side",
            "--field-manager=helm-test",
            "--force-conflicts",
            "--dry-run=server",
            "-f",
            file,
        ]))
        .unwrap();
        println!("variant {index}, dry run:\n{dry}");
        assert!(dry.contains("deployment.apps/") && dry.contains("(server dry run)"));
        let applied = run_ok(env.control_plane.kubectl().args([
            "apply",
            "--server-side",
            "--field-manager=helm-test",
            "--force-conflicts",
            "-f",
            file,
        ]))
        .unwrap();
        assert!(
            applied.contains(&format!(
                "deployment.apps/{release}-operator serverside-applied"
            )),
            "{applied}"
        );
        let _ = std::fs::remove_file(file);
    }
    // Cluster-scoped leftovers of this test's releases.
    for (kind, name) in [
        (
            "clusterrolebinding",
            format!("{}-oqto0-operator", env.namespace),
        ),
        ("clusterrole", format!("{}-oqto0-operator", env.namespace)),
        ("namespace", workspaces_ns.clone()),
    ] {
        let _ = env
            .control_plane
            .kubectl()
            .args(["delete", kind, &name, "--ignore-not-found", "--wait=false"])
            .output();
    }
    for release in ["oqto0", "oqto1"] {
        for policy in ["workspace-fields", "workspace-class"] {
            let name = format!("{}-{release}-{policy}", env.namespace);
            for kind in [
                "validatingadmissionpolicybinding",
                "validatingadmissionpolicy",
            ] {
                let _ = env
                    .control_plane
                    .kubectl()
                    .args(["delete", kind, &name, "--ignore-not-found"])
                    .output();
            }
        }
    }
}

/// Issue 15: by default users' Workspaces (and so their runners, which the kubelet hands only
/// Secrets of their own namespace) live in a namespace of their own, which the chart creates
/// and keeps on uninstall, and none of the platform's Secrets render there. The default class
/// lands there too, and the gateway serves that namespace.
#[test]
fn workspaces_live_apart_from_the_platforms_secrets_by_default() {
    let docs = normalized(&template(&[]));
    let namespace = docs
        .iter()
        .find(|d| d["kind"] == "Namespace")
        .expect("the chart creates the Workspaces' namespace");
    assert_eq!(namespace["metadata"]["name"], "oqto-workspaces");
    assert_eq!(
        namespace["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    let secrets: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Secret").collect();
    assert!(!secrets.is_empty());
    for secret in secrets {
        assert_eq!(
            secret["metadata"]["namespace"], "oqto",
            "{:?} stays with the platform",
            secret["metadata"]["name"]
        );
    }
    let class = docs
        .iter()
        .find(|d| d["kind"] == "WorkspaceClass")
        .expect("a default class");
    assert_eq!(class["metadata"]["name"], "standard");
    assert_eq!(class["metadata"]["namespace"], "oqto-workspaces");
    let gateway = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "oqto-gateway")
        .unwrap();
    let args = serde_yaml::to_string(&gateway["spec"]["template"]["spec"]["containers"][0]["args"])
        .unwrap();
    assert!(args.contains("--namespace=oqto-workspaces"), "{args}");
    // Naming the release namespace is an admin's explicit choice: then nothing is created.
    let shared = normalized(&template(&["--set", "gateway.namespace=oqto"]));
    assert!(!shared.iter().any(|d| d["kind"] == "Namespace"));
}
