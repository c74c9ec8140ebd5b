//! The chart's ValidatingAdmissionPolicy on the real apiserver, attacked by an ordinary
//! `kubectl` user: a ServiceAccount token whose RBAC lets it write Workspaces, in no admin
//! group. It must not reach the platform through a Workspace (Secrets, the LLM's endpoint and
//! key, egress, the image), exactly as the gateway refuses it; an admin may; the user may still
//! change their own fields of a Workspace an admin set up.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use oqto_e2e::{TestEnv, eventually, helm, repo_root, run_ok};
use serde_json::{Value, json};

fn workspace(name: &str, spec: Value) -> String {
    json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace","metadata":{"name":name},
        "spec":spec})
    .to_string()
}

/// `kubectl apply --server-side` of one manifest as the given kubeconfig's user: the
/// apiserver's answer (stdout on success, stderr on refusal).
fn apply_as(kubectl: &mut Command, manifest: &str) -> Result<String, String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), manifest).unwrap();
    let output = kubectl
        .args(["apply", "--server-side", "--field-manager=vap-test", "-f"])
        .arg(file.path())
        .output()
        .unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The chart's policies, applied as the cluster admin; the file to delete them with.
fn install_policies(env: &TestEnv, dir: &std::path::Path) -> std::path::PathBuf {
    let chart = repo_root().join("charts/oqto");
    // The policies bind to the namespace the gateway serves: here, the test's.
    let served = format!("gateway.namespace={}", env.namespace);
    let policy = run_ok(Command::new(helm().unwrap()).args([
        "template",
        "oqto",
        chart.to_str().unwrap(),
        "--namespace",
        &env.namespace,
        "--set",
        &served,
        "--show-only",
        "templates/admission-policy.yaml",
    ]))
    .unwrap();
    let policy_file = dir.join("policy.yaml");
    std::fs::write(&policy_file, &policy).unwrap();
    run_ok(
        env.kubectl()
            .args(["apply", "--server-side", "-f"])
            .arg(&policy_file),
    )
    .unwrap();
    policy_file
}

/// A ServiceAccount that may write Workspaces in the test's namespace, nothing more: its
/// kubeconfig.
fn workspace_writer(env: &TestEnv, name: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let rbac = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: workspace-writer}}\n\
         rules: [{{apiGroups: [oqto.dev], resources: [workspaces], verbs: [get, list, create, update, patch]}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: {name}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: workspace-writer}}\n\
         subjects: [{{kind: ServiceAccount, name: {name}, namespace: {}}}]\n",
        env.namespace
    );
    apply_as(&mut env.kubectl(), &rbac).unwrap();
    env.kubeconfig_for(name, dir).unwrap()
}

#[tokio::test]
async fn kubectl_users_set_only_what_users_may_and_admins_the_rest() {
    let env = TestEnv::new("vap").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy_file = install_policies(&env, dir.path());
    // mallory: may write Workspaces in this namespace, nothing more.
    let mallory_config = workspace_writer(&env, "mallory", dir.path());
    let mallory = || {
        let mut kubectl = env.kubectl();
        kubectl.arg("--kubeconfig").arg(&mallory_config);
        kubectl
    };

    // The admin's password from a terminal: the attack of issue 15. The policy becomes active
    // a moment after it is created; a new name each try, since one created before that would
    // be an update afterwards, and an update may keep a value that is already there.
    let mut attempt = 0;
    let refusal = eventually("the policy refuses", Duration::from_secs(30), || {
        attempt += 1;
        let loot = workspace(
            &format!("loot-{attempt}"),
            json!({"owner":"mallory","runner":{"envFrom":[{"secretRef":{"name":"oqto-admin"}}]}}),
        );
        let answer = apply_as(&mut mallory(), &loot);
        async move { answer.err() }
    })
    .await
    .unwrap();
    assert!(
        refusal.contains("spec.runner.envFrom: only an Oqto admin may set this field"),
        "{refusal}"
    );
    assert!(refusal.contains("ValidatingAdmissionPolicy"), "{refusal}");

    for (spec, field) in [
        (
            json!({"owner":"mallory","runner":{"env":[{"name":"K","valueFrom":{"secretKeyRef":{"name":"bob-llm","key":"k"}}}]}}),
            "spec.runner.env",
        ),
        (
            json!({"owner":"mallory","llm":{"provider":"openai","model":"m","baseUrl":"http://attacker.example"}}),
            "spec.llm.baseUrl",
        ),
        (
            json!({"owner":"mallory","llm":{"provider":"openai","model":"m","credentialsSecretRef":{"name":"bob-llm"}}}),
            "spec.llm.credentialsSecretRef.name",
        ),
        (
            json!({"owner":"mallory","network":{"egress":"Open"}}),
            "spec.network.egress",
        ),
        (
            json!({"owner":"mallory","runner":{"image":"attacker/miner"}}),
            "spec.runner.image",
        ),
        (
            json!({"owner":"mallory","storage":{"storageClassName":"fast"}}),
            "spec.storage.storageClassName",
        ),
    ] {
        let refusal = apply_as(&mut mallory(), &workspace("loot", spec)).unwrap_err();
        assert!(
            refusal.contains(&format!("{field}: only an Oqto admin")),
            "{field}: {refusal}"
        );
    }

    // What a user may set passes, with the CRD's defaults (egress, access modes) applied.
    apply_as(
        &mut mallory(),
        &workspace(
            "mine",
            json!({"owner":"mallory","displayName":"Mine","storage":{"size":"2Gi"},
            "lifecycle":{"idleTimeout":"10m"},"llm":{"provider":"openai","model":"gpt"}}),
        ),
    )
    .unwrap();

    // An admin sets up a Workspace with an image and open egress; mallory may change her own
    // fields of it but not the admin's.
    let set_up =
        json!({"owner":"mallory","runner":{"image":"team/runner:1"},"network":{"egress":"Open"}});
    apply_as(&mut env.kubectl(), &workspace("set-up", set_up)).unwrap();
    let patch = |patch: Value| {
        let output = mallory()
            .args(["patch", "workspace", "set-up", "--type=merge", "-p"])
            .arg(patch.to_string())
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (kept, error) = patch(json!({"spec":{"lifecycle":{"idleTimeout":"45m"}}}));
    assert!(kept, "her own field, the admin's values kept: {error}");
    let (changed, error) = patch(json!({"spec":{"runner":{"image":"attacker/miner"}}}));
    assert!(!changed, "the admin's image is not hers to change");
    assert!(
        error.contains("spec.runner.image: only an Oqto admin"),
        "{error}"
    );

    // Cluster-wide objects: removed here (the namespace goes with the test's TestEnv).
    let _ = env
        .kubectl()
        .args(["delete", "--ignore-not-found", "-f"])
        .arg(&policy_file)
        .output();
}

/// Acceptance of issue 15 for `kubectl`: an admin defines `standard` and `open-egress`; a user
/// allowed only `standard` cannot create a Workspace of the other, but may of `standard` (and
/// of the default class, `standard` in the chart, by naming none).
#[tokio::test]
async fn kubectl_users_choose_only_the_classes_open_to_them() {
    let env = TestEnv::new("vap-class").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy_file = install_policies(&env, dir.path());
    let alice_config = workspace_writer(&env, "alice", dir.path());
    let alice_name = format!("system:serviceaccount:{}:alice", env.namespace);
    let class = |name: &str, spec: Value| {
        json!({"apiVersion":"oqto.dev/v1alpha1","kind":"WorkspaceClass","metadata":{"name":name},
            "spec":spec})
        .to_string()
    };
    apply_as(
        &mut env.kubectl(),
        &class(
            "standard",
            json!({"users":[alice_name],"network":{"egress":"Restricted"}}),
        ),
    )
    .unwrap();
    apply_as(
        &mut env.kubectl(),
        &class(
            "open-egress",
            json!({"users":["bob"],"network":{"egress":"Open"}}),
        ),
    )
    .unwrap();
    let alice = || {
        let mut kubectl = env.kubectl();
        kubectl.arg("--kubeconfig").arg(&alice_config);
        kubectl
    };

    let mut attempt = 0;
    let refusal = eventually("the class policy refuses", Duration::from_secs(30), || {
        attempt += 1;
        let open = workspace(
            &format!("open-{attempt}"),
            json!({"owner":"alice","workspaceClassName":"open-egress"}),
        );
        let answer = apply_as(&mut alice(), &open);
        async move { answer.err() }
    })
    .await
    .unwrap();
    assert!(
        refusal.contains(&format!(
            "spec.workspaceClassName: workspace class open-egress is not open to {alice_name}"
        )),
        "{refusal}"
    );
    apply_as(
        &mut alice(),
        &workspace(
            "mine",
            json!({"owner":"alice","workspaceClassName":"standard"}),
        ),
    )
    .unwrap();
    apply_as(
        &mut alice(),
        &workspace("by-default", json!({"owner":"alice"})),
    )
    .unwrap();
    // The class is fixed at creation: no way into open-egress by an update either.
    let output = alice()
        .args(["patch", "workspace", "mine", "--type=merge", "-p"])
        .arg(json!({"spec":{"workspaceClassName":"open-egress"}}).to_string())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("workspaceClassName"), "{error}");
    // The admin may.
    apply_as(
        &mut env.kubectl(),
        &workspace(
            "admins",
            json!({"owner":"alice","workspaceClassName":"open-egress"}),
        ),
    )
    .unwrap();

    let _ = env
        .kubectl()
        .args(["delete", "--ignore-not-found", "-f"])
        .arg(&policy_file)
        .output();
}
