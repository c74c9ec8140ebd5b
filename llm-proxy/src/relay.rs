//! The two routes Pi's providers call, relayed to the provider that serves the model: the
//! request body as sent (only the key is replaced), the answer's status, its rate-limit and
//! retry headers, and its body chunk by chunk as the provider streams it, never buffered. A
//! provider's error or 429 reaches Pi unchanged, so Pi's own retries work.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, header};
use axum::response::{IntoResponse, Response};
use oqto_proto::llm::{Catalogue as CatalogueDoc, ModelInfo, ProviderApi, VirtualKeySigner};

use crate::budget::period_bounds;
use crate::catalogue::{Catalogue, Provider};
use crate::error::ProxyError;
use crate::grants::{Grant, Grants};
use crate::ledger::{Ledger, Record};
use crate::metered::Metered;
use crate::metrics::Metrics;
use crate::streams::{SessionStreams, StreamSlot};
use crate::usage::{Usage, UsageTap};

/// Request headers passed on to the provider (the key never is).
const REQUEST_HEADERS: [&str; 3] = ["accept", "anthropic-version", "anthropic-beta"];

/// The Anthropic API version sent when the caller names none.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Answer headers passed back: what a client needs to parse the body and to pace its retries.
fn passes_back(name: &HeaderName) -> bool {
    let name = name.as_str();
    matches!(
        name,
        "content-type" | "retry-after" | "retry-after-ms" | "x-request-id" | "request-id"
    ) || name.starts_with("x-ratelimit-")
        || name.starts_with("anthropic-ratelimit-")
}

pub struct Proxy<G> {
    pub catalogue: Catalogue,
    pub signer: VirtualKeySigner,
    pub grants: G,
    pub client: reqwest::Client,
    /// Where usage is recorded and budgets are summed; needed when the catalogue has budgets.
    pub ledger: Option<Arc<Ledger>>,
    pub metrics: Arc<Metrics>,
    /// Requests in flight per Session, and how many one may have.
    pub streams: Arc<SessionStreams>,
    pub streams_per_session: usize,
}

impl<G: Grants> Proxy<G> {
    /// A proxy that records no usage (tests of the relay alone).
    pub fn new(catalogue: Catalogue, signer: VirtualKeySigner, grants: G) -> reqwest::Result<Self> {
        Ok(Self {
            catalogue,
            signer,
            grants,
            client: crate::upstream_client()?,
            ledger: None,
            metrics: Arc::default(),
            streams: Arc::default(),
            streams_per_session: crate::DEFAULT_STREAMS_PER_SESSION,
        })
    }

    /// Refuses a request whose user or class has used up a budget.
    async fn check_budgets(&self, grant: &Grant) -> Result<(), ProxyError> {
        let budgets: Vec<_> = self
            .catalogue
            .budgets()
            .iter()
            .filter_map(|b| b.scope_for(grant).map(|scope| (b.clone(), scope)))
            .collect();
        if budgets.is_empty() {
            return Ok(());
        }
        let Some(ledger) = self.ledger.clone() else {
            return Err(ProxyError::Store(
                "budgets are set but no usage ledger is".into(),
            ));
        };
        let now = jiff::Timestamp::now();
        for (budget, scope) in budgets {
            let (start, next) = period_bounds(budget.period, now).map_err(ProxyError::Store)?;
            let spent = ledger
                .spent(scope.clone(), start.as_second())
                .await
                .map_err(ProxyError::Store)?;
            if let Some(why) = budget.exceeded(&scope, spent, next) {
                return Err(ProxyError::OverBudget(why));
            }
        }
        Ok(())
    }

    /// What happens when an answer has ended: the Session's slot is free, metrics, and a row
    /// in the ledger.
    fn on_end(
        &self,
        grant: Grant,
        model: &ModelInfo,
        status: u16,
        slot: StreamSlot,
    ) -> impl FnOnce(Usage) + Send + 'static {
        let (metrics, ledger, model) = (self.metrics.clone(), self.ledger.clone(), model.clone());
        move |usage: Usage| {
            drop(slot);
            // An error answer costs nothing: the tap would only have estimated the request.
            let usage = if (200..300).contains(&status) {
                usage
            } else {
                Usage::default()
            };
            let cost = usage.cost(&model);
            metrics.used(&model.id, status, &usage, cost);
            let (Some(ledger), true) = (ledger, usage.tokens() > 0) else {
                return;
            };
            let record = Record {
                at: jiff::Timestamp::now().as_second(),
                user: grant.user,
                namespace: grant.namespace,
                workspace: grant.workspace,
                session: grant.session,
                class: grant.class,
                model: model.id,
                provider: model.provider,
                usage,
                cost,
                status,
            };
            tokio::spawn(async move {
                if let Err(error) = ledger.record(record).await {
                    tracing::error!(%error, "usage not recorded");
                }
            });
        }
    }

    /// The caller's grant, from the key in `Authorization: Bearer` or `x-api-key`.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Grant, ProxyError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .ok_or(ProxyError::NoKey)?;
        let claims = self
            .signer
            .verify(presented.trim())
            .ok_or(ProxyError::BadKey)?;
        self.grants
            .grant(&claims)
            .await
            .map_err(ProxyError::Store)?
            .ok_or(ProxyError::Revoked)
    }

    async fn relay(
        &self,
        api: ProviderApi,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response, ProxyError> {
        let grant = self.authenticate(&headers).await?;
        let model = model_of(&body)?;
        let (info, provider) = self
            .catalogue
            .model(&model)
            .ok_or_else(|| ProxyError::UnknownModel(model.clone()))?;
        if provider.api != api {
            return Err(ProxyError::WrongApi {
                model,
                api: provider.api,
            });
        }
        if !grant.allows(&model) {
            return Err(ProxyError::ModelNotAllowed(model));
        }
        self.check_budgets(&grant).await?;
        let slot = self
            .streams
            .try_open(&grant.namespace, &grant.session, self.streams_per_session)
            .ok_or(ProxyError::TooManyStreams(self.streams_per_session))?;
        tracing::debug!(user = %grant.user, session = %grant.session, %model, "relaying");
        let request_bytes = body.len();
        let upstream = self
            .upstream_request(provider, &headers, body)
            .send()
            .await
            .map_err(|e| ProxyError::Upstream(without_url(&e)))?;
        self.metrics.rate_limits(&provider.name, upstream.headers());
        let status = upstream.status().as_u16();
        let mut answer = Response::builder().status(status);
        for (name, value) in upstream.headers() {
            if passes_back(name) {
                answer = answer.header(name.as_str(), value.as_bytes());
            }
        }
        let metered = Metered::new(
            upstream.bytes_stream(),
            UsageTap::new(api, request_bytes),
            self.on_end(grant, info, status, slot),
        );
        answer
            .body(Body::from_stream(metered))
            .map_err(|e| ProxyError::Upstream(e.to_string()))
    }

    fn upstream_request(
        &self,
        provider: &Provider,
        headers: &HeaderMap,
        body: Bytes,
    ) -> reqwest::RequestBuilder {
        let path = match provider.api {
            ProviderApi::OpenAiCompletions => "/chat/completions",
            ProviderApi::AnthropicMessages => "/v1/messages",
        };
        let mut request = self
            .client
            .post(format!("{}{path}", provider.base_url))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        for name in REQUEST_HEADERS {
            if let Some(value) = headers.get(name) {
                request = request.header(name, value.as_bytes());
            }
        }
        if provider.api == ProviderApi::AnthropicMessages
            && !headers.contains_key("anthropic-version")
        {
            request = request.header("anthropic-version", ANTHROPIC_VERSION);
        }
        match (&provider.api_key, provider.api) {
            (Some(key), ProviderApi::OpenAiCompletions) => request.bearer_auth(key),
            (Some(key), ProviderApi::AnthropicMessages) => request.header("x-api-key", key),
            (None, _) => request,
        }
    }

    /// The catalogue as the caller's grant allows it.
    async fn models(&self, headers: &HeaderMap) -> Result<CatalogueDoc, ProxyError> {
        let grant = self.authenticate(headers).await?;
        Ok(CatalogueDoc {
            object: "list".into(),
            data: self
                .catalogue
                .models()
                .iter()
                .filter(|m| grant.allows(&m.id))
                .cloned()
                .collect(),
        })
    }
}

/// The request's `model`, without reading the rest into types (the body is passed on as is).
fn model_of(body: &[u8]) -> Result<String, ProxyError> {
    #[derive(serde::Deserialize)]
    struct Head {
        model: String,
    }
    serde_json::from_slice::<Head>(body)
        .map(|h| h.model)
        .map_err(|e| ProxyError::BadBody(e.to_string()))
}

/// A transport error without the provider's URL (it may carry a key in its query).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the provider");
    }
    text
}

pub async fn chat_completions<G: Grants>(
    State(proxy): State<Arc<Proxy<G>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&proxy, ProviderApi::OpenAiCompletions, headers, body).await
}

pub async fn messages<G: Grants>(
    State(proxy): State<Arc<Proxy<G>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&proxy, ProviderApi::AnthropicMessages, headers, body).await
}

async fn respond<G: Grants>(
    proxy: &Proxy<G>,
    api: ProviderApi,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match proxy.relay(api, headers, body).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::info!(reason = error.reason(), %error, "refused");
            proxy.metrics.refused(error.reason());
            error.respond(api)
        }
    }
}

pub async fn models<G: Grants>(State(proxy): State<Arc<Proxy<G>>>, headers: HeaderMap) -> Response {
    match proxy.models(&headers).await {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(error) => error.respond(ProviderApi::OpenAiCompletions),
    }
}
