//! One prompt and the agent turn it starts, followed frame by frame without I/O: what to send,
//! and when the turn has ended and how. Whoever drives a session on someone's behalf (the
//! operator's Schedules, and later delegation) speaks the protocol through this one tracker.

use serde_json::{Value, json};

const CREATE_ID: &str = "turn-create";
const PROMPT_ID: &str = "turn-prompt";
const ABORT_ID: &str = "turn-abort";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// `session.create` sent (attaches to the agent, starting it when needed).
    Creating,
    /// `prompt` sent, not yet accepted.
    Prompting,
    /// The prompt was accepted: the turn runs until `agent.idle`.
    Running,
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEnd {
    /// The agent went idle after the prompt; `answer` is the text it streamed last (the final
    /// assistant message's text).
    Finished { answer: String },
    /// A command was refused or the agent reported an error.
    Failed(String),
}

/// What a frame leads to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TurnStep {
    /// A frame to send next.
    pub send: Option<String>,
    /// The turn is over.
    pub end: Option<TurnEnd>,
}

/// The tracker of one prompt in one session.
#[derive(Debug, Clone)]
pub struct Turn {
    session: String,
    prompt: String,
    client_id: String,
    stage: Stage,
    /// Text of the assistant message being streamed (reset when a new message starts).
    answer: String,
    answer_message: Option<String>,
}

impl Turn {
    /// `client_id` marks the prompt as this driver's (other viewers see who sent it).
    pub fn new(session: &str, prompt: &str, client_id: &str) -> Self {
        Self {
            session: session.to_owned(),
            prompt: prompt.to_owned(),
            client_id: client_id.to_owned(),
            stage: Stage::Creating,
            answer: String::new(),
            answer_message: None,
        }
    }

    /// The first frame, once the connection greets.
    pub fn start_frame(&self) -> String {
        self.command(
            CREATE_ID,
            "session.create",
            json!({"config": {"harness": "pi"}}),
        )
    }

    /// Whether the prompt was accepted, so there is a turn to abort.
    pub fn running(&self) -> bool {
        self.stage == Stage::Running
    }

    pub fn abort_frame(&self) -> String {
        self.command(ABORT_ID, "abort", json!({}))
    }

    fn command(&self, id: &str, cmd: &str, payload: Value) -> String {
        let mut frame =
            json!({"channel": "agent", "session_id": self.session, "id": id, "cmd": cmd});
        if let (Value::Object(frame), Value::Object(payload)) = (&mut frame, payload) {
            frame.extend(payload);
        }
        frame.to_string()
    }

    /// What one frame from the runner (or the gateway) leads to. Frames of other sessions and
    /// channels, and anything that is not JSON, change nothing.
    pub fn on_frame(&mut self, text: &str) -> TurnStep {
        let mut step = TurnStep::default();
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return step;
        };
        let str_of = |key: &str| frame.get(key).and_then(Value::as_str).unwrap_or_default();
        match (str_of("channel"), str_of("event")) {
            ("system", _) if str_of("type") == "error" => {
                step.end = Some(TurnEnd::Failed(format!(
                    "a frame was refused: {}",
                    str_of("error")
                )));
            }
            ("agent", event) if str_of("session_id") == self.session => {
                self.on_event(event, &frame, &mut step);
            }
            _ => {}
        }
        step
    }

    fn on_event(&mut self, event: &str, frame: &Value, step: &mut TurnStep) {
        let str_of = |key: &str| frame.get(key).and_then(Value::as_str).unwrap_or_default();
        match event {
            "response" => {
                let id = str_of("id");
                if frame.get("success").and_then(Value::as_bool) != Some(true) {
                    if id == CREATE_ID || id == PROMPT_ID {
                        let cmd = str_of("cmd");
                        let error = frame
                            .get("error")
                            .and_then(Value::as_str)
                            .unwrap_or("no reason given");
                        step.end = Some(TurnEnd::Failed(format!("{cmd} failed: {error}")));
                    }
                    return;
                }
                match (self.stage, id) {
                    (Stage::Creating, CREATE_ID) => {
                        self.stage = Stage::Prompting;
                        step.send = Some(self.command(
                            PROMPT_ID,
                            "prompt",
                            json!({"message": self.prompt, "client_id": self.client_id}),
                        ));
                    }
                    (Stage::Prompting, PROMPT_ID) => self.stage = Stage::Running,
                    _ => {}
                }
            }
            "stream.text_delta" if self.stage != Stage::Creating => {
                let message = frame.get("message_id").and_then(Value::as_str);
                if message != self.answer_message.as_deref() {
                    self.answer.clear();
                    self.answer_message = message.map(str::to_owned);
                }
                self.answer.push_str(str_of("delta"));
            }
            "agent.error" if self.stage != Stage::Creating => {
                step.end = Some(TurnEnd::Failed(format!(
                    "the agent failed: {}",
                    str_of("error")
                )));
            }
            "agent.idle" if self.stage == Stage::Running => {
                step.end = Some(TurnEnd::Finished {
                    answer: std::mem::take(&mut self.answer),
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(event: &str, fields: Value) -> String {
        let mut frame = json!({"channel": "agent", "session_id": "s", "event": event});
        if let (Value::Object(frame), Value::Object(fields)) = (&mut frame, fields) {
            frame.extend(fields);
        }
        frame.to_string()
    }

    fn response(id: &str, cmd: &str, success: bool) -> String {
        agent(
            "response",
            json!({"id": id, "cmd": cmd, "success": success, "error": "busy"}),
        )
    }

    #[test]
    fn create_then_prompt_then_the_last_message_until_idle() {
        let mut turn = Turn::new("s", "do it", "sched");
        let start: Value = serde_json::from_str(&turn.start_frame()).expect("json");
        assert_eq!(start["cmd"], "session.create");
        let step = turn.on_frame(&response(CREATE_ID, "session.create", true));
        let prompt: Value =
            serde_json::from_str(step.send.as_deref().expect("prompt")).expect("json");
        assert_eq!(
            (prompt["cmd"].as_str(), prompt["message"].as_str()),
            (Some("prompt"), Some("do it"))
        );
        assert_eq!(prompt["client_id"], "sched");
        // An idle before the prompt was accepted is the agent's state before this turn.
        assert_eq!(turn.on_frame(&agent("agent.idle", json!({}))).end, None);
        turn.on_frame(&response(PROMPT_ID, "prompt", true));
        assert!(turn.running());
        for (message, delta) in [
            ("m1", "thinking out loud"),
            ("m2", "the "),
            ("m2", "answer"),
        ] {
            turn.on_frame(&agent(
                "stream.text_delta",
                json!({"message_id": message, "delta": delta}),
            ));
        }
        // Another session's frames change nothing.
        let other = json!({"channel": "agent", "session_id": "t", "event": "agent.idle"});
        assert_eq!(turn.on_frame(&other.to_string()).end, None);
        assert_eq!(
            turn.on_frame(&agent("agent.idle", json!({}))).end,
            Some(TurnEnd::Finished {
                answer: "the answer".into()
            })
        );
    }

    #[test]
    fn refusals_and_agent_errors_end_the_turn_as_failed() {
        let mut turn = Turn::new("s", "p", "c");
        let end = turn
            .on_frame(&response(CREATE_ID, "session.create", false))
            .end;
        assert!(
            matches!(end, Some(TurnEnd::Failed(m)) if m.contains("session.create failed: busy"))
        );
        let mut turn = Turn::new("s", "p", "c");
        turn.on_frame(&response(CREATE_ID, "session.create", true));
        turn.on_frame(&response(PROMPT_ID, "prompt", true));
        let end = turn
            .on_frame(&agent("agent.error", json!({"error": "quota"})))
            .end;
        assert_eq!(end, Some(TurnEnd::Failed("the agent failed: quota".into())));
        let refused = json!({"channel": "system", "type": "error", "error": "bad frame"});
        assert!(matches!(
            Turn::new("s", "p", "c").on_frame(&refused.to_string()).end,
            Some(TurnEnd::Failed(_))
        ));
        assert_eq!(
            Turn::new("s", "p", "c").on_frame("not json"),
            TurnStep::default()
        );
    }
}
