//! The real Pi reaches the model only through the LLM proxy: the bridge writes Pi's
//! `models.json` from the proxy's catalogue for its Session's virtual key, Pi calls the proxy
//! with that key in OpenAI's and in Anthropic's shape, and the proxy calls the scripted LLM
//! (which, like a real provider, answers only its own key).
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use common::{Env, is_event, legacy_pi_program, pi_program};
use oqto_e2e::llm_proxy::LlmProxyUnderTest;
use serde_json::{Value, json};

const UPSTREAM_KEY: &str = "sk-upstream-never-in-a-runner";

async fn answer(
    env: &Env,
    pi: &std::path::Path,
    proxy: &LlmProxyUnderTest,
    model: &str,
) -> (String, Value) {
    // The bridge's own models.json replaces the test's scripted one only when it is the
    // bridge's: start without one, as a new Workspace does.
    let agent_dir = env.home.join(".pi/agent");
    let _ = std::fs::remove_file(agent_dir.join("models.json"));
    let key = proxy.key("s1");
    let bridge = env
        .start_bridge_full(
            pi,
            &["--llm-proxy-url", &proxy.url, "--model", model],
            &[("OQTO_LLM_API_KEY", &key)],
        )
        .await;
    let mut client = bridge.connect().await;
    client.create_session("s").await;
    client
        .send(
            json!({"channel":"agent","session_id":"s","id":"p1","cmd":"prompt","message":"hello"}),
        )
        .await;
    let frames = client.until(|f| is_event(f, "agent.idle")).await;
    let text: String = frames
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .map(|f| f["delta"].as_str().unwrap_or_default())
        .collect();
    let models: Value =
        serde_json::from_str(&std::fs::read_to_string(agent_dir.join("models.json")).unwrap())
            .unwrap();
    bridge.stop().await;
    (text, models)
}

#[tokio::test(flavor = "multi_thread")]
async fn pi_answers_through_the_proxy_in_both_api_shapes_without_the_providers_key() {
    through_the_proxy(&pi_program()).await;
}

/// Pi 0.73 reads the key from `models.json` differently (see `models::api_key_reference`).
#[tokio::test(flavor = "multi_thread")]
async fn the_older_pi_line_answers_through_the_proxy_too() {
    through_the_proxy(&legacy_pi_program()).await;
}

async fn through_the_proxy(pi: &std::path::Path) {
    let env = Env::new(json!({"api_key": UPSTREAM_KEY, "rules": [
        {"when_user_contains": "hello", "steps": [
            {"kind": "text", "chunks": ["Through", " the", " proxy"]}]}]}))
    .await;
    let llm = &env.llm;
    let proxy = LlmProxyUnderTest::start(
        json!({
            "providers": [
                {"name": "openai", "api": "openai-completions", "baseUrl": llm.base_url(),
                 "apiKeyEnv": "UPSTREAM"},
                {"name": "anthropic", "api": "anthropic-messages",
                 "baseUrl": format!("http://{}", llm.addr()), "apiKeyEnv": "UPSTREAM"}],
            "models": [
                {"provider": "openai", "id": "gpt-small", "contextWindow": 128000,
                 "maxTokens": 4096, "price": {"input": 1, "output": 4}},
                {"provider": "anthropic", "id": "claude-small", "contextWindow": 200000,
                 "maxTokens": 4096}]
        }),
        UPSTREAM_KEY,
        &[],
    )
    .await;

    let (text, models) = answer(&env, pi, &proxy, "gpt-small").await;
    assert_eq!(text, "Through the proxy");
    assert_eq!(
        models["providers"]["oqto"]["baseUrl"],
        format!("{}/v1", proxy.url)
    );
    assert_eq!(
        models["providers"]["oqto"]["apiKey"],
        "!printenv OQTO_LLM_API_KEY"
    );
    assert_eq!(
        models["providers"]["oqto"]["models"][0]["cost"]["output"],
        4.0
    );
    assert_eq!(models["providers"]["oqto-anthropic"]["baseUrl"], proxy.url);
    let openai_calls = llm.requests().len();
    assert!(openai_calls >= 1);

    let (text, _) = answer(&env, pi, &proxy, "claude-small").await;
    assert_eq!(text, "Through the proxy");
    let requests = llm.requests();
    assert!(
        requests[openai_calls..]
            .iter()
            .any(|r| r["model"] == "claude-small" && r.get("max_tokens").is_some()),
        "Pi called the Anthropic route: {:?}",
        &requests[openai_calls..]
    );

    // Nothing the runner holds carries the provider's key.
    for entry in walk(env.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(UPSTREAM_KEY),
            "{} holds the provider's key",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
