//! Names and labels of everything the operator creates. Kubernetes limits Service names and
//! label values to 63 characters while resource names may be longer, so long names are cut and
//! made unique again with a hash of the full name.

use std::collections::BTreeMap;

pub const MANAGED_BY: &str = "oqto-operator";
pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_WORKSPACE: &str = "oqto.dev/workspace";
pub const LABEL_SESSION: &str = "oqto.dev/session";

const MAX_LABEL: usize = 63;

/// 64-bit FNV-1a: small, stable across releases and platforms (names must never change).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A lowercase DNS-1123 subdomain, as Kubernetes requires of object names. The rule lives in
/// `oqto-proto` because every mux frame names its Session by such a name.
pub use oqto_proto::names::is_object_name;

/// `prefix-name`, at most 63 characters, ending in an alphanumeric character.
pub fn bounded(prefix: &str, name: &str) -> String {
    let full = format!("{prefix}-{name}");
    if full.len() <= MAX_LABEL {
        return full;
    }
    let hash = format!("{:08x}", fnv1a(&full) & 0xffff_ffff);
    let keep = MAX_LABEL - hash.len() - 1;
    let head = full[..keep].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{head}-{hash}")
}

/// A label value for an object name (names are DNS subdomains; values are at most 63).
pub fn label_value(name: &str) -> String {
    if name.len() <= MAX_LABEL {
        return name.to_owned();
    }
    bounded("h", name)
}

pub fn claim(workspace: &str) -> String {
    bounded("oqto-ws", workspace)
}

pub fn network_policy(workspace: &str) -> String {
    bounded("oqto-ws", workspace)
}

pub fn service_account(workspace: &str) -> String {
    bounded("oqto-runner", workspace)
}

pub fn runner(session: &str) -> String {
    bounded("oqto-sess", session)
}

/// Labels every child of a workspace carries.
pub fn workspace_labels(workspace: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NAME.into(), "oqto".into()),
        (LABEL_COMPONENT.into(), component.into()),
        (LABEL_MANAGED_BY.into(), MANAGED_BY.into()),
        (LABEL_WORKSPACE.into(), label_value(workspace)),
    ])
}

/// Labels of a session's runner (pod and service); the selector uses the session label.
pub fn runner_labels(workspace: &str, session: &str) -> BTreeMap<String, String> {
    let mut labels = workspace_labels(workspace, "runner");
    labels.insert(LABEL_SESSION.into(), label_value(session));
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept_and_long_ones_cut_uniquely() {
        assert_eq!(runner("alice-1"), "oqto-sess-alice-1");
        let long_a = format!("{}a", "x".repeat(80));
        let long_b = format!("{}b", "x".repeat(80));
        let (a, b) = (runner(&long_a), runner(&long_b));
        assert_eq!(a.len(), 63);
        assert_ne!(a, b, "the hash keeps cut names apart");
        assert_eq!(runner(&long_a), a, "stable");
        assert!(label_value(&long_a).len() <= 63);
        // A cut that would end on '-' or '.' is trimmed to stay a valid DNS label.
        let dotted = format!("{}.{}", "y".repeat(52), "z".repeat(30));
        let name = claim(&dotted);
        assert!(name.len() <= 63 && !name.contains(".-"), "{name}");
    }

    #[test]
    fn runner_labels_select_one_session() {
        let labels = runner_labels("ws", "s1");
        assert_eq!(labels[LABEL_SESSION], "s1");
        assert_eq!(labels[LABEL_WORKSPACE], "ws");
        assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY);
    }
}
