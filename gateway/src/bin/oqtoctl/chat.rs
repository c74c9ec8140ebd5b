//! The chat protocol of `oqtoctl chat`, without any I/O: mux frames go in, and out come the
//! text for stdout (the agent's answer), the text for stderr (tool calls, notices), the
//! frames to send next, and whether the chat is over. The WebSocket loop is in `mux.rs`.
//!
//! A lost connection mid-turn is not the end: behind a Service or an ingress another gateway
//! replica takes the next connection, and the agent runs on in its runner. After
//! [`Chat::reconnected`] the chat attaches again, asks whether the turn still runs, waits for
//! it to end, and prints from the stored history what it missed: stdout ends up with the whole
//! answer, once.

use serde_json::{Value, json};

/// Correlation ids of our commands; their `response` events echo them.
pub const CREATE_ID: &str = "oqtoctl-create";
pub const PROMPT_ID: &str = "oqtoctl-prompt";
pub const ABORT_ID: &str = "oqtoctl-abort";
pub const REATTACH_ID: &str = "oqtoctl-reattach";
pub const STATE_ID: &str = "oqtoctl-state";
pub const MESSAGES_ID: &str = "oqtoctl-messages";

/// How long a failed tool's output may be on its one line.
const MAX_TOOL_OUTPUT: usize = 300;

/// What one frame leads to. Written stderr first, then stdout: a line break that separates
/// them goes to stderr, so stdout carries nothing but the answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    pub stdout: String,
    pub stderr: String,
    pub send: Option<String>,
    pub end: Option<End>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The agent finished the turn.
    Done,
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// `session.create` sent, its response awaited.
    Creating,
    /// The prompt sent, its response awaited.
    Prompting,
    /// The prompt accepted: the turn's events, until `agent.idle`.
    Streaming,
}

/// Catching up after a reconnect: what the chat waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resync {
    /// `session.create` sent again on the new connection.
    Attaching,
    /// `get_state` sent: is the turn still running?
    AskingState,
    /// The turn runs on: its end is awaited (its deltas are not printed: some were missed).
    AwaitingIdle,
    /// `get_messages` sent: the stored turn, to print what was missed.
    AskingMessages,
}

/// Which stream left the terminal's cursor in the middle of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Stdout,
    Stderr,
}

pub struct Chat {
    session: String,
    harness: String,
    prompt: String,
    thinking: bool,
    stage: Stage,
    open: Option<Open>,
    /// stdout's text so far does not end with a line break.
    stdout_unterminated: bool,
    told_starting: bool,
    /// Sent with the prompt; the stored user message carries it, so after a reconnect the
    /// chat knows whether its prompt arrived.
    client_id: String,
    /// The answer's text printed so far.
    printed: String,
    resync: Option<Resync>,
}

impl Chat {
    pub fn new(session: &str, harness: &str, prompt: &str, thinking: bool) -> Self {
        Self {
            session: session.to_owned(),
            harness: harness.to_owned(),
            prompt: prompt.to_owned(),
            thinking,
            stage: Stage::Creating,
            open: None,
            stdout_unterminated: false,
            told_starting: false,
            client_id: format!("oqtoctl-{}", uuid::Uuid::new_v4()),
            printed: String::new(),
            resync: None,
        }
    }

    /// A new connection replaced a lost one: what to send on it. Before the prompt, the chat
    /// starts over; after it, it catches up (see the module's comment).
    pub fn reconnected(&mut self) -> Step {
        let mut step = Step::default();
        if self.stage == Stage::Creating {
            step.send = Some(self.create_frame());
            return step;
        }
        self.stderr_line(&mut step, "(connection lost; reconnected, catching up …)");
        self.resync = Some(Resync::Attaching);
        step.send = Some(self.command(
            REATTACH_ID,
            "session.create",
            json!({ "config": { "harness": self.harness } }),
        ));
        step
    }

    /// The first frame: attach to (or start) the agent of the session.
    pub fn create_frame(&self) -> String {
        self.command(
            CREATE_ID,
            "session.create",
            json!({ "config": { "harness": self.harness } }),
        )
    }

    /// Whether the prompt has been sent, so there is a turn to abort.
    pub fn prompted(&self) -> bool {
        self.stage != Stage::Creating
    }

    pub fn abort_frame(&self) -> String {
        self.command(ABORT_ID, "abort", json!({}))
    }

    fn command(&self, id: &str, cmd: &str, payload: Value) -> String {
        let mut frame = json!({
            "channel": "agent",
            "session_id": self.session,
            "id": id,
            "cmd": cmd,
        });
        if let (Value::Object(frame), Value::Object(payload)) = (&mut frame, payload) {
            frame.extend(payload);
        }
        frame.to_string()
    }

    /// What `text`, one frame from the server, leads to.
    pub fn on_frame(&mut self, text: &str) -> Step {
        let mut step = Step::default();
        // The gateway sends only JSON; anything else cannot be about this chat.
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return step;
        };
        let str_of = |key: &str| frame.get(key).and_then(Value::as_str).unwrap_or_default();
        match str_of("channel") {
            "system" if str_of("type") == "error" => {
                let error = str_of("error").to_owned();
                self.fail(&mut step, format!("the gateway refused a frame: {error}"));
            }
            "agent" if str_of("session_id") == self.session => self.on_event(&frame, &mut step),
            // Pings, the greeting, other channels and sessions.
            _ => {}
        }
        step
    }

    fn on_event(&mut self, event: &Value, step: &mut Step) {
        let str_of = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or_default();
        let in_turn = self.stage != Stage::Creating;
        if self.resync.is_some() {
            return self.on_event_catching_up(event, step);
        }
        match str_of("event") {
            "response" => self.on_response(event, step),
            "agent.working" if str_of("phase") == "initializing" && !self.told_starting => {
                self.told_starting = true;
                self.stderr_line(step, "(starting session …)");
            }
            "stream.text_delta" if in_turn => self.stdout_text(step, str_of("delta")),
            "stream.thinking_delta" if in_turn && self.thinking => {
                self.stderr_text(step, str_of("delta"));
            }
            "tool.start" if in_turn => {
                self.stderr_line(step, &format!("⚙ {} …", str_of("name")));
            }
            "tool.end" if in_turn => {
                let name = str_of("name");
                if event.get("is_error").and_then(Value::as_bool) == Some(true) {
                    let output = one_line(&tool_output(event.get("output")), MAX_TOOL_OUTPUT);
                    if output.is_empty() {
                        self.stderr_line(step, &format!("✗ {name}"));
                    } else {
                        self.stderr_line(step, &format!("✗ {name}: {output}"));
                    }
                } else {
                    self.stderr_line(step, &format!("✓ {name}"));
                }
            }
            // Sub-agents the agent started (delegation): one line each when they start and end.
            "delegate.start" if in_turn => {
                let child = str_of("target_session_id");
                self.stderr_line(step, &format!("⇢ sub-agent {child} …"));
            }
            "delegate.end" if in_turn => {
                let child = event
                    .pointer("/responder/id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.stderr_line(step, &format!("⇠ sub-agent {child} answered"));
            }
            "delegate.error" if in_turn => {
                let error = one_line(str_of("error"), MAX_TOOL_OUTPUT);
                self.stderr_line(step, &format!("✗ sub-agent: {error}"));
            }
            "agent.error" if in_turn => {
                let error = str_of("error").to_owned();
                self.fail(step, format!("the agent failed: {error}"));
            }
            "agent.idle" if self.stage == Stage::Streaming => {
                self.close_lines(step);
                step.end = Some(End::Done);
            }
            _ => {}
        }
    }

    /// Events after a reconnect: only the answers to the catching-up commands and the end of
    /// the turn matter; the rest of the turn comes from the history.
    fn on_event_catching_up(&mut self, event: &Value, step: &mut Step) {
        let str_of = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or_default();
        match (self.resync, str_of("event"), str_of("id")) {
            (Some(Resync::AwaitingIdle), "agent.idle", _) => self.ask_messages(step),
            (Some(_), "response", id @ (REATTACH_ID | STATE_ID | MESSAGES_ID)) => {
                let ok = event.get("success").and_then(Value::as_bool) == Some(true);
                let data = event.get("data").unwrap_or(&Value::Null);
                match id {
                    REATTACH_ID if !ok => {
                        let error = str_of("error").to_owned();
                        self.fail(step, format!("attaching again failed: {error}"));
                    }
                    REATTACH_ID => {
                        self.resync = Some(Resync::AskingState);
                        step.send = Some(self.command(STATE_ID, "get_state", json!({})));
                    }
                    // No state (Pi restarting, say) counts as not streaming.
                    STATE_ID if data.get("isStreaming").and_then(Value::as_bool) == Some(true) => {
                        self.resync = Some(Resync::AwaitingIdle);
                    }
                    STATE_ID => self.ask_messages(step),
                    _ if !ok => {
                        let error = str_of("error").to_owned();
                        self.fail(step, format!("reading the history failed: {error}"));
                    }
                    _ => self.catch_up(data, step),
                }
            }
            (_, "agent.error", _) if self.resync == Some(Resync::AwaitingIdle) => {
                let error = str_of("error").to_owned();
                self.fail(step, format!("the agent failed: {error}"));
            }
            _ => {}
        }
    }

    fn ask_messages(&mut self, step: &mut Step) {
        self.resync = Some(Resync::AskingMessages);
        step.send = Some(self.command(MESSAGES_ID, "get_messages", json!({})));
    }

    /// The stored chat after a reconnect: the turn of our prompt, if it arrived, is printed
    /// where the live stream stopped; if it never arrived, it is sent again.
    fn catch_up(&mut self, data: &Value, step: &mut Step) {
        self.resync = None;
        let messages = data
            .get("messages")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let ours = messages.iter().position(|m| {
            m.get("client_id").and_then(Value::as_str) == Some(self.client_id.as_str())
        });
        let Some(ours) = ours else {
            self.stage = Stage::Prompting;
            step.send = Some(self.prompt_frame());
            return;
        };
        let answer: String = messages[ours + 1..]
            .iter()
            .take_while(|m| m.get("role").and_then(Value::as_str) != Some("user"))
            .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
            .flat_map(|m| {
                m.get("parts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect();
        match answer.strip_prefix(self.printed.as_str()) {
            Some(rest) => {
                let rest = rest.to_owned();
                self.stdout_text(step, &rest);
            }
            None => {
                self.stderr_line(step, "(the answer in full:)");
                self.close_lines(step);
                self.stdout_text(step, &answer);
            }
        }
        self.close_lines(step);
        step.end = Some(End::Done);
    }

    fn prompt_frame(&self) -> String {
        self.command(
            PROMPT_ID,
            "prompt",
            json!({ "message": self.prompt, "client_id": self.client_id }),
        )
    }

    fn on_response(&mut self, event: &Value, step: &mut Step) {
        let id = event.get("id").and_then(Value::as_str).unwrap_or_default();
        let cmd = event
            .get("cmd")
            .and_then(Value::as_str)
            .unwrap_or("command");
        if event.get("success").and_then(Value::as_bool) != Some(true) {
            let error = event
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            self.fail(step, format!("{cmd} failed: {error}"));
            return;
        }
        match (self.stage, id) {
            (Stage::Creating, CREATE_ID) => {
                self.stage = Stage::Prompting;
                step.send = Some(self.prompt_frame());
            }
            (Stage::Prompting, PROMPT_ID) => self.stage = Stage::Streaming,
            _ => {}
        }
    }

    /// The chat ends for a reason outside the frames (timeout, Ctrl-C, a lost connection):
    /// what ends the lines, so the error is not glued to the answer.
    pub fn interrupt(&mut self) -> Step {
        let mut step = Step::default();
        self.close_lines(&mut step);
        step
    }

    fn fail(&mut self, step: &mut Step, message: String) {
        self.close_lines(step);
        step.end = Some(End::Failed(message));
    }

    fn stdout_text(&mut self, step: &mut Step, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.open == Some(Open::Stderr) {
            step.stderr.push('\n');
        }
        step.stdout.push_str(text);
        self.printed.push_str(text);
        self.stdout_unterminated = !text.ends_with('\n');
        self.open = self.stdout_unterminated.then_some(Open::Stdout);
    }

    fn stderr_text(&mut self, step: &mut Step, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.open == Some(Open::Stdout) {
            step.stderr.push('\n');
        }
        step.stderr.push_str(text);
        self.open = (!text.ends_with('\n')).then_some(Open::Stderr);
    }

    /// A notice on a line of its own.
    fn stderr_line(&mut self, step: &mut Step, line: &str) {
        if self.open.is_some() {
            step.stderr.push('\n');
        }
        step.stderr.push_str(line);
        step.stderr.push('\n');
        self.open = None;
    }

    /// The answer ends with a line break, and so does the terminal's last line.
    fn close_lines(&mut self, step: &mut Step) {
        if self.open == Some(Open::Stderr) {
            step.stderr.push('\n');
        }
        if self.stdout_unterminated {
            step.stdout.push('\n');
            self.stdout_unterminated = false;
        }
        self.open = None;
    }
}

/// A tool's output as text: Pi's `{content: [{type: "text", text}]}`, a plain string, or
/// else its JSON.
fn tool_output(output: Option<&Value>) -> String {
    let parts = match output {
        None | Some(Value::Null) => return String::new(),
        Some(Value::String(text)) => return text.clone(),
        Some(Value::Array(parts)) => Some(parts),
        Some(other) => other.get("content").and_then(Value::as_array),
    };
    let texts: Vec<&str> = parts
        .into_iter()
        .flatten()
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect();
    if texts.is_empty() {
        output.map(Value::to_string).unwrap_or_default()
    } else {
        texts.join("\n")
    }
}

/// `text` on one line of at most `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let mut cut: String = line.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(event: &str, fields: Value) -> String {
        let mut frame = json!({
            "channel": "agent", "session_id": "s1", "runner_id": "r", "ts": 1, "event": event,
        });
        if let (Value::Object(frame), Value::Object(fields)) = (&mut frame, fields) {
            frame.extend(fields);
        }
        frame.to_string()
    }

    fn response(id: &str, cmd: &str, success: bool) -> String {
        let mut fields = json!({"id": id, "cmd": cmd, "success": success});
        if !success {
            fields["error"] = json!("no such session");
        }
        agent("response", fields)
    }

    /// A chat that has sent its prompt and had it accepted.
    fn streaming() -> Chat {
        let mut chat = Chat::new("s1", "pi", "hi", false);
        chat.on_frame(&response(CREATE_ID, "session.create", true));
        chat.on_frame(&response(PROMPT_ID, "prompt", true));
        chat
    }

    #[test]
    fn sub_agents_are_told_on_stderr_and_never_mixed_into_the_answer() {
        let mut chat = streaming();
        let start = chat.on_frame(&agent(
            "delegate.start",
            json!({"request_id": "r", "target_session_id": "s1-sub-x", "target_runner_id": "s1-sub-x", "mode": "async"}),
        ));
        assert!(start.stderr.contains("sub-agent s1-sub-x"), "{start:?}");
        assert!(start.stdout.is_empty());
        let end = chat.on_frame(&agent(
            "delegate.end",
            json!({"request_id": "r", "responder": {"type": "agent", "id": "s1-sub-x", "name": "x"},
                   "response": {"id": "r:answer", "role": "assistant", "parts": []}}),
        ));
        assert!(end.stderr.contains("s1-sub-x answered"), "{end:?}");
        let failed = chat.on_frame(&agent(
            "delegate.error",
            json!({"request_id": "r2", "error": "at most 2 levels", "code": "permission_denied"}),
        ));
        assert!(failed.stderr.contains("at most 2 levels"), "{failed:?}");
        assert_eq!(failed.end, None, "the parent's turn goes on");
    }

    #[test]
    fn create_then_prompt_then_stream_until_idle() {
        let mut chat = Chat::new("s1", "pi", "say hi", false);
        let create: Value = serde_json::from_str(&chat.create_frame()).unwrap();
        assert_eq!(
            create,
            json!({"channel": "agent", "session_id": "s1", "id": CREATE_ID,
                   "cmd": "session.create", "config": {"harness": "pi"}})
        );
        assert!(!chat.prompted());
        assert_eq!(
            chat.on_frame(r#"{"channel":"system","type":"connected"}"#),
            Step::default()
        );
        // An idle before the prompt is someone else's turn ending.
        assert_eq!(
            chat.on_frame(&agent("agent.idle", json!({}))),
            Step::default()
        );

        let step = chat.on_frame(&response(CREATE_ID, "session.create", true));
        let prompt: Value = serde_json::from_str(step.send.as_deref().unwrap()).unwrap();
        assert_eq!(
            prompt,
            json!({"channel": "agent", "session_id": "s1", "id": PROMPT_ID,
                   "cmd": "prompt", "message": "say hi", "client_id": chat.client_id})
        );
        assert!(chat.prompted());
        assert_eq!(
            chat.on_frame(&response(PROMPT_ID, "prompt", true)),
            Step::default()
        );

        let step = chat.on_frame(&agent(
            "stream.text_delta",
            json!({"delta": "Hel", "message_id": "m", "content_index": 0}),
        ));
        assert_eq!(step.stdout, "Hel");
        assert_eq!(
            chat.on_frame(&agent("stream.text_delta", json!({"delta": "lo"})))
                .stdout,
            "lo"
        );
        assert_eq!(
            chat.on_frame(r#"{"channel":"system","type":"ping"}"#),
            Step::default()
        );
        let step = chat.on_frame(&agent("agent.idle", json!({})));
        assert_eq!(step.stdout, "\n", "the answer ends with a line break");
        assert_eq!(step.end, Some(End::Done));
    }

    #[test]
    fn tools_are_shown_on_stderr_on_lines_of_their_own() {
        let mut chat = streaming();
        assert_eq!(
            chat.on_frame(&agent(
                "stream.text_delta",
                json!({"delta": "Let me look."})
            ))
            .stdout,
            "Let me look."
        );
        let step = chat.on_frame(&agent(
            "tool.start",
            json!({"tool_call_id": "t1", "name": "bash", "input": {"command": "ls"}}),
        ));
        assert_eq!(
            (step.stdout.as_str(), step.stderr.as_str()),
            ("", "\n⚙ bash …\n")
        );
        let step = chat.on_frame(&agent(
            "tool.end",
            json!({"tool_call_id": "t1", "name": "bash", "output": {"content": [{"type": "text", "text": "a\nb"}]}, "is_error": false}),
        ));
        assert_eq!(step.stderr, "✓ bash\n");
        let step = chat.on_frame(&agent(
            "tool.end",
            json!({"tool_call_id": "t2", "name": "read", "output": {"content": [{"type": "text", "text": "ENOENT:\n  no such file"}]}, "is_error": true}),
        ));
        assert_eq!(step.stderr, "✗ read: ENOENT: no such file\n");
        let step = chat.on_frame(&agent("stream.text_delta", json!({"delta": "Done.\n"})));
        assert_eq!(
            (step.stdout.as_str(), step.stderr.as_str()),
            ("Done.\n", "")
        );
        let step = chat.on_frame(&agent("agent.idle", json!({})));
        assert_eq!(step.stdout, "", "already ends with a line break");
        assert_eq!(step.end, Some(End::Done));
    }

    #[test]
    fn thinking_is_shown_only_when_asked() {
        let mut chat = streaming();
        let step = chat.on_frame(&agent("stream.thinking_delta", json!({"delta": "hmm"})));
        assert_eq!(step, Step::default());

        let mut chat = Chat::new("s1", "pi", "hi", true);
        chat.on_frame(&response(CREATE_ID, "session.create", true));
        chat.on_frame(&response(PROMPT_ID, "prompt", true));
        assert_eq!(
            chat.on_frame(&agent("stream.thinking_delta", json!({"delta": "hmm"})))
                .stderr,
            "hmm"
        );
        let step = chat.on_frame(&agent("stream.text_delta", json!({"delta": "Hi"})));
        assert_eq!((step.stdout.as_str(), step.stderr.as_str()), ("Hi", "\n"));
    }

    #[test]
    fn a_waking_session_is_announced_once() {
        let mut chat = Chat::new("s1", "pi", "hi", false);
        let working = agent(
            "agent.working",
            json!({"phase": "initializing", "detail": "starting"}),
        );
        assert_eq!(chat.on_frame(&working).stderr, "(starting session …)\n");
        assert_eq!(chat.on_frame(&working).stderr, "");
        let generating = agent("agent.working", json!({"phase": "generating"}));
        assert_eq!(chat.on_frame(&generating), Step::default());
    }

    #[test]
    fn failures_end_the_chat() {
        let mut chat = Chat::new("s1", "pi", "hi", false);
        let step = chat.on_frame(&response(CREATE_ID, "session.create", false));
        assert_eq!(
            step.end,
            Some(End::Failed("session.create failed: no such session".into()))
        );
        assert_eq!(step.send, None, "no prompt after a failed create");

        let mut chat = Chat::new("s1", "pi", "hi", false);
        let step = chat
            .on_frame(r#"{"channel":"system","type":"error","id":null,"error":"frame too large"}"#);
        assert_eq!(
            step.end,
            Some(End::Failed(
                "the gateway refused a frame: frame too large".into()
            ))
        );

        let mut chat = streaming();
        chat.on_frame(&agent("stream.text_delta", json!({"delta": "partial"})));
        let step = chat.on_frame(&agent(
            "agent.error",
            json!({"error": "rate limited", "recoverable": false}),
        ));
        assert_eq!(step.stdout, "\n", "the error starts on a line of its own");
        assert_eq!(
            step.end,
            Some(End::Failed("the agent failed: rate limited".into()))
        );
    }

    #[test]
    fn other_sessions_and_garbage_are_ignored() {
        let mut chat = streaming();
        let other = agent("stream.text_delta", json!({"delta": "x"})).replace("\"s1\"", "\"s2\"");
        assert_eq!(chat.on_frame(&other), Step::default());
        assert_eq!(chat.on_frame("not json"), Step::default());
        assert_eq!(
            chat.on_frame(&agent("session.heartbeat", json!({}))),
            Step::default()
        );
        // Text from a turn before our prompt was sent is not the answer.
        let mut chat = Chat::new("s1", "pi", "hi", false);
        assert_eq!(
            chat.on_frame(&agent("stream.text_delta", json!({"delta": "old"}))),
            Step::default()
        );
    }

    #[test]
    fn tool_outputs_become_one_short_line() {
        assert_eq!(tool_output(Some(&json!("plain"))), "plain");
        assert_eq!(
            tool_output(Some(
                &json!([{"type": "text", "text": "a"}, {"type": "image"}])
            )),
            "a"
        );
        assert_eq!(tool_output(Some(&json!({"code": 1}))), r#"{"code":1}"#);
        assert_eq!(tool_output(None), "");
        assert_eq!(one_line("a\n\n b", 10), "a b");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    fn messages(client_id: &str, answer: &[&str]) -> String {
        let mut messages = vec![
            json!({"id": "m0", "role": "user", "parts": [{"type": "text", "text": "earlier"}]}),
            json!({"id": "m1", "role": "assistant", "parts": [{"type": "text", "text": "old"}]}),
            json!({"id": "m2", "role": "user", "client_id": client_id,
                   "parts": [{"type": "text", "text": "hi"}]}),
        ];
        for (i, text) in answer.iter().enumerate() {
            messages.push(json!({"id": format!("a{i}"), "role": "assistant",
                "parts": [{"type": "thinking", "text": "hmm"}, {"type": "text", "text": text}]}));
            messages.push(json!({"id": format!("t{i}"), "role": "tool", "parts": []}));
        }
        let mut fields = json!({"id": MESSAGES_ID, "cmd": "get_messages", "success": true});
        fields["data"] = json!({ "messages": messages });
        agent("response", fields)
    }

    fn state(streaming: bool) -> String {
        let mut fields = json!({"id": STATE_ID, "cmd": "get_state", "success": true});
        fields["data"] = json!({ "isStreaming": streaming });
        agent("response", fields)
    }

    fn sent(step: &Step) -> Value {
        serde_json::from_str(step.send.as_deref().unwrap()).unwrap()
    }

    /// Lost mid-answer: attach again, wait out the turn without printing its deltas, then
    /// print the rest of the answer from the history, so stdout has it whole and once.
    #[test]
    fn a_lost_connection_mid_turn_catches_up_from_the_history() {
        let mut chat = streaming();
        assert_eq!(
            chat.on_frame(&agent("stream.text_delta", json!({"delta": "Hel"})))
                .stdout,
            "Hel"
        );
        let step = chat.reconnected();
        assert_eq!(sent(&step)["cmd"], "session.create");
        assert_eq!(sent(&step)["id"], REATTACH_ID);
        assert!(step.stderr.contains("reconnected"), "{step:?}");
        assert!(step.stdout.is_empty());
        let step = chat.on_frame(&response(REATTACH_ID, "session.create", true));
        assert_eq!(sent(&step)["cmd"], "get_state");
        assert_eq!(chat.on_frame(&state(true)), Step::default());
        let quiet = chat.on_frame(&agent("stream.text_delta", json!({"delta": "lo, wor"})));
        assert_eq!(quiet, Step::default(), "deltas after a gap are not printed");
        let step = chat.on_frame(&agent("agent.idle", json!({})));
        assert_eq!(sent(&step)["cmd"], "get_messages");
        let client_id = chat.client_id.clone();
        let step = chat.on_frame(&messages(&client_id, &["Hello, ", "world."]));
        assert_eq!(step.stdout, "lo, world.\n");
        assert_eq!(step.end, Some(End::Done));
    }

    /// Lost after the turn ended: straight to the history.
    #[test]
    fn a_turn_that_ended_while_away_is_read_from_the_history() {
        let mut chat = streaming();
        chat.on_frame(&agent("stream.text_delta", json!({"delta": "Hello"})));
        chat.reconnected();
        chat.on_frame(&response(REATTACH_ID, "session.create", true));
        let step = chat.on_frame(&state(false));
        assert_eq!(sent(&step)["cmd"], "get_messages");
        let client_id = chat.client_id.clone();
        let step = chat.on_frame(&messages(&client_id, &["Hello, world."]));
        assert_eq!(
            (step.stdout.as_str(), step.end),
            (", world.\n", Some(End::Done))
        );
    }

    /// Lost before the prompt reached the agent: the history lacks it, so it is sent again
    /// (and only then: a prompt that arrived is never sent twice).
    #[test]
    fn a_prompt_that_never_arrived_is_sent_again() {
        let mut chat = Chat::new("s1", "pi", "hi", false);
        chat.on_frame(&response(CREATE_ID, "session.create", true));
        chat.reconnected();
        chat.on_frame(&response(REATTACH_ID, "session.create", true));
        chat.on_frame(&state(false));
        let step = chat.on_frame(&messages("someone-else", &["other answer"]));
        let prompt = sent(&step);
        assert_eq!(
            (prompt["cmd"].clone(), prompt["message"].clone()),
            (json!("prompt"), json!("hi"))
        );
        assert_eq!(prompt["client_id"], json!(chat.client_id));
        assert!(step.end.is_none());
        chat.on_frame(&response(PROMPT_ID, "prompt", true));
        assert_eq!(
            chat.on_frame(&agent("stream.text_delta", json!({"delta": "ok"})))
                .stdout,
            "ok"
        );
    }

    /// Lost before session.create was answered: start over; an answer that does not continue
    /// what was printed is printed whole, and a failed re-attach ends the chat.
    #[test]
    fn other_reconnects_start_over_or_say_what_they_print() {
        let mut chat = Chat::new("s1", "pi", "hi", false);
        assert_eq!(sent(&chat.reconnected())["id"], CREATE_ID);

        let mut chat = streaming();
        chat.on_frame(&agent("stream.text_delta", json!({"delta": "Draft"})));
        chat.reconnected();
        chat.on_frame(&response(REATTACH_ID, "session.create", true));
        chat.on_frame(&state(false));
        let client_id = chat.client_id.clone();
        let step = chat.on_frame(&messages(&client_id, &["Final."]));
        assert!(step.stderr.contains("the answer in full"), "{step:?}");
        assert_eq!(step.stdout, "\nFinal.\n");

        let mut chat = streaming();
        chat.reconnected();
        let step = chat.on_frame(&response(REATTACH_ID, "session.create", false));
        assert!(matches!(step.end, Some(End::Failed(ref m)) if m.contains("attaching again")));
    }
}
