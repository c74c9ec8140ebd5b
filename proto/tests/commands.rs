//! Every row of the §1.4 command table, written out as a mux frame, parses with
//! `ClientFrame::parse`, serialises back unchanged and names itself with `CommandKind::name`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::with;
use oqto_proto::canonical::{Command, CommandKind, DelegateMode, ThinkingLevel};
use oqto_proto::mux::ClientFrame;
use serde_json::{Value, json};

fn agent_frame(payload: Value) -> Value {
    with(
        json!({"channel":"agent","session_id":"s","id":"req-1"}),
        payload,
    )
}

fn every_row() -> Vec<Value> {
    vec![
        json!({"cmd":"session.create","config":{"harness":"pi","cwd":"/w","provider":"p","model":"m","continue_session":"/w/s.jsonl"}}),
        json!({"cmd":"session.create","config":{"harness":"pi"}}),
        json!({"cmd":"session.close"}),
        json!({"cmd":"session.delete"}),
        json!({"cmd":"session.new","parent_session":"P"}),
        json!({"cmd":"session.new"}),
        json!({"cmd":"session.switch","session_path":"/home/u/.pi/s.jsonl"}),
        json!({"cmd":"session.restart"}),
        json!({"cmd":"prompt","message":"hello","images":[{"data":"iVBO","media_type":"image/png"}],"client_id":"c1"}),
        json!({"cmd":"prompt","message":"hello"}),
        json!({"cmd":"steer","message":"stop that","client_id":"c2"}),
        json!({"cmd":"follow_up","message":"then this"}),
        json!({"cmd":"abort"}),
        json!({"cmd":"input_response","request_id":"r1","value":"a","confirmed":true,"cancelled":false}),
        json!({"cmd":"input_response","request_id":"r1"}),
        json!({"cmd":"get_state"}),
        json!({"cmd":"get_messages"}),
        json!({"cmd":"get_stats"}),
        json!({"cmd":"get_models","workdir":"/w"}),
        json!({"cmd":"get_commands"}),
        json!({"cmd":"get_fork_points"}),
        json!({"cmd":"list_sessions"}),
        json!({"cmd":"set_model","provider":"anthropic","model_id":"claude"}),
        json!({"cmd":"cycle_model"}),
        json!({"cmd":"set_thinking_level","level":"xhigh"}),
        json!({"cmd":"cycle_thinking_level"}),
        json!({"cmd":"set_auto_compaction","enabled":true}),
        json!({"cmd":"set_auto_retry","enabled":false}),
        json!({"cmd":"compact","instructions":"keep the plan"}),
        json!({"cmd":"compact"}),
        json!({"cmd":"abort_retry"}),
        json!({"cmd":"set_session_name","name":"refactor"}),
        json!({"cmd":"fork","entry_id":"e1"}),
        json!({"cmd":"delegate","target_session_id":"B","target_runner_id":"local","message":"review",
               "mode":"sync","sandbox_profile":"strict","timeout_ms":300000,"max_tokens":1000,"context":{"k":1}}),
        json!({"cmd":"delegate","target_session_id":"B","message":"review","mode":"async"}),
        json!({"cmd":"delegate.cancel","request_id":"d1"}),
    ]
}

#[test]
fn every_row_of_the_command_table_round_trips_through_parse() {
    let mut seen = BTreeSet::new();
    for payload in every_row() {
        let frame = agent_frame(payload.clone());
        let parsed = ClientFrame::parse(&frame.to_string()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), frame);
        let ClientFrame::Agent(command) = parsed else {
            panic!("an agent frame: {frame}")
        };
        assert_eq!(command.kind.name(), payload["cmd"], "CommandKind::name()");
        assert_eq!(
            (command.id.as_deref(), command.session_id.as_str()),
            (Some("req-1"), "s")
        );
        seen.insert(command.kind.name());
    }
    let accepted: BTreeSet<&str> = CommandKind::NAMES.into_iter().collect();
    assert_eq!(
        seen, accepted,
        "one example per row of §1.4, and NAMES lists exactly those"
    );
}

#[test]
fn a_command_without_id_or_runner_omits_them() {
    let command = Command {
        id: None,
        session_id: "S".into(),
        runner_id: None,
        kind: CommandKind::SetThinkingLevel {
            level: ThinkingLevel::Off,
        },
    };
    assert_eq!(
        serde_json::to_value(&command).unwrap(),
        json!({"session_id":"S","cmd":"set_thinking_level","level":"off"})
    );
}

#[test]
fn a_command_keeps_its_runner_id() {
    let command: Command = serde_json::from_value(
        json!({"session_id":"S","runner_id":"shared-1","cmd":"get_models","workdir":"/w"}),
    )
    .unwrap();
    assert_eq!(command.runner_id.as_deref(), Some("shared-1"));
    assert_eq!(
        command.kind,
        CommandKind::GetModels {
            workdir: Some("/w".into())
        }
    );
}

#[test]
fn delegate_carries_its_request_flattened() {
    let command: Command = serde_json::from_value(
        json!({"session_id":"S","cmd":"delegate","target_session_id":"B","message":"m","mode":"sync"}),
    )
    .unwrap();
    let CommandKind::Delegate(request) = command.kind else {
        panic!("delegate")
    };
    assert_eq!(
        (request.target_session_id.as_str(), request.mode),
        ("B", DelegateMode::Sync)
    );
    assert_eq!(request.timeout_ms, None);
}
