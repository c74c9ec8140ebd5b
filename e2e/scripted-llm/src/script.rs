//! What the scripted LLM answers: rules matched on the last user message, each with the steps of
//! one turn (a tool call, then the answer after the tool ran, …).

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub rules: Vec<Rule>,
    /// When set, requests must present this key (`Authorization: Bearer` or `x-api-key`), as
    /// a real provider's do; others get a 401.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Substring of the last user message's text that selects this rule.
    pub when_user_contains: String,
    /// Step k answers the request that carries k tool results after that user message.
    pub steps: Vec<Reply>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Reply {
    /// Streamed text.
    Text {
        chunks: Vec<String>,
        #[serde(default)]
        delay_ms: u64,
    },
    /// Reasoning (`reasoning_content` deltas), then text.
    Thinking {
        reasoning: Vec<String>,
        chunks: Vec<String>,
        #[serde(default)]
        delay_ms: u64,
    },
    /// One tool call; Pi runs the tool and asks again with its result.
    ToolCall { name: String, arguments: Value },
    /// Text with a pause before every chunk, for aborts and steering.
    Slow { chunks: Vec<String>, delay_ms: u64 },
    /// An HTTP error instead of a stream, for retries.
    HttpError { status: u16, body: String },
    /// Text that quotes the results of the tools that ran after the user message (joined by
    /// " | " after `prefix`): an answer that visibly uses what the tools returned. With `last`,
    /// only the latest tool's result.
    EchoToolResults {
        prefix: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        last: bool,
    },
}

impl Script {
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The reply to a chat-completions request body.
    pub fn reply_to(&self, request: &Value) -> Reply {
        let messages = request
            .get("messages")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(last_user) = messages
            .iter()
            .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        else {
            return no_match("the request has no user message");
        };
        let text = message_text(&messages[last_user]);
        let tool_results = messages[last_user..]
            .iter()
            .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
            .count();
        let Some(rule) = self
            .rules
            .iter()
            .find(|r| text.contains(&r.when_user_contains))
        else {
            return no_match(&format!("no rule matches the user message {text:?}"));
        };
        match rule.steps.get(tool_results) {
            Some(Reply::EchoToolResults { prefix, last }) => {
                let mut results: Vec<String> = messages[last_user..]
                    .iter()
                    .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"))
                    .map(message_text)
                    .collect();
                if *last {
                    results = results.split_off(results.len().saturating_sub(1));
                }
                Reply::Text {
                    chunks: vec![prefix.clone(), results.join(" | ")],
                    delay_ms: 0,
                }
            }
            Some(step) => step.clone(),
            None => no_match(&format!(
                "the rule for {:?} has no step {tool_results}",
                rule.when_user_contains
            )),
        }
    }
}

fn no_match(why: &str) -> Reply {
    Reply::Text {
        chunks: vec![format!("scripted-llm: {why}")],
        delay_ms: 0,
    }
}

/// The text of a message whose content is a string or an array of `{type:"text", text}` parts.
pub fn message_text(message: &Value) -> String {
    match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn script() -> Script {
        serde_json::from_value(json!({"rules":[
            {"when_user_contains":"file","steps":[
                {"kind":"tool_call","name":"write","arguments":{"path":"a"}},
                {"kind":"text","chunks":["done"]}
            ]},
            {"when_user_contains":"hi","steps":[{"kind":"text","chunks":["hello"]}]}
        ]}))
        .unwrap()
    }

    #[test]
    fn rules_match_the_last_user_message_and_steps_count_tool_results() {
        let s = script();
        let first = json!({"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},
            {"role":"user","content":[{"type":"text","text":"make a file"}]}]});
        assert!(matches!(s.reply_to(&first), Reply::ToolCall { .. }));
        let after_tool = json!({"messages":[{"role":"user","content":"make a file"},
            {"role":"assistant","tool_calls":[]},{"role":"tool","content":"ok"}]});
        assert_eq!(
            s.reply_to(&after_tool),
            Reply::Text {
                chunks: vec!["done".into()],
                delay_ms: 0
            }
        );
    }

    #[test]
    fn unmatched_requests_get_an_explaining_reply() {
        let s = script();
        let reply = s.reply_to(&json!({"messages":[{"role":"user","content":"bonjour"}]}));
        let Reply::Text { chunks, .. } = reply else {
            panic!("text expected")
        };
        assert!(chunks[0].contains("no rule matches"), "{chunks:?}");
        let extra =
            json!({"messages":[{"role":"user","content":"file"},{"role":"tool"},{"role":"tool"}]});
        let Reply::Text { chunks, .. } = s.reply_to(&extra) else {
            panic!("text expected")
        };
        assert!(chunks[0].contains("no step 2"), "{chunks:?}");
    }

    #[test]
    fn echo_quotes_every_tool_result_or_only_the_last() {
        let request = json!({"messages":[{"role":"user","content":"go"},
            {"role":"tool","content":"one"},{"role":"tool","content":[{"type":"text","text":"two"}]}]});
        let echo = |last: bool| {
            let s: Script = serde_json::from_value(json!({"rules":[{"when_user_contains":"go","steps":[
                {"kind":"tool_call","name":"a","arguments":{}},{"kind":"tool_call","name":"b","arguments":{}},
                {"kind":"echo_tool_results","prefix":"said: ","last":last}]}]}))
            .unwrap();
            s.reply_to(&request)
        };
        let text = |reply: Reply| match reply {
            Reply::Text { chunks, .. } => chunks.concat(),
            other => panic!("text expected, got {other:?}"),
        };
        assert_eq!(text(echo(false)), "said: one | two");
        assert_eq!(text(echo(true)), "said: two");
    }

    #[test]
    fn unknown_fields_in_a_script_are_errors() {
        let err = Script::from_json(
            r#"{"rules":[{"when_user_contains":"x","steps":[{"kind":"text","chunk":["typo"]}]}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("chunk"), "{err}");
    }
}
