//! The `files`, `terminal`, `hstry` and `system` frames of §2.3: every request parses with
//! `ClientFrame::parse` and writes back unchanged, every reply carries `channel` (and, from a
//! runner, `session_id`) at the top level.
#![allow(clippy::unwrap_used)]

mod common;

use common::round_trip;
use oqto_proto::canonical::{Event, EventKind};
use oqto_proto::mux::{
    Addressed, ClientFrame, EntryType, FilesEvent, FilesOp, FilesRequest, ServerFrame, SessionName,
    SystemEvent, Tagged, TerminalEvent, TerminalRequest,
};
use serde_json::{Value, json};

fn parses_back_unchanged(frame: Value) -> ClientFrame {
    let parsed = ClientFrame::parse(&frame.to_string()).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), frame);
    parsed
}

#[test]
fn every_files_request_round_trips() {
    for frame in [
        json!({"channel":"files","session_id":"s","type":"tree","id":"1","workspace_path":"/w","path":"src","depth":3,"include_hidden":true,"offset":0,"limit":100}),
        json!({"channel":"files","session_id":"s","type":"read","id":"2","path":"a.txt"}),
        json!({"channel":"files","session_id":"s","type":"write","id":"3","path":"a/b.txt","content":"aGk=","create_parents":true}),
        json!({"channel":"files","session_id":"s","type":"list","path":"","include_hidden":false}),
        json!({"channel":"files","session_id":"s","type":"stat","path":"a.txt"}),
        json!({"channel":"files","session_id":"s","type":"delete","path":"a","recursive":true}),
        json!({"channel":"files","session_id":"s","type":"create_directory","path":"a/b","create_parents":false}),
        json!({"channel":"files","session_id":"s","type":"rename","from":"a","to":"b"}),
        json!({"channel":"files","session_id":"s","type":"copy","from":"a","to":"b","overwrite":true}),
        json!({"channel":"files","session_id":"s","type":"move","from":"a","to":"b","overwrite":false}),
    ] {
        let ClientFrame::Files(_) = parses_back_unchanged(frame) else {
            panic!("a files frame")
        };
    }
}

#[test]
fn files_flags_default_to_false_and_tree_path_to_the_root() {
    let ClientFrame::Files(Addressed {
        session_id,
        body: FilesRequest { id, op, .. },
    }) = ClientFrame::parse(r#"{"channel":"files","session_id":"s","type":"tree"}"#).unwrap()
    else {
        panic!("files")
    };
    assert_eq!(session_id.as_str(), "s");
    assert_eq!(id, None);
    assert_eq!(
        op,
        FilesOp::Tree {
            path: String::new(),
            depth: None,
            include_hidden: false,
            offset: None,
            limit: None
        }
    );
    let ClientFrame::Files(request) = ClientFrame::parse(
        r#"{"channel":"files","session_id":"s","type":"write","path":"a","content":""}"#,
    )
    .unwrap() else {
        panic!("files")
    };
    assert!(matches!(
        request.body.op,
        FilesOp::Write {
            create_parents: false,
            ..
        }
    ));
}

#[test]
fn every_terminal_and_hstry_request_round_trips() {
    for frame in [
        json!({"channel":"terminal","session_id":"s","type":"open","id":"o","terminal_id":"t1","workspace_path":"/w","cols":80,"rows":24}),
        json!({"channel":"terminal","session_id":"s","type":"open","cols":80,"rows":24}),
        json!({"channel":"terminal","session_id":"s","type":"input","terminal_id":"t1","data":"echo hello\r"}),
        json!({"channel":"terminal","session_id":"s","type":"resize","terminal_id":"t1","cols":100,"rows":30}),
        json!({"channel":"terminal","session_id":"s","type":"close","terminal_id":"t1"}),
        json!({"channel":"hstry","session_id":"s","type":"query","id":"q","query":":tree","limit":50}),
        json!({"channel":"hstry","session_id":"s","type":"query","query":"needle"}),
    ] {
        parses_back_unchanged(frame);
    }
    let ClientFrame::Terminal(Addressed {
        body: TerminalRequest::Resize { cols, rows, .. },
        ..
    }) = ClientFrame::parse(
        r#"{"channel":"terminal","session_id":"s","type":"resize","terminal_id":"t","cols":120,"rows":40}"#,
    )
    .unwrap() else {
        panic!("resize")
    };
    assert_eq!((cols, rows), (120, 40));
}

#[test]
fn every_server_reply_round_trips() {
    for frame in [
        json!({"channel":"files","session_id":"s","type":"tree_result","id":"1","path":"","entries":[
            {"name":"src","path":"src","type":"directory","modified":5,"children":[
                {"name":"a.rs","path":"src/a.rs","type":"file","size":3}]},
            {"name":"l","path":"l","type":"symlink"}],
            "truncated":true,"stop_reason":"max_nodes","visited_nodes":20000,"next_offset":1000,"total_entries":4000}),
        json!({"channel":"files","type":"read_result","id":"2","path":"a","content":"aGk=","size":2,"truncated":false}),
        json!({"channel":"files","type":"write_result","id":"3","path":"a","success":true}),
        json!({"channel":"files","type":"list_result","path":"","entries":[
            {"name":"a","is_dir":false,"is_symlink":false,"size":2,"modified_at":1_700_000_000_000i64},
            {"name":"d","is_dir":true,"is_symlink":false,"size":0,"modified_at":null}]}),
        json!({"channel":"files","type":"stat_result","path":"a","stat":
            {"name":"a","path":"a","type":"file","size":2,"modified_at":null,"readonly":false}}),
        json!({"channel":"files","type":"delete_result","path":"a","success":true}),
        json!({"channel":"files","type":"create_directory_result","path":"d","success":true}),
        json!({"channel":"files","type":"rename_result","from":"a","to":"b","success":true}),
        json!({"channel":"files","type":"copy_result","from":"a","to":"b","success":true}),
        json!({"channel":"files","type":"move_result","id":"m","from":"a","to":"b","success":true}),
        json!({"channel":"files","type":"error","id":"r","error":"path: refused"}),
        json!({"channel":"terminal","type":"opened","id":"o","terminal_id":"t1"}),
        json!({"channel":"terminal","session_id":"s","type":"output","terminal_id":"t1","data_base64":"aGVsbG8="}),
        json!({"channel":"terminal","type":"exit","terminal_id":"t1"}),
        json!({"channel":"terminal","type":"error","id":"o","terminal_id":"t1","error":"no pty"}),
        json!({"channel":"hstry","session_id":"s","type":"result","id":"q","data":{"hits":[],"total":0}}),
        json!({"channel":"hstry","type":"error","error":"hstry unavailable"}),
        json!({"channel":"system","type":"connected"}),
        json!({"channel":"system","type":"ping"}),
        json!({"channel":"system","type":"error","id":null,"error":"Invalid frame: not JSON"}),
        json!({"channel":"system","type":"error","session_id":"s","id":"7","error":"busy"}),
        json!({"channel":"agent","session_id":"S","runner_id":"local","ts":1,"event":"agent.idle"}),
    ] {
        let _: ServerFrame = round_trip(frame);
    }
}

#[test]
fn to_json_puts_the_channel_next_to_the_payload() {
    let frame = ServerFrame::Agent(Event {
        session_id: "S".into(),
        runner_id: "local".into(),
        ts: 7,
        kind: EventKind::StreamTextDelta {
            message_id: "msg_1".into(),
            delta: "Hi".into(),
            content_index: 0,
        },
    });
    let value: Value = serde_json::from_str(&frame.to_json()).unwrap();
    assert_eq!(
        value,
        json!({"channel":"agent","session_id":"S","runner_id":"local","ts":7,
               "event":"stream.text_delta","message_id":"msg_1","delta":"Hi","content_index":0})
    );
    let read_back: ServerFrame = serde_json::from_value(value).unwrap();
    assert_eq!(read_back, frame);
}

#[test]
fn a_system_error_writes_a_null_id_when_the_frame_had_none() {
    let frame = ServerFrame::System(SystemEvent::Error {
        session_id: None,
        id: None,
        error: "bad".into(),
    });
    assert_eq!(
        serde_json::from_str::<Value>(&frame.to_json()).unwrap(),
        json!({"channel":"system","type":"error","id":null,"error":"bad"})
    );
}

#[test]
fn replies_without_an_id_omit_it() {
    let frame = ServerFrame::Terminal(Tagged::new(
        None,
        TerminalEvent::Error {
            id: None,
            terminal_id: None,
            error: "closed".into(),
        },
    ));
    assert_eq!(
        serde_json::from_str::<Value>(&frame.to_json()).unwrap(),
        json!({"channel":"terminal","type":"error","error":"closed"})
    );
    let session = SessionName::parse("s").unwrap();
    let frame = ServerFrame::files(
        &session,
        FilesEvent::WriteResult {
            id: None,
            path: "a".into(),
            success: true,
        },
    );
    assert_eq!(
        serde_json::from_str::<Value>(&frame.to_json()).unwrap(),
        json!({"channel":"files","session_id":"s","type":"write_result","path":"a","success":true})
    );
}

#[test]
fn entry_types_are_lowercase_words() {
    for (entry, name) in [
        (EntryType::File, "file"),
        (EntryType::Directory, "directory"),
        (EntryType::Symlink, "symlink"),
    ] {
        assert_eq!(serde_json::to_value(entry).unwrap(), name);
    }
}

#[test]
fn every_client_frame_names_a_valid_session() {
    for frame in [
        r#"{"channel":"files","type":"read","path":"a"}"#,
        r#"{"channel":"terminal","type":"close","terminal_id":"t"}"#,
        r#"{"channel":"hstry","type":"query"}"#,
        r#"{"channel":"agent","cmd":"abort"}"#,
    ] {
        let error = ClientFrame::parse(frame).unwrap_err().to_string();
        assert!(error.contains("session_id"), "{frame}: {error}");
    }
    for frame in [
        r#"{"channel":"files","session_id":"Bad_Name","type":"read","path":"a"}"#,
        r#"{"channel":"agent","session_id":"tmp:1","cmd":"abort"}"#,
    ] {
        let error = ClientFrame::parse(frame).unwrap_err().to_string();
        assert!(
            error.contains("field `session_id`") && error.contains("is not a session name"),
            "{frame}: {error}"
        );
    }
}
