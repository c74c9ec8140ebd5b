//! The agent's browser: an optional sidecar of the runner (a headless Chromium that pi-bridge
//! drives over CDP on the runner's loopback). An admin's choice, like the rest of the runner.

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The browser's requests and limits when the spec names none: Chromium idles at ~70 MB, a
/// few tabs of a real site take several hundred.
pub const DEFAULT_CPU_REQUEST: &str = "100m";
pub const DEFAULT_MEMORY_REQUEST: &str = "256Mi";
pub const DEFAULT_MEMORY_LIMIT: &str = "1Gi";

/// A headless browser beside the agent (container `browser`), which the agent drives and the
/// user can watch and take over. Off unless enabled; unset fields take the class's, then the
/// operator's defaults.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrowserSpec {
    /// Run the browser sidecar. Default false; a Workspace's value wins over its class's.
    // An Option, not a bool with a default: a Workspace that says `false` must be able to turn
    // off what its class turns on, which a default could not tell from "unset".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,

    /// Browser image (headless Chromium serving CDP on 127.0.0.1:9222); the operator's
    /// default browser image when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,

    /// CPU and memory of the browser container; default requests 100m CPU and 256Mi memory,
    /// limit 1Gi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl BrowserSpec {
    pub fn is_enabled(&self) -> bool {
        self.enabled == Some(true)
    }

    /// The Workspace's own settings over the class's, field by field.
    pub fn over(own: Option<&Self>, class: Option<&Self>) -> Option<Self> {
        match (own, class) {
            (None, None) => None,
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (Some(own), Some(class)) => Some(Self {
                enabled: own.enabled.or(class.enabled),
                image: own.image.clone().or_else(|| class.image.clone()),
                resources: own.resources.clone().or_else(|| class.resources.clone()),
            }),
        }
    }

    /// The resources the browser runs with: its own, or the defaults above.
    pub fn resources_or_default(&self) -> ResourceRequirements {
        self.resources.clone().unwrap_or_else(|| {
            let q = |v: &str| Quantity(v.to_owned());
            ResourceRequirements {
                requests: Some(
                    [
                        ("cpu".to_owned(), q(DEFAULT_CPU_REQUEST)),
                        ("memory".to_owned(), q(DEFAULT_MEMORY_REQUEST)),
                    ]
                    .into(),
                ),
                limits: Some([("memory".to_owned(), q(DEFAULT_MEMORY_LIMIT))].into()),
                ..Default::default()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> BrowserSpec {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_workspace_wins_field_by_field_and_may_turn_off_the_class_browser() {
        let class = spec(json!({"enabled": true, "image": "team/browser:1",
            "resources": {"limits": {"memory": "2Gi"}}}));
        let own = spec(json!({"image": "own/browser:2"}));
        let out = BrowserSpec::over(Some(&own), Some(&class)).unwrap();
        assert!(out.is_enabled(), "the class's enabled");
        assert_eq!(out.image.as_deref(), Some("own/browser:2"));
        assert_eq!(out.resources, class.resources, "the class's resources");
        let off = spec(json!({"enabled": false}));
        let out = BrowserSpec::over(Some(&off), Some(&class)).unwrap();
        assert!(!out.is_enabled());
        assert_eq!(out.image.as_deref(), Some("team/browser:1"));
        assert_eq!(BrowserSpec::over(None, None), None);
        assert!(!BrowserSpec::default().is_enabled(), "off by default");
    }

    #[test]
    fn default_resources_apply_only_when_none_are_given() {
        let d = BrowserSpec::default().resources_or_default();
        assert_eq!(d.limits.unwrap()["memory"].0, "1Gi");
        assert_eq!(d.requests.as_ref().unwrap()["cpu"].0, "100m");
        assert_eq!(d.requests.unwrap()["memory"].0, "256Mi");
        let own = spec(json!({"resources": {"limits": {"memory": "3Gi"}}}));
        assert_eq!(
            own.resources_or_default().limits.unwrap()["memory"].0,
            "3Gi"
        );
    }
}
