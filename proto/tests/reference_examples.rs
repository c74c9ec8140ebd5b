//! The literal JSON examples of the protocol reference (`shared/reference/oqto-protocol.md`):
//! they parse into the canonical and mux types and serialise back to the same JSON.
#![allow(clippy::unwrap_used)]

mod common;

use common::{event, round_trip, with};
use oqto_proto::canonical::{Command, CommandKind, Event, EventKind, Message, Part, Sender};
use oqto_proto::mux::{ClientFrame, ServerFrame};
use serde_json::json;

#[test]
fn the_e2e_streaming_exchange_of_section_2_3() {
    let create = json!({"channel":"agent","cmd":"session.create","session_id":"s","id":"req-1",
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
        json!({"channel":"agent","cmd":"prompt","session_id":"s","message":"hello","id":"req-2"});
    let parsed = ClientFrame::parse(&prompt.to_string()).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), prompt);
    let ClientFrame::Agent(Command {
        kind: CommandKind::Prompt { message, .. },
        ..
    }) = parsed
    else {
        panic!("prompt")
    };
    assert_eq!(message, "hello");

    // ← response(prompt), agent.working{generating}, stream.message_start, stream.text_delta…,
    //   stream.done, stream.message_end, agent.idle
    let channel = json!({"channel":"agent"});
    let turn = [
        json!({"event":"response","id":"req-2","cmd":"prompt","success":true}),
        json!({"event":"agent.working","phase":"generating"}),
        json!({"event":"stream.message_start","message_id":"msg_1","role":"assistant"}),
        json!({"event":"stream.text_delta","message_id":"msg_1","delta":"Hel","content_index":0}),
        json!({"event":"stream.text_delta","message_id":"msg_1","delta":"lo","content_index":0}),
        json!({"event":"stream.done","reason":"stop"}),
        json!({"event":"stream.message_end","message":{"id":"msg_0f3a","idx":1,"role":"assistant",
            "parts":[{"type":"text","id":"part_1","text":"Hello"}],"created_at":1_700_000_000_001i64,
            "model":"simple-text","provider":"mock","stop_reason":"stop"}}),
        json!({"event":"agent.idle"}),
    ];
    for payload in turn {
        let name = payload["event"].clone();
        let frame: ServerFrame = round_trip(with(channel.clone(), event(payload)));
        let ServerFrame::Agent(parsed) = frame else {
            panic!("agent frame")
        };
        assert_eq!(parsed.kind.name(), name);
    }
}

#[test]
fn the_sender_example_of_section_1_1() {
    let sender: Sender = round_trip(json!({"type":"agent","id":"ses_xyz","name":"pi:ses_xyz",
        "runner_id":"local","session_id":"ses_xyz"}));
    assert_eq!(sender.runner_id.as_deref(), Some("local"));
}

#[test]
fn a_message_with_every_common_part() {
    let sender = json!({"type":"agent","id":"ses_xyz","name":"pi:ses_xyz","runner_id":"local","session_id":"ses_xyz"});
    let message = json!({"id":"m1","idx":1,"role":"assistant","sender":sender,"created_at":1_700_000_000_000i64,
    "model":"scripted","provider":"scripted","stop_reason":"tool_use",
    "usage":{"input_tokens":10,"output_tokens":5,"cost_usd":0.01},
    "parts":[
        {"type":"text","id":"part_1","text":"hi","format":"markdown"},
        {"type":"thinking","id":"part_2","text":"hm"},
        {"type":"tool_call","id":"part_3","toolCallId":"call_1","name":"bash","input":{"command":"ls"}},
        {"type":"tool_call","id":"part_4","toolCallId":"call_2","name":"read","status":"success"},
        {"type":"tool_result","id":"part_5","toolCallId":"call_1","name":"bash","output":"a","isError":false,"durationMs":3},
        {"type":"file_ref","id":"part_6","uri":"file:///w/a.rs","label":"a.rs","range":{"startLine":1,"endLine":2}},
        {"type":"image","id":"part_7","source":"base64","data":"AAAA","mimeType":"image/png"},
        {"type":"attachment","id":"part_8","source":"url","url":"https://x/y.pdf","filename":"y.pdf","sizeBytes":10}
    ]});
    let message: Message = round_trip(message);
    assert_eq!(message.parts.len(), 8);
    assert!(
        matches!(&message.parts[2], Part::ToolCall { tool_call_id, .. } if tool_call_id == "call_1")
    );
}
