//! The `files`, `terminal`, `hstry` and `system` frames of §2.3: every request parses with
//! `ClientFrame::parse` and writes back unchanged, every reply carries `channel` at the top level.
#![allow(clippy::unwrap_used)]

mod common;

use common::round_trip;
use oqto_proto::canonical::{Event, EventKind};
use oqto_proto::mux::{
    ClientFrame, EntryType, FilesEvent, FilesOp, FilesRequest, ServerFrame, SystemEvent,
    TerminalEvent, TerminalRequest,
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
        json!({"channel":"files","type":"tree","id":"1","workspace_path":"/w","path":"src","depth":3,"include_hidden":true,"offset":0,"limit":100}),
        json!({"channel":"files","type":"read","id":"2","path":"a.txt"}),
        json!({"channel":"files","type":"write","id":"3","path":"a/b.txt","content":"aGk=","create_parents":true}),
        json!({"channel":"files","type":"list","path":"","include_hidden":false}),
        json!({"channel":"files","type":"stat","path":"a.txt"}),
        json!({"channel":"files","type":"delete","path":"a","recursive":true}),
        json!({"channel":"files","type":"create_directory","path":"a/b","create_parents":false}),
        json!({"channel":"files","type":"rename","from":"a","to":"b"}),
        json!({"channel":"files","type":"copy","from":"a","to":"b","overwrite":true}),
        json!({"channel":"files","type":"move","from":"a","to":"b","overwrite":false}),
    ] {
        let ClientFrame::Files(_) = parses_back_unchanged(frame) else {
            panic!("a files frame")
        };
    }
}

#[test]
fn files_flags_default_to_false_and_tree_path_to_the_root() {
    let ClientFrame::Files(FilesRequest { id, op, .. }) =
        ClientFrame::parse(r#"{"channel":"files","type":"tree"}"#).unwrap()
    else {
        panic!("files")
    };
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
    let ClientFrame::Files(request) =
        ClientFrame::parse(r#"{"channel":"files","type":"write","path":"a","content":""}"#)
            .unwrap()
    else {
        panic!("files")
    };
    assert!(matches!(
        request.op,
        FilesOp::Write {
            create_parents: false,
            ..
        }
    ));
}

#[test]
fn every_terminal_and_hstry_request_round_trips() {
    for frame in [
        json!({"channel":"terminal","type":"open","id":"o","terminal_id":"t1","workspace_path":"/w","session_id":"S","cols":80,"rows":24}),
        json!({"channel":"terminal","type":"open","cols":80,"rows":24}),
        json!({"channel":"terminal","type":"input","terminal_id":"t1","data":"echo hello\r"}),
        json!({"channel":"terminal","type":"resize","terminal_id":"t1","cols":100,"rows":30}),
        json!({"channel":"terminal","type":"close","terminal_id":"t1"}),
        json!({"channel":"hstry","type":"query","id":"q","session_id":"S","query":":tree","limit":50}),
        json!({"channel":"hstry","type":"query","query":"needle"}),
    ] {
        parses_back_unchanged(frame);
    }
    let ClientFrame::Terminal(TerminalRequest::Resize { cols, rows, .. }) = ClientFrame::parse(
        r#"{"channel":"terminal","type":"resize","terminal_id":"t","cols":120,"rows":40}"#,
    )
    .unwrap() else {
        panic!("resize")
    };
    assert_eq!((cols, rows), (120, 40));
}

#[test]
fn every_server_reply_round_trips() {
    for frame in [
        json!({"channel":"files","type":"tree_result","id":"1","path":"","entries":[
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
        json!({"channel":"terminal","type":"output","terminal_id":"t1","data_base64":"aGVsbG8="}),
        json!({"channel":"terminal","type":"exit","terminal_id":"t1"}),
        json!({"channel":"terminal","type":"error","id":"o","terminal_id":"t1","error":"no pty"}),
        json!({"channel":"hstry","type":"result","id":"q","data":{"hits":[],"total":0}}),
        json!({"channel":"hstry","type":"error","error":"hstry unavailable"}),
        json!({"channel":"system","type":"connected"}),
        json!({"channel":"system","type":"ping"}),
        json!({"channel":"system","type":"error","id":null,"error":"Invalid frame: not JSON"}),
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
    let frame = ServerFrame::Terminal(TerminalEvent::Error {
        id: None,
        terminal_id: None,
        error: "closed".into(),
    });
    assert_eq!(
        serde_json::from_str::<Value>(&frame.to_json()).unwrap(),
        json!({"channel":"terminal","type":"error","error":"closed"})
    );
    let frame = ServerFrame::Files(FilesEvent::WriteResult {
        id: None,
        path: "a".into(),
        success: true,
    });
    assert_eq!(
        serde_json::from_str::<Value>(&frame.to_json()).unwrap(),
        json!({"channel":"files","type":"write_result","path":"a","success":true})
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
