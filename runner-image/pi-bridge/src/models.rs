//! Pi's `models.json` for an OpenAI-compatible endpoint given by the operator (a Workspace's
//! `llm.baseUrl`): written at start when the agent directory has none, so a runner reaches a
//! self-hosted or proxied LLM without hand-made files. The key is not written: Pi reads it from
//! the environment at request time (`$OQTO_LLM_API_KEY`, a key of the Workspace's Secret).

use std::path::Path;

use oqto_proto::llm::{Catalogue, ModelInfo, ProviderApi};
use serde_json::{Value, json};

/// The variable Pi reads the key from; "none" when the Secret does not set it.
pub const API_KEY_VARIABLE: &str = oqto_proto::runner::ENV_LLM_API_KEY;

/// How `models.json` names the key so that both Pi lines read it from the environment: Pi 0.73
/// takes a bare variable name (and sends `${NAME}` as is), Pi 0.87 interpolates `${NAME}` (and
/// sends a bare name as is); both run a `!command` (0.73 once per process, 0.87 per request).
pub fn api_key_reference() -> String {
    format!("!printenv {API_KEY_VARIABLE}")
}

pub fn models_json(provider: &str, model: &str, base_url: &str) -> Value {
    json!({"providers": {provider: {
        "baseUrl": base_url,
        "api": "openai-completions",
        "apiKey": api_key_reference(),
        "models": [{"id": model}]
    }}})
}

/// Pi's providers for the platform's LLM proxy: one per API the catalogue's models speak, each
/// at the proxy, with the Session's virtual key (Pi reads the variable at request time).
pub const PROXY_OPENAI: &str = "oqto";
pub const PROXY_ANTHROPIC: &str = "oqto-anthropic";

/// The Pi provider a catalogue entry is written under.
pub fn proxy_provider(api: ProviderApi) -> &'static str {
    match api {
        ProviderApi::OpenAiCompletions => PROXY_OPENAI,
        ProviderApi::AnthropicMessages => PROXY_ANTHROPIC,
    }
}

/// `models.json` for the proxy at `proxy_url` serving `catalogue`, whose entries come with the
/// API each model's provider speaks (`apis`, from the proxy's `/v1/models`).
pub fn from_catalogue(proxy_url: &str, catalogue: &[(ModelInfo, ProviderApi)]) -> Value {
    let root = proxy_url.trim_end_matches('/');
    let mut providers = serde_json::Map::new();
    for api in [
        ProviderApi::OpenAiCompletions,
        ProviderApi::AnthropicMessages,
    ] {
        let models: Vec<Value> = catalogue
            .iter()
            .filter(|(_, a)| *a == api)
            .map(|(m, _)| {
                json!({"id": m.id, "name": m.name.clone().unwrap_or_else(|| m.id.clone()),
                    "reasoning": m.reasoning,
                    "input": if m.images { json!(["text", "image"]) } else { json!(["text"]) },
                    "contextWindow": m.context_window, "maxTokens": m.max_tokens,
                    "cost": {"input": m.price.input, "output": m.price.output,
                             "cacheRead": m.price.cache_read, "cacheWrite": m.price.cache_write}})
            })
            .collect();
        if models.is_empty() {
            continue;
        }
        // Pi appends `/chat/completions` to an OpenAI base URL and `/v1/messages` to an
        // Anthropic one, as the proxy serves them.
        let base_url = match api {
            ProviderApi::OpenAiCompletions => format!("{root}/v1"),
            ProviderApi::AnthropicMessages => root.to_owned(),
        };
        providers.insert(
            proxy_provider(api).into(),
            json!({"baseUrl": base_url, "api": api, "apiKey": api_key_reference(),
                "models": models}),
        );
    }
    json!({ "providers": providers })
}

/// The catalogue a proxy answers (`GET /v1/models` with the Session's key): each model with
/// the API it is called with.
pub fn parse_catalogue(body: &[u8]) -> Result<Vec<(ModelInfo, ProviderApi)>, String> {
    let doc: Catalogue =
        serde_json::from_slice(body).map_err(|e| format!("the proxy's catalogue: {e}"))?;
    doc.data
        .into_iter()
        .enumerate()
        .map(|(i, m)| match m.api {
            Some(api) => Ok((m, api)),
            None => Err(format!("the proxy's catalogue, data[{i}]: no api")),
        })
        .collect()
}

/// The proxy's catalogue for this Session's key. The proxy may start after the runner (a stack
/// coming up, a proxy Pod rescheduled): it is asked again for about a minute before the bridge
/// gives up and exits, naming the proxy.
pub async fn fetch_catalogue(proxy_url: &str) -> anyhow::Result<Vec<(ModelInfo, ProviderApi)>> {
    let key = std::env::var(API_KEY_VARIABLE).unwrap_or_default();
    let url = format!("{}/v1/models", proxy_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let mut last = String::new();
    for attempt in 0..30u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        match client.get(&url).bearer_auth(&key).send().await {
            Ok(answer) if answer.status().is_success() => {
                let body = answer.bytes().await?;
                return parse_catalogue(&body).map_err(anyhow::Error::msg);
            }
            // A refused key does not get better by asking again.
            Ok(answer) if answer.status() == reqwest::StatusCode::UNAUTHORIZED => {
                anyhow::bail!(
                    "the LLM proxy at {proxy_url} refused this Session's key ({API_KEY_VARIABLE}): {}",
                    answer.text().await.unwrap_or_default()
                );
            }
            Ok(answer) => last = format!("answered {}", answer.status()),
            Err(e) => last = e.without_url().to_string(),
        }
        tracing::warn!(%proxy_url, attempt, error = %last, "the LLM proxy's catalogue is not there yet");
    }
    anyhow::bail!("the LLM proxy at {proxy_url} could not be read: {last}")
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
    ensure_file(agent_dir, &models_json(provider, model, base_url))
}

/// Writes this `models.json`, by the rule of [`ensure`].
pub fn ensure_file(agent_dir: &Path, models: &Value) -> std::io::Result<bool> {
    let path = agent_dir.join("models.json");
    let copy = agent_dir.join(GENERATED_COPY);
    let text = serde_json::to_string_pretty(models).map_err(std::io::Error::other)?;
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
    fn the_proxys_catalogue_becomes_one_pi_provider_per_api() {
        let served = br#"{"object":"list","data":[
            {"provider":"a","id":"gpt","api":"openai-completions","contextWindow":10,"maxTokens":5,"images":true},
            {"provider":"b","id":"claude","api":"anthropic-messages","contextWindow":20,"maxTokens":6}]}"#;
        let models = parse_catalogue(served).unwrap();
        let file = from_catalogue("http://proxy:8091/", &models);
        let openai = &file["providers"][PROXY_OPENAI];
        assert_eq!(openai["baseUrl"], "http://proxy:8091/v1");
        assert_eq!(openai["models"][0]["input"], json!(["text", "image"]));
        assert_eq!(
            file["providers"][PROXY_ANTHROPIC]["baseUrl"],
            "http://proxy:8091"
        );
        assert_eq!(
            file["providers"][PROXY_ANTHROPIC]["models"][0]["id"],
            "claude"
        );
        let no_api = br#"{"object":"list","data":[{"provider":"a","id":"x","contextWindow":1,"maxTokens":1}]}"#;
        assert!(parse_catalogue(no_api).unwrap_err().contains("data[0]"));
        assert!(
            parse_catalogue(b"<html>")
                .unwrap_err()
                .contains("catalogue")
        );
    }

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
            "!printenv OQTO_LLM_API_KEY"
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
