//! What a user who is not an admin may set on a Workspace. Everything that reaches the platform
//! (the runner's image, resources, environment and Secret references, the LLM's endpoint and
//! credentials, egress, the storage class and access modes) is an admin's to decide: a user who
//! could set `runner.envFrom` would read any Secret of the namespace from a terminal, and one who
//! could set `llm.baseUrl` would receive the platform's LLM key. An allow-list, so a field added
//! to the spec later is an admin's until someone decides otherwise here.

use serde_json::Value;

/// Paths under `spec` a user may set (a path allows what is under it).
pub const USER_SETTABLE_WORKSPACE_FIELDS: [&str; 9] = [
    "owner",
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
