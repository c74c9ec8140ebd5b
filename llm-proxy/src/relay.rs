//! The two routes Pi's providers call, relayed to the provider that serves the model: the
//! request body as sent (only the key is replaced), the answer's status, its rate-limit and
//! retry headers, and its body chunk by chunk as the provider streams it, never buffered. A
//! provider's error or 429 reaches Pi unchanged, so Pi's own retries work.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, header};
use axum::response::{IntoResponse, Response};
use oqto_proto::llm::{Catalogue as CatalogueDoc, ProviderApi, VirtualKeySigner};

use crate::catalogue::{Catalogue, Provider};
use crate::error::ProxyError;
use crate::grants::{Grant, Grants};

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
}

impl<G: Grants> Proxy<G> {
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
        let (_, provider) = self
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
        tracing::debug!(user = %grant.user, session = %grant.session, %model, "relaying");
        let upstream = self
            .upstream_request(provider, &headers, body)
            .send()
            .await
            .map_err(|e| ProxyError::Upstream(without_url(&e)))?;
        let mut answer = Response::builder().status(upstream.status().as_u16());
        for (name, value) in upstream.headers() {
            if passes_back(name) {
                answer = answer.header(name.as_str(), value.as_bytes());
            }
        }
        answer
            .body(Body::from_stream(upstream.bytes_stream()))
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
