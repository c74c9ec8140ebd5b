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

/// The proxy's catalogue for these tests: one OpenAI-shaped model at the scripted LLM.
fn one_model(llm: &oqto_scripted_llm::RunningLlm, budgets: Value) -> Value {
    json!({
        "providers": [{"name": "openai", "api": "openai-completions", "baseUrl": llm.base_url(),
                       "apiKeyEnv": "UPSTREAM"}],
        "models": [{"provider": "openai", "id": "gpt-small", "contextWindow": 128000,
                    "maxTokens": 4096}],
        "budgets": budgets,
    })
}

/// A bridge on the proxy, with Pi's retries fast (two, 20 ms apart).
async fn bridge_on(env: &Env, proxy: &LlmProxyUnderTest) -> (common::Bridge, common::Client) {
    let agent_dir = env.home.join(".pi/agent");
    let _ = std::fs::remove_file(agent_dir.join("models.json"));
    std::fs::write(
        agent_dir.join("settings.json"),
        json!({"retry":{"enabled":true,"maxRetries":2,"baseDelayMs":20}}).to_string(),
    )
    .unwrap();
    let key = proxy.key("s1");
    let bridge = env
        .start_bridge_full(
            &pi_program(),
            &["--llm-proxy-url", &proxy.url, "--model", "gpt-small"],
            &[("OQTO_LLM_API_KEY", &key)],
        )
        .await;
    let mut client = bridge.connect().await;
    client.create_session("s").await;
    (bridge, client)
}

async fn turn(client: &mut common::Client, id: &str, message: &str) -> Vec<Value> {
    let response = client
        .command("s", id, "prompt", json!({ "message": message }))
        .await;
    assert_eq!(response["success"], true, "{response}");
    client.until(|f| is_event(f, "agent.idle")).await
}

fn text_of(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .map(|f| f["delta"].as_str().unwrap_or_default())
        .collect()
}

fn error_of(frames: &[Value]) -> Option<String> {
    frames
        .iter()
        .find(|f| is_event(f, "agent.error"))
        .map(|f| f["error"].as_str().unwrap_or_default().to_owned())
}

/// A provider's 429 and 503 reach Pi through the proxy as they are: Pi retries, then ends the
/// turn with the provider's error. Over the user's budget, the proxy's own 429 names the
/// budget on the turn it stopped.
#[tokio::test(flavor = "multi_thread")]
async fn pi_retries_a_providers_429_and_503_and_shows_an_exhausted_budget_on_the_turn() {
    let env = Env::new(json!({"api_key": UPSTREAM_KEY, "rules": [
        {"when_user_contains": "busy", "steps": [{"kind": "http_error", "status": 429, "body": "slow down"}]},
        {"when_user_contains": "down", "steps": [{"kind": "http_error", "status": 503, "body": "upstream down"}]},
        {"when_user_contains": "hello", "steps": [{"kind": "text", "chunks": ["Hi", " there"]}]}]}))
    .await;
    let budget = json!([{"scope": "user", "period": "day", "tokens": 5}]);
    let proxy = LlmProxyUnderTest::start(one_model(&env.llm, budget), UPSTREAM_KEY, &[]).await;
    let (bridge, mut client) = bridge_on(&env, &proxy).await;
    for (id, prompt, status) in [("p1", "busy", "429"), ("p2", "down", "503")] {
        let frames = turn(&mut client, id, prompt).await;
        let names = common::event_names(&frames);
        assert_eq!(
            names.iter().filter(|n| *n == "retry.start").count(),
            2,
            "{prompt}: {names:?}"
        );
        let error = error_of(&frames).unwrap_or_default();
        assert!(error.contains(status), "{prompt}: {error}");
    }
    // The first answer spends the budget (10 input tokens and more); the next turn is refused.
    assert_eq!(text_of(&turn(&mut client, "p3", "hello").await), "Hi there");
    for _ in 0..100 {
        if proxy.ledger.usage_of("alice", 0).unwrap().len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let frames = turn(&mut client, "p4", "hello").await;
    let error = error_of(&frames).expect("the turn ends with the budget's error");
    assert!(
        error.contains("budget of user alice") && error.contains("tokens this day"),
        "{error}"
    );
    bridge.stop().await;
}

/// The proxy killed mid-answer: the turn ends (no hang, no half-open turn), and once the proxy
/// is back the next turn works.
#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_killed_mid_answer_ends_the_turn_and_the_next_one_works() {
    let story: Vec<String> = (0..20).map(|i| format!("word{i} ")).collect();
    let env = Env::new(json!({"api_key": UPSTREAM_KEY, "rules": [
        {"when_user_contains": "story", "steps": [{"kind": "slow", "delay_ms": 200, "chunks": story}]},
        {"when_user_contains": "hello", "steps": [{"kind": "text", "chunks": ["Back", " again"]}]}]}))
    .await;
    let mut proxy =
        LlmProxyUnderTest::start_process(one_model(&env.llm, json!([])), UPSTREAM_KEY, &[]).await;
    let (bridge, mut client) = bridge_on(&env, &proxy).await;
    let response = client
        .command("s", "p1", "prompt", json!({"message": "tell a story"}))
        .await;
    assert_eq!(response["success"], true, "{response}");
    client.until(|f| is_event(f, "stream.text_delta")).await;
    proxy.kill();
    let frames = client.until(|f| is_event(f, "agent.idle")).await;
    assert!(
        !text_of(&frames).contains("word19"),
        "the answer was cut off, not finished"
    );
    proxy.restart().await;
    assert_eq!(
        text_of(&turn(&mut client, "p2", "hello").await),
        "Back again"
    );
    bridge.stop().await;
}
