//! The chart's ValidatingAdmissionPolicies on the real apiserver, attacked by ordinary `kubectl`
//! users with the RBAC the chart gives `kubectlUsers`, in no admin group. They must not reach
//! the platform through a Workspace (Secrets, the LLM's endpoint and key, egress, the image),
//! exactly as the gateway refuses it; an admin may; a user may still change their own fields of
//! a Workspace an admin set up. And in the namespace they share, each writes only their own
//! Workspaces and the Sessions of those, and reads no Pod or Secret.
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

/// `kubectl apply --server-side` of one manifest as the command's user: the
/// apiserver's answer (stdout on success, stderr on refusal).
fn apply_as(kubectl: &mut Command, manifest: &str) -> Result<String, String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), manifest).unwrap();
    let output = kubectl
        .args(["apply", "--server-side", "--field-manager=vap-test", "-f"])
        .arg(file.path())
        .output()
        .unwrap();
    answer(output)
}

/// `kubectl ARGS` as the command's user: stdout on success, stderr on refusal.
fn run(mut kubectl: Command, args: &[&str]) -> Result<String, String> {
    answer(kubectl.args(args).output().unwrap())
}

fn answer(output: std::process::Output) -> Result<String, String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The chart's policies and its RBAC for `kubectl` users (`kubectlUsers.users`), applied as
/// the cluster admin; the file to delete them with (policies and the ClusterRole are
/// cluster-wide).
fn install_policies(env: &TestEnv, dir: &std::path::Path, users: &[&str]) -> std::path::PathBuf {
    let chart = repo_root().join("charts/oqto");
    // The policies bind to the namespace the gateway serves: here, the test's.
    let served = format!("gateway.namespace={}", env.namespace);
    let users = format!("kubectlUsers.users={{{}}}", users.join(","));
    let policy = run_ok(Command::new(helm().unwrap()).args([
        "template",
        "oqto",
        chart.to_str().unwrap(),
        "--namespace",
        &env.namespace,
        "--set",
        &served,
        "--set",
        &users,
        "--show-only",
        "templates/admission-policy.yaml",
        "--show-only",
        "templates/kubectl-users-rbac.yaml",
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

/// kubectl as an ordinary user (the admin impersonating them: their name, the group
/// `system:authenticated`, and only the RBAC the chart gives `kubectlUsers`).
fn kubectl_as(env: &TestEnv, user: &str) -> Command {
    let mut kubectl = env.kubectl();
    kubectl.arg(format!("--as={user}"));
    kubectl
}

/// Removes the cluster-wide objects (the namespace goes with the test's TestEnv).
fn remove_policies(env: &TestEnv, policy_file: &std::path::Path) {
    let _ = env
        .kubectl()
        .args(["delete", "--ignore-not-found", "-f"])
        .arg(policy_file)
        .output();
}

#[tokio::test]
async fn kubectl_users_set_only_what_users_may_and_admins_the_rest() {
    let env = TestEnv::new("vap").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // mallory: a kubectl user with the chart's RBAC, in no admin group.
    let policy_file = install_policies(&env, dir.path(), &["mallory"]);
    let mallory = || kubectl_as(&env, "mallory");

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

    remove_policies(&env, &policy_file);
}

/// Acceptance of issue 15 for `kubectl`: an admin defines `standard` and `open-egress`; a user
/// allowed only `standard` cannot create a Workspace of the other, but may of `standard` (and
/// of the default class, `standard` in the chart, by naming none).
#[tokio::test]
async fn kubectl_users_choose_only_the_classes_open_to_them() {
    let env = TestEnv::new("vap-class").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy_file = install_policies(&env, dir.path(), &["alice"]);
    let alice_name = "alice";
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
    let alice = || kubectl_as(&env, "alice");

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

    remove_policies(&env, &policy_file);
}

/// Two kubectl users share the served namespace: neither writes the other's Workspace or the
/// Sessions of it, nor creates one in the other's name; neither reads Pods or Secrets there.
#[tokio::test]
async fn kubectl_users_write_only_their_own_workspaces_and_sessions() {
    let env = TestEnv::new("vap-owner").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy_file = install_policies(&env, dir.path(), &["alice", "bob"]);
    let session = |name: &str, workspace: &str| {
        json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session","metadata":{"name":name},
            "spec":{"workspaceRef":{"name":workspace}}})
        .to_string()
    };
    apply_as(
        &mut kubectl_as(&env, "bob"),
        &workspace("bobs", json!({"owner":"bob"})),
    )
    .unwrap();
    apply_as(&mut kubectl_as(&env, "bob"), &session("bobs-chat", "bobs")).unwrap();

    // A Workspace in bob's name: refused once the policy is active.
    let mut attempt = 0;
    let refusal = eventually("the owner policy refuses", Duration::from_secs(30), || {
        attempt += 1;
        let forged = workspace(&format!("forged-{attempt}"), json!({"owner":"bob"}));
        let answer = apply_as(&mut kubectl_as(&env, "alice"), &forged);
        async move { answer.err() }
    })
    .await
    .unwrap();
    assert!(
        refusal.contains("spec.owner: must be your own user name, alice"),
        "{refusal}"
    );
    // bob's Workspace: alice neither changes nor deletes it.
    let error = run(
        kubectl_as(&env, "alice"),
        &[
            "patch",
            "workspace",
            "bobs",
            "--type=merge",
            "-p",
            r#"{"spec":{"displayName":"mine now"}}"#,
        ],
    )
    .unwrap_err();
    assert!(
        error.contains(
            "spec.owner: workspace bobs belongs to another user; alice writes only their own"
        ),
        "{error}"
    );
    let error = run(kubectl_as(&env, "alice"), &["delete", "workspace", "bobs"]).unwrap_err();
    assert!(error.contains("belongs to another user"), "{error}");
    // Nor a Session on it (its runner would work on bob's files), nor bob's Session.
    let error = apply_as(&mut kubectl_as(&env, "alice"), &session("on-bobs", "bobs")).unwrap_err();
    assert!(
        error.contains("spec.workspaceRef.name: workspace bobs belongs to another user; alice"),
        "{error}"
    );
    let error = run(
        kubectl_as(&env, "alice"),
        &["delete", "session", "bobs-chat"],
    )
    .unwrap_err();
    assert!(
        error.contains("workspace bobs belongs to another user"),
        "{error}"
    );
    let error = run(
        kubectl_as(&env, "alice"),
        &[
            "patch",
            "session",
            "bobs-chat",
            "--type=merge",
            "-p",
            r#"{"spec":{"suspended":true}}"#,
        ],
    )
    .unwrap_err();
    assert!(
        error.contains("workspace bobs belongs to another user"),
        "{error}"
    );

    // Her own: a Workspace, a Session of it, suspended and deleted.
    apply_as(
        &mut kubectl_as(&env, "alice"),
        &workspace("alices", json!({"owner":"alice"})),
    )
    .unwrap();
    apply_as(
        &mut kubectl_as(&env, "alice"),
        &session("alices-chat", "alices"),
    )
    .unwrap();
    run(
        kubectl_as(&env, "alice"),
        &[
            "patch",
            "session",
            "alices-chat",
            "--type=merge",
            "-p",
            r#"{"spec":{"suspended":true}}"#,
        ],
    )
    .unwrap();
    run(
        kubectl_as(&env, "alice"),
        &["delete", "session", "alices-chat"],
    )
    .unwrap();
    // Schedules: a new Session per run only in her own Workspace; none on an existing Session
    // (the policy cannot follow a Session to its owner: the gateway does that).
    let schedule = |name: &str, target: Value| {
        json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Schedule","metadata":{"name":name},
            "spec":{"schedule":"@daily","prompt":"report","target":target}})
        .to_string()
    };
    let error = apply_as(
        &mut kubectl_as(&env, "alice"),
        &schedule(
            "on-bobs",
            json!({"newSession":{"workspaceRef":{"name":"bobs"}}}),
        ),
    )
    .unwrap_err();
    assert!(
        error.contains(
            "workspace bobs belongs to another user; alice writes Schedules only of their own"
        ),
        "{error}"
    );
    let error = apply_as(
        &mut kubectl_as(&env, "alice"),
        &schedule("on-bobs-chat", json!({"sessionRef":{"name":"bobs-chat"}})),
    )
    .unwrap_err();
    assert!(error.contains("spec.target.sessionRef"), "{error}");
    apply_as(
        &mut kubectl_as(&env, "alice"),
        &schedule(
            "alices-daily",
            json!({"newSession":{"workspaceRef":{"name":"alices"}}}),
        ),
    )
    .unwrap();
    run(
        kubectl_as(&env, "alice"),
        &["delete", "schedule", "alices-daily"],
    )
    .unwrap();

    // She may read what the namespace holds of Oqto's, and nothing else of it.
    let listed = run(
        kubectl_as(&env, "alice"),
        &["get", "workspaces,sessions,workspaceclasses,schedules"],
    );
    assert!(listed.is_ok(), "{listed:?}");
    for forbidden in [["get", "secrets"], ["get", "pods"]] {
        let error = run(kubectl_as(&env, "alice"), &forbidden).unwrap_err();
        assert!(
            error.contains("Forbidden") || error.contains("forbidden"),
            "{error}"
        );
    }
    // The admin writes anyone's.
    run(env.kubectl(), &["delete", "session", "bobs-chat"]).unwrap();
    run(env.kubectl(), &["delete", "workspace", "bobs"]).unwrap();

    remove_policies(&env, &policy_file);
}

/// Warm spares are the operator's: a kubectl user marks no Session as a spare (the operator would
/// delete it as a surplus one) and forges no claim stamp (idle and lifetime count from it), but
/// claims a spare of their own Workspace by removing its label.
#[tokio::test]
async fn kubectl_users_claim_spares_but_neither_make_nor_stamp_them() {
    let env = TestEnv::new("vap-spare").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy_file = install_policies(&env, dir.path(), &["alice"]);
    let session = |name: &str, metadata: Value| {
        let mut metadata = metadata;
        metadata["name"] = json!(name);
        json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session","metadata":metadata,
            "spec":{"workspaceRef":{"name":"alices"}}})
        .to_string()
    };
    apply_as(
        &mut kubectl_as(&env, "alice"),
        &workspace("alices", json!({"owner":"alice"})),
    )
    .unwrap();
    apply_as(&mut kubectl_as(&env, "alice"), &session("chat", json!({}))).unwrap();

    let mut attempt = 0;
    let refusal = eventually("the spare policy refuses", Duration::from_secs(30), || {
        attempt += 1;
        let forged = session(
            &format!("forged-{attempt}"),
            json!({"labels": {"oqto.dev/spare": "true"}}),
        );
        let answer = apply_as(&mut kubectl_as(&env, "alice"), &forged);
        async move { answer.err() }
    })
    .await
    .unwrap();
    assert!(
        refusal.contains("metadata.labels: oqto.dev/spare is set by the operator"),
        "{refusal}"
    );
    let error = run(
        kubectl_as(&env, "alice"),
        &["label", "session", "chat", "oqto.dev/spare=true"],
    )
    .unwrap_err();
    assert!(
        error.contains("oqto.dev/spare is set by the operator"),
        "{error}"
    );
    let error = run(
        kubectl_as(&env, "alice"),
        &[
            "annotate",
            "session",
            "chat",
            "oqto.dev/claimed-at=2099-01-01T00:00:00Z",
        ],
    )
    .unwrap_err();
    assert!(
        error.contains("oqto.dev/claimed-at is set only when a warm spare is claimed"),
        "{error}"
    );

    // The operator's spare (the admin stands in for it): alice claims it with kubectl, stamp
    // and all, and cannot make it a spare again.
    apply_as(
        &mut env.kubectl(),
        &session("spare", json!({"labels": {"oqto.dev/spare": "true"}})),
    )
    .unwrap();
    run(
        kubectl_as(&env, "alice"),
        &[
            "patch",
            "session",
            "spare",
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"oqto.dev/spare":null},"annotations":{"oqto.dev/claimed-at":"2026-12-04T12:00:00Z"}}}"#,
        ],
    )
    .unwrap();
    let error = run(
        kubectl_as(&env, "alice"),
        &["label", "session", "spare", "oqto.dev/spare=true"],
    )
    .unwrap_err();
    assert!(
        error.contains("oqto.dev/spare is set by the operator"),
        "{error}"
    );

    run(env.kubectl(), &["delete", "workspace", "alices"]).unwrap();
    remove_policies(&env, &policy_file);
}
