//! The delegate API that Pi's `delegate` and browser tools call, on a loopback address. Every
//! request carries `authorization: Bearer $PI_BRIDGE_DELEGATE_TOKEN`, a secret only Pi's
//! environment holds: the loopback is shared with the browser sidecar, whose Chromium runs
//! without its own sandbox. JSON in and out; every error is `{"error": "..."}` naming what was
//! wrong, for the model to read.
//!
//! - `POST /delegate/start {prompt, model?, provider?, title?}` → 202 `{id, session}`
//! - `GET /delegate/status/{id}` → `{id, session, state, answer?, error?}`
//! - `POST /delegate/prompt/{id} {prompt}` → 202 `{id, session}` (409 while a turn runs)
//! - `POST /delegate/stop/{id}` → the status (cancelled when it was running)
//! - `GET /delegate/sessions` → `{sessions: [status, …]}`
//! - `GET /browser/control` → `{controller: "agent"|"user"}`: the browser tools refuse while a
//!   user controls the runner's browser.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use oqto_proto::delegation::StartChild;
use serde_json::{Map, Value, json};

use super::{Delegations, Failure, NewDelegation, Started};
use crate::browser::BrowserHub;

/// Largest request body.
pub const MAX_BODY: usize = 128 * 1024;
/// Longest prompt, in characters.
pub const MAX_PROMPT_CHARS: usize = 65_536;
/// Longest model or provider name, and title, in characters.
const MAX_NAME_CHARS: usize = 200;
/// A title made from the prompt: its first line, this long at most.
const DEFAULT_TITLE_CHARS: usize = 80;

pub fn router(delegations: Arc<Delegations>, browser: Arc<BrowserHub>, token: &str) -> Router {
    let token: Arc<str> = Arc::from(format!("Bearer {token}"));
    let browser = Router::new()
        .route("/browser/control", get(browser_control))
        .with_state(browser);
    Router::new()
        .route("/delegate/start", post(start))
        .route("/delegate/status/{id}", get(status))
        .route("/delegate/prompt/{id}", post(prompt))
        .route("/delegate/stop/{id}", post(stop))
        .route("/delegate/sessions", get(sessions))
        .fallback(unknown)
        .with_state(delegations)
        .merge(browser)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(token, require_token))
        // A web page must not drive agents, even one that found a way to loopback.
        .layer(axum::middleware::from_fn(crate::server::refuse_browsers))
}

/// A fresh token for one run of the bridge: 244 random bits, as text.
pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Refuses a request without the token (compared in constant time).
async fn require_token(
    State(expected): State<Arc<str>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use subtle::ConstantTimeEq;
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    if bool::from(given.ct_eq(expected.as_bytes())) {
        return next.run(request).await;
    }
    let error = "the delegate API needs `authorization: Bearer $PI_BRIDGE_DELEGATE_TOKEN` \
                 (pi-bridge gives the token to its Pi)";
    (StatusCode::UNAUTHORIZED, Json(json!({ "error": error }))).into_response()
}

/// Who controls the runner's browser; always the agent in a runner without one.
async fn browser_control(State(browser): State<Arc<BrowserHub>>) -> Json<Value> {
    Json(json!({ "controller": browser.controller() }))
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type Answer = Result<(StatusCode, Json<Value>), Failure>;

fn accepted(started: Started) -> Answer {
    Ok((StatusCode::ACCEPTED, Json(json!(started))))
}

async fn start(
    State(delegations): State<Arc<Delegations>>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    delegations.check_on()?;
    let new = start_request(&object(body)?)?;
    accepted(delegations.start(new).await?)
}

async fn prompt(
    State(delegations): State<Arc<Delegations>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    delegations.check_on()?;
    let fields = object(body)?;
    only(&fields, &["prompt"])?;
    let prompt = checked_prompt(&fields)?;
    accepted(delegations.prompt(&id, prompt)?)
}

async fn status(State(delegations): State<Arc<Delegations>>, Path(id): Path<String>) -> Answer {
    Ok((StatusCode::OK, Json(json!(delegations.status(&id)?))))
}

async fn stop(State(delegations): State<Arc<Delegations>>, Path(id): Path<String>) -> Answer {
    Ok((StatusCode::OK, Json(json!(delegations.stop(&id)?))))
}

async fn sessions(State(delegations): State<Arc<Delegations>>) -> Answer {
    Ok((
        StatusCode::OK,
        Json(json!({ "sessions": delegations.list() })),
    ))
}

async fn unknown() -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        "no such endpoint: use POST /delegate/start, GET /delegate/status/{id}, POST \
         /delegate/prompt/{id}, POST /delegate/stop/{id}, GET /delegate/sessions or GET \
         /browser/control",
    )
}

/// The body as a JSON object. Fields are read one by one afterwards, so that every error names
/// its field (serde's type errors do not).
fn object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, Failure> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the body is larger than {} KiB", MAX_BODY / 1024)
        } else {
            rejection.body_text()
        };
        Failure::new(status, message)
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(bad("the body must be a JSON object")),
        Err(e) => Err(bad(format!("the body is not JSON: {e}"))),
    }
}

fn bad(message: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, message)
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// Refuses fields this endpoint does not know: a typo would otherwise be silently ignored.
fn only(fields: &Map<String, Value>, known: &[&str]) -> Result<(), Failure> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => Err(bad(format!(
            "{unknown}: unknown field (expected {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// A string field; `None` when absent or null.
fn string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Failure> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("{name}: must be a string"))),
    }
}

fn checked_prompt(fields: &Map<String, Value>) -> Result<String, Failure> {
    let prompt = string(fields, "prompt")?.ok_or_else(|| bad("prompt: missing"))?;
    if prompt.trim().is_empty() {
        return Err(invalid("prompt: must not be empty"));
    }
    let chars = prompt.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(invalid(format!(
            "prompt: {chars} characters, at most {MAX_PROMPT_CHARS}"
        )));
    }
    Ok(prompt.to_owned())
}

/// An optional name (model, provider, title): not empty when given, bounded, one line; model
/// and provider are also one word.
fn checked_name(
    fields: &Map<String, Value>,
    name: &str,
    one_word: bool,
) -> Result<Option<String>, Failure> {
    let Some(value) = string(fields, name)? else {
        return Ok(None);
    };
    if value.trim().is_empty() {
        return Err(invalid(format!(
            "{name}: must not be empty (leave it out for the default)"
        )));
    }
    let chars = value.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(invalid(format!(
            "{name}: {chars} characters, at most {MAX_NAME_CHARS}"
        )));
    }
    if value.chars().any(char::is_control) || (one_word && value.contains(char::is_whitespace)) {
        return Err(invalid(format!(
            "{name}: must be one {} without control characters",
            if one_word { "word" } else { "line" }
        )));
    }
    Ok(Some(value.trim().to_owned()))
}

fn start_request(fields: &Map<String, Value>) -> Result<NewDelegation, Failure> {
    only(fields, &["prompt", "model", "provider", "title"])?;
    let prompt = checked_prompt(fields)?;
    let model = checked_name(fields, "model", true)?;
    let provider = checked_name(fields, "provider", true)?;
    let title = checked_name(fields, "title", false)?.or_else(|| default_title(&prompt));
    Ok(NewDelegation {
        prompt,
        child: StartChild {
            model,
            provider,
            title,
        },
    })
}

/// The child's title when none is given: the start of its task.
fn default_title(prompt: &str) -> Option<String> {
    let line = prompt.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line: String = line.chars().filter(|c| !c.is_control()).collect();
    if line.chars().count() <= DEFAULT_TITLE_CHARS {
        return Some(line);
    }
    let cut: String = line.chars().take(DEFAULT_TITLE_CHARS - 1).collect();
    Some(format!("{}…", cut.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delegation::events::Emit;
    use crate::delegation::gateway::Gateway;
    use crate::delegation::table::MAX_TRACKED;
    use axum::body::Body;
    use axum::http::Request;
    use oqto_proto::runner::SessionCredential;
    use tower::ServiceExt;

    /// Delegations whose gateway listens nowhere: every test here is answered before it is
    /// called (a call would fail the test with a 502).
    fn delegations() -> Arc<Delegations> {
        let credential = SessionCredential::from_secret("oqto-session.p.abc".into());
        let gateway = Gateway::new("http://127.0.0.1:9".parse().unwrap(), &credential).unwrap();
        let emit: Emit = Arc::new(|_| {});
        Delegations::new(Ok(gateway), "p".into(), emit)
    }

    async fn call(
        delegations: &Arc<Delegations>,
        method: &str,
        path: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(body.into())
            .unwrap();
        let response = router(delegations.clone(), no_browser(), TOKEN)
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn start_with(body: Value) -> (StatusCode, String) {
        let (status, answer) =
            call(&delegations(), "POST", "/delegate/start", body.to_string()).await;
        (
            status,
            answer["error"].as_str().unwrap_or_default().to_owned(),
        )
    }

    #[tokio::test]
    async fn bad_starts_are_refused_naming_the_field() {
        let long = "x".repeat(MAX_PROMPT_CHARS + 1);
        let cases = [
            (json!({}), StatusCode::BAD_REQUEST, "prompt: missing"),
            (
                json!({"prompt": 5}),
                StatusCode::BAD_REQUEST,
                "prompt: must be a string",
            ),
            (
                json!({"prompt": "  \n"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "prompt: must not be empty",
            ),
            (
                json!({"prompt": long}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "prompt: 65537 characters",
            ),
            (
                json!({"prompt": "p", "task": "p"}),
                StatusCode::BAD_REQUEST,
                "task: unknown field",
            ),
            (
                json!({"prompt": "p", "model": ""}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "model: must not be empty",
            ),
            (
                json!({"prompt": "p", "model": "gpt 5"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "model: must be one word",
            ),
            (
                json!({"prompt": "p", "provider": ["a"]}),
                StatusCode::BAD_REQUEST,
                "provider: must be a string",
            ),
            (
                json!({"prompt": "p", "title": "a\nb"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "title: must be one line",
            ),
            (
                json!({"prompt": "p", "title": "t".repeat(201)}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "title: 201 characters",
            ),
            (
                json!(["prompt"]),
                StatusCode::BAD_REQUEST,
                "must be a JSON object",
            ),
        ];
        for (body, status, error) in cases {
            let (got, message) = start_with(body.clone()).await;
            assert_eq!(got, status, "{body}: {message}");
            assert!(
                message.contains(error),
                "{body}: {message:?} lacks {error:?}"
            );
        }
        let (status, answer) = call(&delegations(), "POST", "/delegate/start", "{not json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            answer["error"].as_str().unwrap().contains("not JSON"),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn bodies_and_prompts_are_bounded() {
        // 65536 characters of four bytes each: a valid prompt, but a body over 128 KiB.
        let body = json!({"prompt": "😀".repeat(MAX_PROMPT_CHARS)}).to_string();
        let (status, answer) = call(&delegations(), "POST", "/delegate/start", body).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("128 KiB"),
            "{answer}"
        );
        let fields = |v: Value| v.as_object().unwrap().clone();
        let longest = "y".repeat(MAX_PROMPT_CHARS);
        assert!(start_request(&fields(json!({"prompt": longest}))).is_ok());
    }

    #[tokio::test]
    async fn a_ninth_running_delegation_is_refused_and_unknown_ids_are_not_found() {
        let delegations = delegations();
        let _stops: Vec<_> = (0..MAX_TRACKED)
            .map(|n| delegations.add_running(&format!("d{n}")))
            .collect();
        let (status, answer) = call(
            &delegations,
            "POST",
            "/delegate/start",
            json!({"prompt":"p"}).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("at most 8"),
            "{answer}"
        );
        let (status, answer) = call(&delegations, "GET", "/delegate/sessions", Body::empty()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer["sessions"].as_array().unwrap().len(), MAX_TRACKED);
        assert_eq!(answer["sessions"][0]["state"], "running");
        assert_eq!(answer["sessions"][0]["session"], "child-of-d0");

        let prompt = json!({"prompt": "more"}).to_string();
        let (status, answer) =
            call(&delegations, "POST", "/delegate/prompt/d0", prompt.clone()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        let (status, answer) = call(&delegations, "POST", "/delegate/stop/d0", Body::empty()).await;
        assert_eq!(
            (status, answer["state"].as_str()),
            (StatusCode::OK, Some("cancelled"))
        );
        for (method, path) in [
            ("GET", "/delegate/status/nope"),
            ("POST", "/delegate/stop/nope"),
            ("POST", "/delegate/prompt/nope"),
            ("GET", "/delegate/nothing"),
        ] {
            let (status, answer) = call(&delegations, method, path, prompt.clone()).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
            assert!(answer["error"].is_string(), "{path}: {answer}");
        }
        let (status, answer) = call(
            &delegations,
            "POST",
            "/delegate/prompt/d1",
            json!({"prompt": 1}).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(answer["error"], "prompt: must be a string");
    }

    #[tokio::test]
    async fn without_a_gateway_delegation_is_off_with_the_reason() {
        let emit: Emit = Arc::new(|_| {});
        let off = Delegations::new(
            Err("delegation is off: no gateway".into()),
            "p".into(),
            emit,
        );
        let (status, answer) = call(
            &off,
            "POST",
            "/delegate/start",
            json!({"prompt":"p"}).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer["error"], "delegation is off: no gateway");
    }

    #[tokio::test]
    async fn web_pages_are_refused() {
        let request = Request::builder()
            .uri("/delegate/sessions")
            .header("origin", "https://evil.example")
            .body(Body::empty())
            .unwrap();
        let response = router(delegations(), no_browser(), TOKEN)
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    /// What shares the loopback without Pi's environment (the browser sidecar) gets nothing.
    #[tokio::test]
    async fn requests_without_the_token_are_refused() {
        let wrong = format!("Bearer {}", "f".repeat(32));
        let prefix = format!("Bearer {}", &TOKEN[..31]);
        for (method, path) in [
            ("POST", "/delegate/start"),
            ("GET", "/delegate/sessions"),
            ("GET", "/delegate/status/d1"),
            ("POST", "/delegate/prompt/d1"),
            ("POST", "/delegate/stop/d1"),
            ("GET", "/browser/control"),
            ("GET", "/no/such/route"),
        ] {
            for header in [
                None,
                Some(wrong.as_str()),
                Some(prefix.as_str()),
                Some(TOKEN),
            ] {
                let mut request = Request::builder().method(method).uri(path);
                if let Some(header) = header {
                    request = request.header("authorization", header);
                }
                let request = request
                    .body(Body::from(r#"{"prompt":"exfiltrate"}"#))
                    .unwrap();
                let response = router(delegations(), no_browser(), TOKEN)
                    .oneshot(request)
                    .await
                    .unwrap();
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {header:?}"
                );
            }
        }
        assert_eq!(random_token().len(), 64);
        assert_ne!(random_token(), random_token());
    }

    fn no_browser() -> Arc<BrowserHub> {
        BrowserHub::new(None, 4)
    }

    #[tokio::test]
    async fn without_a_browser_the_agent_controls_it() {
        let request = Request::builder()
            .uri("/browser/control")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let response = router(delegations(), no_browser(), TOKEN)
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body, json!({"controller": "agent"}));
    }

    #[test]
    fn a_missing_title_is_the_start_of_the_task() {
        assert_eq!(
            default_title("\n  Fix the bug\nin main.rs").as_deref(),
            Some("Fix the bug")
        );
        let long = default_title(&"word ".repeat(40)).unwrap();
        assert_eq!(long.chars().count(), DEFAULT_TITLE_CHARS);
        assert!(long.ends_with('…'));
        assert_eq!(default_title(" \n "), None);
    }
}
