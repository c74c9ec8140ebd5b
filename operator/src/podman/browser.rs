//! The browser sidecar on Podman (pure): a second container in the runner container's network
//! namespace, so CDP on its loopback is the runner's loopback, as in a Kubernetes Pod. Made,
//! started, restarted and removed only together with its runner (`runtime.rs`), and found by its
//! name, which follows from the runner's.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use oqto_proto::runner;

use super::render::{LABEL_NAMESPACE, LABEL_SESSION_UID, PIDS_LIMIT, resource_limits};
use crate::core::RunnerPlan;
use crate::core::browser::TMP_BYTES;

/// Marks a sidecar, with its runner container's name as the value: the runtime's listing of
/// runners skips it (it goes with its runner, never on its own).
pub const LABEL_SIDECAR_OF: &str = "oqto.dev/sidecar-of";

/// The sidecar's name: the runner container's, suffixed.
pub fn container_name(runner: &str) -> String {
    format!("{runner}-{}", runner::BROWSER_CONTAINER)
}

/// The browser container of the runner container `runner_name`, when the plan has one.
/// `userns_shared`: the runner runs in a user namespace of its own, which the browser joins (a
/// network namespace is joined from the user namespace that owns it).
pub fn container(
    plan: &RunnerPlan,
    runner_name: &str,
    session_uid: &str,
    userns_shared: bool,
) -> Option<ContainerCreateBody> {
    let browser = plan.browser.as_ref()?;
    let (memory, nano_cpus) = resource_limits(Some(&browser.resources));
    let mut labels: HashMap<String, String> = plan.labels.clone().into_iter().collect();
    labels.insert(LABEL_NAMESPACE.into(), plan.namespace.clone());
    labels.insert(LABEL_SESSION_UID.into(), session_uid.into());
    labels.insert(LABEL_SIDECAR_OF.into(), runner_name.into());
    Some(ContainerCreateBody {
        image: Some(browser.image.clone()),
        // Nothing of the runner's environment: no token, no LLM key, no gateway credential.
        env: Some(vec!["HOME=/tmp".into()]),
        user: Some(format!("{0}:{0}", runner::BROWSER_UID)),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some(format!("container:{runner_name}")),
            userns_mode: userns_shared.then(|| format!("container:{runner_name}")),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([(
                "/tmp".into(),
                format!("rw,size={TMP_BYTES},mode=1777"),
            )])),
            pids_limit: Some(PIDS_LIMIT),
            memory,
            memory_swap: memory,
            nano_cpus,
            // The operator watches the runner, not its browser: a browser killed for its memory
            // comes back by itself, in the runner's network namespace (which outlives it).
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::OperatorDefaults;
    use serde_json::json;

    fn plan(runner: serde_json::Value) -> RunnerPlan {
        let ws: oqto_api::Workspace =
            serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Workspace",
            "metadata":{"name":"w","namespace":"default"},"spec":{"owner":"a","runner":runner}}))
            .unwrap();
        let s: oqto_api::Session =
            serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
            "metadata":{"name":"s","namespace":"default","uid":"u"},"spec":{"workspaceRef":{"name":"w"}}}))
            .unwrap();
        let defaults = OperatorDefaults {
            runner_image: Some("img".into()),
            ..OperatorDefaults::new(oqto_proto::runner::RunnerKey::new(vec![7; 32]).unwrap())
        };
        RunnerPlan::build(&ws, &s, &defaults).unwrap()
    }

    #[test]
    fn only_an_enabled_browser_gets_a_container() {
        assert!(container(&plan(json!({})), "r", "u", false).is_none());
        let off = plan(json!({"browser": {"enabled": false}}));
        assert!(container(&off, "r", "u", false).is_none());
    }

    #[test]
    fn the_browser_shares_the_runners_network_and_nothing_else() {
        let plan = plan(json!({"browser": {"enabled": true}}));
        let body = container(&plan, "oqto-default-sess-s", "u", false).unwrap();
        let host = body.host_config.as_ref().unwrap();
        assert_eq!(
            host.network_mode.as_deref(),
            Some("container:oqto-default-sess-s")
        );
        assert_eq!(host.userns_mode, None);
        assert_eq!(body.image.as_deref(), Some("localhost/oqto-browser:dev"));
        assert_eq!(body.user.as_deref(), Some("1001:1001"));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_owned()])
        );
        assert_eq!(host.readonly_rootfs, Some(true));
        assert!(host.tmpfs.as_ref().unwrap()["/tmp"].contains("size=536870912"));
        assert_eq!(host.memory, Some(1 << 30), "the default limit");
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.mounts, None, "no workspace volumes");
        assert_eq!(host.port_bindings, None, "CDP is never published");
        assert_eq!(
            body.env,
            Some(vec!["HOME=/tmp".to_owned()]),
            "no token, no keys"
        );
        let labels = body.labels.unwrap();
        assert_eq!(labels[LABEL_SIDECAR_OF], "oqto-default-sess-s");
        assert_eq!(
            container_name("oqto-default-sess-s"),
            "oqto-default-sess-s-browser"
        );
        let shared = container(&plan, "r", "u", true).unwrap();
        assert_eq!(
            shared.host_config.unwrap().userns_mode.as_deref(),
            Some("container:r")
        );
    }

    #[test]
    fn changing_the_browser_replaces_the_runner() {
        let hash = |runner: serde_json::Value| {
            super::super::render::container(&plan(runner), "u", &[], "net", None)
                .labels
                .unwrap()[super::super::render::LABEL_RUNNER_HASH]
                .clone()
        };
        let none = hash(json!({}));
        assert_eq!(
            none,
            hash(json!({"browser": {"enabled": false}})),
            "off is no change"
        );
        let on = hash(json!({"browser": {"enabled": true}}));
        assert_ne!(none, on);
        for _ in 0..8 {
            assert_eq!(on, hash(json!({"browser": {"enabled": true}})), "stable");
        }
        assert_ne!(
            on,
            hash(json!({"browser": {"enabled": true, "image": "other"}}))
        );
    }
}
