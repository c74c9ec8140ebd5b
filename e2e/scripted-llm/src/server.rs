use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::anthropic;
use crate::script::{Reply, Script};

/// The provider and model name under which Pi sees this server.
pub const MODEL: &str = "scripted";

struct Shared {
    script: Script,
    requests: Mutex<Vec<Value>>,
    next_call: Mutex<u64>,
}

pub struct ScriptedLlm;

/// A running server; stops when dropped.
pub struct RunningLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
}

impl ScriptedLlm {
    pub async fn spawn(script: Script, listen: &str) -> std::io::Result<RunningLlm> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script,
            requests: Mutex::default(),
            next_call: Mutex::new(1),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .route("/v1/messages", post(messages))
            .route("/v1/models", get(models))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        // As a provider's server would: chunks out as they are written.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(RunningLlm {
            addr,
            shared,
            stop: Some(stop),
        })
    }
}

impl RunningLlm {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What Pi's `models.json` calls `baseUrl`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request body received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for RunningLlm {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Pi's `models.json` for this server: provider and model `scripted`.
pub fn models_json(base_url: &str) -> Value {
    json!({"providers": {MODEL: {
        "baseUrl": base_url,
        "api": "openai-completions",
        "apiKey": "not-needed",
        "compat": {"supportsDeveloperRole": false, "supportsReasoningEffort": false},
        "models": [{"id": MODEL, "name": "Scripted test model", "reasoning": true,
                    "contextWindow": 128000, "maxTokens": 16384}]
    }}})
}

async fn models() -> Json<Value> {
    Json(json!({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "oqto"}]}))
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": "scripted_llm_error"}})),
    )
        .into_response()
}

/// Whether the request presents the script's key (any request, when the script has none).
fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(key) = &shared.script.api_key else {
        return true;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let x_api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    bearer == Some(key.as_str()) || x_api_key == Some(key.as_str())
}

/// A provider's 429 says when to come back.
fn with_retry_after(status: StatusCode, response: Response) -> Response {
    let mut response = response;
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

async fn completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&shared, &headers) {
        return error(StatusCode::UNAUTHORIZED, "invalid API key");
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")),
    };
    if let Ok(mut requests) = shared.requests.lock() {
        requests.push(request.clone());
    }
    if request.get("stream").and_then(Value::as_bool) != Some(true) {
        return error(
            StatusCode::BAD_REQUEST,
            "stream: scripted-llm serves streaming requests only (set \"stream\": true)",
        );
    }
    let reply = shared.script.reply_to(&request);
    if let Reply::HttpError { status, body } = &reply {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return with_retry_after(status, error(status, body));
    }
    let call_id = format!("call_{}", next_call(&shared));
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    // When the client goes away the receiver is dropped and the next send ends the task.
    tokio::spawn(stream_reply(reply, call_id, tx));
    event_stream(rx)
}

/// Anthropic's Messages API over the same script (see `anthropic`).
async fn messages(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&shared, &headers) {
        let body = anthropic::error_body(401, "invalid x-api-key");
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => {
            let body = anthropic::error_body(400, &format!("body is not JSON: {e}"));
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    if let Ok(mut requests) = shared.requests.lock() {
        requests.push(request.clone());
    }
    if request.get("stream").and_then(Value::as_bool) != Some(true) {
        let body =
            anthropic::error_body(400, "stream: scripted-llm serves streaming requests only");
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let reply = shared
        .script
        .reply_to(&anthropic::as_chat_request(&request));
    if let Reply::HttpError { status, body } = &reply {
        let code = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let answer = (code, Json(anthropic::error_body(*status, body))).into_response();
        return with_retry_after(code, answer);
    }
    let call_id = format!("toolu_{}", next_call(&shared));
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    let events = anthropic::events(reply, &call_id);
    tokio::spawn(async move {
        for (pause, bytes) in events {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            if tx.send(Ok(bytes)).await.is_err() {
                return;
            }
        }
    });
    event_stream(rx)
}

fn next_call(shared: &Shared) -> u64 {
    match shared.next_call.lock() {
        Ok(mut n) => {
            *n += 1;
            *n - 1
        }
        Err(_) => 0,
    }
}

fn event_stream(rx: mpsc::Receiver<Result<Bytes, Infallible>>) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        // What a provider says of its limits (OpenAI's and Anthropic's names).
        .header("x-ratelimit-remaining-requests", "4999")
        .header("anthropic-ratelimit-tokens-remaining", "79000")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap_or_else(|_| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "building the response failed",
            )
        })
}

fn chunk(delta: Value, finish_reason: Option<&str>) -> Bytes {
    let chunk = json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    });
    Bytes::from(format!("data: {chunk}\n\n"))
}

fn usage(completion_tokens: usize) -> Bytes {
    let chunk = json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": completion_tokens,
                  "total_tokens": 10 + completion_tokens},
    });
    Bytes::from(format!("data: {chunk}\n\n"))
}

async fn stream_reply(reply: Reply, call_id: String, tx: mpsc::Sender<Result<Bytes, Infallible>>) {
    let send = |bytes: Bytes| {
        let tx = tx.clone();
        async move { tx.send(Ok(bytes)).await.is_ok() }
    };
    let (reasoning, chunks, delay_ms, finish) = match reply {
        Reply::Text { chunks, delay_ms } | Reply::Slow { chunks, delay_ms } => {
            (Vec::new(), chunks, delay_ms, "stop")
        }
        Reply::Thinking {
            reasoning,
            chunks,
            delay_ms,
        } => (reasoning, chunks, delay_ms, "stop"),
        Reply::ToolCall { name, arguments } => {
            let opening = json!({"role": "assistant", "tool_calls": [{"index": 0, "id": call_id,
                "type": "function", "function": {"name": name, "arguments": ""}}]});
            let args = json!({"tool_calls": [{"index": 0, "function": {"arguments": arguments.to_string()}}]});
            for bytes in [
                chunk(opening, None),
                chunk(args, None),
                chunk(json!({}), Some("tool_calls")),
                usage(1),
                Bytes::from_static(b"data: [DONE]\n\n"),
            ] {
                if !send(bytes).await {
                    return;
                }
            }
            return;
        }
        // reply_to resolves it into text.
        Reply::HttpError { .. } | Reply::EchoToolResults { .. } => return,
    };
    if !send(chunk(json!({"role": "assistant", "content": ""}), None)).await {
        return;
    }
    let count = reasoning.len() + chunks.len();
    for (text, field) in reasoning
        .into_iter()
        .map(|r| (r, "reasoning_content"))
        .chain(chunks.into_iter().map(|c| (c, "content")))
    {
        if delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        if !send(chunk(json!({ field: text }), None)).await {
            return;
        }
    }
    for bytes in [
        chunk(json!({}), Some(finish)),
        usage(count),
        Bytes::from_static(b"data: [DONE]\n\n"),
    ] {
        if !send(bytes).await {
            return;
        }
    }
}
