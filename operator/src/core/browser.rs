//! The agent's browser sidecar, decided once for both runtimes: whether a runner has one, its
//! image and resources, and the rules of its container (own uid, no workspace, no token, no LLM
//! environment, read-only root with a bounded writable /tmp). Kubernetes renders it as the
//! runner Pod's second container (here), Podman as a container in the runner's network
//! namespace (`podman::render::browser_container`).

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, ResourceRequirements, SeccompProfile,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use oqto_api::workspace::RunnerSpec;
use oqto_proto::runner;

use super::desired::OperatorDefaults;

/// The operator's browser image when neither the Workspace nor its class names one.
pub const DEFAULT_IMAGE: &str = "localhost/oqto-browser:dev";
/// The browser's writable /tmp (profile, cache, crash dumps): bounded, so a page cannot fill
/// the node's disk (Kubernetes) or memory (Podman's tmpfs).
pub const TMP_MIB: i64 = 512;
pub const TMP_BYTES: i64 = TMP_MIB * 1024 * 1024;
/// The sidecar's volume in the runner Pod.
pub const TMP_VOLUME: &str = "browser-tmp";

/// A runner's browser.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserPlan {
    pub image: String,
    pub resources: ResourceRequirements,
}

impl BrowserPlan {
    /// The browser of a runner built from `runner` (the Workspace's settings over its
    /// class's): `None` unless enabled.
    pub fn for_runner(runner: &RunnerSpec, defaults: &OperatorDefaults) -> Option<Self> {
        let spec = runner.browser.as_ref().filter(|b| b.is_enabled())?;
        Some(Self {
            image: spec
                .image
                .clone()
                .unwrap_or_else(|| defaults.browser_image.clone()),
            resources: spec.resources_or_default(),
        })
    }

    /// Its memory limit in bytes (Podman), when it has one that Podman can take.
    pub fn memory_limit(&self) -> Option<i64> {
        let text = &self.resources.limits.as_ref()?.get("memory")?.0;
        let value = oqto_api::rules::quantity(text)?;
        (value >= 1.0 && value < i64::MAX as f64).then_some(value as i64)
    }

    /// The runner Pod's second container: nothing of the runner's but its network (CDP on the
    /// Pod's loopback). No probes: the runner's readiness is pi-bridge's alone, and a browser
    /// that is down is an error of the browser tools, not of the Session.
    pub fn container(&self, image_pull_policy: Option<String>) -> Container {
        Container {
            name: runner::BROWSER_CONTAINER.into(),
            image: Some(self.image.clone()),
            image_pull_policy,
            resources: Some(self.resources.clone()),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".into()]),
                    add: None,
                }),
                read_only_root_filesystem: Some(true),
                run_as_non_root: Some(true),
                run_as_user: Some(runner::BROWSER_UID),
                run_as_group: Some(runner::BROWSER_UID),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    localhost_profile: None,
                }),
                ..Default::default()
            }),
            volume_mounts: Some(vec![VolumeMount {
                name: TMP_VOLUME.into(),
                mount_path: "/tmp".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    /// Its /tmp, bounded.
    pub fn volume(&self) -> Volume {
        Volume {
            name: TMP_VOLUME.into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity(format!("{TMP_MIB}Mi"))),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::RunnerPlan;
    use crate::core::desired::tests::{session, workspace};
    use crate::core::kube_objects::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use serde_json::json;

    fn defaults() -> OperatorDefaults {
        OperatorDefaults {
            runner_image: Some("img".into()),
            ..OperatorDefaults::new(oqto_proto::runner::RunnerKey::new(vec![7; 32]).unwrap())
        }
    }

    fn plan(runner: serde_json::Value) -> RunnerPlan {
        RunnerPlan::build(
            &workspace(json!({"owner": "alice", "runner": runner})),
            &session(json!({"workspaceRef": {"name": "alice-dev"}})),
            &defaults(),
        )
        .unwrap()
    }

    fn cdp(plan: &RunnerPlan) -> Option<&str> {
        plan.env
            .iter()
            .find(|e| e.name == runner::ENV_BROWSER_CDP)
            .and_then(|e| e.value.as_deref())
    }

    fn containers(plan: &RunnerPlan) -> Vec<Container> {
        pod(plan, OwnerReference::default())
            .spec
            .unwrap()
            .containers
    }

    #[test]
    fn only_an_enabled_browser_adds_the_sidecar_and_the_cdp_address() {
        for off in [
            json!({}),
            json!({"browser": {}}),
            json!({"browser": {"enabled": false}}),
        ] {
            let plan = plan(off.clone());
            assert_eq!(plan.browser, None, "{off}");
            assert_eq!(cdp(&plan), None, "{off}");
            let names: Vec<_> = containers(&plan).into_iter().map(|c| c.name).collect();
            assert_eq!(names, ["runner"], "{off}");
        }
        let on = plan(json!({"browser": {"enabled": true}}));
        assert_eq!(cdp(&on), Some("http://127.0.0.1:9222"));
        let names: Vec<_> = containers(&on).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["runner", "browser"], "the runner stays first");
    }

    /// The image's command line and user are written in its Containerfile; the operator's
    /// constants must name the same port and uid, or the runner finds no browser (or the
    /// sidecar runs as a uid its files do not belong to).
    #[test]
    fn the_browser_image_listens_and_runs_where_the_operator_expects() {
        let containerfile = include_str!("../../../runner-image/browser/Containerfile");
        let port = runner::BROWSER_CDP_URL.rsplit(':').next().unwrap();
        let uid = runner::BROWSER_UID;
        for expected in [
            "\"--remote-debugging-address=127.0.0.1\"".to_owned(),
            format!("\"--remote-debugging-port={port}\""),
            format!("USER {uid}:{uid}"),
            format!("useradd --uid {uid} "),
        ] {
            assert!(
                containerfile.contains(&expected),
                "runner-image/browser/Containerfile lacks {expected}"
            );
        }
        assert!(runner::BROWSER_CDP_URL.starts_with("http://127.0.0.1:"));
    }

    #[test]
    fn the_sidecar_is_hardened_and_gets_nothing_of_the_runner() {
        let plan = plan(json!({"browser": {"enabled": true}}));
        let spec = pod(&plan, OwnerReference::default()).spec.unwrap();
        let browser = &spec.containers[1];
        assert_eq!(browser.image.as_deref(), Some(DEFAULT_IMAGE));
        let sc = browser.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_user, Some(1001));
        assert_eq!(sc.run_as_group, Some(1001));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop,
            Some(vec!["ALL".to_owned()])
        );
        assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
        // No token, no LLM key, no workspace: only its own /tmp, bounded.
        assert_eq!(browser.env, None);
        assert_eq!(browser.env_from, None);
        let mounts = browser.volume_mounts.as_ref().unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(
            (mounts[0].name.as_str(), mounts[0].mount_path.as_str()),
            (TMP_VOLUME, "/tmp")
        );
        let tmp = spec
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == TMP_VOLUME)
            .unwrap();
        assert_eq!(
            tmp.empty_dir.unwrap().size_limit,
            Some(Quantity("512Mi".into()))
        );
        // Its readiness is not the runner's: no probes.
        assert!(browser.readiness_probe.is_none() && browser.startup_probe.is_none());
        let resources = browser.resources.as_ref().unwrap();
        assert_eq!(resources.limits.as_ref().unwrap()["memory"].0, "1Gi");
        assert_eq!(resources.requests.as_ref().unwrap()["cpu"].0, "100m");
        assert_eq!(resources.requests.as_ref().unwrap()["memory"].0, "256Mi");
    }

    #[test]
    fn the_workspaces_image_and_resources_win_over_the_operators_defaults() {
        let plan = plan(
            json!({"browser": {"enabled": true, "image": "team/browser:3",
            "resources": {"limits": {"memory": "2Gi"}}}}),
        );
        let browser = plan.browser.unwrap();
        assert_eq!(browser.image, "team/browser:3");
        assert_eq!(browser.memory_limit(), Some(2 << 30));
        assert_eq!(
            browser.resources.requests, None,
            "as given, not mixed with defaults"
        );
    }

    #[test]
    fn a_class_that_enables_the_browser_gives_its_workspaces_one() {
        let class: oqto_api::WorkspaceClassSpec = serde_json::from_value(
            json!({"runner": {"browser": {"enabled": true, "image": "team/browser:1"}}}),
        )
        .unwrap();
        let ws = workspace(json!({"owner": "alice"}));
        let merged = oqto_api::workspace_class::with_class(&ws.spec, &class).unwrap();
        let plan = RunnerPlan::build(
            &oqto_api::Workspace {
                spec: merged,
                ..ws.clone()
            },
            &session(json!({"workspaceRef": {"name": "alice-dev"}})),
            &defaults(),
        )
        .unwrap();
        assert_eq!(
            plan.browser.map(|b| b.image).as_deref(),
            Some("team/browser:1")
        );
        assert_eq!(
            cdp(&plan_with_class(&ws, &class, json!({"enabled": false}))),
            None
        );
    }

    /// A Workspace that turns off its class's browser.
    fn plan_with_class(
        ws: &oqto_api::Workspace,
        class: &oqto_api::WorkspaceClassSpec,
        own: serde_json::Value,
    ) -> RunnerPlan {
        let mut spec = ws.spec.clone();
        spec.runner.browser = Some(serde_json::from_value(own).unwrap());
        let merged = oqto_api::workspace_class::with_class(&spec, class).unwrap();
        RunnerPlan::build(
            &oqto_api::Workspace {
                spec: merged,
                ..ws.clone()
            },
            &session(json!({"workspaceRef": {"name": "alice-dev"}})),
            &defaults(),
        )
        .unwrap()
    }

    #[test]
    fn a_workspace_may_not_set_the_cdp_address_itself() {
        let err = RunnerPlan::build(
            &workspace(json!({"owner": "alice",
                "runner": {"env": [{"name": "OQTO_BROWSER_CDP", "value": "http://evil"}]}})),
            &session(json!({"workspaceRef": {"name": "alice-dev"}})),
            &defaults(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("OQTO_BROWSER_CDP"), "{err}");
    }
}
