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
/// On a Session a Schedule made for one run: the Schedule's name.
pub const LABEL_SCHEDULE: &str = "oqto.dev/schedule";
/// The namespace of what single-node mode makes (Podman has none).
pub const LABEL_NAMESPACE: &str = "oqto.dev/namespace";

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
    // All 64 bits: a 32-bit suffix is cheap to collide on purpose.
    let hash = format!("{:016x}", fnv1a(&full));
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

/// The storage of one Workspace (its PersistentVolumeClaim; the base of its Podman volumes):
/// its name and a 64-bit hash of its uid. A Workspace created later under the same name has
/// another uid, so it never adopts storage that an earlier one left behind
/// (`reclaimPolicy: Retain`); reattaching that is an admin's explicit act.
pub fn claim(workspace: &str, workspace_uid: &str) -> String {
    bounded(
        "oqto-ws",
        &format!("{workspace}-{:016x}", fnv1a(workspace_uid)),
    )
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

/// A random suffix for generated names (six characters without vowels, so no words), as the
/// gateway names Sessions created without a name and the operator names spares.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        // No entropy source: a fixed suffix; a clash is refused as AlreadyExists, not reused.
        bytes = *b"gwname";
    }
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
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
        let name = runner(&dotted);
        assert!(name.len() <= 63 && !name.contains(".-"), "{name}");
    }

    #[test]
    fn storage_belongs_to_one_workspace_uid() {
        let first = claim("demo", "0b7c9a52-0000-4000-8000-000000000001");
        let next = claim("demo", "0b7c9a52-0000-4000-8000-000000000002");
        assert_ne!(
            first, next,
            "a new Workspace of the same name gets new storage"
        );
        assert_eq!(
            first,
            claim("demo", "0b7c9a52-0000-4000-8000-000000000001"),
            "stable"
        );
        assert!(first.starts_with("oqto-ws-demo-") && first.len() == "oqto-ws-demo-".len() + 16);
        let long = claim(&"x".repeat(80), "u");
        assert!(long.len() <= 63, "{long}");
    }

    #[test]
    fn runner_labels_select_one_session() {
        let labels = runner_labels("ws", "s1");
        assert_eq!(labels[LABEL_SESSION], "s1");
        assert_eq!(labels[LABEL_WORKSPACE], "ws");
        assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY);
    }
}
