//! The JSON of the protocol reference (`shared/reference/oqto-protocol.md` §1–§2) parses into the
//! canonical and mux types and serialises back to the same JSON: field names and tags are the
//! contract.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use oqto_proto::canonical::{Command, CommandKind, Event, EventKind, Message, Part, Sender};
use oqto_proto::mux::{ClientFrame, FrameError, ServerFrame};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Parses `value` as `T` and requires the same JSON back.
fn round_trip<T: Serialize + DeserializeOwned>(value: Value) -> T {
    let typed: T = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), value);
    typed
}

#[test]
fn the_e2e_streaming_exchange_of_section_2_3() {
    let create = json!({"channel":"agent","cmd":"session.create","session_id":"S","id":"req-1",
        "config":{"harness":"pi","cwd":"/tmp","model":"mock/simple-text","provider":"mock"}});
    let frame = ClientFrame::parse(&create.to_string()).unwrap();
    assert_eq!(serde_json::to_value(&frame).unwrap(), create);
    let ClientFrame::Agent(command) = frame else {
        panic!("agent frame")
    };
    assert_eq!(command.kind.name(), "session.create");

    let created = json!({"channel":"agent","session_id":"S","runner_id":"local","ts":1_700_000_000_000i64,
        "event":"response","id":"req-1","cmd":"session.create","success":true,
        "data":{"session_id":"S","target_scope":"personal","target_workspace_id":null,"workspace_path":"/tmp"}});
    let frame: ServerFrame = round_trip(created);
    assert!(matches!(
        frame,
        ServerFrame::Agent(Event {
            kind: EventKind::Response { success: true, .. },
            ..
        })
    ));

    let prompt =
        json!({"channel":"agent","cmd":"prompt","session_id":"S","message":"hello","id":"req-2"});
    let ClientFrame::Agent(Command {
        kind: CommandKind::Prompt { message, .. },
        ..
    }) = ClientFrame::parse(&prompt.to_string()).unwrap()
    else {
        panic!("prompt")
    };
    assert_eq!(message, "hello");
}

#[test]
fn every_stream_event_of_a_turn() {
    let envelope = |payload: Value| {
        let mut event = json!({"session_id":"S","runner_id":"local","ts":5});
        event
            .as_object_mut()
            .unwrap()
            .extend(payload.as_object().unwrap().clone());
        event
    };
    for payload in [
        json!({"event":"agent.working","phase":"generating"}),
        json!({"event":"agent.working","phase":"tool_running","detail":"bash"}),
        json!({"event":"stream.message_start","message_id":"msg_1","role":"assistant"}),
        json!({"event":"stream.text_delta","message_id":"msg_1","delta":"Hel","content_index":0}),
        json!({"event":"stream.thinking_delta","message_id":"msg_1","delta":"hm","content_index":0}),
        json!({"event":"stream.tool_call_start","message_id":"msg_1","tool_call_id":"call_1","name":"bash","content_index":1}),
        json!({"event":"stream.tool_call_delta","message_id":"msg_1","tool_call_id":"","delta":"{","content_index":1}),
        json!({"event":"stream.tool_call_end","message_id":"msg_1","tool_call_id":"call_1",
               "tool_call":{"id":"call_1","name":"bash","input":{"command":"ls"}},"content_index":1}),
        json!({"event":"stream.done","reason":"tool_use"}),
        json!({"event":"tool.start","tool_call_id":"call_1","name":"bash","input":{"command":"ls"}}),
        json!({"event":"tool.progress","tool_call_id":"call_1","name":"bash","partial_output":"a"}),
        json!({"event":"tool.end","tool_call_id":"call_1","name":"bash","output":"a\nb","is_error":false,"duration_ms":12}),
        json!({"event":"agent.idle","message_version":{"version":3,"message_count":4}}),
        json!({"event":"agent.idle"}),
        json!({"event":"agent.error","error":"boom","recoverable":true,"phase":"generating"}),
        json!({"event":"retry.start","attempt":1,"max_attempts":3,"delay_ms":2000,"error":"429"}),
        json!({"event":"retry.end","success":false,"attempt":3,"final_error":"429"}),
        json!({"event":"compact.start","reason":"overflow"}),
        json!({"event":"compact.end","success":true,"will_retry":false,"summary":"s","tokens_before":9000}),
        json!({"event":"config.model_changed","provider":"anthropic","model_id":"claude"}),
        json!({"event":"config.thinking_level_changed","level":"high"}),
        json!({"event":"notify","level":"warning","message":"careful"}),
        json!({"event":"status","key":"k","text":"t"}),
        json!({"event":"session.title_changed","title":"Fix bug","readable_id":"cold-lamp-bird"}),
        json!({"event":"stream.resync_required","dropped_count":7,"reason":"slow"}),
        json!({"event":"agent.input_needed","request":{"type":"confirm","request_id":"r","title":"Run?","message":"rm"}}),
        json!({"event":"persisted","message_count":4}),
        json!({"event":"response","id":"","cmd":"abort","success":false,"error":"not running"}),
    ] {
        let event: Event = round_trip(envelope(payload));
        assert_eq!(event.session_id, "S");
    }
}

#[test]
fn a_message_with_every_common_part_and_the_sender_example() {
    let sender = json!({"type":"agent","id":"ses_xyz","name":"pi:ses_xyz","runner_id":"local","session_id":"ses_xyz"});
    let _: Sender = round_trip(sender.clone());
    let message = json!({"id":"m1","idx":1,"role":"assistant","sender":sender,"created_at":1_700_000_000_000i64,
    "model":"scripted","provider":"scripted","stop_reason":"tool_use",
    "usage":{"input_tokens":10,"output_tokens":5,"cost_usd":0.01},
    "parts":[
        {"type":"text","id":"part_1","text":"hi","format":"markdown"},
        {"type":"thinking","id":"part_2","text":"hm"},
        {"type":"tool_call","id":"part_3","toolCallId":"call_1","name":"bash","input":{"command":"ls"}},
        {"type":"tool_call","id":"part_4","toolCallId":"call_2","name":"read","status":"success"},
        {"type":"tool_result","id":"part_5","toolCallId":"call_1","name":"bash","output":"a","isError":false,"durationMs":3},
        {"type":"file_ref","id":"part_6","uri":"file:///w/a.rs","range":{"startLine":1,"endLine":2}},
        {"type":"image","id":"part_7","source":"base64","data":"AAAA","mimeType":"image/png"},
        {"type":"attachment","id":"part_8","source":"url","url":"https://x/y.pdf","filename":"y.pdf","sizeBytes":10}
    ]});
    let message: Message = round_trip(message);
    assert!(
        matches!(&message.parts[2], Part::ToolCall { tool_call_id, .. } if tool_call_id == "call_1")
    );
}

#[test]
fn responses_are_flat_and_carry_an_empty_id_when_the_command_had_none() {
    let event = Event::new(
        "S",
        "r",
        EventKind::response_ok(None, "get_state", Some(json!({"a":1}))),
    );
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(value["event"], "response");
    assert_eq!(value["id"], "");
    assert_eq!(value["data"]["a"], 1);
    assert!(value.get("response").is_none(), "no nested response object");
    assert!(
        value.get("error").is_none(),
        "absent optional fields are omitted"
    );
}

#[test]
fn bad_frames_are_named_precisely() {
    let err = |text: &str| ClientFrame::parse(text).unwrap_err();
    assert!(matches!(err("not json"), FrameError::NotJson { .. }));
    assert_eq!(err("[1]"), FrameError::NotObject);
    let e = err(r#"{"id":"a","type":"read"}"#);
    assert!(e.to_string().contains("`channel`"), "{e}");
    assert_eq!(e.id(), Some("a"));
    let e = err(r#"{"channel":"radio","id":"b"}"#);
    assert!(e.to_string().contains("\"radio\""), "{e}");
    assert_eq!(e.id(), Some("b"));
    let e = err(r#"{"channel":"bus","type":"publish"}"#);
    assert!(e.to_string().contains("`bus` is not served"), "{e}");
    let e = err(r#"{"channel":"agent","session_id":"s","id":"c"}"#);
    assert!(e.to_string().contains("missing `cmd`"), "{e}");
    assert_eq!(e.channel(), Some(oqto_proto::mux::Channel::Agent));
    let e = err(r#"{"channel":"agent","cmd":"dance","session_id":"s"}"#);
    assert!(e.to_string().contains("unknown cmd \"dance\""), "{e}");
    let e = err(r#"{"channel":"agent","cmd":"prompt","id":"d"}"#);
    assert!(
        e.to_string().contains("`prompt`") && e.to_string().contains("session_id"),
        "{e}"
    );
    let e = err(r#"{"channel":"files","type":"read","id":"e"}"#);
    assert!(e.to_string().contains("missing field `path`"), "{e}");
    assert_eq!(
        (e.id(), e.channel()),
        (Some("e"), Some(oqto_proto::mux::Channel::Files))
    );
    let e = err(r#"{"channel":"terminal","type":"open","cols":"wide","rows":2}"#);
    assert!(e.to_string().contains("`open`"), "{e}");
    let e = err(r#"{"channel":"hstry","type":"delete_everything"}"#);
    assert!(e.to_string().contains("delete_everything"), "{e}");
}

#[test]
fn non_agent_replies_have_their_type_and_echo_the_id() {
    let frames = [
        json!({"channel":"files","type":"read_result","id":"r","path":"a","content":"aGk=","size":2,"truncated":false}),
        json!({"channel":"files","type":"list_result","path":"","entries":[{"name":"a","is_dir":false,"is_symlink":false,"size":2,"modified_at":null}]}),
        json!({"channel":"files","type":"error","id":"r","error":"path: nope"}),
        json!({"channel":"terminal","type":"opened","id":"o","terminal_id":"term-1"}),
        json!({"channel":"terminal","type":"output","terminal_id":"term-1","data_base64":"aGk="}),
        json!({"channel":"hstry","type":"result","id":"q","data":{"hits":[],"total":0}}),
        json!({"channel":"system","type":"connected"}),
        json!({"channel":"system","type":"ping"}),
        json!({"channel":"system","type":"error","id":null,"error":"Invalid frame: not JSON"}),
    ];
    for frame in frames {
        let _: ServerFrame = round_trip(frame);
    }
}
