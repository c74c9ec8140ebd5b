//! `Part` uses hstry's camelCase field names under snake_case `type` tags (§1.2a); `Message`
//! omits every absent optional field (§1.1).
#![allow(clippy::unwrap_used)]

mod common;

use common::round_trip;
use oqto_proto::canonical::{
    FileRange, MediaSource, Message, Part, Role, Sender, SenderType, ToolCallStatus,
};
use serde_json::{Value, json};

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn tool_parts_use_camel_case_field_names() {
    let call = Part::ToolCall {
        id: "part_1".into(),
        tool_call_id: "call_1".into(),
        name: "bash".into(),
        input: Some(json!({"command":"ls"})),
        status: ToolCallStatus::Running,
    };
    let value = serde_json::to_value(&call).unwrap();
    assert_eq!(
        keys(&value),
        ["id", "input", "name", "status", "toolCallId", "type"]
    );
    assert_eq!(
        (&value["type"], &value["status"]),
        (&json!("tool_call"), &json!("running"))
    );

    let result = Part::ToolResult {
        id: "part_2".into(),
        tool_call_id: "call_1".into(),
        name: None,
        output: Some(json!("ok")),
        is_error: true,
        duration_ms: Some(4),
    };
    let value = serde_json::to_value(&result).unwrap();
    assert_eq!(
        keys(&value),
        [
            "durationMs",
            "id",
            "isError",
            "output",
            "toolCallId",
            "type"
        ]
    );
    assert_eq!(value["type"], "tool_result");
}

#[test]
fn media_parts_flatten_their_source_with_camel_case_names() {
    let audio = Part::Audio {
        id: "part_3".into(),
        source: MediaSource::AttachmentRef {
            attachment_id: "att_1".into(),
            mime_type: Some("audio/ogg".into()),
        },
        duration_sec: Some(1.5),
        transcript: None,
    };
    assert_eq!(
        serde_json::to_value(&audio).unwrap(),
        json!({"type":"audio","id":"part_3","source":"attachmentRef","attachmentId":"att_1",
               "mimeType":"audio/ogg","durationSec":1.5})
    );
    for part in [
        json!({"type":"image","id":"p","source":"url","url":"https://x/a.png","alt":"a"}),
        json!({"type":"image","id":"p","source":"base64","data":"AAAA","mimeType":"image/png"}),
        json!({"type":"video","id":"p","source":"url","url":"https://x/v.mp4","mimeType":"video/mp4","durationSec":3.0}),
        json!({"type":"attachment","id":"p","source":"attachmentRef","attachmentId":"a","filename":"f.pdf","sizeBytes":10}),
    ] {
        let _: Part = round_trip(part);
    }
}

#[test]
fn a_base64_source_requires_its_mime_type() {
    let error = serde_json::from_value::<Part>(
        json!({"type":"image","id":"p","source":"base64","data":"AAAA"}),
    )
    .unwrap_err();
    assert!(error.to_string().contains("mimeType"), "{error}");
}

#[test]
fn file_ref_ranges_use_camel_case() {
    let part = Part::FileRef {
        id: "p".into(),
        uri: "file:///w/a.rs".into(),
        label: None,
        range: Some(FileRange {
            start_line: Some(3),
            end_line: None,
        }),
    };
    assert_eq!(
        serde_json::to_value(&part).unwrap(),
        json!({"type":"file_ref","id":"p","uri":"file:///w/a.rs","range":{"startLine":3}})
    );
}

#[test]
fn a_pending_tool_call_omits_its_status_and_reads_back_as_pending() {
    let value = json!({"type":"tool_call","id":"p","toolCallId":"c","name":"read"});
    let part: Part = round_trip(value);
    assert!(matches!(
        part,
        Part::ToolCall {
            status: ToolCallStatus::Pending,
            input: None,
            ..
        }
    ));
}

#[test]
fn a_tool_result_without_is_error_is_not_an_error_and_says_so_when_written() {
    let part: Part =
        serde_json::from_value(json!({"type":"tool_result","id":"p","toolCallId":"c"})).unwrap();
    assert!(matches!(
        part,
        Part::ToolResult {
            is_error: false,
            ..
        }
    ));
    assert_eq!(serde_json::to_value(&part).unwrap()["isError"], false);
}

#[test]
fn snake_case_field_names_are_not_the_part_contract() {
    let error = serde_json::from_value::<Part>(
        json!({"type":"tool_call","id":"p","tool_call_id":"c","name":"read"}),
    )
    .unwrap_err();
    assert!(error.to_string().contains("toolCallId"), "{error}");
}

#[test]
fn part_ids_are_part_and_a_simple_uuid() {
    let (first, second) = (Part::new_id(), Part::new_id());
    let hex = first.strip_prefix("part_").unwrap();
    assert_eq!(hex.len(), 32);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{first}");
    assert_ne!(first, second);
}

#[test]
fn a_message_omits_every_absent_optional_field() {
    let message = Message {
        id: "m1".into(),
        idx: 0,
        role: Role::User,
        client_id: None,
        sender: None,
        parts: vec![Part::Text {
            id: "part_1".into(),
            text: "hi".into(),
            format: None,
        }],
        created_at: 1_700_000_000_000,
        model: None,
        provider: None,
        stop_reason: None,
        usage: None,
        tool_call_id: None,
        tool_name: None,
        is_error: None,
        metadata: None,
    };
    assert_eq!(
        serde_json::to_value(&message).unwrap(),
        json!({"id":"m1","idx":0,"role":"user","created_at":1_700_000_000_000i64,
               "parts":[{"type":"text","id":"part_1","text":"hi"}]})
    );
}

#[test]
fn a_tool_message_keeps_its_tool_fields_and_metadata() {
    let _: Message = round_trip(
        json!({"id":"m2","idx":2,"role":"tool","client_id":"c","created_at":5,
        "parts":[{"type":"tool_result","id":"p","toolCallId":"call_1","output":"x","isError":true}],
        "tool_call_id":"call_1","tool_name":"bash","is_error":true,"metadata":{"pi":{"details":1}}}),
    );
}

#[test]
fn usage_omits_absent_cache_and_cost_fields() {
    let message: Message = round_trip(
        json!({"id":"m3","idx":3,"role":"assistant","created_at":5,"parts":[],
        "usage":{"input_tokens":1,"output_tokens":2,"cache_read_tokens":3,"cache_write_tokens":4,"cost_usd":0.5}}),
    );
    let mut usage = message.usage.unwrap();
    usage.cache_read_tokens = None;
    usage.cost_usd = None;
    assert_eq!(
        serde_json::to_value(&usage).unwrap(),
        json!({"input_tokens":1,"output_tokens":2,"cache_write_tokens":4})
    );
}

#[test]
fn the_sender_example_of_section_1_1_and_a_minimal_sender() {
    let sender: Sender = round_trip(json!({"type":"agent","id":"ses_xyz","name":"pi:ses_xyz",
        "runner_id":"local","session_id":"ses_xyz"}));
    assert_eq!(sender.sender_type, SenderType::Agent);
    let _: Sender = round_trip(json!({"type":"user","id":"u1","name":"Ada"}));
}

#[test]
fn an_unknown_role_is_refused_by_name() {
    let error = serde_json::from_value::<Message>(
        json!({"id":"m","idx":0,"role":"narrator","created_at":0,"parts":[]}),
    )
    .unwrap_err();
    assert!(error.to_string().contains("narrator"), "{error}");
}
