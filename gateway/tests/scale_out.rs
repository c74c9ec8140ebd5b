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
    use oqto_e2e::oqtoctl::Chat;
    use std::sync::Arc;

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

    let oqtoctl = std::path::Path::new(env!("CARGO_BIN_EXE_oqtoctl"));
    let server = format!("http://{}", service.addr);
    let mut chat = Chat::start(oqtoctl, &server, &alice, "s1", "count for me", dir.path()).unwrap();
    let head = chat.first_words(common::WAIT).await.unwrap();
    assert!(head < whole.len(), "mid-answer: {head} bytes");
    // The gateway carrying the chat dies (SIGKILL: no goodbye to anyone).
    a.kill().await;
    let ended = chat.end(common::WAIT).await.unwrap();
    assert!(ended.success, "oqtoctl chat failed: {}", ended.stderr);
    println!("oqtoctl stderr: {}", ended.stderr);
    assert!(ended.stderr.contains("reconnected"), "{}", ended.stderr);
    assert_eq!(ended.stdout, format!("{whole}\n"), "the whole answer, once");
    // The other gateway serves on.
    let me = b.rest().ok(Method::GET, "/api/auth/me", &alice, None).await;
    assert_eq!(me["username"], "alice");
}
