//! Attacks of a hostile user on what the platform owns, through the gateway (issue 15): a
//! Workspace spec that would hand the runner a Secret of the namespace (the admin's password,
//! another user's LLM key), the platform's LLM key sent to an endpoint of the user's, an image
//! of theirs, open egress. Each is refused with 403 naming the field, through both the REST
//! create and `apply`, and nothing is created. Against the real control plane.
#![allow(clippy::unwrap_used)]

mod common;

use common::{ADMIN, Cred, Gateway, Mux, Rest, eventually};
use oqto_e2e::TestEnv;
use oqto_e2e::mux::MuxClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// (spec, the field the refusal must name).
fn platform_fields() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({"runner": {"envFrom": [{"secretRef": {"name": "oqto-admin"}}]}}),
            "spec.runner.envFrom",
        ),
        (
            json!({"runner": {"env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "oqto-jwt", "key": "secret"}}}]}}),
            "spec.runner.env",
        ),
        (
            json!({"llm": {"provider": "openai", "model": "m", "credentialsSecretRef": {"name": "bob-llm"}}}),
            "spec.llm.credentialsSecretRef.name",
        ),
        (
            json!({"llm": {"provider": "custom", "model": "m", "baseUrl": "http://attacker.example/v1"}}),
            "spec.llm.baseUrl",
        ),
        (
            json!({"runner": {"image": "attacker/image:latest"}}),
            "spec.runner.image",
        ),
        (
            json!({"network": {"egress": "Open"}}),
            "spec.network.egress",
        ),
    ]
}

/// A gateway of its own (Kubernetes mode, against the real control plane) with `args`. The
/// namespace and data directory live as long as the returned guards.
struct Started {
    _env: TestEnv,
    _data: tempfile::TempDir,
    gateway: Gateway,
    rest: Rest,
}

async fn start(name: &str, args: &[&str]) -> Started {
    let env = TestEnv::new(name).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_with(&env, data.path(), 8080, args).await;
    let rest = gateway.rest();
    Started {
        _env: env,
        _data: data,
        gateway,
        rest,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_cannot_set_what_reaches_the_platform_and_an_admin_can() {
    let started = start("gw-tenancy", &[]).await;
    let rest = &started.rest;
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let mallory = rest.user(&admin, "mallory").await;

    for (spec, field) in platform_fields() {
        let create = json!({"name": "loot", "spec": spec});
        let manifest = json!({"apiVersion": "oqto.dev/v1alpha1", "kind": "Workspace",
            "metadata": {"name": "loot"}, "spec": spec});
        for (path, body) in [("/api/workspaces", create), ("/api/apply", manifest)] {
            let (status, answer) = rest
                .call(Method::POST, path, Cred::Bearer(&mallory), Some(body))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} {spec}: {answer}");
            let message = answer["error"].as_str().unwrap_or_default();
            assert_eq!(answer["code"], "forbidden", "{answer}");
            assert!(
                message.starts_with(field),
                "{path}: the refusal names {field}: {message}"
            );
        }
        let (status, _) = rest
            .call(
                Method::GET,
                "/api/workspaces/loot",
                Cred::Bearer(&mallory),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nothing was created");
    }

    // What the UI sends is a user's to choose.
    rest.ok(
        Method::POST,
        "/api/workspaces",
        &mallory,
        Some(json!({"name": "mine", "spec": {
            "storage": {"reclaimPolicy": "Delete", "size": "2Gi"},
            "lifecycle": {"idleTimeout": "30m"},
            "llm": {"provider": "openai", "model": "gpt-4.1-mini"}}})),
    )
    .await;
    // An admin decides the runner's image.
    let made = rest
        .ok(
            Method::POST,
            "/api/workspaces",
            &admin,
            Some(json!({"name": "curated", "spec": {"owner": "mallory",
                "runner": {"image": "localhost/oqto-runner:dev"}}})),
        )
        .await;
    assert_eq!(made["spec"]["runner"]["image"], "localhost/oqto-runner:dev");
}

/// Cross-site request forgery, as a page on another site would try it with the user's cookie:
/// a form post (text/plain, a JSON-looking body) and a body-less write (suspend). Both are
/// refused, naming the header; the same write from the gateway's own origin passes.
#[tokio::test(flavor = "multi_thread")]
async fn writes_forged_by_another_site_are_refused() {
    let started = start("gw-csrf", &[]).await;
    let rest = &started.rest;
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let alice = rest.user(&admin, "alice").await;
    rest.workspace_with_session(
        &alice,
        "alice-ws",
        json!({"name": "alice-s", "spec": {"suspended": true}}),
    )
    .await;
    let cookie = format!("auth_token={alice}");
    let form = rest
        .http
        .post(format!("{}/api/workspaces", rest.base))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body(r#"{"name":"forged"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let answer: Value = form.json().await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("Content-Type"),
        "{answer}"
    );
    let resume = format!(
        "{}/api/workspaces/alice-ws/sessions/alice-s/resume",
        rest.base
    );
    let forged = rest
        .http
        .post(&resume)
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let answer: Value = forged.json().await.unwrap();
    assert!(
        answer["error"].as_str().unwrap().starts_with("Origin"),
        "{answer}"
    );
    let (status, session) = rest
        .call(
            Method::GET,
            "/api/workspaces/alice-ws/sessions/alice-s",
            Cred::Bearer(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(session["spec"]["suspended"], true, "nothing was written");
    let host = rest.base.trim_start_matches("http://");
    let own = rest
        .http
        .post(&resume)
        .header("cookie", &cookie)
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .unwrap();
    assert!(own.status().is_success(), "{}", own.status());
}

/// One user opens mux connections until the cap (`--max-connections-per-user`): the next is
/// refused with 429 and says why, another user is unaffected, and a closed connection frees
/// its place.
#[tokio::test(flavor = "multi_thread")]
async fn mux_connections_per_user_are_capped() {
    let started = start("gw-conncap", &["--max-connections-per-user", "3"]).await;
    let rest = &started.rest;
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let mallory = rest.user(&admin, "mallory").await;
    let bob = rest.user(&admin, "bob").await;
    let url = started.gateway.ws_url();
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Mux::connect(&url, &mallory).await);
    }
    let mut request = url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {mallory}").parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert!(body.contains("at most 3 per user"), "{body}");
        }
        other => panic!("the fourth is refused: {:?}", other.map(|_| ())),
    }
    let _bob = Mux::connect(&url, &bob).await;
    drop(open.pop());
    eventually("a closed connection frees its place", || async {
        MuxClient::connect(&url, Some(&mallory)).await.ok()
    })
    .await;
}

/// One user's frames waiting for runners that do not answer yet (nothing starts them here)
/// hold at most `--max-queued-bytes`, over all their connections; beyond, frames are refused
/// "busy", and another user is not affected. Sessions linked at once are capped per user too.
#[tokio::test(flavor = "multi_thread")]
async fn queued_bytes_and_linked_sessions_are_capped_per_user() {
    let started = start(
        "gw-budget",
        &[
            "--max-queued-bytes",
            "1048576",
            "--max-sessions-per-user",
            "2",
        ],
    )
    .await;
    let rest = &started.rest;
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let url = started.gateway.ws_url();
    let mut users = Vec::new();
    for user in ["mallory", "bob"] {
        let token = rest.user(&admin, user).await;
        let workspace = format!("{user}-ws");
        rest.ok(
            Method::POST,
            "/api/workspaces",
            &token,
            Some(json!({"name": workspace})),
        )
        .await;
        for session in ["a", "b", "c"] {
            rest.ok(
                Method::POST,
                &format!("/api/workspaces/{workspace}/sessions"),
                &token,
                Some(json!({"name": format!("{user}-{session}")})),
            )
            .await;
        }
        users.push(token);
    }
    let write = |session: &str, n: usize| {
        json!({"channel":"files","session_id":session,"id":n.to_string(),"type":"write",
            "path":"f","content":"A".repeat(400 * 1024)})
    };
    // The answer to frame `id`, skipping the gateway's "starting the runner" events.
    async fn answer(mux: &mut Mux, id: &str) -> Option<serde_json::Value> {
        let frames = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            mux.until(|f| f["id"] == id),
        )
        .await
        .ok()?;
        frames.last().cloned()
    }
    let mut first = Mux::connect(&url, &users[0]).await;
    let mut second = Mux::connect(&url, &users[0]).await;
    first.send(write("mallory-a", 1)).await;
    first.send(write("mallory-a", 2)).await;
    // A connection's frames are routed in order: once a frame after them is answered, the two
    // hold their bytes (else the next frame could be routed first, on the other connection).
    first
        .send(json!({"channel":"bogus","session_id":"mallory-a","id":"sync"}))
        .await;
    let sync = answer(&mut first, "sync").await.expect("an answer at once");
    assert!(sync["error"].as_str().unwrap().contains("bogus"), "{sync}");
    second.send(write("mallory-b", 3)).await;
    let busy = answer(&mut second, "3").await.expect("an answer at once");
    assert!(
        busy["error"]
            .as_str()
            .unwrap()
            .contains("Server busy: your frames waiting for their runners hold 1048576 bytes"),
        "{busy}"
    );
    assert!(
        answer(&mut first, "1").await.is_none(),
        "the first frames wait for their runner"
    );
    second.send(write("mallory-c", 4)).await;
    let refused = answer(&mut second, "4").await.unwrap();
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("you already talk to 2 sessions at once"),
        "{refused}"
    );
    // Bob's budget is his own.
    let mut bob = Mux::connect(&url, &users[1]).await;
    bob.send(write("bob-a", 5)).await;
    bob.send(write("bob-a", 6)).await;
    assert!(
        answer(&mut bob, "6").await.is_none(),
        "bob's frames wait, not refused"
    );
    // Closing the connection whose frames waited gives their bytes back.
    drop(first);
    let mut given_back = false;
    for n in 7..12 {
        second.send(write("mallory-b", n)).await;
        if answer(&mut second, &n.to_string()).await.is_none() {
            given_back = true;
            break;
        }
    }
    assert!(given_back, "the closed connection's bytes were given back");
}

/// Users change their own password (knowing the current one); admins reset passwords and
/// disable users. A change or reset ends every earlier session token; a disabled user gets
/// nothing with a token, an API key or a login, and an admin cannot lock themselves out.
#[tokio::test(flavor = "multi_thread")]
async fn passwords_change_and_admins_reset_and_disable_users() {
    let started = start("gw-passwords", &[]).await;
    let rest = &started.rest;
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let alice = rest.user(&admin, "alice").await;
    let bob = rest.user(&admin, "bob").await;
    let me = |token: String| async move {
        rest.call(Method::GET, "/api/auth/me", Cred::Bearer(&token), None)
            .await
    };

    // A stolen token without the password cannot change it.
    let (status, answer) = rest
        .call(
            Method::PUT,
            "/api/auth/password",
            Cred::Bearer(&alice),
            Some(json!({"current_password": "guess", "new_password": "alice-new-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("current_password")
    );
    let (status, answer) = rest
        .call(
            Method::PUT,
            "/api/auth/password",
            Cred::Bearer(&alice),
            Some(json!({"current_password": "alice-password", "new_password": "short"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("new_password:")
    );
    rest.ok(
        Method::PUT,
        "/api/auth/password",
        &alice,
        Some(json!({"current_password": "alice-password", "new_password": "alice-new-password"})),
    )
    .await;
    let (status, answer) = me(alice.clone()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old token ends: {answer}"
    );
    assert_eq!(answer["code"], "password_changed");
    let (status, _) = rest
        .call(
            Method::POST,
            "/api/auth/login",
            Cred::None,
            Some(json!({"username": "alice", "password": "alice-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password ends");
    let alice = rest.login("alice", "alice-new-password").await;
    assert_eq!(me(alice.clone()).await.0, StatusCode::OK);

    // Only admins reset, and a reset ends the user's sessions.
    let (status, _) = rest
        .call(
            Method::PUT,
            "/api/users/bob/password",
            Cred::Bearer(&alice),
            Some(json!({"password": "taken-over-by-alice"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    rest.ok(
        Method::PUT,
        "/api/users/bob/password",
        &admin,
        Some(json!({"password": "bob-reset-password"})),
    )
    .await;
    assert_eq!(me(bob).await.0, StatusCode::UNAUTHORIZED);
    rest.login("bob", "bob-reset-password").await;

    // Disabled: token, API key and login refused at once; enabled again, a login works.
    let key = rest
        .ok(
            Method::POST,
            "/api/keys",
            &alice,
            Some(json!({"name": "ci"})),
        )
        .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let (status, _) = rest
        .call(
            Method::PATCH,
            "/api/users/alice",
            Cred::Bearer(&alice),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not by a user");
    let disabled = rest
        .ok(
            Method::PATCH,
            "/api/users/alice",
            &admin,
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(disabled["disabled"], true);
    let (status, answer) = me(alice).await;
    assert_eq!(
        (status, answer["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("account_disabled"))
    );
    let (status, _) = rest
        .call(Method::GET, "/api/auth/me", Cred::ApiKey(&key), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the API key too");
    let (status, answer) = rest
        .call(
            Method::POST,
            "/api/auth/login",
            Cred::None,
            Some(json!({"username": "alice", "password": "alice-new-password"})),
        )
        .await;
    assert_eq!(
        (status, answer["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("account_disabled"))
    );
    let (status, answer) = rest
        .call(
            Method::PATCH,
            &format!("/api/users/{}", ADMIN.0),
            Cred::Bearer(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    rest.ok(
        Method::PATCH,
        "/api/users/alice",
        &admin,
        Some(json!({"disabled": false})),
    )
    .await;
    rest.login("alice", "alice-new-password").await;
}

/// A token that was logged out is worth nothing, as a bearer token and as the cookie (someone
/// who copied it, a shared browser); a new login works.
#[tokio::test(flavor = "multi_thread")]
async fn logout_revokes_the_token() {
    let started = start("gw-logout", &[]).await;
    let rest = &started.rest;
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let token = rest.user(&admin, "alice").await;
    let (status, _) = rest
        .call(Method::GET, "/api/auth/me", Cred::Bearer(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = rest
        .call(Method::POST, "/api/auth/logout", Cred::Bearer(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for cred in [Cred::Bearer(&token), Cred::Cookie(&token)] {
        let (status, answer) = rest.call(Method::GET, "/api/auth/me", cred, None).await;
        assert_eq!(
            (status, answer["code"].clone()),
            (StatusCode::UNAUTHORIZED, json!("token_revoked")),
            "{answer}"
        );
    }
    let (status, _) = rest
        .call(Method::GET, "/api/auth/me", Cred::Bearer(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "other tokens keep working");
}

/// Behind a trusted ingress (`--trusted-proxies`), one guesser's failed logins spend their own
/// budget, not everybody's: another client behind the same proxy still logs in. A client that
/// is not the proxy cannot pick its address with the header.
#[tokio::test(flavor = "multi_thread")]
async fn login_limits_follow_the_client_behind_a_trusted_proxy() {
    let started = start(
        "gw-xff",
        &["--login-rate", "3", "--trusted-proxies", "127.0.0.0/8"],
    )
    .await;
    let rest = &started.rest;
    let login = |client: &'static str, username: &'static str, password: &'static str| {
        let http = rest.http.clone();
        let url = format!("{}/api/auth/login", rest.base);
        async move {
            http.post(url)
                .header("x-forwarded-for", client)
                .json(&json!({"username": username, "password": password}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // The guesser spends its budget on three names, then is refused.
    for name in ["u1", "u2", "u3"] {
        assert_eq!(
            login("203.0.113.66", name, "wrong-password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login("203.0.113.66", "u4", "wrong-password").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The admin, behind the same ingress, is not locked out.
    assert_eq!(
        login("198.51.100.10", ADMIN.0, ADMIN.1).await,
        StatusCode::OK
    );
}

/// Acceptance of issue 15 through REST: an admin defines `standard` and `open-egress`; a user
/// allowed only `standard` is neither offered the other nor can create a Workspace of it (by
/// create or apply), may create `standard` ones (also by naming none: the default class), and
/// must keep the class's bounds. Classes are an admin's to define.
#[tokio::test(flavor = "multi_thread")]
async fn users_choose_only_the_workspace_classes_open_to_them() {
    let started = start("gw-classes", &["--default-workspace-class", "standard"]).await;
    let rest = &started.rest;
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let alice = rest.user(&admin, "alice").await;
    let bob = rest.user(&admin, "bob").await;
    let class = |name: &str, spec: Value| {
        json!({"apiVersion": "oqto.dev/v1alpha1", "kind": "WorkspaceClass",
            "metadata": {"name": name}, "spec": spec})
    };

    // A user cannot define a class (one with open egress, say).
    let (status, answer) = rest
        .call(
            Method::POST,
            "/api/apply",
            Cred::Bearer(&alice),
            Some(class("mine", json!({"network": {"egress": "Open"}}))),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().starts_with("kind:"),
        "{answer}"
    );

    let standard = json!({"displayName": "Standard", "users": ["alice", "bob"],
        "storage": {"maxSize": "20Gi"}, "network": {"egress": "Restricted"}});
    rest.ok(
        Method::POST,
        "/api/apply",
        &admin,
        Some(class("standard", standard)),
    )
    .await;
    let open = json!({"users": ["bob"], "network": {"egress": "Open"},
        "runner": {"envFrom": [{"secretRef": {"name": "team-tools"}}]}});
    rest.ok(
        Method::POST,
        "/api/apply",
        &admin,
        Some(class("open-egress", open)),
    )
    .await;

    // alice is offered standard only (the default, first); bob both; neither sees Secrets.
    let offered = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let for_alice = rest
        .ok(Method::GET, "/api/workspaceclasses", &alice, None)
        .await;
    assert_eq!(offered(&for_alice), ["standard"]);
    assert_eq!(for_alice["items"][0]["default"], true);
    assert_eq!(for_alice["items"][0]["maxSize"], "20Gi");
    let for_bob = rest
        .ok(Method::GET, "/api/workspaceclasses", &bob, None)
        .await;
    assert_eq!(offered(&for_bob), ["standard", "open-egress"]);
    assert!(!for_bob.to_string().contains("team-tools"), "{for_bob}");

    // alice cannot have open-egress (nor a class that does not exist), by create or apply.
    for wanted in ["open-egress", "no-such-class"] {
        let spec = json!({"workspaceClassName": wanted});
        let create = json!({"name": "escape", "spec": spec});
        let manifest = json!({"apiVersion": "oqto.dev/v1alpha1", "kind": "Workspace",
            "metadata": {"name": "escape"}, "spec": spec});
        for (path, body) in [("/api/workspaces", create), ("/api/apply", manifest)] {
            let (status, answer) = rest
                .call(Method::POST, path, Cred::Bearer(&alice), Some(body))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} {wanted}: {answer}");
            let message = answer["error"].as_str().unwrap();
            assert!(
                message.starts_with(&format!(
                    "spec.workspaceClassName: workspace class {wanted:?} does not exist or is not open to \"alice\""
                )),
                "{message}"
            );
        }
    }
    let (status, _) = rest
        .call(
            Method::GET,
            "/api/workspaces/escape",
            Cred::Bearer(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was created");

    // Her own class, named or by default; its bounds hold.
    let made = rest
        .ok(
            Method::POST,
            "/api/workspaces",
            &alice,
            Some(json!({"name": "named", "spec": {"workspaceClassName": "standard"}})),
        )
        .await;
    assert_eq!(made["spec"]["workspaceClassName"], "standard");
    rest.ok(
        Method::POST,
        "/api/workspaces",
        &alice,
        Some(json!({"name": "by-default", "spec": {}})),
    )
    .await;
    let (status, answer) = rest
        .call(
            Method::POST,
            "/api/workspaces",
            Cred::Bearer(&alice),
            Some(json!({"name": "huge", "spec": {"storage": {"size": "30Gi"}}})),
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

    // bob may use open-egress.
    rest.ok(
        Method::POST,
        "/api/workspaces",
        &bob,
        Some(json!({"name": "bobs", "spec": {"workspaceClassName": "open-egress"}})),
    )
    .await;
}
