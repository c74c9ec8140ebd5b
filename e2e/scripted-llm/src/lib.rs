//! A scripted OpenAI-compatible streaming server: the one stand-in for the upstream LLM in tests
//! and the demo. `POST /v1/chat/completions` answers from a [`Script`] with server-sent
//! `chat.completion.chunk`s, as OpenAI's streaming API does.

mod script;
mod server;

pub use script::{Reply, Rule, Script, message_text};
pub use server::{RunningLlm, ScriptedLlm, models_json};
