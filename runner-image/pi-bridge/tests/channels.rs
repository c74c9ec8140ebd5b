//! The files, terminal and hstry channels and the frame validation of the mux, through the real
//! pi-bridge binary over a real WebSocket.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Env, TOKEN};
use serde_json::{Value, json};

async fn env() -> Env {
    Env::new(json!({"rules": []})).await
}

async fn files(client: &mut common::Client, frame: Value) -> Value {
    let id = frame["id"].clone();
    client.send(frame).await;
    client
        .until(|f| f["channel"] == "files" && f["id"] == id)
        .await
        .pop()
        .expect("until returns the matching frame")
}

#[tokio::test(flavor = "multi_thread")]
async fn files_round_trip_inside_the_workspace() {
    let env = env().await;
    let bridge = env.start_bridge().await;
    let mut client = bridge.connect().await;
    let content = STANDARD.encode("hello files\n");
    let written = files(&mut client, json!({"channel":"files","session_id":"s","type":"write","id":"w","path":"src/a.txt","content":content,"create_parents":true})).await;
    assert_eq!(written["type"], "write_result", "{written}");
    assert_eq!(written["success"], true);
    assert_eq!(
        std::fs::read_to_string(env.workspace.join("src/a.txt")).unwrap(),
        "hello files\n"
    );

    let read = files(
        &mut client,
        json!({"channel":"files","session_id":"s","type":"read","id":"r","path":"src/a.txt"}),
    )
    .await;
    assert_eq!(read["type"], "read_result", "{read}");
    assert_eq!(
        STANDARD.decode(read["content"].as_str().unwrap()).unwrap(),
        b"hello files\n"
    );

    let list = files(
        &mut client,
        json!({"channel":"files","session_id":"s","type":"list","id":"l","path":"src"}),
    )
    .await;
    assert_eq!(list["type"], "list_result", "{list}");
    assert_eq!(list["entries"][0]["name"], "a.txt");
    assert_eq!(list["entries"][0]["is_dir"], false);

    let stat = files(
        &mut client,
        json!({"channel":"files","session_id":"s","type":"stat","id":"s","path":"src/a.txt"}),
    )
    .await;
    assert_eq!(stat["type"], "stat_result", "{stat}");
    assert_eq!(stat["stat"]["size"], 12);

    let moved = files(&mut client, json!({"channel":"files","session_id":"s","type":"move","id":"m","from":"src/a.txt","to":"b.txt","overwrite":false})).await;
    assert_eq!(moved["type"], "move_result", "{moved}");
    assert!(env.workspace.join("b.txt").is_file());

    let tree = files(
        &mut client,
        json!({"channel":"files","session_id":"s","type":"tree","id":"t","path":""}),
    )
    .await;
    assert_eq!(tree["type"], "tree_result", "{tree}");
    let names: Vec<&str> = tree["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["src", "b.txt"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_traversal_attempt_is_refused() {
    let env = env().await;
    let outside = env.dir.path().join("secret.txt");
    std::fs::write(&outside, "top secret").unwrap();
    std::os::unix::fs::symlink(env.dir.path(), env.workspace.join("escape")).unwrap();
    let bridge = env.start_bridge().await;
    let mut client = bridge.connect().await;
    for (n, path) in [
        "../secret.txt",
        "/etc/passwd",
        "escape/secret.txt",
        "a/../../secret.txt",
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("r{n}");
        let reply = files(
            &mut client,
            json!({"channel":"files","session_id":"s","type":"read","id":id,"path":path}),
        )
        .await;
        assert_eq!(reply["type"], "error", "{path}: {reply}");
        assert!(
            reply["error"].as_str().unwrap().contains("path"),
            "names the field: {reply}"
        );
        assert!(!reply.to_string().contains("top secret"));
    }
    let write = files(&mut client, json!({"channel":"files","session_id":"s","type":"write","id":"w","path":"escape/new.txt","content":STANDARD.encode("x"),"create_parents":false})).await;
    assert_eq!(write["type"], "error", "{write}");
    assert!(!env.dir.path().join("new.txt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_echoes_through_the_pty() {
    let env = env().await;
    let bridge = env.start_bridge().await;
    let mut client = bridge.connect().await;
    client
        .send(json!({"channel":"terminal","session_id":"s","type":"open","id":"o","cols":80,"rows":24}))
        .await;
    let opened = client
        .until(|f| f["channel"] == "terminal")
        .await
        .pop()
        .unwrap();
    assert_eq!(opened["type"], "opened", "{opened}");
    assert_eq!(opened["id"], "o");
    let terminal_id = opened["terminal_id"].as_str().unwrap().to_owned();
    client
        .send(json!({"channel":"terminal","session_id":"s","type":"input","terminal_id":terminal_id,"data":"echo hel''lo\n"}))
        .await;
    let mut output = Vec::new();
    // The shell echoes the typed line (`hel''lo`); only the command's output contains `hello`.
    while !String::from_utf8_lossy(&output).contains("hello") {
        let frame = client.next().await;
        if frame["channel"] == "terminal" && frame["type"] == "output" {
            assert_eq!(frame["terminal_id"], terminal_id.as_str());
            output.extend(
                STANDARD
                    .decode(frame["data_base64"].as_str().unwrap())
                    .unwrap(),
            );
        }
    }
    client
        .send(
            json!({"channel":"terminal","session_id":"s","type":"close","terminal_id":terminal_id}),
        )
        .await;
    let exit = client
        .until(|f| f["channel"] == "terminal" && f["type"] == "exit")
        .await
        .pop()
        .unwrap();
    assert_eq!(exit["terminal_id"], terminal_id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_frames_get_error_frames_and_the_connection_survives() {
    let env = env().await;
    let bridge = env.start_bridge_with(&["--max-frame-bytes", "4096"]).await;
    let mut client = bridge.connect().await;

    client.send_raw("this is not json".into()).await;
    let error = client.next().await;
    assert_eq!(error["channel"], "system", "{error}");
    assert_eq!(error["type"], "error");

    client
        .send(json!({"channel":"radio","type":"tune","id":"x1"}))
        .await;
    let error = client.next().await;
    assert_eq!(error["type"], "error", "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("radio"),
        "{error}"
    );
    assert_eq!(error["id"], "x1");

    client
        .send(json!({"channel":"agent","cmd":"dance","session_id":"s","id":"x2"}))
        .await;
    let error = client.next().await;
    assert!(
        error["error"].as_str().unwrap().contains("dance"),
        "{error}"
    );
    assert_eq!(error["id"], "x2");

    client
        .send(json!({"channel":"files","session_id":"s","type":"read","id":"x3"}))
        .await;
    let error = client.next().await;
    assert_eq!(
        error["channel"], "files",
        "answered on its channel: {error}"
    );
    assert!(error["error"].as_str().unwrap().contains("path"), "{error}");

    client
        .send_raw(format!(
            "{{\"channel\":\"files\",\"session_id\":\"s\",\"type\":\"read\",\"path\":\"{}\"}}",
            "a".repeat(5000)
        ))
        .await;
    let error = client.next().await;
    assert_eq!(error["type"], "error", "{error}");
    assert!(error["error"].as_str().unwrap().contains("4096"), "{error}");

    client
        .send(json!({"channel":"agent","cmd":"get_state","session_id":"s","id":"x4"}))
        .await;
    let response = client.next().await;
    assert_eq!(response["event"], "response", "{response}");
    assert_eq!(response["success"], false);
    assert!(
        response["error"]
            .as_str()
            .unwrap()
            .contains("session.create")
    );

    // Frames for any other session are refused before their payload is read: whoever reaches
    // this runner's port speaks for its own Session only.
    client
        .send(json!({"channel":"agent","cmd":"session.create","session_id":"other","id":"x5","config":{"harness":"pi"}}))
        .await;
    let response = client.next().await;
    assert_eq!(
        (&response["event"], &response["success"], &response["id"]),
        (&json!("response"), &json!(false), &json!("x5")),
        "{response}"
    );
    assert!(
        response["error"]
            .as_str()
            .unwrap()
            .contains("session other is not served here"),
        "{response}"
    );
    client
        .send(json!({"channel":"files","session_id":"other","type":"read","id":"x6","path":"a"}))
        .await;
    let error = client.next().await;
    assert_eq!(
        (&error["channel"], &error["type"], &error["id"]),
        (&json!("files"), &json!("error"), &json!("x6")),
        "{error}"
    );

    // Still up: a valid request is served.
    let list = files(
        &mut client,
        json!({"channel":"files","session_id":"s","type":"list","id":"ok","path":""}),
    )
    .await;
    assert_eq!(list["type"], "list_result", "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_metrics_and_activity_report_what_happens() {
    let env = env().await;
    let bridge = env.start_bridge().await;
    let get = |path: &'static str| bridge.get(path);
    assert_eq!(get("/healthz").await.status(), 200);
    // Ready while the Session's Pi, started with the bridge, still loads (a prompt waits for
    // it); `/readyz/warm`, a warm spare's, only once it has loaded.
    let ready = get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(
        (ready["ready"].clone(), ready["hstry"].clone()),
        (json!(true), json!(true))
    );
    let mut warm = get("/readyz/warm").await;
    let mut seen_loading = false;
    for _ in 0..300 {
        if warm.status() == 200 {
            break;
        }
        let body: Value = warm.json().await.unwrap();
        assert_eq!(
            body["piLoading"], true,
            "not ready for another reason: {body}"
        );
        seen_loading = true;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        warm = get("/readyz/warm").await;
    }
    assert_eq!(warm.status(), 200);
    let warm: Value = warm.json().await.unwrap();
    assert_eq!(
        warm,
        json!({"ready": true, "hstry": true, "pi": true, "piLoading": false})
    );
    assert!(seen_loading, "warm before the Pi started ahead had loaded");

    let idle: Value = get("/activity").await.json().await.unwrap();
    assert_eq!(idle["connected_clients"], 0);
    assert_eq!(idle["busy"], false);
    let mut client = bridge.connect().await;
    files(
        &mut client,
        json!({"channel":"files","session_id":"s","type":"list","id":"l","path":""}),
    )
    .await;
    let connected: Value = get("/activity").await.json().await.unwrap();
    assert_eq!(connected["connected_clients"], 1);
    assert!(connected["last_activity_ms"].as_i64() >= idle["last_activity_ms"].as_i64());

    let metrics = get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"pi_bridge_frames_received_total{channel="files"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("pi_bridge_connected_clients 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_fails_while_hstry_is_down() {
    let mut env = env().await;
    let bridge = env.start_bridge().await;
    env.hstry.stop_now();
    let mut ready = reqwest::get(format!("{}/readyz", bridge.http))
        .await
        .unwrap();
    // hstry lets open connections finish for a grace period: ask until the bridge notices.
    for _ in 0..150 {
        if ready.status() == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        ready = reqwest::get(format!("{}/readyz", bridge.http))
            .await
            .unwrap();
    }
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["hstry"], false);
}

/// A web page on the runner's host (single-node mode publishes it on 127.0.0.1) tries the
/// runner directly: its browser sends `Origin`, and the bridge refuses the WebSocket and every
/// other route before anything else.
#[tokio::test(flavor = "multi_thread")]
async fn requests_from_web_pages_are_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let env = env().await;
    let bridge = env.start_bridge().await;
    let mut request = bridge.ws_url().into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("origin", "http://127.0.0.1:8080".parse().unwrap());
    // Even with the token: a page must never hold one, and Origin alone refuses.
    headers.insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("the handshake must be refused: {:?}", other.map(|_| ())),
    }
    let http = reqwest::Client::new();
    for path in ["/activity", "/metrics", "/readyz"] {
        let response = http
            .get(format!("{}{path}", bridge.http))
            .header("origin", "http://evil.example")
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }
    // Without Origin and with the token (the gateway, the operator) it answers.
    assert_eq!(bridge.get("/activity").await.status(), 200);
    bridge.stop().await;
}

/// Any process that reaches the runner's port without its token (a local process on one
/// node, another pod) gets nothing: no terminal, no activity, no metrics. Probes stay open.
#[tokio::test]
async fn requests_without_the_runner_token_are_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let env = env().await;
    let bridge = env.start_bridge().await;
    let wrong = format!("{}0", &TOKEN[..TOKEN.len() - 1]);
    for presented in [None, Some(wrong.as_str()), Some("")] {
        let mut request = bridge.ws_url().into_client_request().unwrap();
        if let Some(token) = presented {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "{presented:?}");
                let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
                assert!(body.contains("runner token"), "{body}");
            }
            other => panic!("no shell without the token: {:?}", other.map(|_| ())),
        }
    }
    let http = reqwest::Client::new();
    for path in ["/activity", "/metrics", "/api/ws/mux"] {
        let response = http
            .get(format!("{}{path}", bridge.http))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        let response = http
            .get(format!("{}{path}", bridge.http))
            .bearer_auth(&wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path} with a wrong token");
    }
    for path in ["/healthz", "/readyz"] {
        let response = http
            .get(format!("{}{path}", bridge.http))
            .send()
            .await
            .unwrap();
        // Served (ready or, while Pi loads, not yet), never refused.
        assert!(
            matches!(response.status().as_u16(), 200 | 503),
            "{path}: the kubelet has no token: {}",
            response.status()
        );
    }
    // With it: served.
    let mut client = bridge.connect().await;
    files(
        &mut client,
        json!({"channel":"files","session_id":"s","type":"list","id":"l","path":""}),
    )
    .await;
    bridge.stop().await;
}

/// A search names a session only to reach a runner: it covers the history of every Session of
/// the Workspace (hstry lives on the Workspace's storage), and each hit names its session.
#[tokio::test(flavor = "multi_thread")]
async fn a_search_covers_every_session_of_the_workspace_and_names_each_hit_s_session() {
    let env = env().await;
    // Another Session of the same Workspace wrote its history into the same hstry.
    let history =
        oqto_pi_bridge::history::History::connect(&env.hstry.addr, "workspace".into()).unwrap();
    history
        .save_meta("other-session", &Default::default(), None, None)
        .await
        .unwrap();
    let message = oqto_pi_bridge::agent::convert::message_from_pi(
        &json!({"role": "user", "content": "the flaky deployment of the zeppelin service"}),
        0,
        1_000,
    );
    history.append("other-session", &[message]).await.unwrap();

    let bridge = env.start_bridge().await;
    let mut client = bridge.connect().await;
    client
        .send(
            json!({"channel":"hstry","session_id":"s","type":"query","id":"q1",
            "query":"zeppelin","limit":5}),
        )
        .await;
    let answer = client
        .until(|f| f["channel"] == "hstry" && f["id"] == "q1")
        .await
        .pop()
        .unwrap();
    assert_eq!(answer["type"], "result", "{answer}");
    let hits = answer["data"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{answer}");
    assert_eq!(hits[0]["session_id"], "other-session");
    assert_eq!(hits[0]["message_idx"], 0);
    assert!(
        hits[0]["snippet"].as_str().unwrap().contains("zeppelin"),
        "{answer}"
    );
    // Without a query: the frame's own session's messages (none yet), not the other's.
    client
        .send(json!({"channel":"hstry","session_id":"s","type":"query","id":"q2"}))
        .await;
    let own = client
        .until(|f| f["channel"] == "hstry" && f["id"] == "q2")
        .await
        .pop()
        .unwrap();
    assert_eq!(own["data"], json!([]), "{own}");
}
