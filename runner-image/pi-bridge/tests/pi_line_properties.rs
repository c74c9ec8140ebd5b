//! Property tests of what the bridge does with Pi's stdout: each line goes through
//! `split_json_objects` (garbage is skipped, never fatal) and each object through the
//! `Translator`. Whatever Pi prints, nothing panics, objects come back exactly as printed, and the
//! translated events keep the run's shape (one `agent.idle` per run).
#![allow(clippy::unwrap_used)] // Tests: a failed step is a failed test.

use oqto_pi_bridge::agent::translate::Translator;
use oqto_pi_bridge::pi::process::split_json_objects;
use oqto_proto::canonical::EventKind;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// JSON without floats (a float may not survive a text round trip bit for bit), nested at most
/// four levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(".{0,8}", json_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// Translates what `split_json_objects` made of `line`, checking every event serialises as a
/// canonical event.
fn translate_line(translator: &mut Translator, line: &str) -> Vec<EventKind> {
    let mut events = Vec::new();
    for value in split_json_objects(line) {
        assert!(value.is_object(), "{value}");
        events.extend(translator.translate(&value, 1_700_000_000_000));
    }
    for event in &events {
        let json = serde_json::to_value(event).unwrap();
        assert!(json["event"].is_string(), "{json}");
    }
    events
}

proptest! {
    #![proptest_config(config(512))]

    /// Any text, and any bytes as the codec would hand them on (invalid UTF-8 replaced):
    /// objects or nothing, never more objects than the line opens.
    #[test]
    fn any_line_gives_objects_or_nothing(
        line in prop_oneof![
            ".{0,300}",
            prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ],
    ) {
        let values = split_json_objects(&line);
        prop_assert!(values.iter().all(Value::is_object));
        let opened = line.matches('{').count();
        prop_assert!(values.len() <= opened, "{} objects, {} braces", values.len(), opened);
        translate_line(&mut Translator::new(), &line);
    }

    /// Objects printed on one line (Pi prints one; several are accepted) come back exactly, in
    /// order, and garbage after them costs only the garbage.
    #[test]
    fn printed_objects_come_back_in_order(
        objects in prop::collection::vec(json_object(), 0..5),
        separator in prop::sample::select(vec!["", " ", "\t", "  "]),
        garbage in prop::option::of("[a-zA-Z ]{1,10}"),
    ) {
        let mut line = objects.iter().map(Value::to_string).collect::<Vec<_>>().join(separator);
        if let Some(garbage) = &garbage {
            line.push(' ');
            line.push_str(garbage);
        }
        prop_assert_eq!(split_json_objects(&line), objects);
    }

    /// Nesting beyond serde_json's recursion limit (128) is refused, not a stack overflow; what
    /// is within it is read.
    #[test]
    fn deep_nesting_is_skipped_not_a_crash(depth in 1usize..5_000, objects in any::<bool>()) {
        let (open, close) = if objects { (r#"{"a":"#, "}") } else { ("[", "]") };
        let line = format!(
            r#"{{"type":"tool_execution_update","partialResult":{}0{}}}"#,
            open.repeat(depth),
            close.repeat(depth),
        );
        let values = split_json_objects(&line);
        if depth <= 100 {
            prop_assert_eq!(values.len(), 1);
        } else if depth >= 128 {
            prop_assert!(values.is_empty());
        }
        translate_line(&mut Translator::new(), &line);
    }
}

proptest! {
    #![proptest_config(config(16))]

    /// Huge lines (a long tool output, a long delta) pass through whole: the only limit is the
    /// codec's 32 MiB, checked before this.
    #[test]
    fn huge_deltas_pass_through_whole(piece in ".{1,8}", times in 1usize..200_000) {
        let delta = piece.repeat(times);
        let line = json!({
            "type": "message_update",
            "assistantMessageEvent": {"type": "text_delta", "contentIndex": 0, "delta": delta},
        })
        .to_string();
        let events = translate_line(&mut Translator::new(), &line);
        match events.as_slice() {
            [EventKind::StreamTextDelta { delta: got, .. }] => prop_assert!(got == &delta),
            other => prop_assert!(false, "{} events", other.len()),
        }
    }
}

const PI_TYPES: [&str; 22] = [
    "agent_start",
    "agent_end",
    "agent_settled",
    "message_start",
    "message_update",
    "message_end",
    "tool_execution_start",
    "tool_execution_update",
    "tool_execution_end",
    "auto_compaction_start",
    "compaction_end",
    "auto_retry_start",
    "auto_retry_end",
    "extension_ui_request",
    "extension_error",
    "turn_start",
    "queue_update",
    "response",
    "something_newer",
    "",
    "hook_error",
    "compaction_start",
];

const UPDATE_TYPES: [&str; 9] = [
    "text_delta",
    "thinking_delta",
    "toolcall_start",
    "toolcall_delta",
    "toolcall_end",
    "done",
    "error",
    "start",
    "other",
];

/// A value for a field of a Pi event: mostly the type Pi uses, sometimes anything.
fn pi_field(key: &'static str) -> BoxedStrategy<Value> {
    let plausible = match key {
        "willRetry" | "success" | "isError" | "aborted" => any::<bool>().prop_map(Value::Bool).boxed(),
        "message" => (
            prop::sample::select(vec!["assistant", "user", "toolResult", "custom"]),
            prop::sample::select(vec!["stop", "error", "toolUse", "length", "aborted"]),
            prop::option::of(any::<i64>()),
            json_value(),
        )
            .prop_map(|(role, stop, timestamp, content)| {
                json!({"role": role, "stopReason": stop, "timestamp": timestamp, "content": content})
            })
            .boxed(),
        "messages" => prop::collection::vec(pi_field("message"), 0..3).prop_map(Value::Array).boxed(),
        "assistantMessageEvent" => (
            prop::sample::select(UPDATE_TYPES.to_vec()),
            prop::option::of(any::<u64>()),
            ".{0,12}",
            json_value(),
        )
            .prop_map(|(kind, index, delta, call)| {
                json!({"type": kind, "contentIndex": index, "delta": delta, "id": "call", "toolName": "bash", "toolCall": call, "reason": "aborted"})
            })
            .boxed(),
        "method" => prop::sample::select(vec!["setStatus", "setTitle", "notify", "select", "confirm", "input", "x"])
            .prop_map(|m| Value::String(m.to_owned()))
            .boxed(),
        "statusKey" => prop::sample::select(vec!["oqto_phase", "oqto_title_changed", "other"])
            .prop_map(|m| Value::String(m.to_owned()))
            .boxed(),
        "attempt" | "maxAttempts" | "delayMs" | "timeout" => any::<u64>().prop_map(Value::from).boxed(),
        _ => ".{0,12}".prop_map(Value::String).boxed(),
    };
    prop_oneof![9 => plausible, 1 => json_value()].boxed()
}

const PI_KEYS: [&str; 17] = [
    "willRetry",
    "success",
    "isError",
    "aborted",
    "message",
    "messages",
    "assistantMessageEvent",
    "method",
    "statusKey",
    "statusText",
    "attempt",
    "maxAttempts",
    "delayMs",
    "timeout",
    "toolCallId",
    "toolName",
    "errorMessage",
];

/// An object shaped like a Pi event: a known (or unknown) `type` and some of Pi's fields.
fn pi_event() -> impl Strategy<Value = Value> {
    let fields = PI_KEYS
        .iter()
        .map(|key| prop::option::weighted(0.4, pi_field(key)).prop_map(move |v| (*key, v)))
        .collect::<Vec<_>>();
    (prop::sample::select(PI_TYPES.to_vec()), fields).prop_map(|(kind, fields)| {
        let mut object = Map::new();
        object.insert("type".into(), Value::String(kind.to_owned()));
        for (key, value) in fields {
            if let Some(value) = value {
                object.insert(key.to_owned(), value);
            }
        }
        Value::Object(object)
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// Any sequence of Pi-shaped events, printed as Pi prints them: each line reads back as the
    /// event, text deltas pass through unchanged, and a run ends with exactly one `agent.idle`
    /// (no idle without a run in progress, no run still in progress after its idle).
    #[test]
    fn pi_event_sequences_keep_the_run_shape(events in prop::collection::vec(pi_event(), 1..20)) {
        let mut translator = Translator::new();
        for event in &events {
            let was_working = translator.is_working();
            let line = event.to_string();
            prop_assert_eq!(split_json_objects(&line), vec![event.clone()]);
            let out = translate_line(&mut translator, &line);
            let idles = out.iter().filter(|e| matches!(e, EventKind::AgentIdle { .. })).count();
            prop_assert!(idles <= 1, "{idles} idles for {event}");
            if idles == 1 {
                prop_assert!(was_working, "agent.idle without a run: {event}");
                prop_assert!(!translator.is_working(), "still working after agent.idle: {event}");
                prop_assert!(matches!(out.last(), Some(EventKind::AgentIdle { .. })), "idle is last: {event}");
            }
            for kind in &out {
                if let EventKind::StreamTextDelta { message_id, delta, .. } = kind {
                    prop_assert!(message_id.starts_with("msg_"), "{message_id}");
                    let sent = event["assistantMessageEvent"]["delta"].as_str().unwrap_or_default();
                    prop_assert_eq!(delta.as_str(), sent);
                }
            }
        }
    }
}
