//! Every row of the §1.3 event table, written out as JSON, parses into `Event` and serialises
//! back unchanged; the `response` event is flat.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{event, round_trip};
use oqto_proto::canonical::{Event, EventKind, InputRequest, now_ms};
use serde_json::{Value, json};

/// The event names of the §1.3 table, in its order.
const TABLE: [&str; 36] = [
    "session.created",
    "session.closed",
    "session.title_changed",
    "session.heartbeat",
    "agent.idle",
    "agent.working",
    "agent.error",
    "agent.input_needed",
    "agent.input_resolved",
    "stream.message_start",
    "stream.text_delta",
    "stream.thinking_delta",
    "stream.tool_call_start",
    "stream.tool_call_delta",
    "stream.tool_call_end",
    "stream.message_end",
    "stream.done",
    "stream.resync_required",
    "tool.start",
    "tool.progress",
    "tool.end",
    "retry.start",
    "retry.end",
    "compact.start",
    "compact.end",
    "config.model_changed",
    "config.thinking_level_changed",
    "notify",
    "status",
    "messages",
    "persisted",
    "delegate.start",
    "delegate.delta",
    "delegate.end",
    "delegate.error",
    "response",
];

fn a_message() -> Value {
    json!({"id":"msg_1","idx":1,"role":"assistant","parts":[{"type":"text","id":"part_1","text":"hi"}],
           "created_at":1_700_000_000_000i64,"model":"m","provider":"p","stop_reason":"stop",
           "usage":{"input_tokens":10,"output_tokens":2}})
}

fn every_row() -> Vec<Value> {
    let sender = json!({"type":"agent","id":"ses_b","name":"pi:ses_b","runner_id":"local","session_id":"ses_b"});
    vec![
        json!({"event":"session.created","resumed":false,"harness":"pi"}),
        json!({"event":"session.closed","reason":"idle"}),
        json!({"event":"session.closed"}),
        json!({"event":"session.title_changed","title":"Fix bug","readable_id":"cold-lamp-bird"}),
        json!({"event":"session.heartbeat","process":{"alive":true,"pid":42,"rss_bytes":1024,"cpu_pct":1.5,"uptime_s":9}}),
        json!({"event":"session.heartbeat","process":{"alive":false}}),
        json!({"event":"agent.idle","message_version":{"version":3,"message_count":4,"last_message_hash":"ab"}}),
        json!({"event":"agent.idle"}),
        json!({"event":"agent.working","phase":"generating"}),
        json!({"event":"agent.working","phase":"tool_running","detail":"bash"}),
        json!({"event":"agent.working","phase":"initializing"}),
        json!({"event":"agent.error","error":"boom","recoverable":true,"phase":"generating"}),
        json!({"event":"agent.error","error":"gone","recoverable":false}),
        json!({"event":"agent.input_needed","request":{"type":"select","request_id":"r1","title":"Pick","options":["a","b"],"timeout":30}}),
        json!({"event":"agent.input_needed","request":{"type":"confirm","request_id":"r2","title":"Run?","message":"rm -rf x"}}),
        json!({"event":"agent.input_needed","request":{"type":"input","request_id":"r3","title":"Name","placeholder":"x"}}),
        json!({"event":"agent.input_needed","request":{"type":"permission","request_id":"r4","title":"Write","description":"d","metadata":{"path":"a"}}}),
        json!({"event":"agent.input_resolved","request_id":"r1"}),
        json!({"event":"stream.message_start","message_id":"msg_1","role":"assistant"}),
        json!({"event":"stream.text_delta","message_id":"msg_1","delta":"Hel","content_index":0}),
        json!({"event":"stream.thinking_delta","message_id":"msg_1","delta":"hm","content_index":0}),
        json!({"event":"stream.tool_call_start","message_id":"msg_1","tool_call_id":"call_1","name":"bash","content_index":1}),
        json!({"event":"stream.tool_call_delta","message_id":"msg_1","tool_call_id":"","delta":"{","content_index":1}),
        json!({"event":"stream.tool_call_end","message_id":"msg_1","tool_call_id":"call_1",
               "tool_call":{"id":"call_1","name":"bash","input":{"command":"ls"}},"content_index":1}),
        json!({"event":"stream.message_end","message":a_message()}),
        json!({"event":"stream.done","reason":"tool_use"}),
        json!({"event":"stream.resync_required","dropped_count":7,"reason":"slow consumer"}),
        json!({"event":"tool.start","tool_call_id":"call_1","name":"bash","input":{"command":"ls"}}),
        json!({"event":"tool.start","tool_call_id":"call_1","name":"bash"}),
        json!({"event":"tool.progress","tool_call_id":"call_1","name":"bash","partial_output":"a"}),
        json!({"event":"tool.end","tool_call_id":"call_1","name":"bash","output":"a\nb","is_error":false,"duration_ms":12}),
        json!({"event":"retry.start","attempt":1,"max_attempts":3,"delay_ms":2000,"error":"429"}),
        json!({"event":"retry.end","success":false,"attempt":3,"final_error":"429"}),
        json!({"event":"compact.start","reason":"threshold"}),
        json!({"event":"compact.end","success":true,"will_retry":false,"summary":"s","tokens_before":9000}),
        json!({"event":"compact.end","success":false,"will_retry":true,"error":"e"}),
        json!({"event":"config.model_changed","provider":"anthropic","model_id":"claude"}),
        json!({"event":"config.thinking_level_changed","level":"high"}),
        json!({"event":"notify","level":"warning","message":"careful"}),
        json!({"event":"status","key":"k","text":"t"}),
        json!({"event":"status","key":"k"}),
        json!({"event":"messages","messages":[a_message()]}),
        json!({"event":"persisted","message_count":4}),
        json!({"event":"delegate.start","request_id":"d1","target_session_id":"ses_b","target_runner_id":"local","mode":"async"}),
        json!({"event":"delegate.delta","request_id":"d1","delta":"par"}),
        json!({"event":"delegate.end","request_id":"d1","response":a_message(),"responder":sender,"duration_ms":80}),
        json!({"event":"delegate.error","request_id":"d1","error":"no","code":"runner_unreachable"}),
        json!({"event":"response","id":"req-1","cmd":"get_state","success":true,"data":{"isStreaming":false}}),
        json!({"event":"response","id":"","cmd":"abort","success":false,"error":"not running"}),
    ]
}

#[test]
fn every_row_of_the_event_table_round_trips() {
    let mut seen = BTreeSet::new();
    for payload in every_row() {
        let parsed: Event = round_trip(event(payload.clone()));
        assert_eq!(
            (parsed.session_id.as_str(), parsed.runner_id.as_str()),
            ("S", "local")
        );
        assert_eq!(parsed.kind.name(), payload["event"], "EventKind::name()");
        seen.insert(parsed.kind.name());
    }
    let table: BTreeSet<String> = TABLE.iter().map(|name| name.to_string()).collect();
    assert_eq!(seen, table, "one example per row of §1.3");
}

#[test]
fn an_event_name_outside_the_table_is_refused() {
    let error =
        serde_json::from_value::<Event>(event(json!({"event":"agent.dancing"}))).unwrap_err();
    assert!(error.to_string().contains("agent.dancing"), "{error}");
}

#[test]
fn an_unknown_input_request_type_is_refused() {
    let error = serde_json::from_value::<InputRequest>(
        json!({"type":"telepathy","request_id":"r","title":"t"}),
    )
    .unwrap_err();
    assert!(error.to_string().contains("telepathy"), "{error}");
}

#[test]
fn a_response_is_flat_and_its_id_is_empty_when_the_command_had_none() {
    let ok = Event::new(
        "S",
        "r",
        EventKind::response_ok(None, "get_state", Some(json!({"a":1}))),
    );
    let value = serde_json::to_value(&ok).unwrap();
    assert_eq!(
        value,
        json!({"session_id":"S","runner_id":"r","ts":ok.ts,"event":"response","id":"",
               "cmd":"get_state","success":true,"data":{"a":1}})
    );

    let failed = Event::new(
        "S",
        "r",
        EventKind::response_err(Some("req-9"), "prompt", "empty message".into()),
    );
    let value = serde_json::to_value(&failed).unwrap();
    assert_eq!(
        value,
        json!({"session_id":"S","runner_id":"r","ts":failed.ts,"event":"response","id":"req-9",
               "cmd":"prompt","success":false,"error":"empty message"})
    );
}

#[test]
fn a_response_without_data_omits_the_key() {
    let value =
        serde_json::to_value(EventKind::response_ok(Some("a"), "set_auto_retry", None)).unwrap();
    assert_eq!(
        value,
        json!({"event":"response","id":"a","cmd":"set_auto_retry","success":true})
    );
}

#[test]
fn a_new_event_is_stamped_with_the_current_unix_milliseconds() {
    let before = now_ms();
    let stamped = Event::new(
        "S",
        "r",
        EventKind::AgentIdle {
            message_version: None,
        },
    );
    let after = now_ms();
    // Milliseconds, not seconds: anything after 2001-09-09 has 13 digits.
    assert!(before >= 1_000_000_000_000);
    assert!(
        (before..=after).contains(&stamped.ts),
        "{before} <= {} <= {after}",
        stamped.ts
    );
}
