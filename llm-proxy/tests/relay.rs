//! The proxy between clients speaking OpenAI's and Anthropic's APIs and the scripted LLM (which,
//! like a real provider, answers only its own key), with Sessions in a real local store.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures::StreamExt;
use oqto_api::Session;
use oqto_e2e::llm_proxy::{LlmProxyUnderTest, object};
use oqto_scripted_llm::{RunningLlm, Script, ScriptedLlm};
use serde_json::{Value, json};

const UPSTREAM_KEY: &str = "sk-upstream-only-the-proxy-knows";

struct Env {
    proxy: LlmProxyUnderTest,
    llm: RunningLlm,
    url: String,
    http: reqwest::Client,
}

async fn env() -> Env {
    env_with(json!([])).await
}

async fn env_with(budgets: Value) -> Env {
    env_limited(budgets, oqto_llm_proxy::DEFAULT_STREAMS_PER_SESSION).await
}

async fn env_limited(budgets: Value, streams_per_session: usize) -> Env {
    let script: Script = serde_json::from_value(json!({"api_key": UPSTREAM_KEY, "rules": [
        {"when_user_contains": "hello", "steps": [{"kind": "text", "chunks": ["Hel", "lo"]}]},
        {"when_user_contains": "story", "steps": [{"kind": "slow", "delay_ms": 300,
            "chunks": ["Once", " upon", " a", " time"]}]},
        {"when_user_contains": "busy", "steps": [{"kind": "http_error", "status": 429,
            "body": "slow down"}]},
    ]}))
    .unwrap();
    let llm = ScriptedLlm::spawn(script, "127.0.0.1:0").await.unwrap();
    let file = json!({
        "providers": [
            {"name": "openai", "api": "openai-completions", "baseUrl": llm.base_url(),
             "apiKeyEnv": "UPSTREAM"},
            {"name": "anthropic", "api": "anthropic-messages",
             "baseUrl": format!("http://{}", llm.addr()), "apiKeyEnv": "UPSTREAM"}],
        "models": [
            {"provider": "openai", "id": "gpt-small", "contextWindow": 1000, "maxTokens": 100},
            {"provider": "openai", "id": "gpt-large", "contextWindow": 1000, "maxTokens": 100},
            {"provider": "anthropic", "id": "claude-small", "contextWindow": 1000, "maxTokens": 100,
             "price": {"input": 3, "output": 15}}],
        "budgets": budgets,
    });
    let proxy = LlmProxyUnderTest::start_limited(
        file,
        UPSTREAM_KEY,
        &["gpt-small", "claude-small"],
        streams_per_session,
    )
    .await;
    Env {
        url: proxy.url.clone(),
        proxy,
        llm,
        http: reqwest::Client::new(),
    }
}

impl Env {
    fn key(&self) -> String {
        self.proxy.key("s1")
    }

    async fn openai(&self, key: Option<&str>, model: &str, prompt: &str) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/v1/chat/completions", self.url))
            .json(&json!({"model": model, "stream": true,
                "messages": [{"role": "user", "content": prompt}]}));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap()
    }

    async fn anthropic(&self, key: &str, model: &str, prompt: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/messages", self.url))
            .header("x-api-key", key)
            .json(&json!({"model": model, "stream": true, "max_tokens": 100,
                "messages": [{"role": "user", "content": prompt}]}))
            .send()
            .await
            .unwrap()
    }
}

async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, message)
}

#[tokio::test]
async fn both_api_shapes_stream_through_with_the_providers_key_and_not_the_sessions() {
    let env = env().await;
    let key = env.key();
    let answer = env.openai(Some(&key), "gpt-small", "hello").await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/event-stream");
    let text = answer.text().await.unwrap();
    assert!(
        text.contains(r#""content":"Hel""#) && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );

    let answer = env.anthropic(&key, "claude-small", "hello").await;
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    assert!(
        text.contains(r#""text":"Hel""#) && text.contains("text_delta"),
        "{text}"
    );
    assert!(text.contains("event: message_stop"), "{text}");

    // The key the runner holds is worth nothing at the provider itself.
    let direct = env
        .http
        .post(format!("{}/chat/completions", env.llm.base_url()))
        .bearer_auth(&key)
        .json(&json!({"model": "gpt-small", "stream": true,
            "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 401);
}

#[tokio::test]
async fn keys_models_and_bodies_that_are_not_allowed_are_refused_naming_why() {
    let env = env().await;
    let key = env.key();
    let (status, message) = refusal(env.openai(None, "gpt-small", "hello").await).await;
    assert_eq!(
        (status, message.contains("virtual key")),
        (401, true),
        "{message}"
    );
    let other = env.proxy.foreign_key();
    let (status, _) = refusal(env.openai(Some(&other), "gpt-small", "hello").await).await;
    assert_eq!(status, 401, "a key of another signer");
    let (status, _) = refusal(env.openai(Some(UPSTREAM_KEY), "gpt-small", "hello").await).await;
    assert_eq!(status, 401, "the provider's own key is not a virtual key");
    let (status, message) = refusal(env.openai(Some(&key), "gpt-large", "hello").await).await;
    assert_eq!(status, 403);
    assert!(
        message.contains("gpt-large") && message.contains("class"),
        "{message}"
    );
    let (status, message) = refusal(env.openai(Some(&key), "nope", "hello").await).await;
    assert_eq!(
        (status, message.contains("\"nope\"")),
        (404, true),
        "{message}"
    );
    let answer = env.anthropic(&key, "gpt-small", "hello").await;
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["type"], "error",
        "Anthropic's error shape on its route: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gpt-small")
    );
    let bad = env
        .http
        .post(format!("{}/v1/chat/completions", env.url))
        .bearer_auth(&key)
        .body("{\"model\": 3}")
        .send()
        .await
        .unwrap();
    let (status, message) = refusal(bad).await;
    assert_eq!(
        (status, message.contains("model")),
        (400, true),
        "{message}"
    );

    // The catalogue as the class allows it.
    let models: Value = env
        .http
        .get(format!("{}/v1/models", env.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt-small", "claude-small"]);
}

#[tokio::test]
async fn deleting_the_session_revokes_its_key_and_a_new_session_of_that_name_gets_another() {
    let env = env().await;
    let key = env.key();
    assert_eq!(
        env.openai(Some(&key), "gpt-small", "hello").await.status(),
        200
    );
    env.proxy.store.delete::<Session>("default", "s1").unwrap();
    let (status, message) = refusal(env.openai(Some(&key), "gpt-small", "hello").await).await;
    assert_eq!(
        (status, message.contains("revoked")),
        (401, true),
        "{message}"
    );
    env.proxy
        .store
        .apply(object::<Session>(
            "Session",
            "s1",
            json!({"workspaceRef": {"name": "w1"}}),
        ))
        .unwrap();
    let (status, _) = refusal(env.openai(Some(&key), "gpt-small", "hello").await).await;
    assert_eq!(status, 401, "the old key does not fit the new Session");
    assert_eq!(
        env.openai(Some(&env.key()), "gpt-small", "hello")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_providers_429_reaches_the_client_with_its_retry_after() {
    let env = env().await;
    let key = env.key();
    let answer = env.openai(Some(&key), "gpt-small", "busy").await;
    assert_eq!(answer.status(), 429);
    assert_eq!(answer.headers()["retry-after"], "1");
    let (_, message) = refusal(answer).await;
    assert_eq!(message, "slow down", "the provider's own body");
    let answer = env.anthropic(&key, "claude-small", "busy").await;
    assert_eq!(answer.status(), 429);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn an_answer_is_relayed_as_it_is_written_not_when_it_is_done() {
    let env = env().await;
    let key = env.key();
    let answer = env.openai(Some(&key), "gpt-small", "story").await;
    assert_eq!(answer.status(), 200);
    let mut stream = answer.bytes_stream();
    let mut first_text = None;
    let mut all = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        if first_text.is_none() && String::from_utf8_lossy(&chunk).contains("Once") {
            first_text = Some(Instant::now());
        }
        all.extend_from_slice(&chunk);
    }
    let ended = Instant::now();
    let first = first_text.expect("the first words arrive");
    // The upstream writes the other three words 300 ms apart after the first.
    assert!(
        ended - first >= Duration::from_millis(600),
        "the first words came {:?} before the end: buffered",
        ended - first
    );
    assert!(String::from_utf8_lossy(&all).contains(" time"));
}

/// Waits until the ledger holds `requests` rows of alice's (recording follows the answer).
async fn alices_usage(env: &Env, requests: u64) -> Vec<oqto_llm_proxy::ledger::UsageLine> {
    for _ in 0..100 {
        let lines = env.proxy.ledger.usage_of("alice", 0).unwrap();
        if lines.iter().map(|l| l.requests).sum::<u64>() >= requests {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{requests} requests were not recorded")
}

#[tokio::test]
async fn usage_is_recorded_per_session_in_both_shapes_and_a_budget_stops_the_user() {
    let env = env_with(json!([{"scope": "user", "period": "day", "tokens": 36}])).await;
    let key = env.key();
    // The scripted LLM reports 10 input tokens and one output token per chunk (2 here).
    let answer = env.openai(Some(&key), "gpt-small", "hello").await;
    assert_eq!(answer.status(), 200);
    answer.text().await.unwrap();
    let answer = env.anthropic(&key, "claude-small", "hello").await;
    assert_eq!(answer.status(), 200);
    answer.text().await.unwrap();
    let lines = alices_usage(&env, 2).await;
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0].session.as_str(), lines[0].tokens), ("s1", 24));
    // Only the Anthropic model has prices: 10 in at $3 and 2 out at $15 per million.
    let expected = (10.0 * 3.0 + 2.0 * 15.0) / 1e6;
    assert!(
        (lines[0].cost - expected).abs() < 1e-12,
        "{}",
        lines[0].cost
    );
    let answer = env.openai(Some(&key), "gpt-small", "hello").await;
    assert_eq!(answer.status(), 200, "24 of 36 used: still allowed");
    answer.text().await.unwrap();
    alices_usage(&env, 3).await;

    let refused = env.openai(Some(&key), "gpt-small", "hello").await;
    assert_eq!(refused.status(), 429);
    let (_, message) = refusal(refused).await;
    assert!(
        message.contains("user alice") && message.contains("36 of 36 tokens"),
        "{message}"
    );
    let refused = env.anthropic(&key, "claude-small", "hello").await;
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget"),
        "{body}"
    );

    let metrics = env.proxy.metrics.encode();
    for line in [
        r#"oqto_llm_proxy_requests_total{model="gpt-small",status="200"} 2"#,
        r#"oqto_llm_proxy_tokens_total{model="claude-small",kind="output"} 2"#,
        r#"oqto_llm_proxy_refusals_total{reason="OverBudget"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn an_answer_cut_off_by_the_client_is_paid_for_what_was_streamed() {
    let env = env().await;
    let key = env.key();
    let answer = env.openai(Some(&key), "gpt-small", "story").await;
    let mut stream = answer.bytes_stream();
    while let Some(chunk) = stream.next().await {
        if String::from_utf8_lossy(&chunk.unwrap()).contains("Once") {
            break;
        }
    }
    drop(stream);
    let lines = alices_usage(&env, 1).await;
    assert!(
        lines[0].tokens > 0,
        "estimated from the request and the words streamed"
    );
}

/// A GET of the proxy's admin listener, with this bearer token (or none).
async fn admin_get(env: &Env, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = env.http.get(format!("{}{path}", env.proxy.admin_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn usage_reports_go_to_the_platforms_token_only_with_budgets_and_what_is_left() {
    let env = env_with(json!([{"scope": "user", "period": "month", "costUsd": 1}])).await;
    let key = env.key();
    let answer = env.anthropic(&key, "claude-small", "hello").await;
    answer.text().await.unwrap();
    alices_usage(&env, 1).await;
    let admin = Some(oqto_e2e::llm_proxy::ADMIN_TOKEN);
    let refused = admin_get(&env, "/usage?user=alice", None).await;
    assert_eq!(refused.status(), 401, "no token");
    let refused = admin_get(&env, "/usage?user=alice", Some(&key)).await;
    assert_eq!(
        refused.status(),
        401,
        "a virtual key is not the admin token"
    );
    let report: Value = admin_get(&env, "/usage?user=alice&period=day", admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["period"], "day");
    assert_eq!(report["lines"][0]["session"], "s1");
    assert_eq!(report["lines"][0]["tokens"], 12);
    let budget = &report["budgets"][0];
    assert_eq!(
        (budget["period"].as_str(), budget["costUsd"].as_f64()),
        (Some("month"), Some(1.0))
    );
    assert!(budget["spentCost"].as_f64().unwrap() > 0.0, "{budget}");
    assert!(
        budget["resets"].as_str().unwrap().ends_with("T00:00:00Z"),
        "{budget}"
    );
    let all: Value = admin_get(&env, "/usage/users", admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["users"][0]["user"], "alice", "{all}");
    // The provider's rate-limit headers, for the admins.
    let limits = all["rateLimits"].as_array().unwrap();
    assert!(
        limits.iter().any(|l| l["provider"] == "anthropic"
            && l["limit"] == "tokens"
            && l["remaining"] == 79000),
        "{all}"
    );
    let metrics = admin_get(&env, "/metrics", None).await;
    assert_eq!(metrics.status(), 200, "metrics need no token");
}

#[tokio::test]
async fn a_session_holds_only_so_many_requests_in_flight() {
    let env = env_limited(json!([]), 2).await;
    let key = env.key();
    // Two slow answers hold both of the Session's slots while they stream.
    let first = env.openai(Some(&key), "gpt-small", "story").await;
    let second = env.openai(Some(&key), "gpt-small", "story").await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let (status, message) = refusal(env.openai(Some(&key), "gpt-small", "hello").await).await;
    assert_eq!(status, 429);
    assert!(message.contains("2 requests in flight"), "{message}");
    // A client that goes away frees its slot.
    drop(first);
    let mut freed = false;
    for _ in 0..100 {
        let answer = env.openai(Some(&key), "gpt-small", "hello").await;
        if answer.status() == 200 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(freed, "the slot of the dropped answer was not freed");
    drop(second);
}
