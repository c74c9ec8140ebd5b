//! The recorded event streams the frontend's unit tests replay (frontend/src/test/recorded/)
//! come from this test: the real pi-bridge, the real Pi and the demo script of the single-node
//! stack. The test fails when the bridge's stream no longer has the shape of the recording (the
//! order of event kinds; ids, times and the split of deltas may differ from run to run).
//! `OQTO_WRITE_GENERATED=1 cargo test -p oqto-pi-bridge --test frontend_recordings` records anew.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use common::{Env, is_event, is_response, repo_root};
use serde_json::{Value, json};

const HINT: &str = "record anew with `OQTO_WRITE_GENERATED=1 cargo test -p oqto-pi-bridge --test frontend_recordings`";

/// The single-node stack's demo model (e2e/scripted-llm/demo.json).
fn demo_script() -> Value {
    let text = std::fs::read_to_string(repo_root().join("e2e/scripted-llm/demo.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A bridge whose Pi loads the runner image's A2UI extension (`show_ui`).
async fn with_a2ui(env: &Env) -> common::Bridge {
    let extension = repo_root().join("runner-image/pi-extensions/a2ui.ts");
    env.start_bridge_with(&["--pi-extension", extension.to_str().unwrap()])
        .await
}

/// One prompt's frames, up to `agent.idle`.
async fn turn(client: &mut common::Client, session: &str, id: &str, message: &str) -> Vec<Value> {
    client
        .send(
            json!({"channel":"agent","session_id":session,"id":id,"cmd":"prompt",
            "message":message,"client_id":format!("client-{id}")}),
        )
        .await;
    client.until(|f| is_event(f, "agent.idle")).await
}

/// What must stay the same between recordings.
use common::stream_shape as shape;

/// Writes the frames as the recording `name` when re-recording (then `None`); else checks that
/// the bridge's stream still has the recording's shape and returns the recording.
fn record_or_read(name: &str, frames: &[Value]) -> Option<Vec<Value>> {
    let path = repo_root().join("frontend/src/test/recorded").join(name);
    if std::env::var_os("OQTO_WRITE_GENERATED").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let text: String = frames.iter().map(|f| format!("{f}\n")).collect();
        std::fs::write(&path, text).unwrap();
        return None;
    }
    let recorded = read_jsonl(&path);
    assert_eq!(
        shape(frames),
        shape(&recorded),
        "the bridge's stream for {name} changed shape; {HINT}"
    );
    Some(recorded)
}

fn read_jsonl(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} unreadable ({e}); {HINT}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_frontend_recordings_have_the_shape_of_the_bridges_stream() {
    let env = Env::new(demo_script()).await;
    let bridge = env.start_bridge().await;
    let mut client = bridge.connect().await;
    let session = common::SESSION;
    let mut frames = vec![client.create_session(session).await];
    frames.extend(turn(&mut client, session, "p1", "please write a file").await);
    frames.extend(turn(&mut client, session, "p2", "hello").await);
    client
        .send(json!({"channel":"agent","session_id":session,"id":"h1","cmd":"get_messages"}))
        .await;
    let history = client.until(|f| is_response(f, "h1")).await;
    frames.push(history.last().cloned().unwrap());

    let Some(recorded) = record_or_read("demo-session.jsonl", &frames) else {
        return;
    };
    let messages = frames.last().unwrap()["data"]["messages"]
        .as_array()
        .unwrap();
    assert_eq!(
        messages.len(),
        recorded.last().unwrap()["data"]["messages"]
            .as_array()
            .unwrap()
            .len(),
        "history holds another number of messages; {HINT}"
    );
}

/// A model that keeps failing: Pi retries (quickly, by the settings below), gives up, and the
/// bridge ends the turn with a final error. The UI shows "retrying (n/m)", then the error.
#[tokio::test(flavor = "multi_thread")]
async fn the_retry_recording_has_the_shape_of_the_bridges_stream() {
    let script = json!({"rules":[{"when_user_contains":"","steps":[
        {"kind":"http_error","status":503,"body":"{\"error\":{\"message\":\"scripted: service unavailable\"}}"}
    ]}]});
    let env = Env::new(script).await;
    std::fs::write(
        env.home.join(".pi/agent/settings.json"),
        json!({"retry":{"enabled":true,"maxRetries":2,"baseDelayMs":20}}).to_string(),
    )
    .unwrap();
    let bridge = env.start_bridge().await;
    let mut client = bridge.connect().await;
    let session = common::SESSION;
    let mut frames = vec![client.create_session(session).await];
    frames.extend(turn(&mut client, session, "p1", "hello").await);
    let kinds = shape(&frames);
    for kind in ["retry.start:", "retry.end:", "agent.error:", "agent.idle:"] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    let end = frames.iter().find(|f| is_event(f, "retry.end")).unwrap();
    assert_eq!(end["success"], false, "{end}");
    // The failures Pi retried are no errors of the run: only its end is.
    let errors: Vec<usize> = (0..frames.len())
        .filter(|&i| is_event(&frames[i], "agent.error"))
        .collect();
    let retry_end = frames
        .iter()
        .position(|f| is_event(f, "retry.end"))
        .unwrap();
    assert_eq!(errors, [retry_end + 1], "{kinds:?}");
    record_or_read("retry-session.jsonl", &frames);
}

/// A page opened while a turn streams: it attaches, asks `get_messages`, and gets the stored
/// history plus the turn so far (the prompt, and the answer up to now under the stream's id),
/// then the stream's next deltas continue that answer to its end. The UI's reducer replays this
/// recording (frontend/src/chat/reducer.test.ts).
#[tokio::test(flavor = "multi_thread")]
async fn a_page_attaching_mid_turn_gets_the_turn_so_far_and_its_end() {
    let chunks: Vec<String> = (1..=12).map(|i| format!("part {i}. ")).collect();
    let script = json!({"rules":[{"when_user_contains":"","steps":[
        {"kind":"text","chunks":chunks,"delay_ms":150}]}]});
    let env = Env::new(script).await;
    let bridge = env.start_bridge().await;
    let session = common::SESSION;
    let mut first = bridge.connect().await;
    first.create_session(session).await;
    first
        .send(
            json!({"channel":"agent","session_id":session,"id":"p1","cmd":"prompt",
            "message":"tell me a story","client_id":"client-p1"}),
        )
        .await;
    for _ in 0..3 {
        first.until(|f| is_event(f, "stream.text_delta")).await;
    }
    // The second page: attach, then the history.
    let mut late = bridge.connect().await;
    let mut frames = vec![late.create_session(session).await];
    late.send(json!({"channel":"agent","session_id":session,"id":"h1","cmd":"get_messages"}))
        .await;
    // Deltas that came before the answer are in it too: the recording keeps the answer and
    // what follows, so its shape does not depend on timing.
    frames.extend(late.until(|f| is_response(f, "h1")).await.pop());
    let history = frames.last().unwrap()["data"]["messages"].clone();
    frames.extend(late.until(|f| is_event(f, "agent.idle")).await);

    let history = history.as_array().unwrap();
    let user = &history[history.len() - 2];
    assert_eq!(user["role"], "user", "{history:?}");
    assert_eq!(user["client_id"], "client-p1");
    assert_eq!(user["metadata"]["oqto_turn"], "running");
    let so_far = history.last().unwrap();
    assert_eq!(so_far["metadata"]["oqto_partial"], true, "{so_far}");
    let text_so_far = so_far["parts"][0]["text"].as_str().unwrap();
    assert!(text_so_far.starts_with("part 1. part 2. "), "{so_far}");
    let end = frames
        .iter()
        .find(|f| is_event(f, "stream.message_end"))
        .unwrap();
    assert_eq!(
        end["message"]["id"], so_far["id"],
        "the stream continues the message the history gave"
    );
    let deltas_after: Vec<&Value> = frames
        .iter()
        .skip_while(|f| !is_response(f, "h1"))
        .filter(|f| is_event(f, "stream.text_delta"))
        .collect();
    assert!(
        !deltas_after.is_empty(),
        "the answer went on after the history"
    );
    assert!(deltas_after.iter().all(|d| d["message_id"] == so_far["id"]));
    record_or_read("mid-turn-attach.jsonl", &frames);
}

/// The demo's "show me a form" with the runner image's `show_ui` extension (A2UI): the call's
/// messages are its input, stored with the turn; the user's action goes back as a message whose
/// values reach the model (the demo answers "Welcome, Ada" only when the name arrived). The
/// frontend's A2UI test (frontend/src/chat/a2ui/a2ui.test.ts) replays the first turn and the
/// history.
#[tokio::test(flavor = "multi_thread")]
async fn the_a2ui_recording_has_the_shape_of_the_bridges_stream() {
    let env = Env::new(demo_script()).await;
    let bridge = with_a2ui(&env).await;
    let mut client = bridge.connect().await;
    let session = common::SESSION;
    let mut frames = vec![client.create_session(session).await];
    frames.extend(turn(&mut client, session, "p1", "show me a form").await);
    let end = frames
        .iter()
        .find(|f| is_event(f, "tool.end") && f["name"] == "show_ui")
        .expect("tool.end of show_ui");
    assert_eq!(end["is_error"], json!(false), "{end}");
    assert!(
        end["output"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Shown to the user: signup")),
        "{end}"
    );
    let action = r#"[a2ui action] {"version":"v0.9","action":{"name":"submit_signup","surfaceId":"signup","sourceComponentId":"submit","timestamp":"2026-12-04T21:00:00.000Z","context":{"name":"Ada","colour":["blue"],"accepted":true}}}"#;
    let answer = turn(&mut client, session, "p2", action).await;
    let text: String = answer
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .filter_map(|f| f["delta"].as_str())
        .collect();
    assert_eq!(text, "Welcome, Ada: you are signed up.");
    client
        .send(json!({"channel":"agent","session_id":session,"id":"h1","cmd":"get_messages"}))
        .await;
    let history = client.until(|f| is_response(f, "h1")).await;
    frames.push(history.last().cloned().unwrap());
    record_or_read("a2ui-session.jsonl", &frames);
}

/// The extension refuses what the UI could not show, naming the field, and the agent sees why.
#[tokio::test(flavor = "multi_thread")]
async fn show_ui_refuses_a_component_outside_the_catalogue_and_names_it() {
    let script = json!({"rules":[{"when_user_contains":"","steps":[
        {"kind":"tool_call","name":"show_ui","arguments":{"messages":[
            {"version":"v0.9","createSurface":{"surfaceId":"x","catalogId":"c"}},
            {"version":"v0.9","updateComponents":{"surfaceId":"x","components":[
                {"id":"root","component":"Script","src":"https://evil.example/x.js"}]}}]}},
        {"kind":"echo_tool_results","prefix":"The tool said: "}]}]});
    let env = Env::new(script).await;
    let bridge = with_a2ui(&env).await;
    let mut client = bridge.connect().await;
    let session = common::SESSION;
    client.create_session(session).await;
    let frames = turn(&mut client, session, "p1", "show something").await;
    let end = frames
        .iter()
        .find(|f| is_event(f, "tool.end") && f["name"] == "show_ui")
        .expect("tool.end of show_ui");
    assert_eq!(end["is_error"], json!(true), "{end}");
    let said = end["output"].to_string();
    assert!(
        said.contains("messages[1].updateComponents.components[0].component must be one of"),
        "{said}"
    );
}
