//! Where the binaries find the platform's keys: the key of runner tokens
//! (`oqto_proto::runner::RunnerKey`, gateway and operator) and the signer of virtual LLM keys
//! (`oqto_proto::llm::VirtualKeySigner`, operator and LLM proxy). One rule for all, so the
//! holders of a key always derive the same values.

use oqto_proto::llm::VirtualKeySigner;
use oqto_proto::runner::{RunnerKey, RunnerToken};

use crate::{LocalStore, StoreError};

/// The configured key (`OQTO_RUNNER_KEY`; the chart sets it from a Secret), else on a single
/// node the local store's own (made at first use). On Kubernetes there is no shared directory,
/// so the key must be configured.
pub fn runner_key(
    configured: Option<&str>,
    single_node: Option<&LocalStore>,
) -> Result<RunnerKey, StoreError> {
    let key = platform_key(
        "OQTO_RUNNER_KEY (--runner-key)",
        "runner-key",
        "the gateway and the operator",
        configured,
        single_node,
    )?;
    RunnerKey::new(key.into_bytes())
        .map_err(|e| StoreError::Invalid(format!("OQTO_RUNNER_KEY: {e}")))
}

/// The signer of virtual LLM keys (`OQTO_LLM_KEY_SIGNER`), by the same rule.
pub fn llm_key_signer(
    configured: Option<&str>,
    single_node: Option<&LocalStore>,
) -> Result<VirtualKeySigner, StoreError> {
    let key = platform_key(
        "OQTO_LLM_KEY_SIGNER (--llm-key-signer)",
        "llm-key-signer",
        "the operator and the LLM proxy",
        configured,
        single_node,
    )?;
    VirtualKeySigner::new(key.into_bytes())
        .map_err(|e| StoreError::Invalid(format!("OQTO_LLM_KEY_SIGNER: {e}")))
}

/// The token the gateway presents to the LLM proxy's usage reports
/// (`OQTO_LLM_PROXY_ADMIN_TOKEN`), by the same rule.
pub fn llm_proxy_admin_token(
    configured: Option<&str>,
    single_node: Option<&LocalStore>,
) -> Result<RunnerToken, StoreError> {
    let token = platform_key(
        "OQTO_LLM_PROXY_ADMIN_TOKEN (--llm-proxy-admin-token)",
        "llm-proxy-admin-token",
        "the gateway and the LLM proxy",
        configured,
        single_node,
    )?;
    if token.len() < oqto_proto::llm::MIN_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "OQTO_LLM_PROXY_ADMIN_TOKEN: at least {} characters",
            oqto_proto::llm::MIN_KEY_BYTES
        )));
    }
    Ok(RunnerToken::from_secret(token))
}

fn platform_key(
    setting: &str,
    file: &str,
    holders: &str,
    configured: Option<&str>,
    single_node: Option<&LocalStore>,
) -> Result<String, StoreError> {
    match (configured.filter(|k| !k.is_empty()), single_node) {
        (Some(key), _) => Ok(key.to_owned()),
        (None, Some(store)) => store.platform_key(file),
        (None, None) => Err(StoreError::Invalid(format!(
            "no key: set {setting} to the same secret of at least 32 characters for {holders} (the Helm chart does)"
        ))),
    }
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
        let signer = llm_key_signer(None, Some(&store)).unwrap();
        assert_eq!(signer, llm_key_signer(None, Some(&store)).unwrap());
        assert_ne!(
            std::fs::read(dir.path().join("llm-key-signer")).unwrap(),
            std::fs::read(dir.path().join("runner-key")).unwrap(),
            "the proxy's signer is not the runner key"
        );
        let absent = llm_key_signer(None, None).unwrap_err().to_string();
        assert!(absent.contains("OQTO_LLM_KEY_SIGNER"), "{absent}");
        let missing = runner_key(None, None).unwrap_err().to_string();
        assert!(missing.contains("OQTO_RUNNER_KEY"), "{missing}");
        let short = runner_key(Some("short"), None).unwrap_err().to_string();
        assert!(
            short.contains("OQTO_RUNNER_KEY") && short.contains("32"),
            "{short}"
        );
    }
}
