//! Every REST route and every mux channel, asked without credentials, with broken ones, and
//! as another user: nobody reaches a workspace or session that is not theirs. Against the
//! real control plane (Kubernetes mode); no runner is needed, since refusals happen before
//! any runner is dialled.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Cred, Gateway, JWT_SECRET, Mux};
use jsonwebtoken::{EncodingKey, Header, encode};
use oqto_e2e::TestEnv;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// (method, path, body) of every route that needs a login, for alice's objects.
fn routes() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/auth/me", None),
        (Method::GET, "/api/keys", None),
        (Method::POST, "/api/keys", Some(json!({"name":"x"}))),
        (Method::DELETE, "/api/keys/none", None),
        (Method::GET, "/api/users", None),
        (
            Method::POST,
            "/api/users",
            Some(json!({"username":"mallory","password":"mallory-password"})),
        ),
        (Method::DELETE, "/api/users/alice", None),
        (Method::GET, "/api/workspaces", None),
        (
            Method::POST,
            "/api/workspaces",
            Some(json!({"name":"other-ws"})),
        ),
        (Method::GET, "/api/workspaces/alice-ws", None),
        (Method::DELETE, "/api/workspaces/alice-ws", None),
        (Method::GET, "/api/workspaces/alice-ws/sessions", None),
        (
            Method::POST,
            "/api/workspaces/alice-ws/sessions",
            Some(json!({"name":"bob-s"})),
        ),
        (
            Method::GET,
            "/api/workspaces/alice-ws/sessions/alice-s",
            None,
        ),
        (
            Method::DELETE,
            "/api/workspaces/alice-ws/sessions/alice-s",
            None,
        ),
        (
            Method::POST,
            "/api/workspaces/alice-ws/sessions/alice-s/suspend",
            None,
        ),
        (
            Method::POST,
            "/api/workspaces/alice-ws/sessions/alice-s/resume",
            None,
        ),
        (Method::GET, "/api/schedules", None),
        (Method::GET, "/api/workspaces/alice-ws/schedules", None),
        (
            Method::POST,
            "/api/workspaces/alice-ws/schedules",
            Some(json!({"name":"bob-sched","spec":{"schedule":"@daily","prompt":"hi"}})),
        ),
        (
            Method::GET,
            "/api/workspaces/alice-ws/schedules/alice-sched",
            None,
        ),
        (
            Method::PATCH,
            "/api/workspaces/alice-ws/schedules/alice-sched",
            Some(json!({"suspend": true})),
        ),
        (
            Method::DELETE,
            "/api/workspaces/alice-ws/schedules/alice-sched",
            None,
        ),
        (
            Method::POST,
            "/api/apply",
            Some(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
            "metadata":{"name":"alice-s"},"spec":{"workspaceRef":{"name":"alice-ws"},"suspended":true}})),
        ),
        (Method::GET, "/api/ws/mux", None),
    ]
}

/// The HTTP status that refused the WebSocket upgrade; None when it was accepted.
async fn upgrade(url: &str, token: Option<&str>, origin: Option<&str>) -> Option<u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().unwrap();
        request.headers_mut().insert("authorization", value);
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => None,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Some(response.status().as_u16())
        }
        Err(other) => panic!("the upgrade failed without an HTTP answer: {other}"),
    }
}

fn token_with(claims: Value, secret: &str) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_reaches_what_is_not_theirs() {
    let env = TestEnv::new("gw-auth").await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(&env, data.path(), 8080).await;
    let rest = gateway.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let alice = rest.user(&admin, "alice").await;
    let bob = rest.user(&admin, "bob").await;

    // Alice's workspace and session, made through the API.
    let ws = rest
        .ok(
            Method::POST,
            "/api/workspaces",
            &alice,
            Some(json!({"name":"alice-ws","spec":{"displayName":"Alice's"}})),
        )
        .await;
    assert_eq!(ws["spec"]["owner"], "alice");
    let session = rest
        .ok(
            Method::POST,
            "/api/workspaces/alice-ws/sessions",
            &alice,
            Some(json!({"name":"alice-s","spec":{"suspended":true}})),
        )
        .await;
    assert_eq!(session["spec"]["workspaceRef"]["name"], "alice-ws");
    // A schedule of alice's that prompts her session: bob must not see or touch it.
    let schedule = rest
        .ok(
            Method::POST,
            "/api/workspaces/alice-ws/schedules",
            &alice,
            Some(
                json!({"name":"alice-sched","spec":{"schedule":"@daily","prompt":"hi",
                "suspend":true,"target":{"sessionRef":{"name":"alice-s"}}}}),
            ),
        )
        .await;
    assert_eq!(schedule["metadata"]["name"], "alice-sched");
    // An API key of bob's, revoked, and one of alice's, live.
    let created = rest
        .ok(Method::POST, "/api/keys", &bob, Some(json!({"name":"old"})))
        .await;
    let revoked_key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap();
    assert_eq!(
        rest.call(
            Method::GET,
            "/api/auth/me",
            Cred::ApiKey(&revoked_key),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    rest.ok(Method::DELETE, &format!("/api/keys/{key_id}"), &bob, None)
        .await;
    let alice_key = rest
        .ok(
            Method::POST,
            "/api/keys",
            &alice,
            Some(json!({"name":"ci"})),
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let alice_id = rest.ok(Method::GET, "/api/auth/me", &alice, None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let expired = token_with(
        json!({"sub": alice_id, "iss": "oqto-gateway", "iat": now() - 7200, "exp": now() - 3600,
               "jti": "x", "name": "alice", "preferred_username": "alice", "role": "user", "roles": ["user"]}),
        JWT_SECRET,
    );
    let forged = token_with(
        json!({"sub": alice_id, "iss": "oqto-gateway", "iat": now(), "exp": now() + 3600,
               "jti": "x", "name": "alice", "preferred_username": "alice", "role": "admin", "roles": ["admin"]}),
        "not-the-gateway-secret-not-the-gateway-secret",
    );
    let mut tampered = alice.clone();
    let flipped = if tampered.ends_with('A') { 'B' } else { 'A' };
    tampered.pop();
    tampered.push(flipped);

    for (method, path, body) in routes() {
        for (what, cred, code) in [
            ("no credentials", Cred::None, "missing_credentials"),
            ("an expired token", Cred::Bearer(&expired), "token_expired"),
            (
                "a token signed with another secret",
                Cred::Bearer(&forged),
                "invalid_token",
            ),
            ("a tampered token", Cred::Bearer(&tampered), "invalid_token"),
            (
                "a tampered cookie",
                Cred::Cookie(&tampered),
                "invalid_token",
            ),
            (
                "a revoked API key",
                Cred::ApiKey(&revoked_key),
                "invalid_api_key",
            ),
        ] {
            let (status, answer) = rest.call(method.clone(), path, cred, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {what}: {answer}"
            );
            assert_eq!(
                answer["code"], code,
                "{method} {path} with {what}: {answer}"
            );
            assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
    }

    // Bob, logged in, on alice's objects: 404 (or 403 for admin-only routes), never success.
    for (method, path, body) in routes() {
        if path == "/api/ws/mux" || path.starts_with("/api/keys") || path == "/api/auth/me" {
            continue; // Not about alice's objects.
        }
        if method == Method::GET && (path == "/api/workspaces" || path == "/api/schedules") {
            let (status, list) = rest.call(method, path, Cred::Bearer(&bob), None).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                list["items"],
                json!([]),
                "bob sees nothing of alice's at {path}"
            );
            continue;
        }
        if method == Method::POST && path == "/api/workspaces" {
            continue; // Bob may create his own.
        }
        let (status, answer) = rest
            .call(method.clone(), path, Cred::Bearer(&bob), body)
            .await;
        let expected = if path.starts_with("/api/users") {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(status, expected, "bob: {method} {path}: {answer}");
    }
    // Bob cannot create a workspace in alice's name either, nor take hers over by apply.
    let (status, _) = rest
        .call(
            Method::POST,
            "/api/workspaces",
            Cred::Bearer(&bob),
            Some(json!({"name":"b","spec":{"owner":"alice"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = rest
        .call(
            Method::POST,
            "/api/apply",
            Cred::Bearer(&bob),
            Some(json!({"apiVersion":"oqto.dev/v1alpha1",
            "kind":"Workspace","metadata":{"name":"alice-ws"},"spec":{"owner":"bob"}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Alice lists her workspace's sessions (the apiserver's field selector on workspaceRef),
    // and not bob's, in the same namespace.
    rest.workspace_with_session(&bob, "bob-ws", json!({"spec":{"suspended":true}}))
        .await;
    // Nor take alice's session by applying one of that name into his own workspace.
    let (status, answer) = rest
        .call(
            Method::POST,
            "/api/apply",
            Cred::Bearer(&bob),
            Some(json!({"apiVersion":"oqto.dev/v1alpha1","kind":"Session",
                "metadata":{"name":"alice-s"},"spec":{"workspaceRef":{"name":"bob-ws"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["error"], "session \"alice-s\" not found");
    let listed = rest
        .ok(
            Method::GET,
            "/api/workspaces/alice-ws/sessions",
            &alice,
            None,
        )
        .await;
    assert_eq!(
        listed["items"][0]["metadata"]["name"], "alice-s",
        "{listed}"
    );
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    // Alice's objects are unchanged, and hers to see (with her API key too); admins see all.
    let session = rest
        .ok(
            Method::GET,
            "/api/workspaces/alice-ws/sessions/alice-s",
            &alice,
            None,
        )
        .await;
    assert_eq!(session["spec"]["suspended"], true);
    let (status, _) = rest
        .call(
            Method::GET,
            "/api/workspaces/alice-ws",
            Cred::ApiKey(&alice_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let all = rest.ok(Method::GET, "/api/workspaces", &admin, None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);

    // The WebSocket: refused before the upgrade without valid credentials, and with a
    // foreign Origin.
    let ws_url = gateway.ws_url();
    for bad in [
        None,
        Some(expired.as_str()),
        Some(tampered.as_str()),
        Some(revoked_key.as_str()),
    ] {
        assert_eq!(upgrade(&ws_url, bad, None).await, Some(401), "{bad:?}");
    }
    assert_eq!(
        upgrade(&ws_url, Some(&bob), Some("https://evil.example")).await,
        Some(403)
    );
    // ?token= works on the upgrade (browsers cannot set headers there).
    oqto_e2e::mux::MuxClient::connect(&format!("{ws_url}?token={bob}"), None)
        .await
        .unwrap();

    // Bob on alice's session, on every channel: "not found", and the socket stays up.
    let mut mux = Mux::connect(&ws_url, &bob).await;
    let frames = [
        json!({"channel":"agent","session_id":"alice-s","id":"a1","cmd":"prompt","message":"hi"}),
        json!({"channel":"agent","session_id":"alice-s","id":"a2","cmd":"get_messages"}),
        json!({"channel":"files","session_id":"alice-s","id":"f1","type":"read","path":"secret.txt"}),
        json!({"channel":"terminal","session_id":"alice-s","id":"t1","type":"open","cols":80,"rows":24}),
        json!({"channel":"hstry","session_id":"alice-s","id":"h1","type":"query","query":"password"}),
    ];
    for frame in frames {
        mux.send(frame.clone()).await;
        let answer = mux.next().await;
        assert_eq!(answer["channel"], frame["channel"], "{answer}");
        assert_eq!(answer["id"], frame["id"], "{answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert_eq!(error, "session alice-s not found", "{answer}");
        if frame["channel"] == "agent" {
            assert_eq!(answer["event"], "response");
            assert_eq!(answer["success"], false);
        } else {
            assert_eq!(answer["type"], "error");
            assert_eq!(answer["session_id"], "alice-s");
        }
    }
    // The session was not woken by any of that.
    let session = rest
        .ok(
            Method::GET,
            "/api/workspaces/alice-ws/sessions/alice-s",
            &alice,
            None,
        )
        .await;
    assert_eq!(session["spec"]["suspended"], true);

    // Deleting a user ends their tokens and keys at once.
    rest.ok(Method::DELETE, "/api/users/alice", &admin, None)
        .await;
    for cred in [Cred::Bearer(&alice), Cred::ApiKey(&alice_key)] {
        let (status, _) = rest.call(Method::GET, "/api/auth/me", cred, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_are_rate_limited_and_set_an_http_only_cookie() {
    let env = TestEnv::new("gw-login").await.unwrap();
    let data = tempfile::tempdir().unwrap();
    // A built UI (the gateway serves `<data>/ui` in tests).
    std::fs::create_dir_all(data.path().join("ui/assets")).unwrap();
    std::fs::write(data.path().join("ui/index.html"), "<html>oqto ui</html>").unwrap();
    std::fs::write(data.path().join("ui/assets/app.js"), "console.log(1)").unwrap();
    let gateway = Gateway::start_with(&env, data.path(), 8080, &["--login-rate", "3"]).await;
    let rest = gateway.rest();
    // Files as they are, client-side routes get index.html, unknown API routes stay JSON.
    for (path, body) in [
        ("/assets/app.js", "console.log(1)"),
        ("/", "<html>oqto ui</html>"),
        ("/sessions/alice-s", "<html>oqto ui</html>"),
    ] {
        let (status, answer) = rest.call(Method::GET, path, Cred::None, None).await;
        assert_eq!((status, answer), (StatusCode::OK, json!(body)), "{path}");
    }
    // The UI's policy: images and connections from the gateway only, no framing.
    let page = rest
        .http
        .get(format!("{}/", rest.base))
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    for directive in [
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let (status, answer) = rest.call(Method::GET, "/api/nope", Cred::None, None).await;
    assert_eq!(
        (status, answer["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let response = rest
        .http
        .post(format!("{}/api/auth/login", rest.base))
        .json(&json!({"username": ADMIN.0, "password": ADMIN.1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("auth_token="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let token = cookie
        .trim_start_matches("auth_token=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (status, me) = rest
        .call(Method::GET, "/api/auth/me", Cred::Cookie(&token), None)
        .await;
    assert_eq!(
        (status, me["username"].clone()),
        (StatusCode::OK, json!("admin"))
    );

    for _ in 0..2 {
        let (status, answer) = rest
            .call(
                Method::POST,
                "/api/auth/login",
                Cred::None,
                Some(json!({"username":"admin","password":"wrong-password"})),
            )
            .await;
        assert_eq!(
            (status, answer["code"].clone()),
            (StatusCode::UNAUTHORIZED, json!("invalid_credentials"))
        );
    }
    // The fourth attempt in a minute is refused, even with the right password.
    let (status, answer) = rest
        .call(
            Method::POST,
            "/api/auth/login",
            Cred::None,
            Some(json!({"username": ADMIN.0, "password": ADMIN.1})),
        )
        .await;
    assert_eq!(
        (status, answer["code"].clone()),
        (StatusCode::TOO_MANY_REQUESTS, json!("rate_limited"))
    );
    // Bad bodies name the field; the OpenAPI document lists the routes.
    let (status, answer) = rest
        .call(
            Method::POST,
            "/api/workspaces",
            Cred::Bearer(&token),
            Some(json!({"name": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        answer["error"].as_str().unwrap().starts_with("name: "),
        "{answer}"
    );
    let (status, answer) = rest
        .call(
            Method::POST,
            "/api/workspaces",
            Cred::Bearer(&token),
            Some(json!({"name": "w", "spec": {"storage": {"size": "ten gigs"}}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("spec.storage.size"),
        "{answer}"
    );
    let (status, doc) = rest
        .call(Method::GET, "/api/openapi.json", Cred::None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["paths"]["/api/workspaces/{workspace}/sessions/{session}/resume"]["post"].is_object(),
        "{doc}"
    );
    let (status, health) = rest
        .call(Method::GET, "/api/health", Cred::None, None)
        .await;
    assert_eq!(
        (status, health["status"].clone()),
        (StatusCode::OK, json!("ok"))
    );
}
