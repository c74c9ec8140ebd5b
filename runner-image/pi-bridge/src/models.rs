//! Pi's `models.json` for an OpenAI-compatible endpoint given by the operator (a Workspace's
//! `llm.baseUrl`): written at start when the agent directory has none, so a runner reaches a
//! self-hosted or proxied LLM without hand-made files. The key is not written: Pi reads it from
//! the environment at request time (`$OQTO_LLM_API_KEY`, a key of the Workspace's Secret).

use std::path::Path;

use serde_json::{Value, json};

/// The variable Pi reads the key from; "none" when the Secret does not set it.
pub const API_KEY_VARIABLE: &str = "OQTO_LLM_API_KEY";

pub fn models_json(provider: &str, model: &str, base_url: &str) -> Value {
    json!({"providers": {provider: {
        "baseUrl": base_url,
        "api": "openai-completions",
        "apiKey": format!("${{{API_KEY_VARIABLE}}}"),
        "models": [{"id": model}]
    }}})
}

/// Where the bridge keeps a copy of the `models.json` it wrote last: a `models.json` equal to it
/// is the bridge's own and follows the configuration; any other is the user's.
const GENERATED_COPY: &str = ".oqto-models.json";

/// Writes `models.json` into `agent_dir` unless the user made their own (a user's file wins).
/// A file the bridge wrote earlier is replaced when the endpoint changed (a new provider URL, a
/// demo stack that got a real provider). Returns whether it wrote.
pub fn ensure(
    agent_dir: &Path,
    provider: &str,
    model: &str,
    base_url: &str,
) -> std::io::Result<bool> {
    let path = agent_dir.join("models.json");
    let copy = agent_dir.join(GENERATED_COPY);
    let text = serde_json::to_string_pretty(&models_json(provider, model, base_url))
        .map_err(std::io::Error::other)?;
    if let Ok(current) = std::fs::read_to_string(&path) {
        let ours = std::fs::read_to_string(&copy).is_ok_and(|c| c == current);
        if !ours || current == text {
            return Ok(false);
        }
    }
    std::fs::create_dir_all(agent_dir)?;
    std::fs::write(&path, &text)?;
    std::fs::write(&copy, &text)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_once_and_never_over_a_users_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure(dir.path(), "corp", "m1", "http://llm.internal/v1").unwrap());
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("models.json")).unwrap())
                .unwrap();
        assert_eq!(
            written["providers"]["corp"]["baseUrl"],
            "http://llm.internal/v1"
        );
        assert_eq!(
            written["providers"]["corp"]["apiKey"],
            "${OQTO_LLM_API_KEY}"
        );
        assert_eq!(written["providers"]["corp"]["models"][0]["id"], "m1");
        assert!(
            !ensure(dir.path(), "corp", "m1", "http://llm.internal/v1").unwrap(),
            "unchanged"
        );
        assert!(
            ensure(dir.path(), "corp", "m1", "http://moved/v1").unwrap(),
            "the bridge's own file follows a new endpoint"
        );
        assert!(
            std::fs::read_to_string(dir.path().join("models.json"))
                .unwrap()
                .contains("moved")
        );
        std::fs::write(dir.path().join("models.json"), "{\"mine\":true}").unwrap();
        assert!(!ensure(dir.path(), "corp", "m1", "http://other/v1").unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("models.json")).unwrap(),
            "{\"mine\":true}"
        );
    }
}
