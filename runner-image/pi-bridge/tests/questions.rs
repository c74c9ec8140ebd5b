//! Questions from Pi extensions (`ctx.ui.select/confirm/input`) through the bridge: the real Pi
//! loads a real extension (`tests/fixtures/extensions/interview.ts`, or the runner image's
//! `ask_user`), the scripted LLM calls its tool, and a mux client sees `agent.input_needed`,
//! answers with `input_response` and finds the answer in the tool's result.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::path::{Path, PathBuf};

use common::{Client, Env, is_event, is_response, repo_root};
use serde_json::{Value, json};

fn interview_extension() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/extensions/interview.ts")
}

/// "interview me" calls the tool without timeouts, "quick interview" with 3 s ones (to be let
/// pass), "patient interview" with 10 min ones (never reached).
fn interview_script() -> Value {
    let rule = |words: &str, arguments: Value| {
        json!({"when_user_contains":words,"steps":[
            {"kind":"tool_call","name":"interview","arguments":arguments},
            {"kind":"text","chunks":["interview over"],"delay_ms":0}]})
    };
    json!({"rules":[
        rule("interview me", json!({})),
        rule("quick interview", json!({"timeout_ms":3000})),
        rule("patient interview", json!({"timeout_ms":600_000})),
    ]})
}

async fn bridge_with_interview(env: &Env, pi: &Path, extra: &[&str]) -> common::Bridge {
    let extension = interview_extension();
    let extension = extension.to_str().unwrap();
    env.start_bridge_on(pi, &[&["--pi-extension", extension][..], extra].concat())
        .await
}

async fn prompt(client: &mut Client, id: &str, message: &str) {
    let response = client
        .command("s", id, "prompt", json!({ "message": message }))
        .await;
    assert_eq!(response["success"], true, "{response}");
}

/// The next question; its `request`. A run that ends instead fails here, with its frames.
async fn question(client: &mut Client) -> Value {
    let frames = client
        .until(|f| is_event(f, "agent.input_needed") || is_event(f, "agent.idle"))
        .await;
    let last = frames.last().unwrap();
    assert!(
        is_event(last, "agent.input_needed"),
        "the run ended without a question: {frames:?}"
    );
    last["request"].clone()
}

/// Sends an `input_response`; every frame up to and including its `response`.
async fn answer(client: &mut Client, id: &str, request: &Value, fields: Value) -> Vec<Value> {
    let mut frame = json!({"channel":"agent","session_id":"s","id":id,"cmd":"input_response",
        "request_id": request["request_id"]});
    frame
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    client.send(frame).await;
    client.until(|f| is_response(f, id)).await
}

fn resolved(frames: &[Value], request: &Value) -> bool {
    frames
        .iter()
        .any(|f| is_event(f, "agent.input_resolved") && f["request_id"] == request["request_id"])
}

/// The text of the `interview` tool's result, once the run is over.
async fn interview_result(client: &mut Client) -> String {
    let frames = client.until(|f| is_event(f, "agent.idle")).await;
    assert!(
        !frames.iter().any(|f| is_event(f, "agent.error")),
        "{frames:?}"
    );
    let end = frames
        .iter()
        .find(|f| is_event(f, "tool.end") && f["name"] == "interview")
        .expect("tool.end of interview");
    assert_eq!(end["is_error"], false, "{end}");
    end["output"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn answers_reach_the_extension(pi: &Path) {
    let env = Env::new(interview_script()).await;
    let bridge = bridge_with_interview(&env, pi, &[]).await;
    let mut client = bridge.connect().await;
    client.create_session("s").await;
    prompt(&mut client, "p1", "interview me").await;

    let select = question(&mut client).await;
    assert_eq!(select["type"], "select", "{select}");
    assert_eq!(select["title"], "Pick a colour");
    assert_eq!(select["options"], json!(["red", "green", "blue"]));
    assert!(select.get("timeout").is_none(), "no timeout: {select}");
    assert!(!select["request_id"].as_str().unwrap().is_empty());
    // An answer that is not one of the options never reaches the extension.
    let refused = answer(&mut client, "a0", &select, json!({"value":"purple"})).await;
    let response = refused.last().unwrap();
    assert_eq!(response["success"], false);
    assert!(
        response["error"]
            .as_str()
            .unwrap()
            .contains("not one of the options"),
        "{response}"
    );
    assert!(!resolved(&refused, &select), "still open");
    let frames = answer(&mut client, "a1", &select, json!({"value":"blue"})).await;
    assert_eq!(frames.last().unwrap()["success"], true, "{frames:?}");
    assert!(resolved(&frames, &select), "every page hears it is over");

    let confirm = question(&mut client).await;
    assert_eq!(confirm["type"], "confirm", "{confirm}");
    assert_eq!(confirm["title"], "Ship it?");
    assert_eq!(confirm["message"], "This deploys to production.");
    answer(&mut client, "a2", &confirm, json!({"confirmed":true})).await;

    let input = question(&mut client).await;
    assert_eq!(input["type"], "input", "{input}");
    assert_eq!(input["title"], "Your name");
    assert_eq!(input["placeholder"], "a name");
    answer(&mut client, "a3", &input, json!({"value":"Ada"})).await;

    assert_eq!(
        interview_result(&mut client).await,
        "colour=blue ship=true name=Ada"
    );
    // Over is over: a second answer is refused, not passed to Pi.
    let late = answer(&mut client, "a4", &input, json!({"value":"Bob"})).await;
    let response = late.last().unwrap();
    assert_eq!(response["success"], false);
    assert!(
        response["error"].as_str().unwrap().contains("not open"),
        "{response}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_reach_the_extension_that_asked() {
    answers_reach_the_extension(&common::pi_program()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_reach_the_extension_on_the_older_pi_line() {
    answers_reach_the_extension(&common::legacy_pi_program()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_questions_reach_the_extension_as_no_answer() {
    let env = Env::new(interview_script()).await;
    let bridge = bridge_with_interview(&env, &common::pi_program(), &[]).await;
    let mut client = bridge.connect().await;
    client.create_session("s").await;
    prompt(&mut client, "p1", "interview me").await;
    for (i, kind) in ["select", "confirm", "input"].into_iter().enumerate() {
        let request = question(&mut client).await;
        assert_eq!(request["type"], kind);
        let frames = answer(
            &mut client,
            &format!("c{i}"),
            &request,
            json!({"cancelled":true}),
        )
        .await;
        assert_eq!(frames.last().unwrap()["success"], true, "{frames:?}");
        assert!(resolved(&frames, &request));
    }
    // Pi's defaults for a cancelled dialog: undefined, false, undefined.
    assert_eq!(
        interview_result(&mut client).await,
        "colour=none ship=false name=none"
    );
}

/// Nobody answers: Pi gives up after each question's timeout (milliseconds), the bridge says so
/// at the same deadline, and the stall watchdog (2 s, shorter than the 3 s questions) leaves a
/// Pi that waits for its user alone.
#[tokio::test(flavor = "multi_thread")]
async fn unanswered_questions_time_out_and_are_announced() {
    let env = Env::new(interview_script()).await;
    let bridge =
        bridge_with_interview(&env, &common::pi_program(), &["--stall-timeout", "2s"]).await;
    let mut client = bridge.connect().await;
    client.create_session("s").await;
    prompt(&mut client, "p1", "quick interview").await;
    let frames = client.until(|f| is_event(f, "agent.idle")).await;
    assert!(
        !frames.iter().any(|f| is_event(f, "agent.error")),
        "{frames:?}"
    );
    let asked: Vec<&Value> = frames
        .iter()
        .filter(|f| is_event(f, "agent.input_needed"))
        .map(|f| &f["request"])
        .collect();
    let kinds: Vec<&str> = asked.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["select", "confirm", "input"], "{frames:?}");
    for request in asked {
        assert_eq!(request["timeout"], 3000, "{request}");
        // Pi's own timer may let the tool ask its next question a moment before the bridge's
        // says this one is over: each ends after it was asked, not necessarily in turn.
        let asked_at = frames
            .iter()
            .position(|f| is_event(f, "agent.input_needed") && &f["request"] == request)
            .unwrap();
        assert!(resolved(&frames[asked_at..], request), "{frames:?}");
    }
    let end = frames
        .iter()
        .find(|f| is_event(f, "tool.end") && f["name"] == "interview")
        .expect("tool.end of interview");
    assert_eq!(
        end["output"]["content"][0]["text"],
        "colour=none ship=false name=none"
    );
}

/// A second page (another tab, or the same after a reload) attaches while a question is open:
/// `get_state` tells it the open questions, with what is left of the timeout, and its answer
/// ends the question for the first page too.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_attaches_later_sees_the_open_question_and_answers_it_for_all() {
    let env = Env::new(interview_script()).await;
    let bridge = bridge_with_interview(&env, &common::pi_program(), &[]).await;
    let mut first = bridge.connect().await;
    first.create_session("s").await;
    let state = first.command("s", "g0", "get_state", json!({})).await;
    assert_eq!(state["data"]["pendingInputRequests"], json!([]), "{state}");
    prompt(&mut first, "p1", "patient interview").await;
    let select = question(&mut first).await;

    let mut second = bridge.connect().await;
    second.create_session("s").await;
    let state = second.command("s", "g1", "get_state", json!({})).await;
    assert_eq!(state["success"], true, "{state}");
    assert_eq!(
        state["data"]["isStreaming"], true,
        "Pi's own state is there: {state}"
    );
    let open = state["data"]["pendingInputRequests"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{state}");
    let request = &open[0];
    assert_eq!(request["request_id"], select["request_id"]);
    assert_eq!(request["options"], select["options"]);
    let left = request["timeout"].as_u64().unwrap();
    assert!(
        left > 0 && left <= 600_000,
        "what is left of 10 min: {left}"
    );

    let frames = answer(&mut second, "a1", request, json!({"value":"red"})).await;
    assert_eq!(frames.last().unwrap()["success"], true, "{frames:?}");
    let seen_by_first = first.until(|f| is_event(f, "agent.input_resolved")).await;
    assert!(resolved(&seen_by_first, &select));
    // The next question goes to both pages; the first page cancels the rest.
    for _ in 0..2 {
        let request = question(&mut first).await;
        assert_eq!(question(&mut second).await, request);
        answer(&mut first, "c", &request, json!({"cancelled":true})).await;
    }
    assert_eq!(
        interview_result(&mut first).await,
        "colour=red ship=false name=none"
    );
}

/// A restarted Pi asks nothing any more: its open questions end with it.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_ends_the_open_questions() {
    let env = Env::new(interview_script()).await;
    let bridge = bridge_with_interview(&env, &common::pi_program(), &[]).await;
    let mut client = bridge.connect().await;
    client.create_session("s").await;
    prompt(&mut client, "p1", "interview me").await;
    let select = question(&mut client).await;
    client
        .send(json!({"channel":"agent","session_id":"s","id":"r1","cmd":"session.restart"}))
        .await;
    let frames = client.until(|f| is_response(f, "r1")).await;
    assert_eq!(frames.last().unwrap()["success"], true, "{frames:?}");
    assert!(resolved(&frames, &select), "{frames:?}");
    let late = answer(&mut client, "a1", &select, json!({"value":"red"})).await;
    assert_eq!(late.last().unwrap()["success"], false);
}

/// The demo's "ask me" (e2e/scripted-llm/demo.json) with the runner image's `ask_user`
/// extension, as the single-node stack runs them: the answer reaches the model as the tool's
/// result.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_asks_through_the_runner_images_ask_user_tool() {
    let demo: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("e2e/scripted-llm/demo.json")).unwrap(),
    )
    .unwrap();
    let env = Env::new(demo).await;
    let extension = repo_root().join("runner-image/pi-extensions/ask-user.ts");
    let bridge = env
        .start_bridge_with(&["--pi-extension", extension.to_str().unwrap()])
        .await;
    let mut client = bridge.connect().await;
    client.create_session("s").await;
    prompt(&mut client, "p1", "please ask me something").await;
    let request = question(&mut client).await;
    assert_eq!(request["type"], "select", "{request}");
    assert_eq!(request["timeout"], 600_000, "ask_user waits 10 minutes");
    let options = request["options"].as_array().unwrap();
    assert!(options.len() >= 2, "{request}");
    let choice = options[1].as_str().unwrap().to_owned();
    answer(&mut client, "a1", &request, json!({ "value": choice })).await;
    let frames = client.until(|f| is_event(f, "agent.idle")).await;
    let end = frames
        .iter()
        .find(|f| is_event(f, "tool.end") && f["name"] == "ask_user")
        .expect("tool.end of ask_user");
    assert_eq!(
        end["output"]["content"][0]["text"],
        format!("The user answered: {choice}")
    );
    let text: String = frames
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .filter_map(|f| f["delta"].as_str())
        .collect();
    assert!(text.contains("demo model"), "{text}");
}

/// The stream the UI's question reducer replays (frontend/src/chat/questions.test.ts): a select
/// answered, `get_state` while a question is open, a confirm cancelled, an input answered.
/// `OQTO_WRITE_GENERATED=1` records it anew; otherwise the bridge's stream must keep the
/// recording's shape (the order of event kinds; ids and times differ from run to run).
#[tokio::test(flavor = "multi_thread")]
async fn the_frontend_recording_of_questions_has_the_shape_of_the_bridges_stream() {
    let env = Env::new(interview_script()).await;
    let bridge = bridge_with_interview(&env, &common::pi_program(), &[]).await;
    let mut client = bridge.connect().await;
    let mut frames = vec![client.create_session("s").await];
    client
        .send(
            json!({"channel":"agent","session_id":"s","id":"p1","cmd":"prompt",
            "message":"patient interview"}),
        )
        .await;
    frames.extend(client.until(|f| is_event(f, "agent.input_needed")).await);
    let select = frames.last().unwrap()["request"].clone();
    client
        .send(json!({"channel":"agent","session_id":"s","id":"g1","cmd":"get_state"}))
        .await;
    frames.extend(client.until(|f| is_response(f, "g1")).await);
    frames.extend(answer(&mut client, "a1", &select, json!({"value":"blue"})).await);
    frames.extend(client.until(|f| is_event(f, "agent.input_needed")).await);
    let confirm = frames.last().unwrap()["request"].clone();
    frames.extend(answer(&mut client, "a2", &confirm, json!({"cancelled":true})).await);
    frames.extend(client.until(|f| is_event(f, "agent.input_needed")).await);
    let input = frames.last().unwrap()["request"].clone();
    frames.extend(answer(&mut client, "a3", &input, json!({"value":"Ada"})).await);
    frames.extend(client.until(|f| is_event(f, "agent.idle")).await);

    let path = repo_root().join("frontend/src/test/recorded/questions-session.jsonl");
    if std::env::var_os("OQTO_WRITE_GENERATED").is_some() {
        let text: String = frames.iter().map(|f| format!("{f}\n")).collect();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let recorded: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        common::stream_shape(&frames),
        common::stream_shape(&recorded),
        "record anew with `OQTO_WRITE_GENERATED=1 cargo test -p oqto-pi-bridge --test questions`"
    );
}
