//! Where the gateway and the operator find the key of runner tokens
//! (`oqto_proto::runner::RunnerKey`): one rule for both, so they always derive the same tokens.

use oqto_proto::runner::RunnerKey;

use crate::{LocalStore, StoreError};

/// The configured key (`OQTO_RUNNER_KEY`; the chart sets it from a Secret), else on a single
/// node the local store's own (made at first use). On Kubernetes there is no shared directory,
/// so the key must be configured.
pub fn runner_key(
    configured: Option<&str>,
    single_node: Option<&LocalStore>,
) -> Result<RunnerKey, StoreError> {
    let key = match (configured.filter(|k| !k.is_empty()), single_node) {
        (Some(key), _) => key.to_owned(),
        (None, Some(store)) => store.runner_key()?,
        (None, None) => {
            return Err(StoreError::Invalid(
                "no runner key: set OQTO_RUNNER_KEY (--runner-key) to the same secret of at least 32 characters for the gateway and the operator (the Helm chart does)".into(),
            ));
        }
    };
    RunnerKey::new(key.into_bytes())
        .map_err(|e| StoreError::Invalid(format!("OQTO_RUNNER_KEY: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_wins_kubernetes_needs_one_and_single_node_makes_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let configured = "k".repeat(40);
        assert_eq!(
            runner_key(Some(&configured), Some(&store)).unwrap(),
            RunnerKey::new(configured.clone().into_bytes()).unwrap()
        );
        let made = runner_key(None, Some(&store)).unwrap();
        assert_eq!(made, runner_key(Some(""), Some(&store)).unwrap());
        let missing = runner_key(None, None).unwrap_err().to_string();
        assert!(missing.contains("OQTO_RUNNER_KEY"), "{missing}");
        let short = runner_key(Some("short"), None).unwrap_err().to_string();
        assert!(
            short.contains("OQTO_RUNNER_KEY") && short.contains("32"),
            "{short}"
        );
    }
}
