//! Two gateways on one PostgreSQL accounts database behave as one: a login, a key, a logout,
//! a password change or a spent login budget at one is in force at the other, and either
//! serves when the other is gone.

mod common;

use common::{ADMIN, Cred, Gateway};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_on_one_database_share_accounts_tokens_and_login_budgets() {
    let url = oqto_e2e::postgres::fresh_database().await.unwrap();
    let (data_a, data_b, state) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let extra = ["--login-rate", "8"];
    let (a, b) = tokio::join!(
        Gateway::start_local_on_database(data_a.path(), state.path(), "team", &url, &extra),
        Gateway::start_local_on_database(data_b.path(), state.path(), "team", &url, &extra),
    );
    let (rest_a, rest_b) = (a.rest(), b.rest());
    assert!(
        !data_a.path().join("accounts.db").exists() && !data_a.path().join("jwt-secret").exists(),
        "nothing of the accounts is kept locally"
    );

    // The first admin exists once although both were told to make it; a token from one
    // gateway is good at the other (one signing secret, made by whichever started first).
    let admin = rest_a.login(ADMIN.0, ADMIN.1).await;
    let users = rest_b.ok(Method::GET, "/api/users", &admin, None).await;
    assert_eq!(users["items"].as_array().map(Vec::len), Some(1), "{users}");
    let alice = rest_b.user(&admin, "alice").await;
    let me = rest_a.ok(Method::GET, "/api/auth/me", &alice, None).await;
    assert_eq!(me["username"], "alice");

    // A key made at one gateway opens the other; revoked at the other, it opens neither.
    let created = rest_a
        .ok(
            Method::POST,
            "/api/keys",
            &alice,
            Some(json!({"name": "ci"})),
        )
        .await;
    let key = created["key"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    let (status, _) = rest_b
        .call(Method::GET, "/api/auth/me", Cred::ApiKey(key), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    rest_b
        .ok(Method::DELETE, &format!("/api/keys/{id}"), &alice, None)
        .await;
    for rest in [&rest_a, &rest_b] {
        let (status, body) = rest
            .call(Method::GET, "/api/auth/me", Cred::ApiKey(key), None)
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::UNAUTHORIZED, json!("invalid_api_key"))
        );
    }

    // Logged out at one gateway: refused at both.
    let (status, _) = rest_a
        .call(Method::POST, "/api/auth/logout", Cred::Bearer(&alice), None)
        .await;
    assert!(status.is_success(), "{status}");
    let (status, body) = rest_b
        .call(Method::GET, "/api/auth/me", Cred::Bearer(&alice), None)
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("token_revoked"))
    );

    // A password reset at one gateway ends the tokens issued by the other.
    let alice = rest_b.login("alice", "alice-password").await;
    let (status, body) = rest_a
        .call(
            Method::PUT,
            "/api/users/alice/password",
            Cred::Bearer(&admin),
            Some(json!({"password": "a-new-password"})),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let (status, body) = rest_b
        .call(Method::GET, "/api/auth/me", Cred::Bearer(&alice), None)
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("password_changed"))
    );

    // A guesser alternating between the gateways meets one budget of 8 a minute for this
    // address, 3 of which the logins above spent (counted apart, each gateway would allow 8).
    let mut statuses = Vec::new();
    for attempt in 0..8 {
        let rest = if attempt % 2 == 0 { &rest_a } else { &rest_b };
        let (status, _) = rest
            .call(
                Method::POST,
                "/api/auth/login",
                Cred::None,
                Some(json!({"username": "alice", "password": format!("guess-{attempt}")})),
            )
            .await;
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);

    // One gateway gone, the other serves the same accounts.
    a.kill().await;
    let me = rest_b.ok(Method::GET, "/api/auth/me", &admin, None).await;
    assert_eq!(me["username"], "admin");
}

/// `oqtoctl chat` through a Service-like forwarder in front of two gateways: the gateway it
/// talks to is killed mid-answer, and the chat carries on through the other one, printing the
/// whole answer once.
#[tokio::test(flavor = "multi_thread")]
async fn a_chat_carries_on_through_the_other_gateway_when_its_gateway_dies() {
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    let url = oqto_e2e::postgres::fresh_database().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Arc::new(oqto_store::LocalStore::open(&state).unwrap());
    let chunks: Vec<String> = (0..40).map(|i| format!("word{i} ")).collect();
    let whole: String = chunks.concat();
    let runners = common::RunnerEnv::new(json!({"rules":[{"when_user_contains":"count",
        "steps":[{"kind":"text","chunks": chunks,"delay_ms": 100}]}]}))
    .await;
    let extra = ["--poll-ms", "50"];
    let a =
        Gateway::start_local_on_database(&dir.path().join("a"), &state, "team", &url, &extra).await;
    let b =
        Gateway::start_local_on_database(&dir.path().join("b"), &state, "team", &url, &extra).await;
    let address = |gateway: &Gateway| {
        gateway
            .url
            .trim_start_matches("http://")
            .parse::<std::net::SocketAddr>()
            .unwrap()
    };
    let service = oqto_e2e::proxy::Failover::start(vec![address(&a), address(&b)])
        .await
        .unwrap();
    let rest = a.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let alice = rest.user(&admin, "alice").await;
    rest.workspace_with_session(&alice, "ws", json!({"name": "s1"}))
        .await;
    let _operator = common::play_operator(store.clone(), runners.clone());

    let mut chat = tokio::process::Command::new(env!("CARGO_BIN_EXE_oqtoctl"))
        .args([
            "--server",
            &format!("http://{}", service.addr),
            "--token",
            &alice,
        ])
        .args(["chat", "s1", "count for me", "--timeout", "120"])
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = chat.stdout.take().unwrap();
    let mut printed = vec![0u8; 4096];
    let first = tokio::time::timeout(common::WAIT, stdout.read(&mut printed))
        .await
        .expect("the answer starts")
        .unwrap();
    assert!(
        first > 0 && first < whole.len(),
        "mid-answer: {first} bytes"
    );
    // The gateway carrying the chat dies (SIGKILL: no goodbye to anyone).
    a.kill().await;
    let mut rest_of_it = Vec::new();
    tokio::time::timeout(common::WAIT, stdout.read_to_end(&mut rest_of_it))
        .await
        .expect("the chat ends")
        .unwrap();
    let status = chat.wait().await.unwrap();
    let mut stderr = String::new();
    chat.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "oqtoctl chat failed: {stderr}");
    println!("oqtoctl stderr: {stderr}");
    assert!(stderr.contains("reconnected"), "{stderr}");
    let mut all = printed[..first].to_vec();
    all.extend(rest_of_it);
    assert_eq!(
        String::from_utf8(all).unwrap(),
        format!("{whole}\n"),
        "the whole answer, once"
    );
    // The other gateway serves on.
    let me = b.rest().ok(Method::GET, "/api/auth/me", &alice, None).await;
    assert_eq!(me["username"], "alice");
}
