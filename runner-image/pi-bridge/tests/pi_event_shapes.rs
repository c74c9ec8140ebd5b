//! Both Pi lines' recorded RPC output (tests/fixtures, see its README) translates into the same
//! canonical events: the bridge accepts the old (0.73) and the current (0.87) event shapes.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

use oqto_pi_bridge::agent::translate::Translator;
use serde_json::Value;

fn translate(fixture: &str) -> Vec<Value> {
    let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut translator = Translator::new();
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .flat_map(|pi| translator.translate(&pi, 1_000))
        .map(|event| serde_json::to_value(event).unwrap())
        .collect()
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect()
}

fn deltas(events: &[Value], name: &str) -> String {
    events
        .iter()
        .filter(|e| e["event"] == name)
        .map(|e| e["delta"].as_str().unwrap())
        .collect()
}

#[test]
fn both_pi_lines_give_the_same_canonical_events() {
    let current = translate("pi-0.87.1-text-then-tool.jsonl");
    let legacy = translate("pi-0.73.1-text-then-tool.jsonl");
    let current_names = names(&current);
    // 0.87 names the tool call at its start; 0.73 only at its end.
    let legacy_names = names(&legacy);
    let without_call_start: Vec<&str> = current_names
        .iter()
        .copied()
        .filter(|n| *n != "stream.tool_call_start")
        .collect();
    assert_eq!(without_call_start, legacy_names);
    assert_eq!(
        current_names.iter().filter(|n| **n == "agent.idle").count(),
        2,
        "one idle per prompt: {current_names:?}"
    );
    for events in [&current, &legacy] {
        assert_eq!(
            deltas(events, "stream.text_delta"),
            "Hello there friendHello there friend"
        );
        assert_eq!(
            deltas(events, "stream.thinking_delta"),
            "thinking...thinking..."
        );
        let tool_end = events.iter().find(|e| e["event"] == "tool.end").unwrap();
        assert_eq!(tool_end["name"], "write");
        assert_eq!(tool_end["is_error"], false);
        let call_end = events
            .iter()
            .find(|e| e["event"] == "stream.tool_call_end")
            .unwrap();
        assert_eq!(call_end["tool_call"]["input"]["path"], "hello.txt");
        let ends: Vec<&Value> = events
            .iter()
            .filter(|e| e["event"] == "stream.message_end")
            .collect();
        assert_eq!(ends.len(), 3, "two answers and the tool-call message");
        assert_eq!(ends[0]["message"]["parts"][1]["text"], "Hello there friend");
        assert_eq!(ends[1]["message"]["stop_reason"], "tool_use");
    }
}
