//! A scripted OpenAI-compatible streaming server: the one stand-in for the upstream LLM in tests
//! and the demo. `POST /v1/chat/completions` answers from a [`Script`] with server-sent
//! `chat.completion.chunk`s, as OpenAI's streaming API does; `POST /v1/messages` answers the
//! same script in the events of Anthropic's Messages API.

mod anthropic;
mod script;
mod server;

/// The demo provider's script (`scripted-llm --demo`): every prompt gets reasoning, streamed
/// text and a real tool call; a prompt with "write" writes `hello-from-oqto.md`.
pub const DEMO_SCRIPT: &str = include_str!("../demo.json");

pub use script::{Reply, Rule, Script, message_text};
pub use server::{RunningLlm, ScriptedLlm, models_json};

#[cfg(test)]
mod demo_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_demo_thinks_streams_and_calls_a_tool_for_every_prompt() {
        let demo = Script::from_json(DEMO_SCRIPT).unwrap();
        for prompt in ["hello", "please write a file", ""] {
            let first = demo.reply_to(&json!({"messages":[{"role":"user","content":prompt}]}));
            assert!(
                matches!(first, Reply::ToolCall { .. }),
                "{prompt:?}: {first:?}"
            );
            let then = demo.reply_to(&json!({"messages":[{"role":"user","content":prompt},
                {"role":"assistant"},{"role":"tool","content":"ok"}]}));
            let Reply::Thinking {
                reasoning, chunks, ..
            } = then
            else {
                panic!("{prompt:?}: thinking and text expected, got {then:?}")
            };
            assert!(!reasoning.is_empty() && chunks.len() > 1, "{prompt:?}");
            assert!(chunks.concat().contains("demo model"), "says it is a demo");
        }
        let Reply::ToolCall { name, arguments } =
            demo.reply_to(&json!({"messages":[{"role":"user","content":"write a file"}]}))
        else {
            panic!("tool call expected")
        };
        assert_eq!(
            (name.as_str(), arguments["path"].as_str()),
            ("write", Some("hello-from-oqto.md"))
        );
    }
}
