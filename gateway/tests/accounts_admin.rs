//! Administering accounts over REST and with `oqtoctl user`: only admins touch other users,
//! every bad field is named, no change leaves the platform without an active admin (also when
//! two admins on two gateways demote each other at once), and API keys carry an expiry.
//! Single-node gateways (no Kubernetes needed); the last test shares a PostgreSQL database.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{ADMIN, Cred, Gateway, Rest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// A single-node gateway on a fresh data directory (kept alive by the returned guard).
async fn start() -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let gateway =
        Gateway::start_local(&dir.path().join("gw"), &dir.path().join("state"), "team").await;
    (gateway, dir)
}

/// The status, the `code` and the message of a refused call.
async fn refused(
    rest: &Rest,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, String, String) {
    let (status, answer) = rest.call(method, path, Cred::Bearer(token), body).await;
    assert!(!status.is_success(), "{path} was accepted: {answer}");
    let text = |key: &str| answer[key].as_str().unwrap_or_default().to_owned();
    (status, text("code"), text("error"))
}

#[tokio::test(flavor = "multi_thread")]
async fn only_admins_administer_users_and_bad_fields_are_named() {
    let (gateway, _dir) = start().await;
    let rest = gateway.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let carol = rest.user(&admin, "carol").await;
    let bob = rest.user(&admin, "bob").await;

    // Every admin route: 401 without credentials, 403 for a user, also on themselves.
    let admin_routes = [
        (Method::GET, "/api/users", None),
        (Method::GET, "/api/users/carol", None),
        (
            Method::POST,
            "/api/users",
            Some(json!({"username": "mallory", "password": "mallory-password", "role": "admin"})),
        ),
        (
            Method::PATCH,
            "/api/users/carol",
            Some(json!({"disabled": true})),
        ),
        (
            Method::PATCH,
            "/api/users/bob",
            Some(json!({"role": "admin"})),
        ),
        (
            Method::PUT,
            "/api/users/carol/password",
            Some(json!({"password": "taken-over-by-bob"})),
        ),
        (Method::DELETE, "/api/users/carol", None),
    ];
    for (method, path, body) in admin_routes {
        let (status, answer) = rest
            .call(method.clone(), path, Cred::None, body.clone())
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path}: {answer}"
        );
        let (status, code, _) = refused(&rest, method.clone(), path, &bob, body).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "bob: {method} {path}"
        );
    }
    // Nothing of that happened: carol logs in with her password, bob is no admin, no mallory.
    rest.login("carol", "carol-password").await;
    let users = rest.ok(Method::GET, "/api/users", &admin, None).await;
    let listed: Vec<(&str, &str, bool)> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["username"].as_str().unwrap(),
                u["role"].as_str().unwrap(),
                u["disabled"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("admin", "admin", false),
            ("bob", "user", false),
            ("carol", "user", false)
        ]
    );

    // Bad requests name their field.
    for (method, path, body, field) in [
        (Method::PATCH, "/api/users/carol", json!({}), "request body"),
        (
            Method::PATCH,
            "/api/users/carol",
            json!({"role": "root"}),
            "role",
        ),
        (
            Method::PATCH,
            "/api/users/carol",
            json!({"disabled": "yes"}),
            "disabled",
        ),
        (
            Method::PATCH,
            "/api/users/carol",
            json!({"rol": "admin"}),
            "rol",
        ),
        (
            Method::POST,
            "/api/users",
            json!({"username": "Dave!", "password": "dave-password"}),
            "username",
        ),
        (
            Method::POST,
            "/api/users",
            json!({"username": "dave", "password": "short"}),
            "password",
        ),
        (
            Method::POST,
            "/api/users",
            json!({"username": "dave", "password": "dave-password", "role": "owner"}),
            "role",
        ),
        (
            Method::PUT,
            "/api/users/carol/password",
            json!({"password": "short"}),
            "password",
        ),
        (Method::POST, "/api/keys", json!({"name": " "}), "name"),
        (
            Method::POST,
            "/api/keys",
            json!({"name": "ci", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            Method::POST,
            "/api/keys",
            json!({"name": "ci", "expires_in_days": 3651}),
            "expires_in_days",
        ),
        (
            Method::POST,
            "/api/keys",
            json!({"name": "ci", "expires_in_days": -1}),
            "expires_in_days",
        ),
    ] {
        let (status, code, error) = refused(&rest, method, path, &admin, Some(body.clone())).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            "{path} {body}: {error}"
        );
        assert!(error.starts_with(&format!("{field}:")), "{body}: {error}");
    }
    // A misspelt field is not ignored: the key would otherwise silently never expire.
    let (_, _, error) = refused(
        &rest,
        Method::POST,
        "/api/keys",
        &admin,
        Some(json!({"name": "ci", "expires_in": 30})),
    )
    .await;
    assert!(error.contains("expires_in"), "{error}");
    let (status, code, _) = refused(
        &rest,
        Method::POST,
        "/api/users",
        &admin,
        Some(json!({"username": "carol", "password": "carol-password"})),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "already_exists")
    );
    for (method, path, body) in [
        (Method::GET, "/api/users/nobody", None),
        (
            Method::PATCH,
            "/api/users/nobody",
            Some(json!({"role": "admin"})),
        ),
        (
            Method::PUT,
            "/api/users/nobody/password",
            Some(json!({"password": "nobody-password"})),
        ),
        (Method::DELETE, "/api/users/nobody", None),
    ] {
        let (status, _, error) = refused(&rest, method, path, &admin, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error, "user \"nobody\" not found");
    }

    // A role change is in force at once, on the token carol already has.
    let promoted = rest
        .ok(
            Method::PATCH,
            "/api/users/carol",
            &admin,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(
        (promoted["role"].clone(), promoted["disabled"].clone()),
        (json!("admin"), json!(false))
    );
    let fetched = rest.ok(Method::GET, "/api/users/carol", &carol, None).await;
    assert_eq!(fetched["role"], "admin");
    let both = rest
        .ok(
            Method::PATCH,
            "/api/users/carol",
            &admin,
            Some(json!({"role": "user", "disabled": true})),
        )
        .await;
    assert_eq!(
        (both["role"].clone(), both["disabled"].clone()),
        (json!("user"), json!(true))
    );
    let (status, answer) = rest
        .call(Method::GET, "/api/users", Cred::Bearer(&carol), None)
        .await;
    assert_eq!(
        (status, answer["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("account_disabled"))
    );
    rest.ok(
        Method::PATCH,
        "/api/users/carol",
        &admin,
        Some(json!({"disabled": false})),
    )
    .await;
    let (status, _, _) = refused(&rest, Method::GET, "/api/users", &carol, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "demoted at once");

    // A deleted user is gone with their keys; their name is free again.
    let key = rest
        .ok(
            Method::POST,
            "/api/keys",
            &carol,
            Some(json!({"name": "ci"})),
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = rest
        .call(
            Method::DELETE,
            "/api/users/carol",
            Cred::Bearer(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = rest
        .call(Method::GET, "/api/auth/me", Cred::ApiKey(&key), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    rest.user(&admin, "carol").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_never_leave_the_platform_without_an_active_admin() {
    let (gateway, _dir) = start().await;
    let rest = gateway.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;

    // Alone, the admin keeps the role, the account and the access.
    let (status, code, error) = refused(
        &rest,
        Method::PATCH,
        "/api/users/admin",
        &admin,
        Some(json!({"role": "user"})),
    )
    .await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "conflict"));
    assert!(
        error.starts_with("role:") && error.contains("last active admin"),
        "{error}"
    );
    let (status, _, error) = refused(
        &rest,
        Method::PATCH,
        "/api/users/admin",
        &admin,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error.starts_with("disabled:"), "{error}");
    let (status, _, error) = refused(&rest, Method::DELETE, "/api/users/admin", &admin, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error.starts_with("username:"), "{error}");
    assert_eq!(
        rest.ok(Method::GET, "/api/auth/me", &admin, None).await["role"],
        "admin"
    );

    // With a second admin, either may step down; the one left may not.
    let carol = rest.user(&admin, "carol").await;
    rest.ok(
        Method::PATCH,
        "/api/users/carol",
        &admin,
        Some(json!({"role": "admin"})),
    )
    .await;
    let stepped_down = rest
        .ok(
            Method::PATCH,
            "/api/users/admin",
            &admin,
            Some(json!({"role": "user"})),
        )
        .await;
    assert_eq!(stepped_down["role"], "user");
    let (status, _, _) = refused(&rest, Method::GET, "/api/users", &admin, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, error) = refused(
        &rest,
        Method::PATCH,
        "/api/users/carol",
        &carol,
        Some(json!({"role": "user"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    // A disabled admin is no active admin: disabling the other one does not help either.
    rest.ok(
        Method::PATCH,
        "/api/users/admin",
        &carol,
        Some(json!({"role": "admin", "disabled": true})),
    )
    .await;
    let (status, _, _) = refused(
        &rest,
        Method::PATCH,
        "/api/users/carol",
        &carol,
        Some(json!({"role": "user"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    rest.ok(
        Method::PATCH,
        "/api/users/admin",
        &carol,
        Some(json!({"disabled": false})),
    )
    .await;
    rest.login(ADMIN.0, ADMIN.1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_carry_their_expiry() {
    let (gateway, _dir) = start().await;
    let rest = gateway.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let before = now_ms();
    let created = rest
        .ok(
            Method::POST,
            "/api/keys",
            &admin,
            Some(json!({"name": "ci", "expires_in_days": 30})),
        )
        .await;
    let expires_at = created["expires_at"].as_i64().unwrap();
    let thirty_days = 30 * 86_400_000;
    assert!(
        (before + thirty_days..=now_ms() + thirty_days).contains(&expires_at),
        "{created}"
    );
    let key = created["key"].as_str().unwrap();
    let (status, me) = rest
        .call(Method::GET, "/api/auth/me", Cred::ApiKey(key), None)
        .await;
    assert_eq!(
        (status, me["username"].clone()),
        (StatusCode::OK, json!("admin"))
    );
    let forever = rest
        .ok(
            Method::POST,
            "/api/keys",
            &admin,
            Some(json!({"name": "cli"})),
        )
        .await;
    assert_eq!(forever["expires_at"], Value::Null);
    let listed = rest.ok(Method::GET, "/api/keys", &admin, None).await;
    let expiries: Vec<Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["expires_at"].clone())
        .collect();
    assert_eq!(expiries, [json!(expires_at), Value::Null]);
    assert!(
        !listed.to_string().contains(key),
        "a listing never holds the key"
    );

    // The API's document describes what these tests call.
    let (status, doc) = rest
        .call(Method::GET, "/api/openapi.json", Cred::None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    for method in ["get", "patch", "delete"] {
        assert!(
            doc["paths"]["/api/users/{username}"][method].is_object(),
            "{method}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["CreateKey"]["properties"]["expires_in_days"].is_object());
    assert!(schemas["UpdateUser"]["properties"]["role"].is_object());
    assert!(schemas["ApiKeyInfo"]["properties"]["expires_at"].is_object());
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// What `oqtoctl` printed and whether it succeeded.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn oqtoctl(server: &str, token: &str, config: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_oqtoctl"))
        .args(["--server", server, "--token", token])
        .args(args)
        .env("XDG_CONFIG_HOME", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.as_bytes()).await.unwrap();
    drop(pipe);
    let output = tokio::time::timeout(common::WAIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oqtoctl_user_administers_users() {
    let (gateway, dir) = start().await;
    let rest = gateway.rest();
    let admin = rest.login(ADMIN.0, ADMIN.1).await;
    let (server, config) = (gateway.url.as_str(), dir.path());
    let run = |args: &'static [&'static str], stdin: &'static str| {
        let admin = admin.clone();
        async move { oqtoctl(server, &admin, config, args, stdin).await }
    };

    let created = run(
        &["user", "create", "dave", "--password-stdin"],
        "dave-password\n",
    )
    .await;
    assert!(created.ok, "{}", created.stderr);
    assert_eq!(created.stdout, "user/dave created\n");
    let dave = rest.login("dave", "dave-password").await;
    // Not an admin: refused, with the gateway's reason.
    let denied = oqtoctl(server, &dave, config, &["user", "get"], "").await;
    assert!(!denied.ok);
    assert!(
        denied
            .stderr
            .contains("this needs the admin role (forbidden)"),
        "{}",
        denied.stderr
    );

    let promoted = run(&["user", "set-role", "dave", "admin"], "").await;
    assert_eq!(
        promoted.stdout, "user/dave is now admin\n",
        "{}",
        promoted.stderr
    );
    let shown = run(&["-o", "json", "user", "get", "dave"], "").await;
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(
        (shown["role"].clone(), shown["disabled"].clone()),
        (json!("admin"), json!(false))
    );

    let disabled = run(&["user", "disable", "dave"], "").await;
    assert_eq!(
        disabled.stdout, "user/dave disabled\n",
        "{}",
        disabled.stderr
    );
    let (status, answer) = rest
        .call(
            Method::POST,
            "/api/auth/login",
            Cred::None,
            Some(json!({"username": "dave", "password": "dave-password"})),
        )
        .await;
    assert_eq!(
        (status, answer["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("account_disabled"))
    );
    let listed = run(&["user", "get"], "").await;
    assert!(
        listed
            .stdout
            .starts_with("USERNAME   ROLE    STATUS     AGE\n"),
        "{}",
        listed.stdout
    );
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with("dave ") && l.contains(" admin ") && l.contains(" disabled ")),
        "{}",
        listed.stdout
    );
    let enabled = run(&["user", "enable", "dave"], "").await;
    assert_eq!(enabled.stdout, "user/dave enabled\n", "{}", enabled.stderr);

    let reset = run(
        &["user", "reset-password", "dave", "--password-stdin"],
        "dave-new-password\n",
    )
    .await;
    assert_eq!(
        reset.stdout, "user/dave password reset\n",
        "{}",
        reset.stderr
    );
    let (status, _) = rest
        .call(
            Method::POST,
            "/api/auth/login",
            Cred::None,
            Some(json!({"username": "dave", "password": "dave-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password ends");
    rest.login("dave", "dave-new-password").await;
    let short = run(
        &["user", "reset-password", "dave", "--password-stdin"],
        "short\n",
    )
    .await;
    assert!(!short.ok);
    assert!(
        short.stderr.contains("password: must be at least 8"),
        "{}",
        short.stderr
    );
    let empty = run(&["user", "create", "erin", "--password-stdin"], "").await;
    assert!(
        !empty.ok && empty.stderr.contains("stdin is empty"),
        "{}",
        empty.stderr
    );

    // The last active admin stays one, whoever asks.
    assert!(run(&["user", "set-role", "dave", "user"], "").await.ok);
    let last = run(&["user", "set-role", "admin", "user"], "").await;
    assert!(!last.ok);
    assert!(last.stderr.contains("last active admin"), "{}", last.stderr);

    let deleted = run(&["user", "delete", "dave"], "").await;
    assert_eq!(deleted.stdout, "user/dave deleted\n", "{}", deleted.stderr);
    let gone = run(&["user", "get", "dave"], "").await;
    assert!(!gone.ok);
    assert!(
        gone.stderr.contains("user \"dave\" not found (not_found)"),
        "{}",
        gone.stderr
    );

    // Keys with an expiry, from the command line.
    let key = run(&["key", "create", "ci", "--expires-in-days", "7"], "").await;
    assert!(key.stdout.starts_with("octo_sk_"), "{}", key.stderr);
    let keys = run(&["key", "get"], "").await;
    // Seven days less the moments since: `in 7d`, or `in 6d23h` on a slow machine.
    assert!(
        keys.stdout.contains(" in 7d") || keys.stdout.contains(" in 6d23h"),
        "{}",
        keys.stdout
    );
    let too_long = run(&["key", "create", "ci", "--expires-in-days", "5000"], "").await;
    assert!(
        !too_long.ok
            && too_long
                .stderr
                .contains("expires_in_days: must be 1 to 3650"),
        "{}",
        too_long.stderr
    );
}

/// Two admins, each on another gateway of one PostgreSQL database, demote each other at the
/// same moment: one demotion wins, the other is refused, one admin is left.
#[tokio::test(flavor = "multi_thread")]
async fn two_gateways_never_demote_the_last_two_admins_at_once() {
    let url = oqto_e2e::postgres::fresh_database().await.unwrap();
    let (data_a, data_b, state) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, b) = tokio::join!(
        Gateway::start_local_on_database(data_a.path(), state.path(), "team", &url, &[]),
        Gateway::start_local_on_database(data_b.path(), state.path(), "team", &url, &[]),
    );
    let (rest_a, rest_b) = (a.rest(), b.rest());
    let admin = rest_a.login(ADMIN.0, ADMIN.1).await;
    for round in 0..5 {
        let other = format!("admin-{round}");
        let token = rest_a.user(&admin, &other).await;
        rest_a
            .ok(
                Method::PATCH,
                &format!("/api/users/{other}"),
                &admin,
                Some(json!({"role": "admin"})),
            )
            .await;
        let demote_other = format!("/api/users/{other}");
        let (one, two) = tokio::join!(
            rest_a.call(
                Method::PATCH,
                &demote_other,
                Cred::Bearer(&admin),
                Some(json!({"role": "user"})),
            ),
            rest_b.call(
                Method::PATCH,
                "/api/users/admin",
                Cred::Bearer(&token),
                Some(json!({"role": "user"})),
            ),
        );
        let mut statuses = [one.0.as_u16(), two.0.as_u16()];
        statuses.sort_unstable();
        // Both may be refused: a demoted caller loses the right before their request runs.
        assert!(
            statuses == [200, 409] || statuses == [200, 403],
            "round {round}: {one:?} {two:?}"
        );
        let users = rest_b
            .call(Method::GET, "/api/users", Cred::Bearer(&admin), None)
            .await;
        let survivor = if users.0 == StatusCode::OK {
            &admin
        } else {
            &token
        };
        let users = rest_b.ok(Method::GET, "/api/users", survivor, None).await;
        let admins = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["role"] == "admin")
            .count();
        assert_eq!(admins, 1, "round {round}: {users}");
        // Whoever is left makes the admin an admin again for the next round.
        rest_b
            .ok(
                Method::PATCH,
                "/api/users/admin",
                survivor,
                Some(json!({"role": "admin"})),
            )
            .await;
        rest_b.ok(Method::DELETE, &demote_other, &admin, None).await;
    }
}
