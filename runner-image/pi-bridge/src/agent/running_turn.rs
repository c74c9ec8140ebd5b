//! The turn in progress, for whoever attaches while it runs: its finished messages (not yet in
//! hstry, which is written when the turn ends) and the assistant message streaming now, built
//! from the canonical stream events the bridge sends (Pi 0.87 carries no partial message on its
//! updates, so the bridge keeps its own). `get_messages` appends them to the stored history, so a
//! page opened mid-turn shows the turn so far and the stream's next deltas continue it.

use std::collections::BTreeMap;

use oqto_proto::canonical::{EventKind, Message, Part, ToolCallStatus};
use serde_json::{Map, Value, json};

use super::convert::message_from_pi;

/// `metadata.oqto_turn` of a message of the running turn (the UI keeps its tool cards running).
pub const TURN_KEY: &str = "oqto_turn";
pub const RUNNING: &str = "running";
/// `metadata.oqto_partial`: the message is still streaming. Its parts' ids are
/// `<message id>:<content index>`, the key the stream's deltas name them by.
pub const PARTIAL_KEY: &str = "oqto_partial";

/// The streaming assistant message, as its deltas built it so far.
#[derive(Default)]
pub struct Partial {
    message_id: Option<String>,
    parts: BTreeMap<u32, Part>,
}

impl Partial {
    /// Follows one event the bridge sends.
    pub fn observe(&mut self, event: &EventKind) {
        match event {
            EventKind::StreamMessageStart { message_id, .. } => {
                self.message_id = Some(message_id.clone());
                self.parts.clear();
            }
            EventKind::StreamTextDelta {
                message_id,
                delta,
                content_index,
            } => {
                if let Some(Part::Text { text, .. }) =
                    self.part(message_id, *content_index, |id| Part::Text {
                        id,
                        text: String::new(),
                        format: None,
                    })
                {
                    text.push_str(delta);
                }
            }
            EventKind::StreamThinkingDelta {
                message_id,
                delta,
                content_index,
            } => {
                if let Some(Part::Thinking { text, .. }) =
                    self.part(message_id, *content_index, |id| Part::Thinking {
                        id,
                        text: String::new(),
                    })
                {
                    text.push_str(delta);
                }
            }
            EventKind::StreamToolCallStart {
                message_id,
                tool_call_id,
                name,
                content_index,
            } => {
                self.part(message_id, *content_index, |id| Part::ToolCall {
                    id,
                    tool_call_id: tool_call_id.clone(),
                    name: name.clone(),
                    input: None,
                    status: ToolCallStatus::Pending,
                });
            }
            EventKind::StreamToolCallEnd {
                message_id,
                tool_call,
                content_index,
                ..
            } => {
                let made = self.part(message_id, *content_index, |id| Part::ToolCall {
                    id,
                    tool_call_id: tool_call.id.clone(),
                    name: tool_call.name.clone(),
                    input: None,
                    status: ToolCallStatus::Pending,
                });
                if let Some(Part::ToolCall { input, .. }) = made {
                    *input = Some(tool_call.input.clone());
                }
            }
            EventKind::StreamMessageEnd { .. }
            | EventKind::AgentIdle { .. }
            | EventKind::RetryStart { .. } => self.clear(),
            _ => {}
        }
    }

    pub fn clear(&mut self) {
        self.message_id = None;
        self.parts.clear();
    }

    /// The part at `index` of the streaming message `message_id`, made by `make` when new; none
    /// for another message's events.
    fn part(
        &mut self,
        message_id: &str,
        index: u32,
        make: impl FnOnce(String) -> Part,
    ) -> Option<&mut Part> {
        match &self.message_id {
            Some(current) if current == message_id => {}
            // A delta without its start (the bridge joined late): it starts the message.
            None => self.message_id = Some(message_id.to_owned()),
            Some(_) => return None,
        }
        Some(
            self.parts
                .entry(index)
                .or_insert_with(|| make(format!("{message_id}:{index}"))),
        )
    }

    fn message(&self, idx: u32, now_ms: i64) -> Option<Message> {
        let id = self.message_id.clone()?;
        let mut message = message_from_pi(&json!({"role": "assistant"}), idx, now_ms);
        message.id = id;
        message.parts = self.parts.values().cloned().collect();
        Some(message)
    }
}

/// The running turn's messages as `get_messages` appends them: the finished ones (marked as the
/// running turn's when a run is in progress) and the streaming one.
pub fn messages(
    finished: &[Message],
    partial: &Partial,
    working: bool,
    next_idx: u32,
    now_ms: i64,
) -> Vec<Message> {
    let mut out: Vec<Message> = finished.to_vec();
    if working {
        for message in &mut out {
            mark(message, false);
        }
        if let Some(mut message) = partial.message(next_idx + finished.len() as u32, now_ms) {
            mark(&mut message, true);
            out.push(message);
        }
    }
    out
}

fn mark(message: &mut Message, partial: bool) {
    let mut metadata = match message.metadata.take() {
        Some(Value::Object(map)) => map,
        Some(other) => Map::from_iter([("value".to_owned(), other)]),
        None => Map::new(),
    };
    metadata.insert(TURN_KEY.into(), Value::String(RUNNING.into()));
    if partial {
        metadata.insert(PARTIAL_KEY.into(), Value::Bool(true));
    }
    message.metadata = Some(Value::Object(metadata));
}

#[cfg(test)]
mod tests {
    use super::*;
    use oqto_proto::canonical::{Role, ToolCallInfo};
    use serde_json::json;

    fn text(message_id: &str, index: u32, delta: &str) -> EventKind {
        EventKind::StreamTextDelta {
            message_id: message_id.into(),
            delta: delta.into(),
            content_index: index,
        }
    }

    fn user(text: &str) -> Message {
        message_from_pi(&json!({"role": "user", "content": text}), 3, 1)
    }

    #[test]
    fn the_streaming_message_is_built_from_its_deltas_and_forgotten_at_its_end() {
        let mut partial = Partial::default();
        partial.observe(&EventKind::StreamMessageStart {
            message_id: "msg_7".into(),
            role: Role::Assistant,
        });
        partial.observe(&EventKind::StreamThinkingDelta {
            message_id: "msg_7".into(),
            delta: "hm".into(),
            content_index: 0,
        });
        partial.observe(&text("msg_7", 1, "Once"));
        partial.observe(&text("msg_7", 1, " upon"));
        partial.observe(&text("msg_other", 1, "not mine"));
        partial.observe(&EventKind::StreamToolCallEnd {
            message_id: "msg_7".into(),
            tool_call_id: "call_1".into(),
            tool_call: ToolCallInfo {
                id: "call_1".into(),
                name: "write".into(),
                input: json!({"path": "a"}),
            },
            content_index: 2,
        });
        let turn = messages(&[user("story")], &partial, true, 3, 5);
        assert_eq!(turn.len(), 2);
        assert_eq!(turn[0].metadata.as_ref().unwrap()[TURN_KEY], RUNNING);
        let streaming = &turn[1];
        assert_eq!((streaming.id.as_str(), streaming.idx), ("msg_7", 4));
        assert_eq!(streaming.metadata.as_ref().unwrap()[PARTIAL_KEY], true);
        assert!(
            matches!(&streaming.parts[0], Part::Thinking { id, text } if id == "msg_7:0" && text == "hm")
        );
        assert!(
            matches!(&streaming.parts[1], Part::Text { id, text, .. } if id == "msg_7:1" && text == "Once upon")
        );
        assert!(
            matches!(&streaming.parts[2], Part::ToolCall { name, input: Some(input), .. } if name == "write" && input["path"] == "a")
        );
        partial.observe(&EventKind::StreamMessageEnd {
            message: Box::new(user("x")),
        });
        assert!(messages(&[], &partial, true, 0, 5).is_empty());
    }

    #[test]
    fn an_idle_session_has_no_running_turn() {
        let mut partial = Partial::default();
        partial.observe(&text("msg_1", 0, "Once"));
        assert_eq!(
            messages(&[], &partial, true, 0, 5).len(),
            1,
            "a delta starts it"
        );
        // Not working (a failed write kept messages of an ended turn): no marks, no partial.
        let kept = messages(&[user("old")], &partial, false, 0, 5);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].metadata, None);
        partial.observe(&EventKind::AgentIdle {
            message_version: None,
        });
        assert!(messages(&[], &partial, true, 0, 5).is_empty());
    }
}
