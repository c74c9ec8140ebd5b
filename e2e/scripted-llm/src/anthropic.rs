//! The same scripts in Anthropic's shape: `POST /v1/messages` answered with the Messages API's
//! server-sent events (`message_start`, content blocks of thinking, text or tool use,
//! `message_delta` with the usage, `message_stop`), as Pi's `anthropic-messages` provider reads
//! them.

use std::time::Duration;

use axum::body::Bytes;
use serde_json::{Value, json};

use crate::script::Reply;
use crate::server::MODEL;

/// The request as the script reads requests: each user turn made only of `tool_result` blocks
/// becomes one `tool` message per result, as the OpenAI shape has them.
pub fn as_chat_request(request: &Value) -> Value {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = Vec::new();
    for message in messages {
        let results = message
            .get("content")
            .and_then(Value::as_array)
            .map(|parts| {
                parts
                    .iter()
                    .filter(|p| p.get("type").and_then(Value::as_str) == Some("tool_result"))
                    .count()
            })
            .unwrap_or(0);
        if message.get("role").and_then(Value::as_str) == Some("user") && results > 0 {
            out.extend(std::iter::repeat_n(json!({"role": "tool"}), results));
        } else {
            out.push(message.clone());
        }
    }
    json!({ "messages": out })
}

fn event(kind: &str, data: Value) -> Bytes {
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}

/// The events of one reply, with the pause before each text chunk the reply asks for.
pub fn events(reply: Reply, call_id: &str) -> Vec<(Duration, Bytes)> {
    let now = Duration::ZERO;
    let mut out = vec![(
        now,
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_scripted", "type": "message",
                "role": "assistant", "content": [], "model": MODEL, "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ),
    )];
    let block = |out: &mut Vec<(Duration, Bytes)>,
                 index: usize,
                 start: Value,
                 deltas: Vec<(Duration, Value)>| {
        out.push((
            now,
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": start}),
            ),
        ));
        for (pause, delta) in deltas {
            out.push((
                pause,
                event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": index, "delta": delta}),
                ),
            ));
        }
        out.push((
            now,
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ),
        ));
    };
    let (stop, tokens) = match reply {
        Reply::ToolCall { name, arguments } => {
            block(
                &mut out,
                0,
                json!({"type": "tool_use", "id": call_id, "name": name, "input": {}}),
                vec![(
                    now,
                    json!({"type": "input_json_delta", "partial_json": arguments.to_string()}),
                )],
            );
            ("tool_use", 1)
        }
        Reply::Text { chunks, delay_ms } | Reply::Slow { chunks, delay_ms } => {
            let pause = Duration::from_millis(delay_ms);
            let count = chunks.len();
            block(
                &mut out,
                0,
                json!({"type": "text", "text": ""}),
                chunks
                    .into_iter()
                    .map(|c| (pause, json!({"type": "text_delta", "text": c})))
                    .collect(),
            );
            ("end_turn", count)
        }
        Reply::Thinking {
            reasoning,
            chunks,
            delay_ms,
        } => {
            let pause = Duration::from_millis(delay_ms);
            let count = reasoning.len() + chunks.len();
            let mut thinking: Vec<_> = reasoning
                .into_iter()
                .map(|r| (pause, json!({"type": "thinking_delta", "thinking": r})))
                .collect();
            thinking.push((
                now,
                json!({"type": "signature_delta", "signature": "scripted"}),
            ));
            block(
                &mut out,
                0,
                json!({"type": "thinking", "thinking": "", "signature": ""}),
                thinking,
            );
            block(
                &mut out,
                1,
                json!({"type": "text", "text": ""}),
                chunks
                    .into_iter()
                    .map(|c| (pause, json!({"type": "text_delta", "text": c})))
                    .collect(),
            );
            ("end_turn", count)
        }
        // reply_to resolves it into text.
        Reply::HttpError { .. } | Reply::EchoToolResults { .. } => return Vec::new(),
    };
    out.push((
        now,
        event(
            "message_delta",
            json!({"type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null},
        "usage": {"output_tokens": tokens}}),
        ),
    ));
    out.push((now, event("message_stop", json!({"type": "message_stop"}))));
    out
}

/// An error in Anthropic's shape.
pub fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        429 => "rate_limit_error",
        400 => "invalid_request_error",
        401 => "authentication_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}
