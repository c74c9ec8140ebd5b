//! What a user who is not an admin may set on a Workspace. Everything that reaches the platform
//! (the runner's image, resources, environment and Secret references, the LLM's endpoint and
//! credentials, egress, the storage class and access modes) is an admin's to decide: a user who
//! could set `runner.envFrom` would read any Secret of the namespace from a terminal, and one who
//! could set `llm.baseUrl` would receive the platform's LLM key. An allow-list, so a field added
//! to the spec later is an admin's until someone decides otherwise here.

use serde_json::Value;

/// Paths under `spec` a user may set (a path allows what is under it).
pub const USER_SETTABLE_WORKSPACE_FIELDS: [&str; 10] = [
    "owner",
    "workspaceClassName",
    "displayName",
    "storage.size",
    "storage.reclaimPolicy",
    "lifecycle.idleTimeout",
    "lifecycle.maxLifetime",
    "lifecycle.startTimeout",
    "llm.provider",
    "llm.model",
];

/// The first field of a Workspace `spec` a user may not set, as its path from the object
/// (`spec.runner.envFrom`). `null` and empty objects set nothing.
pub fn admin_only_workspace_field(spec: &Value) -> Option<String> {
    first_forbidden(spec, "")
}

fn first_forbidden(value: &Value, path: &str) -> Option<String> {
    if !path.is_empty() && USER_SETTABLE_WORKSPACE_FIELDS.contains(&path) {
        return None;
    }
    match value {
        Value::Null => None,
        Value::Object(fields) => fields.iter().find_map(|(key, value)| {
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            first_forbidden(value, &path)
        }),
        _ if path.is_empty() => None,
        _ => Some(format!("spec.{path}")),
    }
}

/// One rule of the admission policy that holds `kubectl` users to the same allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionRule {
    /// CEL over `object` (and `oldObject` on updates).
    pub expression: String,
    pub message: String,
}

/// The CEL rules of the chart's ValidatingAdmissionPolicy, derived from the Workspace schema
/// and the allow-list above, so `kubectl` users meet the rule the gateway applies. The
/// apiserver applies the CRD's defaults before admission, so a field may also hold its
/// default; and an update may keep a value an admin set (a user may still change their own
/// fields of such a Workspace).
pub fn workspace_admission_rules(spec_schema: &Value) -> Vec<AdmissionRule> {
    let mut rules = Vec::new();
    collect_rules(spec_schema, &[], &mut rules);
    rules
}

fn collect_rules(schema: &Value, path: &[&str], rules: &mut Vec<AdmissionRule>) {
    let dotted = path.join(".");
    let covered = USER_SETTABLE_WORKSPACE_FIELDS
        .iter()
        .any(|allowed| dotted == *allowed || dotted.starts_with(&format!("{allowed}.")));
    if covered {
        return;
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            let mut child_path = path.to_vec();
            child_path.push(name);
            collect_rules(child, &child_path, rules);
        }
        return;
    }
    if path.is_empty() {
        return;
    }
    let at = |root: &str, n: usize| format!("{root}.spec.{}", path[..n].join("."));
    let present = |root: &str| -> Vec<String> {
        (1..=path.len())
            .map(|n| format!("has({})", at(root, n)))
            .collect()
    };
    let field = at("object", path.len());
    let mut allowed: Vec<String> = present("object")
        .into_iter()
        .map(|has| format!("!{has}"))
        .collect();
    if let Some(default) = schema.get("default").and_then(cel_literal) {
        allowed.push(format!("{field} == {default}"));
    }
    let kept = present("oldObject").join(" && ");
    allowed.push(format!(
        "(oldObject != null && {kept} && {} == {field})",
        at("oldObject", path.len())
    ));
    rules.push(AdmissionRule {
        expression: allowed.join(" || "),
        message: format!(
            "spec.{dotted}: only an Oqto admin may set this field (users set {})",
            USER_SETTABLE_WORKSPACE_FIELDS.join(", ")
        ),
    });
}

/// A schema default as a CEL literal: strings, numbers, booleans and lists of them.
fn cel_literal(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(format!(
            "'{}'",
            text.replace('\\', "\\\\").replace('\'', "\\'")
        )),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => {
            let items: Option<Vec<String>> = items.iter().map(cel_literal).collect();
            Some(format!("[{}]", items?.join(", ")))
        }
        Value::Null | Value::Object(_) => None,
    }
}

/// The chart's template with these rules (`charts/oqto/templates/_workspace-user-fields.tpl`),
/// for the ValidatingAdmissionPolicy to include.
pub fn workspace_admission_template(spec_schema: &Value) -> String {
    let mut out = String::from(
        "{{- /* Generated from the Rust types (oqto_api::tenancy::workspace_admission_rules).\n\
         Do not edit by hand: `OQTO_WRITE_GENERATED=1 cargo test -p oqto-operator --test \
         crds_up_to_date` rewrites it, and that test fails when it drifts. */ -}}\n\
         {{- define \"oqto.workspaceUserFieldRules\" }}\n",
    );
    for rule in workspace_admission_rules(spec_schema) {
        let quote = |text: &str| serde_json::to_string(text).unwrap_or_default();
        out.push_str(&format!(
            "- expression: {}\n  message: {}\n",
            quote(&rule.expression),
            quote(&rule.message)
        ));
    }
    out.push_str("{{- end }}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec_schema() -> Value {
        let crd = serde_json::to_value(&crate::crds()[0]).unwrap();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].clone()
    }

    #[test]
    fn admission_rules_cover_every_platform_field_and_no_user_field() {
        let rules = workspace_admission_rules(&spec_schema());
        let named: Vec<String> = rules
            .iter()
            .map(|r| r.message.split(':').next().unwrap().to_owned())
            .collect();
        for field in [
            "spec.runner.envFrom",
            "spec.runner.env",
            "spec.runner.image",
            "spec.runner.resources.limits",
            "spec.llm.credentialsSecretRef.name",
            "spec.llm.baseUrl",
            "spec.network.egress",
            "spec.storage.storageClassName",
            "spec.storage.accessModes",
        ] {
            assert!(named.iter().any(|n| n == field), "{field} in {named:?}");
        }
        for field in USER_SETTABLE_WORKSPACE_FIELDS {
            assert!(
                !named
                    .iter()
                    .any(|n| n.starts_with(&format!("spec.{field}"))),
                "{field} is a user's"
            );
        }
        let egress = rules
            .iter()
            .find(|r| r.message.starts_with("spec.network.egress:"))
            .unwrap();
        assert!(
            egress
                .expression
                .contains("object.spec.network.egress == 'Restricted'"),
            "the CRD's default passes: {}",
            egress.expression
        );
        assert!(
            egress
                .expression
                .contains("oldObject.spec.network.egress == object.spec.network.egress"),
            "an admin's value may be kept: {}",
            egress.expression
        );
    }

    #[test]
    fn what_a_user_may_set_passes() {
        let spec = json!({
            "owner": "alice", "displayName": "Dev",
            "storage": {"size": "5Gi", "reclaimPolicy": "Delete"},
            "lifecycle": {"idleTimeout": "30m"},
            "llm": {"provider": "openai", "model": "gpt"},
            "runner": {}, "network": null,
        });
        assert_eq!(admin_only_workspace_field(&spec), None);
    }

    #[test]
    fn each_platform_field_is_named() {
        for (spec, field) in [
            (
                json!({"runner": {"envFrom": [{"secretRef": {"name": "oqto-admin"}}]}}),
                "spec.runner.envFrom",
            ),
            (
                json!({"runner": {"env": [{"name": "X", "valueFrom": {}}]}}),
                "spec.runner.env",
            ),
            (json!({"runner": {"image": "evil"}}), "spec.runner.image"),
            // A browser costs the platform memory and can reach what the runner reaches.
            (
                json!({"runner": {"browser": {"enabled": true}}}),
                "spec.runner.browser.enabled",
            ),
            (
                json!({"runner": {"resources": {"limits": {"cpu": "64"}}}}),
                "spec.runner.resources.limits.cpu",
            ),
            (
                json!({"llm": {"model": "m", "credentialsSecretRef": {"name": "bob-llm"}}}),
                "spec.llm.credentialsSecretRef.name",
            ),
            (
                json!({"llm": {"baseUrl": "http://attacker"}}),
                "spec.llm.baseUrl",
            ),
            (
                json!({"network": {"egress": "Open"}}),
                "spec.network.egress",
            ),
            (
                json!({"storage": {"storageClassName": "fast"}}),
                "spec.storage.storageClassName",
            ),
            (json!({"storage": "10Gi"}), "spec.storage"),
            (json!({"somethingNew": true}), "spec.somethingNew"),
        ] {
            assert_eq!(
                admin_only_workspace_field(&spec).as_deref(),
                Some(field),
                "{spec}"
            );
        }
    }
}
