//! Delegation through the bridge: its delegate API starts a child Session at a fake gateway
//! (written here: the REST call that creates a child, and a mux that plays the child's agent),
//! drives the child's turn, and the parent's mux client sees `delegate.*` events; the real Pi
//! with the runner image's `delegate` extension gets the child's answer as its tool's result.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use common::{Bridge, Client, DELEGATE_TOKEN, Env, is_event, pi_program, repo_root};
use futures::StreamExt;
use serde_json::{Value, json};

/// The credential the bridges are started with; the fake gateway accepts only it.
const CREDENTIAL: &str =
    "oqto-session.s.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const CHILD: &str = "s-child-1";
/// What the fake child answers: its last message. Before it, it "thinks out loud" in another.
const ANSWER: &str = "The child says 42";
const STREAMED: &str = "Let me look. The child says 42";

/// What the fake gateway does with a start.
#[derive(Clone)]
enum Starts {
    Child(&'static str),
    Refuse(StatusCode, Value),
}

/// What the fake gateway saw.
#[derive(Default)]
struct Seen {
    /// Bodies of `POST /api/delegation/children`.
    starts: Vec<Value>,
    /// Frames the bridge sent on the mux.
    frames: Vec<Value>,
    /// Requests without the right credential.
    unauthorized: usize,
}

#[derive(Clone)]
struct Fake {
    starts: Starts,
    seen: Arc<Mutex<Seen>>,
}

struct FakeGateway {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

impl FakeGateway {
    async fn start(starts: Starts) -> Self {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let fake = Fake {
            starts,
            seen: seen.clone(),
        };
        let app = Router::new()
            .route("/api/delegation/children", post(start_child))
            .route("/api/ws/mux", any(mux))
            .layer(axum::middleware::from_fn_with_state(
                fake.clone(),
                credential_only,
            ))
            .with_state(fake);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }

    fn frames(&self, cmd: &str) -> Vec<Value> {
        let seen = self.seen.lock().unwrap();
        seen.frames
            .iter()
            .filter(|f| f["cmd"] == cmd)
            .cloned()
            .collect()
    }
}

async fn credential_only(
    State(fake): State<Fake>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let presented = request.headers().get(header::AUTHORIZATION);
    if presented.and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {CREDENTIAL}")) {
        fake.seen.lock().unwrap().unauthorized += 1;
        let body = json!({"code":"unauthorized","message":"no session credential"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    next.run(request).await
}

async fn start_child(
    State(fake): State<Fake>,
    _headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    fake.seen.lock().unwrap().starts.push(body);
    match fake.starts {
        Starts::Child(name) => {
            (StatusCode::CREATED, axum::Json(json!({ "name": name }))).into_response()
        }
        Starts::Refuse(status, body) => (status, axum::Json(body)).into_response(),
    }
}

async fn mux(State(fake): State<Fake>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| play_child(socket, fake))
}

fn agent(fields: Value) -> Message {
    let mut frame = json!({"channel":"agent","session_id":CHILD,"runner_id":CHILD,"ts":0});
    frame
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    Message::Text(frame.to_string().into())
}

fn ok(frame: &Value) -> Message {
    agent(json!({"event":"response","id":frame["id"],"cmd":frame["cmd"],"success":true}))
}

fn text_delta(message: &str, delta: &str) -> Message {
    agent(
        json!({"event":"stream.text_delta","message_id":message,"delta":delta,
        "content_index":0}),
    )
}

/// The child's agent: answers `session.create` and `prompt`; a prompt streams two messages and
/// goes idle, unless it says "slow": then it streams a little and works until aborted.
async fn play_child(mut socket: WebSocket, fake: Fake) {
    let hello = Message::Text(r#"{"channel":"system","type":"connected"}"#.into());
    if socket.send(hello).await.is_err() {
        return;
    }
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        fake.seen.lock().unwrap().frames.push(frame.clone());
        let replies = match frame["cmd"].as_str().unwrap_or_default() {
            "session.create" => vec![ok(&frame)],
            "prompt" if frame["message"].as_str().unwrap().contains("slow") => {
                vec![ok(&frame), text_delta("m1", "working")]
            }
            "prompt" => vec![
                ok(&frame),
                text_delta("m1", "Let me look. "),
                text_delta("m2", "The child "),
                text_delta("m2", "says 42"),
                agent(json!({"event":"agent.idle"})),
            ],
            // Pi answers `abort` only when it fails; the turn ends.
            "abort" => vec![agent(json!({"event":"agent.idle"}))],
            _ => Vec::new(),
        };
        for reply in replies {
            if socket.send(reply).await.is_err() {
                return;
            }
        }
    }
}

/// A bridge that delegates to `gateway`, and its delegate API's `host:port`.
async fn delegating_bridge(env: &Env, gateway: &FakeGateway) -> (Bridge, String) {
    let scripted = ["--provider", "scripted", "--model", "scripted"];
    let mut bridge = env
        .start_bridge_full(
            &pi_program(),
            &[&scripted[..], &["--gateway-url", &gateway.url]].concat(),
            &[("OQTO_SESSION_CREDENTIAL", CREDENTIAL)],
        )
        .await;
    let api = bridge.delegate_api().await;
    (bridge, api)
}

async fn call(api: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let url = format!("http://{api}{path}");
    let request = match method {
        "GET" => client.get(url),
        _ => client.post(url),
    }
    .bearer_auth(DELEGATE_TOKEN);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The parent's frames up to the end of the delegation `request_id`.
async fn until_delegation_ends(parent: &mut Client, request_id: &str) -> Vec<Value> {
    parent
        .until(|f| {
            (is_event(f, "delegate.end") || is_event(f, "delegate.error"))
                && f["request_id"] == request_id
        })
        .await
}

fn streamed(frames: &[Value], request_id: &str) -> String {
    frames
        .iter()
        .filter(|f| is_event(f, "delegate.delta") && f["request_id"] == request_id)
        .filter_map(|f| f["delta"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delegation_streams_into_the_parent_and_ends_with_the_childs_answer() {
    let gateway = FakeGateway::start(Starts::Child(CHILD)).await;
    let env = Env::new(json!({"rules": []})).await;
    let (bridge, api) = delegating_bridge(&env, &gateway).await;
    let mut parent = bridge.connect().await;
    parent.create_session("s").await;

    let (status, started) = call(
        &api,
        "POST",
        "/delegate/start",
        Some(json!({"prompt": "find the answer", "title": "Find it"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["session"], CHILD);
    let id = started["id"].as_str().unwrap().to_owned();

    let frames = until_delegation_ends(&mut parent, &id).await;
    let start = frames
        .iter()
        .find(|f| is_event(f, "delegate.start"))
        .expect("delegate.start");
    assert_eq!(start["request_id"], id.as_str());
    assert_eq!(start["session_id"], "s", "on the parent's stream");
    assert_eq!(start["target_session_id"], CHILD);
    assert_eq!(start["target_runner_id"], CHILD);
    assert_eq!(start["mode"], "async");
    assert_eq!(
        streamed(&frames, &id),
        STREAMED,
        "every piece of the child's text"
    );
    let end = frames.last().unwrap();
    assert!(is_event(end, "delegate.end"), "{end}");
    assert_eq!(end["response"]["id"], format!("{id}:answer"));
    assert_eq!(end["response"]["role"], "assistant");
    assert_eq!(end["response"]["parts"][0]["type"], "text");
    assert_eq!(
        end["response"]["parts"][0]["text"], ANSWER,
        "its last message"
    );
    assert_eq!(end["responder"]["type"], "agent");
    assert_eq!(end["responder"]["session_id"], CHILD);
    assert!(end["duration_ms"].is_u64(), "{end}");

    let (status, state) = call(&api, "GET", &format!("/delegate/status/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        state,
        json!({"id": id, "session": CHILD, "state": "done", "answer": ANSWER})
    );
    // The gateway got the credential, the child's title, and the task as the child's prompt.
    assert_eq!(gateway.seen.lock().unwrap().unauthorized, 0);
    assert_eq!(
        gateway.seen.lock().unwrap().starts,
        [json!({"title": "Find it"})]
    );
    let prompts = gateway.frames("prompt");
    assert_eq!(prompts.len(), 1, "{prompts:?}");
    assert_eq!(prompts[0]["session_id"], CHILD);
    assert_eq!(prompts[0]["message"], "find the answer");
    assert!(
        prompts[0]["client_id"]
            .as_str()
            .unwrap()
            .starts_with("delegate:s:"),
        "{prompts:?}"
    );

    // A follow-up in the same child is a turn of its own on the parent's stream.
    let (status, again) = call(
        &api,
        "POST",
        &format!("/delegate/prompt/{id}"),
        Some(json!({"prompt": "and once more"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    let turn = format!("{id}.2");
    let frames = until_delegation_ends(&mut parent, &turn).await;
    assert!(
        frames
            .iter()
            .any(|f| is_event(f, "delegate.start") && f["request_id"] == turn.as_str())
    );
    assert!(is_event(frames.last().unwrap(), "delegate.end"));
    assert_eq!(gateway.frames("prompt")[1]["message"], "and once more");
    let (_, list) = call(&api, "GET", "/delegate/sessions", None).await;
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["sessions"][0]["state"], "done");
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_a_delegation_or_the_parent_aborts_the_childs_turn() {
    let gateway = FakeGateway::start(Starts::Child(CHILD)).await;
    let env = Env::new(json!({"rules": []})).await;
    let (bridge, api) = delegating_bridge(&env, &gateway).await;
    let mut parent = bridge.connect().await;
    parent.create_session("s").await;

    // Stopped through the API.
    let (_, started) = call(
        &api,
        "POST",
        "/delegate/start",
        Some(json!({"prompt": "a slow task"})),
    )
    .await;
    let id = started["id"].as_str().unwrap().to_owned();
    parent
        .until(|f| is_event(f, "delegate.delta") && f["request_id"] == id.as_str())
        .await;
    let more = Some(json!({"prompt": "more"}));
    let (status, busy) = call(&api, "POST", &format!("/delegate/prompt/{id}"), more).await;
    assert_eq!(status, StatusCode::CONFLICT, "{busy}");
    let (status, stopped) = call(&api, "POST", &format!("/delegate/stop/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stopped["state"], "cancelled", "{stopped}");
    let frames = until_delegation_ends(&mut parent, &id).await;
    let error = frames.last().unwrap();
    assert!(is_event(error, "delegate.error"), "{error}");
    assert_eq!(error["code"], "cancelled");
    assert_eq!(
        gateway.frames("abort").len(),
        1,
        "the child's turn was aborted"
    );

    // Stopped with the parent: its `abort` reaches every running delegation.
    let (_, started) = call(
        &api,
        "POST",
        "/delegate/start",
        Some(json!({"prompt": "another slow task"})),
    )
    .await;
    let id = started["id"].as_str().unwrap().to_owned();
    parent
        .until(|f| is_event(f, "delegate.delta") && f["request_id"] == id.as_str())
        .await;
    parent
        .send(json!({"channel":"agent","session_id":"s","id":"a1","cmd":"abort"}))
        .await;
    let frames = until_delegation_ends(&mut parent, &id).await;
    assert_eq!(frames.last().unwrap()["code"], "cancelled");
    assert_eq!(gateway.frames("abort").len(), 2);
    let (_, state) = call(&api, "GET", &format!("/delegate/status/{id}"), None).await;
    assert_eq!(state["state"], "cancelled", "{state}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_child_is_the_callers_answer_and_a_delegate_error_on_the_parent() {
    let refusal =
        json!({"code": "too_many_children", "message": "this session already has 8 children"});
    let gateway = FakeGateway::start(Starts::Refuse(StatusCode::TOO_MANY_REQUESTS, refusal)).await;
    let env = Env::new(json!({"rules": []})).await;
    let (bridge, api) = delegating_bridge(&env, &gateway).await;
    let mut parent = bridge.connect().await;
    parent.create_session("s").await;

    let (status, answer) = call(
        &api,
        "POST",
        "/delegate/start",
        Some(json!({"prompt": "one more child"})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("this session already has 8 children"),
        "{error}"
    );
    let frames = parent.until(|f| is_event(f, "delegate.error")).await;
    let event = frames.last().unwrap();
    assert_eq!(event["code"], "permission_denied", "{event}");
    assert!(
        event["error"]
            .as_str()
            .unwrap()
            .contains("already has 8 children"),
        "{event}"
    );
    assert!(
        !frames.iter().any(|f| is_event(f, "delegate.start")),
        "no child, no start"
    );
    let (_, list) = call(&api, "GET", "/delegate/sessions", None).await;
    assert_eq!(list, json!({"sessions": []}), "nothing to track");
    assert!(gateway.frames("prompt").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_gateway_the_delegate_api_says_delegation_is_off() {
    let env = Env::new(json!({"rules": []})).await;
    let mut bridge = env.start_bridge().await;
    let api = bridge.delegate_api().await;
    let (status, answer) = call(
        &api,
        "POST",
        "/delegate/start",
        Some(json!({"prompt": "p"})),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("OQTO_GATEWAY_URL") && error.contains("OQTO_SESSION_CREDENTIAL"),
        "{error}"
    );
}

/// The runner image's `delegate` extension in the real Pi: the scripted model calls the tool,
/// which starts the delegation through the bridge (at the address the bridge gives Pi, here an
/// ephemeral port) and returns the child's answer. Pi's own environment holds no credential.
#[tokio::test(flavor = "multi_thread")]
async fn pis_delegate_tool_returns_the_childs_answer() {
    delegate_tool_on(&pi_program()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pis_delegate_tool_returns_the_childs_answer_on_the_older_pi_line() {
    delegate_tool_on(&common::legacy_pi_program()).await;
}

async fn delegate_tool_on(pi: &std::path::Path) {
    let gateway = FakeGateway::start(Starts::Child(CHILD)).await;
    let env = Env::new(json!({"rules": [
        {"when_user_contains": "hand it off", "steps": [
            {"kind": "tool_call", "name": "delegate", "arguments": {"task": "find the answer"}},
            {"kind": "text", "chunks": ["The sub-agent answered."]}]},
        {"when_user_contains": "show the environment", "steps": [
            {"kind": "tool_call", "name": "bash", "arguments": {"command": "env"}},
            {"kind": "text", "chunks": ["Shown."]}]}
    ]}))
    .await;
    let extension = repo_root().join("runner-image/pi-extensions/delegate.ts");
    let scripted = ["--provider", "scripted", "--model", "scripted"];
    let args = [
        "--pi-extension",
        extension.to_str().unwrap(),
        "--gateway-url",
        &gateway.url,
    ];
    let bridge = env
        .start_bridge_full(
            pi,
            &[&scripted[..], &args[..]].concat(),
            &[("OQTO_SESSION_CREDENTIAL", CREDENTIAL)],
        )
        .await;
    let mut parent = bridge.connect().await;
    parent.create_session("s").await;
    let response = parent
        .command("s", "p1", "prompt", json!({"message": "hand it off"}))
        .await;
    assert_eq!(response["success"], true, "{response}");
    let frames = parent.until(|f| is_event(f, "agent.idle")).await;
    let end = frames
        .iter()
        .find(|f| is_event(f, "tool.end") && f["name"] == "delegate")
        .unwrap_or_else(|| panic!("tool.end of delegate in {frames:?}"));
    assert_eq!(end["is_error"], false, "{end}");
    assert_eq!(end["output"]["content"][0]["text"], ANSWER, "{end}");
    let delegated = frames
        .iter()
        .find(|f| is_event(f, "delegate.end"))
        .expect("delegate.end on the parent's stream");
    assert_eq!(delegated["response"]["parts"][0]["text"], ANSWER);
    assert_eq!(gateway.frames("prompt")[0]["message"], "find the answer");

    let response = parent
        .command(
            "s",
            "p2",
            "prompt",
            json!({"message": "show the environment"}),
        )
        .await;
    assert_eq!(response["success"], true, "{response}");
    let frames = parent.until(|f| is_event(f, "agent.idle")).await;
    let end = frames
        .iter()
        .find(|f| is_event(f, "tool.end") && f["name"] == "bash")
        .unwrap_or_else(|| panic!("tool.end of bash in {frames:?}"));
    let shown = end["output"]["content"][0]["text"].as_str().unwrap();
    assert!(
        shown.contains("PI_BRIDGE_DELEGATE_LISTEN=127.0.0.1:"),
        "Pi learns the API's address: {shown}"
    );
    assert!(
        !shown.contains("PI_BRIDGE_DELEGATE_LISTEN=127.0.0.1:0\n"),
        "the bound port"
    );
    assert!(
        !shown.contains(CREDENTIAL),
        "the credential stays with the bridge"
    );
    assert!(!shown.contains("OQTO_SESSION_CREDENTIAL"));
}

/// A refused delegation is a failed tool call whose result tells the model why.
#[tokio::test(flavor = "multi_thread")]
async fn pis_delegate_tool_reports_a_refusal_as_its_error() {
    let refusal = json!({"code": "too_deep", "message": "a child may not delegate again"});
    let gateway =
        FakeGateway::start(Starts::Refuse(StatusCode::UNPROCESSABLE_ENTITY, refusal)).await;
    let env = Env::new(json!({"rules": [
        {"when_user_contains": "hand it off", "steps": [
            {"kind": "tool_call", "name": "delegate", "arguments": {"task": "find the answer"}},
            {"kind": "text", "chunks": ["It was refused."]}]}
    ]}))
    .await;
    let extension = repo_root().join("runner-image/pi-extensions/delegate.ts");
    let scripted = ["--provider", "scripted", "--model", "scripted"];
    let args = [
        "--pi-extension",
        extension.to_str().unwrap(),
        "--gateway-url",
        &gateway.url,
    ];
    let bridge = env
        .start_bridge_full(
            &pi_program(),
            &[&scripted[..], &args[..]].concat(),
            &[("OQTO_SESSION_CREDENTIAL", CREDENTIAL)],
        )
        .await;
    let mut parent = bridge.connect().await;
    parent.create_session("s").await;
    let response = parent
        .command("s", "p1", "prompt", json!({"message": "hand it off"}))
        .await;
    assert_eq!(response["success"], true, "{response}");
    let frames = parent.until(|f| is_event(f, "agent.idle")).await;
    let end = frames
        .iter()
        .find(|f| is_event(f, "tool.end") && f["name"] == "delegate")
        .unwrap_or_else(|| panic!("tool.end of delegate in {frames:?}"));
    assert_eq!(end["is_error"], true, "{end}");
    let text = end["output"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("a child may not delegate again"), "{text}");
    let error = frames
        .iter()
        .find(|f| is_event(f, "delegate.error"))
        .expect("delegate.error on the parent's stream");
    assert_eq!(error["code"], "permission_denied");
}
