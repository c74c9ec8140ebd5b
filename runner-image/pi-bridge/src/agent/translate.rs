//! Pi's RPC events → canonical events (§1.7), for both event shapes Pi has had: 0.73 (pi-mono,
//! `message_update` with `partial`, `auto_compaction_*`, no `agent_settled`) and 0.87
//! (earendil-works, no `partial`, `compaction_*`, `agent_end{willRetry}` then `agent_settled`).
//!
//! The translator is pure and keeps only the state that the rules need: the id of the message
//! being streamed, whether a run is in progress, and whether Pi is inside an auto-retry cycle.
//! Unknown events are logged and skipped: a newer Pi must never break the bridge.

use std::collections::HashMap;

use oqto_proto::canonical::{
    AgentPhase, CompactReason, EventKind, InputRequest, NotifyLevel, Role, ToolCallInfo,
};
use serde_json::Value;
use tracing::debug;

use super::convert::{message_from_pi, stop_reason_from_pi};

#[derive(Debug, Default)]
pub struct Translator {
    next_message: u64,
    /// Canonical id of the assistant message being streamed.
    current_message: Option<String>,
    /// Whether `stream.done` was already sent for the current message (0.73 sends a `done`
    /// sub-event, 0.87 does not: then `message_end` produces it).
    done_sent: bool,
    /// Between `agent_start` and the terminal `agent.idle`.
    working: bool,
    /// Whether any assistant message streamed in this run (else `agent_end` sends `messages`).
    streamed: bool,
    /// Inside an auto-retry cycle intermediate starts, ends and errors are suppressed.
    retrying: bool,
    /// The error of a failed assistant message, held until `agent_end` tells whether Pi retries
    /// it (`willRetry`, 0.87): a retried failure is not the run's final error.
    failed_message: Option<String>,
    /// Start times of running tools, for `tool.end.duration_ms`.
    tool_started_ms: HashMap<String, i64>,
    /// The tool calls of the streamed message by content index: Pi's deltas do not name theirs.
    streamed_calls: HashMap<u32, String>,
}

impl Translator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether Pi is in the middle of a run, as far as its events tell.
    pub fn is_working(&self) -> bool {
        self.working
    }

    /// Forgets the run in progress (Pi died or was restarted).
    pub fn reset_run(&mut self) {
        self.working = false;
        self.retrying = false;
        self.failed_message = None;
        self.current_message = None;
        self.tool_started_ms.clear();
        self.streamed_calls.clear();
    }

    /// Translates one Pi stdout object. `now_ms` stamps durations and fallback times.
    pub fn translate(&mut self, pi: &Value, now_ms: i64) -> Vec<EventKind> {
        let Some(kind) = pi.get("type").and_then(Value::as_str) else {
            debug!("Pi printed an object without `type`; skipped");
            return Vec::new();
        };
        match kind {
            "agent_start" => self.agent_start(),
            "agent_end" => self.agent_end(pi, now_ms),
            "agent_settled" => self.finish_run(),
            "message_start" => self.message_start(pi),
            "message_update" => self.message_update(pi),
            "message_end" => self.message_end(pi, now_ms),
            "tool_execution_start" => self.tool_start(pi, now_ms),
            "tool_execution_update" => vec![EventKind::ToolProgress {
                tool_call_id: str_of(pi, "toolCallId"),
                name: str_of(pi, "toolName"),
                partial_output: pi.get("partialResult").cloned().unwrap_or(Value::Null),
            }],
            "tool_execution_end" => self.tool_end(pi, now_ms),
            "auto_compaction_start" | "compaction_start" => self.compaction_start(pi),
            "auto_compaction_end" | "compaction_end" => self.compaction_end(pi),
            "auto_retry_start" => self.retry_start(pi),
            "auto_retry_end" => self.retry_end(pi),
            "extension_ui_request" => self.extension_ui(pi),
            "extension_error" | "hook_error" => vec![EventKind::Notify {
                level: NotifyLevel::Warning,
                message: format!(
                    "Pi extension {} failed in {}: {}",
                    opt_str(pi, "extensionPath")
                        .or_else(|| opt_str(pi, "hookPath"))
                        .unwrap_or_default(),
                    str_of(pi, "event"),
                    str_of(pi, "error")
                ),
            }],
            // Known and deliberately not forwarded: turn markers, queue snapshots, `bash` output
            // streaming and summarisation retries carry nothing the canonical protocol models.
            "turn_start"
            | "turn_end"
            | "queue_update"
            | "bash_execution_update"
            | "summarization_retry_scheduled"
            | "summarization_retry_attempt_start"
            | "summarization_retry_finished"
            | "response" => Vec::new(),
            other => {
                debug!(event = other, "unknown Pi event; skipped");
                Vec::new()
            }
        }
    }

    fn agent_start(&mut self) -> Vec<EventKind> {
        if self.retrying && self.working {
            return Vec::new();
        }
        self.working = true;
        self.streamed = false;
        vec![working(AgentPhase::Generating, None)]
    }

    fn agent_end(&mut self, pi: &Value, now_ms: i64) -> Vec<EventKind> {
        let will_retry = pi
            .get("willRetry")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        // A retry continues the run; an end after the run already ended (Pi gave up retrying
        // and we closed the run at `auto_retry_end`) adds nothing.
        if will_retry || self.retrying || !self.working {
            return Vec::new();
        }
        let mut events = Vec::new();
        if !self.streamed
            && let Some(Value::Array(messages)) = pi.get("messages")
        {
            let messages = messages
                .iter()
                .enumerate()
                .map(|(i, m)| message_from_pi(m, i as u32, now_ms))
                .collect();
            events.push(EventKind::Messages { messages });
        }
        events.extend(self.finish_run());
        events
    }

    /// The terminal `agent.idle` of a run, once, after the error of its failed message if Pi did
    /// not retry that.
    fn finish_run(&mut self) -> Vec<EventKind> {
        if !self.working {
            return Vec::new();
        }
        let failed = self.failed_message.take();
        self.reset_run();
        let idle = EventKind::AgentIdle {
            message_version: None,
        };
        match failed {
            Some(error) => vec![model_error(error, AgentPhase::Generating), idle],
            None => vec![idle],
        }
    }

    fn message_start(&mut self, pi: &Value) -> Vec<EventKind> {
        // Echoes of user and tool-result messages are not streamed (§1.7).
        if role_of(pi) != Some("assistant") {
            return Vec::new();
        }
        self.next_message += 1;
        let id = format!("msg_{}", self.next_message);
        self.current_message = Some(id.clone());
        self.done_sent = false;
        self.streamed = true;
        self.streamed_calls.clear();
        vec![EventKind::StreamMessageStart {
            message_id: id,
            role: Role::Assistant,
        }]
    }

    fn message_id(&mut self) -> String {
        if let Some(id) = &self.current_message {
            return id.clone();
        }
        // An update without a start (should not happen): give it an id of its own.
        self.next_message += 1;
        let id = format!("msg_{}", self.next_message);
        self.current_message = Some(id.clone());
        id
    }

    fn message_update(&mut self, pi: &Value) -> Vec<EventKind> {
        let Some(update) = pi.get("assistantMessageEvent") else {
            return Vec::new();
        };
        let content_index = update
            .get("contentIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32;
        match update.get("type").and_then(Value::as_str).unwrap_or("") {
            "text_delta" => vec![EventKind::StreamTextDelta {
                message_id: self.message_id(),
                delta: str_of(update, "delta"),
                content_index,
            }],
            "thinking_delta" => vec![EventKind::StreamThinkingDelta {
                message_id: self.message_id(),
                delta: str_of(update, "delta"),
                content_index,
            }],
            // 0.87 names the call at its start; 0.73 does not (then only the end names it).
            "toolcall_start" => match (opt_str(update, "id"), opt_str(update, "toolName")) {
                (Some(tool_call_id), Some(name)) => {
                    self.streamed_calls
                        .insert(content_index, tool_call_id.clone());
                    vec![EventKind::StreamToolCallStart {
                        message_id: self.message_id(),
                        tool_call_id,
                        name,
                        content_index,
                    }]
                }
                _ => Vec::new(),
            },
            // Empty when the start named no call (0.73): the message and index still place it.
            "toolcall_delta" => vec![EventKind::StreamToolCallDelta {
                message_id: self.message_id(),
                tool_call_id: opt_str(update, "id")
                    .or_else(|| self.streamed_calls.get(&content_index).cloned())
                    .unwrap_or_default(),
                delta: str_of(update, "delta"),
                content_index,
            }],
            "toolcall_end" => {
                let call = update.get("toolCall").cloned().unwrap_or(Value::Null);
                let id = str_of(&call, "id");
                vec![EventKind::StreamToolCallEnd {
                    message_id: self.message_id(),
                    tool_call_id: id.clone(),
                    tool_call: ToolCallInfo {
                        id,
                        name: str_of(&call, "name"),
                        input: call.get("arguments").cloned().unwrap_or(Value::Null),
                    },
                    content_index,
                }]
            }
            "done" => {
                self.done_sent = true;
                vec![EventKind::StreamDone {
                    reason: stop_reason_from_pi(
                        update
                            .get("reason")
                            .and_then(Value::as_str)
                            .unwrap_or("stop"),
                    ),
                }]
            }
            "error" => {
                if self.retrying {
                    return Vec::new();
                }
                let reason = str_of(update, "reason");
                let message = update
                    .get("error")
                    .and_then(|e| opt_str(e, "errorMessage"))
                    .unwrap_or_else(|| format!("the model stream ended: {reason}"));
                vec![EventKind::AgentError {
                    error: message,
                    recoverable: reason == "aborted",
                    phase: Some(AgentPhase::Generating),
                }]
            }
            // start, text_start/end, thinking_start/end: markers only.
            _ => Vec::new(),
        }
    }

    fn message_end(&mut self, pi: &Value, now_ms: i64) -> Vec<EventKind> {
        let Some(message) = pi.get("message") else {
            return Vec::new();
        };
        if role_of(pi) != Some("assistant") {
            return Vec::new();
        }
        let mut canonical = message_from_pi(message, 0, now_ms);
        canonical.id = self.message_id();
        let mut events = Vec::new();
        if !self.done_sent
            && let Some(reason) = canonical.stop_reason
        {
            events.push(EventKind::StreamDone { reason });
        }
        let failed = message.get("stopReason").and_then(Value::as_str) == Some("error");
        let error = opt_str(message, "errorMessage");
        events.push(EventKind::StreamMessageEnd {
            message: Box::new(canonical),
        });
        if failed && !self.retrying {
            let error = error.unwrap_or_else(|| "the model returned an error".into());
            if self.working {
                self.failed_message = Some(error);
            } else {
                events.push(model_error(error, AgentPhase::Generating));
            }
        }
        self.current_message = None;
        events
    }

    fn tool_start(&mut self, pi: &Value, now_ms: i64) -> Vec<EventKind> {
        let tool_call_id = str_of(pi, "toolCallId");
        let name = str_of(pi, "toolName");
        self.tool_started_ms.insert(tool_call_id.clone(), now_ms);
        vec![
            working(AgentPhase::ToolRunning, Some(name.clone())),
            EventKind::ToolStart {
                tool_call_id,
                name,
                input: pi.get("args").cloned(),
            },
        ]
    }

    fn tool_end(&mut self, pi: &Value, now_ms: i64) -> Vec<EventKind> {
        let tool_call_id = str_of(pi, "toolCallId");
        let duration_ms = self
            .tool_started_ms
            .remove(&tool_call_id)
            .map(|started| (now_ms - started).max(0) as u64);
        vec![
            EventKind::ToolEnd {
                tool_call_id,
                name: str_of(pi, "toolName"),
                output: pi.get("result").cloned().unwrap_or(Value::Null),
                is_error: pi.get("isError").and_then(Value::as_bool).unwrap_or(false),
                duration_ms,
            },
            working(AgentPhase::Generating, None),
        ]
    }

    fn compaction_start(&mut self, pi: &Value) -> Vec<EventKind> {
        let reason = if str_of(pi, "reason").contains("overflow") {
            CompactReason::Overflow
        } else {
            CompactReason::Threshold
        };
        vec![
            working(AgentPhase::Compacting, None),
            EventKind::CompactStart { reason },
        ]
    }

    fn compaction_end(&mut self, pi: &Value) -> Vec<EventKind> {
        let result = pi.get("result").filter(|r| !r.is_null());
        let aborted = pi.get("aborted").and_then(Value::as_bool).unwrap_or(false);
        let will_retry = pi
            .get("willRetry")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut events = vec![EventKind::CompactEnd {
            success: result.is_some() && !aborted,
            will_retry,
            error: opt_str(pi, "errorMessage"),
            summary: result.and_then(|r| opt_str(r, "summary")),
            tokens_before: result
                .and_then(|r| r.get("tokensBefore"))
                .and_then(Value::as_u64),
        }];
        if self.working && !will_retry {
            events.push(working(AgentPhase::Generating, None));
        }
        events
    }

    fn retry_start(&mut self, pi: &Value) -> Vec<EventKind> {
        self.retrying = true;
        // The failure being retried is reported by the retry, not as the run's error.
        self.failed_message = None;
        self.working = true;
        let number = |key: &str| pi.get(key).and_then(Value::as_u64).unwrap_or(0);
        vec![
            working(AgentPhase::Retrying, None),
            EventKind::RetryStart {
                attempt: number("attempt") as u32,
                max_attempts: number("maxAttempts") as u32,
                delay_ms: number("delayMs"),
                error: str_of(pi, "errorMessage"),
            },
        ]
    }

    fn retry_end(&mut self, pi: &Value) -> Vec<EventKind> {
        self.retrying = false;
        let success = pi.get("success").and_then(Value::as_bool).unwrap_or(false);
        let attempt = pi.get("attempt").and_then(Value::as_u64).unwrap_or(0) as u32;
        let final_error = opt_str(pi, "finalError");
        let mut events = vec![EventKind::RetryEnd {
            success,
            attempt,
            final_error: final_error.clone(),
        }];
        if success {
            events.push(working(AgentPhase::Generating, None));
        } else {
            // Pi sends no final agent_end after giving up: end the run here.
            events.push(model_error(
                final_error.unwrap_or_else(|| "the model failed after retries".into()),
                AgentPhase::Retrying,
            ));
            events.extend(self.finish_run());
        }
        events
    }

    fn extension_ui(&mut self, pi: &Value) -> Vec<EventKind> {
        let request_id = str_of(pi, "id");
        let title = str_of(pi, "title");
        // Milliseconds; Pi sets no timer for 0 (`opts.timeout && setTimeout(…)`).
        let timeout = pi
            .get("timeout")
            .and_then(Value::as_f64)
            .filter(|ms| *ms > 0.0)
            .map(|ms| ms.ceil() as u64);
        match pi.get("method").and_then(Value::as_str).unwrap_or("") {
            "setStatus" => self.set_status(pi),
            "setTitle" => vec![EventKind::SessionTitleChanged {
                title,
                readable_id: None,
            }],
            "notify" => vec![EventKind::Notify {
                level: match pi.get("notifyType").and_then(Value::as_str) {
                    Some("warning") => NotifyLevel::Warning,
                    Some("error") => NotifyLevel::Error,
                    _ => NotifyLevel::Info,
                },
                message: str_of(pi, "message"),
            }],
            "select" => vec![EventKind::AgentInputNeeded {
                request: InputRequest::Select {
                    request_id,
                    title,
                    options: pi
                        .get("options")
                        .and_then(Value::as_array)
                        .map(|o| {
                            o.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    timeout,
                },
            }],
            "confirm" => vec![EventKind::AgentInputNeeded {
                request: InputRequest::Confirm {
                    request_id,
                    title,
                    message: str_of(pi, "message"),
                    timeout,
                },
            }],
            "input" | "editor" => vec![EventKind::AgentInputNeeded {
                request: InputRequest::Input {
                    request_id,
                    title,
                    placeholder: opt_str(pi, "placeholder").or_else(|| opt_str(pi, "prefill")),
                    timeout,
                },
            }],
            _ => Vec::new(),
        }
    }

    fn set_status(&mut self, pi: &Value) -> Vec<EventKind> {
        let key = str_of(pi, "statusKey");
        let text = opt_str(pi, "statusText");
        match key.as_str() {
            "oqto_phase" => {
                if !self.working {
                    return Vec::new();
                }
                let text = text.unwrap_or_default();
                let (phase, detail) = match text.split_once(':') {
                    Some(("tool_running", tool)) => {
                        (AgentPhase::ToolRunning, Some(tool.to_owned()))
                    }
                    _ => (phase_from_str(&text), None),
                };
                vec![working(phase, detail)]
            }
            "oqto_title_changed" => {
                let text = text.unwrap_or_default();
                let (title, readable_id) = split_title(&text);
                vec![EventKind::SessionTitleChanged { title, readable_id }]
            }
            _ => vec![EventKind::Status { key, text }],
        }
    }
}

fn phase_from_str(text: &str) -> AgentPhase {
    match text {
        "thinking" => AgentPhase::Thinking,
        "tool_running" => AgentPhase::ToolRunning,
        "compacting" => AgentPhase::Compacting,
        "retrying" => AgentPhase::Retrying,
        "initializing" => AgentPhase::Initializing,
        _ => AgentPhase::Generating,
    }
}

/// `<workdir>: <title> [readable-id]` → (title, readable id).
fn split_title(text: &str) -> (String, Option<String>) {
    let text = text.trim();
    let (rest, readable) = match text.strip_suffix(']').and_then(|t| t.rsplit_once(" [")) {
        Some((rest, id)) => (rest, Some(id.to_owned())),
        None => (text, None),
    };
    let title = rest.split_once(": ").map(|(_, t)| t).unwrap_or(rest);
    (title.to_owned(), readable)
}

/// The model failed for good: the run ends with this error.
fn model_error(error: String, phase: AgentPhase) -> EventKind {
    EventKind::AgentError {
        error,
        recoverable: false,
        phase: Some(phase),
    }
}

fn working(phase: AgentPhase, detail: Option<String>) -> EventKind {
    EventKind::AgentWorking { phase, detail }
}

fn role_of(pi: &Value) -> Option<&str> {
    pi.get("message")?.get("role")?.as_str()
}

fn str_of(value: &Value, key: &str) -> String {
    opt_str(value, key).unwrap_or_default()
}

fn opt_str(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(events: &[EventKind]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                serde_json::to_value(e).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    fn run(lines: &[Value]) -> Vec<EventKind> {
        let mut t = Translator::new();
        lines.iter().flat_map(|l| t.translate(l, 1_000)).collect()
    }

    #[test]
    fn tool_call_deltas_name_the_call_their_start_named() {
        let events = run(&[
            json!({"type":"agent_start"}),
            json!({"type":"message_start","message":{"role":"assistant","content":[]}}),
            json!({"type":"message_update","assistantMessageEvent":{"type":"toolcall_start","contentIndex":1,"id":"call_7","toolName":"bash"}}),
            json!({"type":"message_update","assistantMessageEvent":{"type":"toolcall_delta","contentIndex":1,"delta":"{\"command\""}}),
            json!({"type":"message_update","assistantMessageEvent":{"type":"toolcall_delta","contentIndex":2,"delta":"{}"}}),
        ]);
        let ids: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                EventKind::StreamToolCallDelta { tool_call_id, .. } => Some(tool_call_id.clone()),
                _ => None,
            })
            .collect();
        // An index no start named stays without an id (the client places it by index).
        assert_eq!(ids, ["call_7", ""]);
    }

    #[test]
    fn a_text_turn_in_the_current_shape() {
        let events = run(&[
            json!({"type":"agent_start"}),
            json!({"type":"message_start","message":{"role":"system","content":"sys"}}),
            json!({"type":"message_end","message":{"role":"system","content":"sys"}}),
            json!({"type":"message_start","message":{"role":"user","content":"hi"}}),
            json!({"type":"message_start","message":{"role":"assistant","content":[]}}),
            json!({"type":"message_update","assistantMessageEvent":{"type":"text_delta","contentIndex":0,"delta":"Hel"}}),
            json!({"type":"message_update","assistantMessageEvent":{"type":"text_delta","contentIndex":0,"delta":"lo"}}),
            json!({"type":"message_end","message":{"role":"assistant","stopReason":"stop","content":[{"type":"text","text":"Hello"}]}}),
            json!({"type":"agent_end","messages":[],"willRetry":false}),
            json!({"type":"agent_settled"}),
        ]);
        assert_eq!(
            names(&events),
            [
                "agent.working",
                "stream.message_start",
                "stream.text_delta",
                "stream.text_delta",
                "stream.done",
                "stream.message_end",
                "agent.idle"
            ]
        );
        let end = serde_json::to_value(&events[5]).unwrap();
        assert_eq!(
            end["message"]["id"], "msg_1",
            "message_end keeps the streamed id"
        );
        assert_eq!(end["message"]["parts"][0]["text"], "Hello");
    }

    #[test]
    fn the_old_shape_with_partial_and_done() {
        let events = run(&[
            json!({"type":"agent_start"}),
            json!({"type":"message_start","message":{"role":"assistant","content":[]}}),
            json!({"type":"message_update","message":{},"assistantMessageEvent":{"type":"text_delta","contentIndex":0,"delta":"x","partial":{}}}),
            json!({"type":"message_update","message":{},"assistantMessageEvent":{"type":"done","reason":"stop","partial":{}}}),
            json!({"type":"message_end","message":{"role":"assistant","stopReason":"stop","content":[]}}),
            json!({"type":"agent_end","messages":[]}),
        ]);
        assert_eq!(
            names(&events),
            [
                "agent.working",
                "stream.message_start",
                "stream.text_delta",
                "stream.done",
                "stream.message_end",
                "agent.idle"
            ],
            "exactly one stream.done"
        );
    }

    #[test]
    fn tools_get_start_end_and_phases() {
        let mut t = Translator::new();
        t.translate(&json!({"type":"agent_start"}), 0);
        let start = t.translate(&json!({"type":"tool_execution_start","toolCallId":"call_1","toolName":"write","args":{"path":"a"}}), 100);
        let end = t.translate(&json!({"type":"tool_execution_end","toolCallId":"call_1","toolName":"write","result":{"content":[]},"isError":false}), 350);
        assert_eq!(names(&start), ["agent.working", "tool.start"]);
        assert_eq!(names(&end), ["tool.end", "agent.working"]);
        let tool_end = serde_json::to_value(&end[0]).unwrap();
        assert_eq!(tool_end["duration_ms"], 250);
        assert_eq!(tool_end["is_error"], false);
        let phase = serde_json::to_value(&start[0]).unwrap();
        assert_eq!(phase["phase"], "tool_running");
        assert_eq!(phase["detail"], "write");
    }

    #[test]
    fn retries_suppress_intermediate_ends_and_failure_ends_the_run() {
        let events = run(&[
            json!({"type":"agent_start"}),
            json!({"type":"auto_retry_start","attempt":1,"maxAttempts":2,"delayMs":10,"errorMessage":"500"}),
            json!({"type":"agent_end","messages":[]}),
            json!({"type":"agent_start"}),
            json!({"type":"auto_retry_end","success":false,"attempt":2,"finalError":"500 again"}),
            json!({"type":"agent_end","messages":[]}),
        ]);
        assert_eq!(
            names(&events),
            [
                "agent.working",
                "agent.working",
                "retry.start",
                "retry.end",
                "agent.error",
                "agent.idle"
            ]
        );
    }

    #[test]
    fn will_retry_defers_idle_to_settled() {
        let events = run(&[
            json!({"type":"agent_start"}),
            json!({"type":"agent_end","messages":[],"willRetry":true}),
            json!({"type":"agent_settled"}),
        ]);
        assert_eq!(names(&events), ["agent.working", "agent.idle"]);
    }

    fn failed_turn(will_retry: bool) -> Vec<Value> {
        vec![
            json!({"type":"agent_start"}),
            json!({"type":"message_start","message":{"role":"assistant","content":[]}}),
            json!({"type":"message_end","message":{"role":"assistant","stopReason":"error","errorMessage":"503: unavailable","content":[]}}),
            json!({"type":"agent_end","messages":[],"willRetry":will_retry}),
        ]
    }

    #[test]
    fn a_failure_pi_retries_is_no_final_error() {
        // What Pi 0.87 sent in frontend_recordings' retry test: the failed message, then
        // agent_end{willRetry}, then the retry cycle.
        let mut lines = failed_turn(true);
        lines.extend([
            json!({"type":"auto_retry_start","attempt":1,"maxAttempts":1,"delayMs":20,"errorMessage":"503: unavailable"}),
            json!({"type":"message_start","message":{"role":"assistant","content":[]}}),
            json!({"type":"message_update","assistantMessageEvent":{"type":"text_delta","contentIndex":0,"delta":"ok"}}),
            json!({"type":"message_end","message":{"role":"assistant","stopReason":"stop","content":[{"type":"text","text":"ok"}]}}),
            json!({"type":"auto_retry_end","success":true,"attempt":1}),
            json!({"type":"agent_end","messages":[],"willRetry":false}),
            json!({"type":"agent_settled"}),
        ]);
        let names = names(&run(&lines));
        assert!(!names.iter().any(|n| n == "agent.error"), "{names:?}");
        assert_eq!(names.last().map(String::as_str), Some("agent.idle"));
    }

    #[test]
    fn a_failure_pi_does_not_retry_ends_the_run_with_its_error() {
        let mut lines = failed_turn(false);
        lines.push(json!({"type":"agent_settled"}));
        let events = run(&lines);
        let names = names(&events);
        assert_eq!(&names[names.len() - 2..], ["agent.error", "agent.idle"]);
        let error = serde_json::to_value(&events[names.len() - 2]).unwrap();
        assert_eq!(error["error"], "503: unavailable");
        assert_eq!(error["recoverable"], false);
    }

    #[test]
    fn unknown_events_and_garbage_are_skipped() {
        assert!(
            run(&[
                json!({"type":"brand_new_event","x":1}),
                json!({"no":"type"})
            ])
            .is_empty()
        );
    }

    #[test]
    fn compaction_in_both_spellings() {
        for (start, end) in [
            ("auto_compaction_start", "auto_compaction_end"),
            ("compaction_start", "compaction_end"),
        ] {
            let events = run(&[
                json!({"type":start,"reason":"overflow"}),
                json!({"type":end,"result":{"summary":"s","tokensBefore":99},"aborted":false,"willRetry":false}),
            ]);
            assert_eq!(
                names(&events),
                ["agent.working", "compact.start", "compact.end"]
            );
            let end = serde_json::to_value(&events[2]).unwrap();
            assert_eq!(end["success"], true);
            assert_eq!(end["tokens_before"], 99);
            assert_eq!(
                serde_json::to_value(&events[1]).unwrap()["reason"],
                "overflow"
            );
        }
    }

    #[test]
    fn extension_ui_requests() {
        let mut t = Translator::new();
        t.translate(&json!({"type":"agent_start"}), 0);
        let phase = t.translate(&json!({"type":"extension_ui_request","id":"u1","method":"setStatus","statusKey":"oqto_phase","statusText":"tool_running:bash"}), 0);
        assert_eq!(serde_json::to_value(&phase[0]).unwrap()["detail"], "bash");
        let title = t.translate(&json!({"type":"extension_ui_request","id":"u2","method":"setStatus","statusKey":"oqto_title_changed","statusText":"/w: Fix bug [cold-lamp-bird]"}), 0);
        let title = serde_json::to_value(&title[0]).unwrap();
        assert_eq!(title["title"], "Fix bug");
        assert_eq!(title["readable_id"], "cold-lamp-bird");
        let ask = t.translate(&json!({"type":"extension_ui_request","id":"u3","method":"confirm","title":"Run?","message":"rm -rf"}), 0);
        let ask = serde_json::to_value(&ask[0]).unwrap();
        assert_eq!(ask["event"], "agent.input_needed");
        assert_eq!(ask["request"]["type"], "confirm");
        assert_eq!(ask["request"]["request_id"], "u3");
    }

    #[test]
    fn dialog_timeouts_are_milliseconds_and_zero_means_none() {
        let mut t = Translator::new();
        let timeout_of = |t: &mut Translator, timeout: Value| {
            let ask = t.translate(
                &json!({"type":"extension_ui_request","id":"q","method":"select",
                "title":"Pick","options":["a","b"],"timeout":timeout}),
                0,
            );
            serde_json::to_value(&ask[0]).unwrap()["request"]["timeout"].clone()
        };
        assert_eq!(timeout_of(&mut t, json!(10_000)), json!(10_000));
        assert_eq!(timeout_of(&mut t, json!(1500.2)), json!(1501), "rounded up");
        // Pi sets no timer for 0 (or none): the question waits.
        assert_eq!(timeout_of(&mut t, json!(0)), Value::Null);
        assert_eq!(timeout_of(&mut t, Value::Null), Value::Null);
    }
}
