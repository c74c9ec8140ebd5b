//! The proxy's configuration file: the upstream providers (where, which API, which credential)
//! and the model catalogue. Admins write it (the chart makes it from its values); it is checked
//! whole at start, and each refusal names the field.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use oqto_proto::llm::{ModelInfo, ProviderApi};
use serde::Deserialize;

use crate::budget::Budget;

/// One upstream provider.
#[derive(Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderConfig {
    /// The name models refer to.
    pub name: String,
    pub api: ProviderApi,
    /// Base URL up to and including the version (`https://api.openai.com/v1`).
    pub base_url: String,
    /// Environment variable of the proxy that holds the provider's key (the chart fills it
    /// from a Secret). Unset: the provider needs none.
    #[serde(default)]
    pub api_key_env: Option<String>,
}

/// The whole file.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyFile {
    pub providers: Vec<ProviderConfig>,
    pub models: Vec<ModelInfo>,
    #[serde(default)]
    pub budgets: Vec<Budget>,
}

/// A provider ready to be called: its key read once, never printed.
#[derive(Clone)]
pub struct Provider {
    pub name: String,
    pub api: ProviderApi,
    pub base_url: String,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("api", &self.api)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Providers and models, checked against each other.
#[derive(Clone, Debug)]
pub struct Catalogue {
    providers: HashMap<String, Provider>,
    models: Vec<ModelInfo>,
    budgets: Vec<Budget>,
}

impl Catalogue {
    /// Reads and checks the file; keys come from `env` (the process environment in the binary).
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let file: ProxyFile =
            serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_file(file, env).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn from_file(
        file: ProxyFile,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut providers = HashMap::new();
        for (i, p) in file.providers.into_iter().enumerate() {
            let field = format!("providers[{i}]");
            if !oqto_proto::names::is_object_name(&p.name) {
                return Err(format!(
                    "{field}.name: {:?} is not a lowercase DNS name",
                    p.name
                ));
            }
            let url =
                reqwest::Url::parse(&p.base_url).map_err(|e| format!("{field}.baseUrl: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
                return Err(format!(
                    "{field}.baseUrl: an http(s) URL without a query, not {:?}",
                    p.base_url
                ));
            }
            let api_key = match &p.api_key_env {
                Some(var) => Some(env(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                    format!("{field}.apiKeyEnv: the environment variable {var} is not set")
                })?),
                None => None,
            };
            let provider = Provider {
                name: p.name.clone(),
                api: p.api,
                base_url: p.base_url.trim_end_matches('/').to_owned(),
                api_key,
            };
            if providers.insert(p.name.clone(), provider).is_some() {
                return Err(format!("{field}.name: {:?} is named twice", p.name));
            }
        }
        let mut ids = HashSet::new();
        for (i, m) in file.models.iter().enumerate() {
            let field = format!("models[{i}]");
            if !providers.contains_key(&m.provider) {
                return Err(format!(
                    "{field}.provider: no provider is named {:?}",
                    m.provider
                ));
            }
            if m.api.is_some_and(|api| {
                Some(api) != providers.get(&m.provider).map(|p: &Provider| p.api)
            }) {
                return Err(format!(
                    "{field}.api: differs from its provider's; leave it out"
                ));
            }
            if m.id.is_empty() || m.id.len() > 253 || m.id.chars().any(char::is_control) {
                return Err(format!("{field}.id: 1 to 253 printable characters"));
            }
            // Pi names a model by its id alone: two providers cannot serve the same id.
            if !ids.insert(m.id.as_str()) {
                return Err(format!("{field}.id: {:?} is listed twice", m.id));
            }
            if m.context_window == 0 || m.max_tokens == 0 {
                return Err(format!(
                    "{field}: contextWindow and maxTokens must be positive"
                ));
            }
            let p = &m.price;
            if [p.input, p.output, p.cache_read, p.cache_write]
                .iter()
                .any(|v| !v.is_finite() || *v < 0.0)
            {
                return Err(format!("{field}.price: prices are finite and not negative"));
            }
        }
        for (i, budget) in file.budgets.iter().enumerate() {
            budget.check(&format!("budgets[{i}]"))?;
        }
        let models = file
            .models
            .into_iter()
            .map(|mut m| {
                m.api = providers.get(&m.provider).map(|p| p.api);
                m
            })
            .collect();
        Ok(Self {
            providers,
            models,
            budgets: file.budgets,
        })
    }

    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    pub fn budgets(&self) -> &[Budget] {
        &self.budgets
    }

    /// A model and the provider that serves it.
    pub fn model(&self, id: &str) -> Option<(&ModelInfo, &Provider)> {
        let model = self.models.iter().find(|m| m.id == id)?;
        Some((model, self.providers.get(&model.provider)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(yaml: &str) -> ProxyFile {
        serde_yaml::from_str(yaml).unwrap()
    }

    const GOOD: &str = r#"
providers:
  - {name: openai, api: openai-completions, baseUrl: "https://api.example/v1/", apiKeyEnv: KEY}
  - {name: local, api: anthropic-messages, baseUrl: "http://llm:8090"}
models:
  - {provider: openai, id: gpt, contextWindow: 1000, maxTokens: 100, price: {input: 1, output: 2}}
  - {provider: local, id: claude, contextWindow: 2000, maxTokens: 200}
"#;

    #[test]
    fn a_good_file_loads_with_keys_from_the_environment() {
        let catalogue =
            Catalogue::from_file(file(GOOD), |v| (v == "KEY").then(|| "sk-real".into())).unwrap();
        let (model, provider) = catalogue.model("gpt").unwrap();
        assert_eq!(model.price.output, 2.0);
        assert_eq!(
            model.api,
            Some(ProviderApi::OpenAiCompletions),
            "served with its API"
        );
        assert_eq!(provider.base_url, "https://api.example/v1");
        assert_eq!(provider.api_key.as_deref(), Some("sk-real"));
        assert!(
            !format!("{provider:?}").contains("sk-real"),
            "keys are never printed"
        );
        assert_eq!(
            catalogue.model("claude").unwrap().1.api,
            ProviderApi::AnthropicMessages
        );
        assert!(catalogue.model("nope").is_none());
    }

    #[test]
    fn each_mistake_is_refused_naming_its_field() {
        let no_env = |_: &str| None;
        let bad = |from: &str, to: &str| {
            Catalogue::from_file(file(&GOOD.replace(from, to)), |_| Some("k".into())).unwrap_err()
        };
        assert!(
            Catalogue::from_file(file(GOOD), no_env)
                .unwrap_err()
                .contains("providers[0].apiKeyEnv")
        );
        assert!(bad("name: openai", "name: OpenAI").contains("providers[0].name"));
        assert!(bad("name: local", "name: openai").contains("providers[1].name"));
        assert!(bad("http://llm:8090", "ftp://llm").contains("providers[1].baseUrl"));
        assert!(bad("provider: local", "provider: nobody").contains("models[1].provider"));
        assert!(bad("id: claude", "id: gpt").contains("models[1].id"));
        assert!(bad("contextWindow: 2000", "contextWindow: 0").contains("models[1]"));
        assert!(bad("input: 1", "input: -1").contains("models[0].price"));
        let typo = serde_yaml::from_str::<ProxyFile>(&GOOD.replace("apiKeyEnv", "apikey"));
        assert!(typo.unwrap_err().to_string().contains("apikey"));
    }
}
