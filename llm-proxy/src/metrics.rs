//! Prometheus metrics of the proxy (`/metrics` on `--metrics-listen`): requests, tokens and cost
//! by model, refusals by reason, and what the providers' rate-limit headers say is left.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::usage::Usage;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub model: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub model: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabel {
    pub model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    pub provider: String,
    pub limit: &'static str,
}

pub struct Metrics {
    pub registry: Registry,
    requests: Family<RequestLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabel, Counter<f64, AtomicU64>>,
    refusals: Family<ReasonLabel, Counter>,
    remaining: Family<LimitLabels, Gauge>,
    /// The same readings for the admins' usage report, with when each was seen.
    last_limits: std::sync::Mutex<std::collections::BTreeMap<(String, &'static str), RateLimit>>,
}

/// What a provider's rate-limit headers said last.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    pub provider: String,
    /// `requests` or `tokens`.
    pub limit: &'static str,
    pub remaining: i64,
    /// RFC 3339, UTC.
    pub seen: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("oqto_llm_proxy");
        let metrics = Self {
            requests: Family::default(),
            tokens: Family::default(),
            cost: Family::default(),
            refusals: Family::default(),
            remaining: Family::default(),
            last_limits: Default::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Requests relayed, by model and the provider's status",
            metrics.requests.clone(),
        );
        registry.register(
            "tokens",
            "Tokens used, by model and kind",
            metrics.tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "US dollars spent at the catalogue's prices, by model",
            metrics.cost.clone(),
        );
        registry.register(
            "refusals",
            "Requests the proxy refused, by reason",
            metrics.refusals.clone(),
        );
        registry.register(
            "upstream_ratelimit_remaining",
            "What the provider's last rate-limit headers said is left",
            metrics.remaining.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    pub fn refused(&self, reason: &'static str) {
        self.refusals.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn used(&self, model: &str, status: u16, usage: &Usage, cost: f64) {
        let model = model.to_owned();
        self.requests
            .get_or_create(&RequestLabels {
                model: model.clone(),
                status,
            })
            .inc();
        for (kind, n) in [
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_tokens),
            ("cache_write", usage.cache_write_tokens),
        ] {
            self.tokens
                .get_or_create(&TokenLabels {
                    model: model.clone(),
                    kind,
                })
                .inc_by(n);
        }
        self.cost.get_or_create(&ModelLabel { model }).inc_by(cost);
    }

    /// OpenAI's `x-ratelimit-remaining-*` and Anthropic's `anthropic-ratelimit-*-remaining`.
    pub fn rate_limits(&self, provider: &str, headers: &reqwest::header::HeaderMap) {
        for (header, limit) in [
            ("x-ratelimit-remaining-requests", "requests"),
            ("x-ratelimit-remaining-tokens", "tokens"),
            ("anthropic-ratelimit-requests-remaining", "requests"),
            ("anthropic-ratelimit-tokens-remaining", "tokens"),
        ] {
            if let Some(left) = headers
                .get(header)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
            {
                self.remaining
                    .get_or_create(&LimitLabels {
                        provider: provider.to_owned(),
                        limit,
                    })
                    .set(left);
                let reading = RateLimit {
                    provider: provider.to_owned(),
                    limit,
                    remaining: left,
                    seen: jiff::Timestamp::now().to_string(),
                };
                self.last_limits
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((provider.to_owned(), limit), reading);
            }
        }
    }

    /// Every provider's last rate-limit readings.
    pub fn rate_limit_readings(&self) -> Vec<RateLimit> {
        self.last_limits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
