//! The scripted LLM over real HTTP: the SSE shape OpenAI clients (Pi) parse, errors, recording.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use oqto_scripted_llm::{Script, ScriptedLlm};
use serde_json::{Value, json};

fn data_lines(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

async fn start() -> oqto_scripted_llm::RunningLlm {
    let script: Script = serde_json::from_value(json!({"rules":[
        {"when_user_contains":"hi","steps":[{"kind":"thinking","reasoning":["hmm"],"chunks":["Hel","lo"]}]},
        {"when_user_contains":"tool","steps":[{"kind":"tool_call","name":"bash","arguments":{"command":"ls"}}]},
        {"when_user_contains":"fail","steps":[{"kind":"http_error","status":503,"body":"overloaded"}]}
    ]}))
    .unwrap();
    ScriptedLlm::spawn(script, "127.0.0.1:0").await.unwrap()
}

async fn post(llm: &oqto_scripted_llm::RunningLlm, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", llm.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn text_and_reasoning_stream_as_chunks_then_done() {
    let llm = start().await;
    let response = post(
        &llm,
        json!({"stream":true,"messages":[{"role":"user","content":"hi"}]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let lines = data_lines(&response.text().await.unwrap());
    assert_eq!(lines.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = lines[..lines.len() - 1]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0))
        .map(|c| &c["delta"])
        .collect();
    assert_eq!(deltas[1]["reasoning_content"], "hmm");
    let text: String = deltas
        .iter()
        .filter_map(|d| d["content"].as_str())
        .collect();
    assert_eq!(text, "Hello");
    let finish: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0))
        .map(|c| &c["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, [&json!("stop")]);
    assert_eq!(llm.requests().len(), 1);
}

#[tokio::test]
async fn tool_calls_stream_with_an_id_and_finish_with_tool_calls() {
    let llm = start().await;
    let body = post(
        &llm,
        json!({"stream":true,"messages":[{"role":"user","content":"use a tool"}]}),
    )
    .await
    .text()
    .await
    .unwrap();
    let lines = data_lines(&body);
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    let call = &first["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "bash");
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    let second: Value = serde_json::from_str(&lines[1]).unwrap();
    let args: Value = serde_json::from_str(
        second["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args, json!({"command":"ls"}));
    assert!(body.contains(r#""finish_reason":"tool_calls""#));
}

#[tokio::test]
async fn errors_are_http_errors_with_an_openai_body() {
    let llm = start().await;
    let response = post(
        &llm,
        json!({"stream":true,"messages":[{"role":"user","content":"fail"}]}),
    )
    .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "overloaded");
    let response = post(&llm, json!({"messages":[{"role":"user","content":"hi"}]})).await;
    assert_eq!(response.status(), 400, "non-streaming requests are refused");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stream")
    );
}
