//! Pi's messages (`AgentMessage` of Pi's RPC docs) as canonical messages (§1.1, §1.7 "Message
//! conversion"). Pure functions: Pi's output is outside input, so every field is optional here and
//! a message that cannot be understood becomes a system message that says so, never a panic.

use oqto_proto::canonical::{Message, Part, Role, StopReason, ToolCallStatus, Usage};
use serde_json::{Map, Value};

/// Pi timestamps below this are seconds, above it milliseconds (§1.7).
const SECONDS_CUTOFF: i64 = 1_000_000_000_000;

/// Converts one Pi message at position `idx` of its conversation. The id is derived from the
/// position and Pi's timestamp, so rewriting the same history yields the same ids.
pub fn message_from_pi(pi: &Value, idx: u32, fallback_ms: i64) -> Message {
    let role_name = pi.get("role").and_then(Value::as_str).unwrap_or("");
    let created_at = timestamp_ms(pi.get("timestamp")).unwrap_or(fallback_ms);
    let mut message = Message {
        id: format!("msg_{created_at}_{idx}"),
        idx,
        role: Role::System,
        client_id: None,
        sender: None,
        parts: Vec::new(),
        created_at,
        model: None,
        provider: None,
        stop_reason: None,
        usage: None,
        tool_call_id: None,
        tool_name: None,
        is_error: None,
        metadata: None,
    };
    match role_name {
        "user" => {
            message.role = Role::User;
            message.parts = content_parts(pi.get("content"));
        }
        "assistant" => {
            message.role = Role::Assistant;
            message.parts = content_parts(pi.get("content"));
            message.model = str_field(pi, "model");
            message.provider = str_field(pi, "provider");
            message.stop_reason = pi
                .get("stopReason")
                .and_then(Value::as_str)
                .map(stop_reason_from_pi);
            message.usage = pi.get("usage").and_then(usage_from_pi);
            if let Some(error) = str_field(pi, "errorMessage") {
                message.metadata = Some(serde_json::json!({ "error": error }));
            }
        }
        "toolResult" => {
            message.role = Role::Tool;
            let tool_call_id = str_field(pi, "toolCallId").unwrap_or_default();
            let is_error = pi.get("isError").and_then(Value::as_bool).unwrap_or(false);
            message.parts = vec![Part::ToolResult {
                id: Part::new_id(),
                tool_call_id: tool_call_id.clone(),
                name: str_field(pi, "toolName"),
                output: pi.get("content").cloned(),
                is_error,
                duration_ms: None,
            }];
            message.tool_call_id = Some(tool_call_id);
            message.tool_name = str_field(pi, "toolName");
            message.is_error = Some(is_error);
        }
        other => {
            // bashExecution, custom, branchSummary, compactionSummary, Pi's system preamble, and
            // anything newer: kept as a system message with Pi's fields, so nothing is lost.
            message.parts = text_of_special(pi)
                .map(|text| {
                    vec![Part::Text {
                        id: Part::new_id(),
                        text,
                        format: None,
                    }]
                })
                .unwrap_or_default();
            let mut extra = Map::new();
            extra.insert("pi_role".into(), Value::String(other.to_owned()));
            extra.insert("pi_message".into(), pi.clone());
            message.metadata = Some(Value::Object(extra));
        }
    }
    message
}

/// Pi's `content`: a string, or an array of `text`, `thinking`, `toolCall` and `image` blocks.
pub fn content_parts(content: Option<&Value>) -> Vec<Part> {
    match content {
        Some(Value::String(text)) => vec![Part::Text {
            id: Part::new_id(),
            text: text.clone(),
            format: None,
        }],
        Some(Value::Array(blocks)) => blocks.iter().filter_map(block_part).collect(),
        _ => Vec::new(),
    }
}

fn block_part(block: &Value) -> Option<Part> {
    let id = Part::new_id();
    match block.get("type").and_then(Value::as_str)? {
        "text" => Some(Part::Text {
            id,
            text: str_field(block, "text").unwrap_or_default(),
            format: None,
        }),
        "thinking" => Some(Part::Thinking {
            id,
            text: str_field(block, "thinking")
                .or_else(|| str_field(block, "text"))
                .unwrap_or_default(),
        }),
        "toolCall" => Some(Part::ToolCall {
            id,
            tool_call_id: str_field(block, "id")
                .unwrap_or_else(|| format!("tc_{}", Part::new_id())),
            name: str_field(block, "name").unwrap_or_default(),
            input: block.get("arguments").cloned(),
            status: ToolCallStatus::Pending,
        }),
        "image" => {
            let data = str_field(block, "data")?;
            let mime_type = str_field(block, "mimeType").unwrap_or_else(|| "image/png".into());
            Some(Part::Image {
                id,
                source: oqto_proto::canonical::MediaSource::Base64 { data, mime_type },
                alt: None,
            })
        }
        _ => None,
    }
}

fn text_of_special(pi: &Value) -> Option<String> {
    if let Some(summary) = str_field(pi, "summary") {
        return Some(summary);
    }
    if let Some(command) = str_field(pi, "command") {
        let output = str_field(pi, "output").unwrap_or_default();
        return Some(format!("$ {command}\n{output}"));
    }
    match pi.get("content") {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Array(blocks)) => {
            let text: Vec<String> = blocks.iter().filter_map(|b| str_field(b, "text")).collect();
            (!text.is_empty()).then(|| text.join("\n"))
        }
        _ => None,
    }
}

/// Pi's stop reasons, old and new spellings (§1.7).
pub fn stop_reason_from_pi(reason: &str) -> StopReason {
    match reason {
        "length" | "max_tokens" => StopReason::Length,
        "toolUse" | "tool_use" => StopReason::ToolUse,
        "error" => StopReason::Error,
        "aborted" => StopReason::Aborted,
        _ => StopReason::Stop,
    }
}

fn usage_from_pi(usage: &Value) -> Option<Usage> {
    let number = |key: &str| usage.get(key).and_then(Value::as_u64);
    Some(Usage {
        input_tokens: number("input")?,
        output_tokens: number("output").unwrap_or(0),
        cache_read_tokens: number("cacheRead"),
        cache_write_tokens: number("cacheWrite"),
        cost_usd: usage
            .get("cost")
            .and_then(|c| c.get("total"))
            .and_then(Value::as_f64),
    })
}

/// Unix milliseconds from Pi's `timestamp` (number of ms or s, or an ISO string is ignored).
pub fn timestamp_ms(value: Option<&Value>) -> Option<i64> {
    let n = value?.as_f64()?;
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    let n = n as i64;
    Some(if n < SECONDS_CUTOFF { n * 1000 } else { n })
}

/// The plain text of a message: what search indexes.
pub fn flattened_text(message: &Message) -> String {
    let mut text = String::new();
    for part in &message.parts {
        let piece = match part {
            Part::Text { text, .. } | Part::Thinking { text, .. } => text.clone(),
            Part::ToolCall { name, input, .. } => match input {
                Some(input) => format!("{name} {input}"),
                None => name.clone(),
            },
            Part::ToolResult { output, .. } => match output {
                Some(Value::Array(blocks)) => blocks
                    .iter()
                    .filter_map(|b| str_field(b, "text"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            },
            _ => String::new(),
        };
        if !piece.is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&piece);
        }
    }
    text
}

fn str_field(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_string_content_becomes_one_text_part() {
        let m = message_from_pi(
            &json!({"role":"user","content":"hi","timestamp":1_700_000_000_000i64}),
            0,
            5,
        );
        assert_eq!(m.role, Role::User);
        assert_eq!(m.created_at, 1_700_000_000_000);
        assert_eq!(m.id, "msg_1700000000000_0");
        assert!(matches!(&m.parts[..], [Part::Text { text, .. }] if text == "hi"));
    }

    #[test]
    fn assistant_blocks_usage_and_stop_reason() {
        let pi = json!({"role":"assistant","provider":"scripted","model":"m","stopReason":"toolUse",
            "usage":{"input":10,"output":5,"cacheRead":1,"cacheWrite":0,"totalTokens":15,"cost":{"total":0.5}},
            "timestamp":1_700_000_000i64,
            "content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"ok"},
                       {"type":"toolCall","id":"call_1","name":"write","arguments":{"path":"a"}}]});
        let m = message_from_pi(&pi, 3, 0);
        assert_eq!(m.created_at, 1_700_000_000_000, "seconds are scaled to ms");
        assert_eq!(m.stop_reason, Some(StopReason::ToolUse));
        assert_eq!(m.usage.as_ref().map(|u| u.input_tokens), Some(10));
        assert_eq!(m.usage.as_ref().and_then(|u| u.cost_usd), Some(0.5));
        assert_eq!(m.provider.as_deref(), Some("scripted"));
        assert_eq!(m.parts.len(), 3);
        assert!(
            matches!(&m.parts[2], Part::ToolCall { tool_call_id, name, .. } if tool_call_id == "call_1" && name == "write")
        );
        assert_eq!(flattened_text(&m), "hmm\nok\nwrite {\"path\":\"a\"}");
    }

    #[test]
    fn tool_results_and_unknown_roles_keep_their_data() {
        let m = message_from_pi(
            &json!({"role":"toolResult","toolCallId":"call_1","toolName":"bash",
            "content":[{"type":"text","text":"a.txt"}],"isError":false}),
            4,
            9,
        );
        assert_eq!(m.role, Role::Tool);
        assert_eq!(m.tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(flattened_text(&m), "a.txt");
        let odd = message_from_pi(
            &json!({"role":"compactionSummary","summary":"earlier work"}),
            5,
            9,
        );
        assert_eq!(odd.role, Role::System);
        assert_eq!(odd.created_at, 9, "fallback time when Pi gives none");
        assert_eq!(flattened_text(&odd), "earlier work");
        assert_eq!(
            odd.metadata.as_ref().and_then(|m| m.get("pi_role")),
            Some(&json!("compactionSummary"))
        );
    }

    #[test]
    fn stop_reasons_old_and_new() {
        assert_eq!(stop_reason_from_pi("end_turn"), StopReason::Stop);
        assert_eq!(stop_reason_from_pi("max_tokens"), StopReason::Length);
        assert_eq!(stop_reason_from_pi("tool_use"), StopReason::ToolUse);
        assert_eq!(stop_reason_from_pi("aborted"), StopReason::Aborted);
    }
}
