//! The `browser` channel through the real pi-bridge binary and a real headless Chromium (the
//! host's; in a runner it is the `browser` sidecar): the screencast shows the page within its
//! frame rate, input needs control, control shows on the delegate API and goes back to the
//! agent on release and when the controlling socket closes.
#![allow(clippy::unwrap_used)] // Tests: a failed step is a failed test.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use axum::response::Html;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Bridge, Client, DELEGATE_TOKEN, Env, SESSION};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The host's Chromium; CI installs it (hack/ensure-tools.sh). Missing is a failure, as for
/// every tool the tests need: a skipped browser test would pass without testing anything.
fn chromium() -> String {
    let path = std::env::var("OQTO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&path).is_file(),
        "{path} is missing: the browser tests drive a real Chromium; install it with \
         hack/ensure-tools.sh (Debian's `chromium`) or point OQTO_CHROMIUM at one"
    );
    path
}

/// The test page: a button that navigates when clicked, and an animation, so the screencast
/// always has a new frame to send.
const PAGE: &str = r#"<!doctype html><html><head><title>Browser test</title><style>
@keyframes spin { from { transform: rotate(0deg) } to { transform: rotate(360deg) } }
#spinner { position: absolute; left: 400px; top: 300px; width: 120px; height: 120px;
  background: linear-gradient(red, blue); animation: spin 1s linear infinite }
#go { position: absolute; left: 0; top: 0; width: 200px; height: 100px; margin: 0 }
</style></head><body>
<button id="go" onclick="location.href = '/clicked'">go</button><div id="spinner"></div>
</body></html>"#;

/// A hostile page: once loaded, a 1 MB title and 1000 `history.pushState` calls in a loop.
const FLOOD: &str = r#"<!doctype html><html><head><title>Flood</title></head><body><script>
addEventListener('load', () => {
  document.title = 'x'.repeat(1024 * 1024);
  for (let i = 0; i < 1000; i++) { history.pushState({}, '', '#' + i); }
});
</script></body></html>"#;

/// A page whose renderer spins forever, shortly after it loaded.
const BUSY: &str = r#"<!doctype html><html><head><title>Busy</title></head><body><script>
addEventListener('load', () => setTimeout(() => { for (;;) {} }, 300));
</script></body></html>"#;

/// A page that logs its key and mouse events in its address (`#down-a,up-a,mdown,…`).
const KEYS: &str = r#"<!doctype html><html><head><title>Keys</title></head>
<body style="margin:0"><div style="width:100vw;height:100vh"></div><script>
const log = [];
const tell = (what) => { log.push(what); location.hash = log.join(','); };
addEventListener('keydown', e => tell('down-' + e.key));
addEventListener('keyup', e => tell('up-' + e.key));
addEventListener('mousedown', () => tell('mdown'));
addEventListener('mouseup', () => tell('mup'));
addEventListener('click', () => tell('click'));
</script></body></html>"#;

/// A tiny web server for the page, and the page a click leads to.
async fn serve_pages() -> String {
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { Html(PAGE) }))
        .route(
            "/clicked",
            axum::routing::get(|| async {
                Html("<!doctype html><title>Clicked</title><p>clicked</p>")
            }),
        )
        .route("/flood", axum::routing::get(|| async { Html(FLOOD) }))
        .route("/busy", axum::routing::get(|| async { Html(BUSY) }))
        .route("/keys", axum::routing::get(|| async { Html(KEYS) }))
        .route(
            "/second",
            axum::routing::get(|| async { Html("<!doctype html><title>Second</title><p>2</p>") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// A headless Chromium showing `url`, with its DevTools endpoint on a free port.
struct Chromium {
    child: Child,
    _profile: tempfile::TempDir,
    endpoint: String,
}

impl Chromium {
    async fn start(url: &str) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,800",
                "--remote-debugging-address=127.0.0.1",
                // Chromium picks a free port and prints it: no race with parallel tests.
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let endpoint = tokio::time::timeout(common::WAIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(ws) = line.strip_prefix("DevTools listening on ws://") {
                    let host = ws.split('/').next().unwrap();
                    return format!("http://{host}");
                }
            }
            panic!("chromium exited without a DevTools endpoint");
        })
        .await
        .expect("chromium announces its DevTools endpoint");
        // Keep reading its stderr, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            child,
            _profile: profile,
            endpoint,
        }
    }
}

/// A bridge (no Pi needed: the browser channel does not start one) with these environment
/// variables, and its delegate API's address.
async fn bridge(env: &Env, envs: &[(&str, &str)]) -> (Bridge, String) {
    let mut bridge = env
        .start_bridge_full(Path::new("/bin/true"), &["--pi-standby", "false"], envs)
        .await;
    let api = bridge.delegate_api().await;
    (bridge, api)
}

fn browser(frame: Value) -> Value {
    let mut frame = frame;
    frame["channel"] = json!("browser");
    frame["session_id"] = json!(SESSION);
    frame
}

/// How long a test waits for an expected answer: frames keep arriving meanwhile, so the mux
/// client's own per-frame wait would never end.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// The frames up to the first that satisfies `done`, within `ANSWER_WITHIN`.
async fn until(client: &mut Client, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(
        ANSWER_WITHIN,
        client.until(|f| f["channel"] == "browser" && done(f)),
    )
    .await
    .unwrap_or_else(|_| panic!("no {what} within {ANSWER_WITHIN:?}"))
    .pop()
    .unwrap()
}

async fn next_browser(client: &mut Client, kind: &str) -> Value {
    until(client, kind, |f| f["type"] == kind).await
}

/// The next `state` or `error` (frames in between are skipped).
async fn answer(client: &mut Client) -> Value {
    until(client, "answer", |f| {
        f["type"] == "state" || f["type"] == "error"
    })
    .await
}

/// The next `error`, or `state` that satisfies `wanted` (the page's own navigations send
/// `state`s of their own in between).
async fn state_where(client: &mut Client, wanted: impl Fn(&Value) -> bool) -> Value {
    until(client, "state", |f| {
        f["type"] == "error" || (f["type"] == "state" && wanted(f))
    })
    .await
}

/// The `error` answering the request `id`.
async fn error_for(client: &mut Client, id: &Value) -> Value {
    until(client, "error", |f| f["type"] == "error" && f["id"] == *id).await
}

async fn controller(api: &str) -> String {
    let body: Value = reqwest::Client::new()
        .get(format!("http://{api}/browser/control"))
        .bearer_auth(DELEGATE_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["controller"].as_str().unwrap().to_owned()
}

/// Asks until `controller` reports `expected` (a closed socket is noticed asynchronously).
async fn eventually_controller(api: &str, expected: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = controller(api).await;
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the controller stayed {now}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_browser_every_request_says_so() {
    let env = Env::new(json!({"rules": []})).await;
    let (bridge, api) = bridge(&env, &[]).await;
    let mut client = bridge.connect().await;
    for request in [
        json!({"type":"watch","id":"w"}),
        json!({"type":"take_control","id":"t"}),
        json!({"type":"mouse","id":"m","event":"down","x":1,"y":1}),
    ] {
        let id = request["id"].clone();
        client.send(browser(request)).await;
        let error = next_browser(&mut client, "error").await;
        assert_eq!(error["id"], id);
        assert_eq!(error["session_id"], SESSION);
        assert_eq!(
            error["error"],
            "this runner has no browser (the workspace class does not enable one)"
        );
    }
    assert_eq!(controller(&api).await, "agent");
    // A bad frame is still answered on the browser channel, naming the field.
    client
        .send(browser(
            json!({"type":"navigate","id":"n","url":"file:///etc/passwd"}),
        ))
        .await;
    let error = next_browser(&mut client, "error").await;
    assert!(
        error["error"].as_str().unwrap().contains("field `url`"),
        "{error}"
    );
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_screencast_shows_the_page_as_jpeg_within_its_frame_rate() {
    let pages = serve_pages().await;
    let chromium = Chromium::start(&format!("{pages}/")).await;
    let env = Env::new(json!({"rules": []})).await;
    let (bridge, _api) = bridge(&env, &[("OQTO_BROWSER_CDP", &chromium.endpoint)]).await;
    let mut client = bridge.connect().await;
    client.send(browser(json!({"type":"watch","id":"w"}))).await;
    let state = answer(&mut client).await;
    assert_eq!(state["type"], "state", "{state}");
    // Chromium may still be loading its first page (about:blank, then the test page): the
    // navigation is reported as a new `state`.
    let state = state_where(&mut client, |s| s["title"] == "Browser test").await;
    assert_eq!(state["url"], format!("{pages}/"));
    assert_eq!(state["title"], "Browser test");
    assert_eq!(state["controller"], "agent");
    assert_eq!(state["you_control"], false);

    let frame = next_browser(&mut client, "frame").await;
    assert_eq!(frame["mime"], "image/jpeg");
    let jpeg = STANDARD
        .decode(frame["data_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    let (width, height) = (
        frame["width"].as_u64().unwrap(),
        frame["height"].as_u64().unwrap(),
    );
    assert!(
        (100..=1280).contains(&width) && (100..=800).contains(&height),
        "{width}x{height}"
    );

    // The animation changes every frame: the ack pacing alone bounds the rate (4 per second).
    let window = Duration::from_secs(2);
    let deadline = tokio::time::Instant::now() + window;
    let mut frames = 0;
    let mut last_seq = frame["seq"].as_u64().unwrap();
    while let Ok(frame) = tokio::time::timeout_at(deadline, client.next()).await {
        if frame["channel"] == "browser" && frame["type"] == "frame" {
            let seq = frame["seq"].as_u64().unwrap();
            assert!(seq > last_seq, "frames are numbered in order");
            last_seq = seq;
            frames += 1;
        }
    }
    assert!(
        frames <= 4 * 2 + 2,
        "{frames} frames in {window:?} at 4 fps"
    );
    assert!(
        frames >= 2,
        "the animated page kept sending frames: {frames}"
    );

    // Unwatched: no more frames (one in flight may still arrive).
    client.send(browser(json!({"type":"unwatch"}))).await;
    assert_quiet_after_draining(&mut client, "unwatch").await;
    // A view that mounts and unmounts at once (`watch` then `unwatch` back to back, as a tab
    // switch does): the `unwatch` wins although the `watch` was still being served.
    let mut brief = bridge.connect().await;
    for _ in 0..5 {
        brief.send(browser(json!({"type":"watch"}))).await;
        brief.send(browser(json!({"type":"unwatch"}))).await;
    }
    assert_quiet_after_draining(&mut brief, "watch+unwatch").await;
    bridge.stop().await;
}

/// After an `unwatch`: what was already queued or on the wire (read, not judged, for half a
/// second) may still come; then no frame for a second and a half.
async fn assert_quiet_after_draining(client: &mut Client, after: &str) {
    let drained = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::timeout_at(drained, client.next())
        .await
        .is_ok()
    {}
    let quiet = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(frame) = tokio::time::timeout_at(quiet, client.next()).await {
        assert_ne!(
            frame["type"], "frame",
            "a frame after {after}: {}",
            frame["seq"]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn input_needs_control_and_control_goes_back_to_the_agent() {
    let pages = serve_pages().await;
    let chromium = Chromium::start(&format!("{pages}/")).await;
    let env = Env::new(json!({"rules": []})).await;
    let (bridge, api) = bridge(&env, &[("OQTO_BROWSER_CDP", &chromium.endpoint)]).await;
    let mut user = bridge.connect().await;
    user.send(browser(json!({"type":"watch"}))).await;
    assert_eq!(answer(&mut user).await["type"], "state");
    // Clicks go to the test page, not to the about:blank before it.
    state_where(&mut user, |s| s["title"] == "Browser test").await;

    // Input before taking control is refused.
    for request in [
        json!({"type":"mouse","id":"m","event":"down","x":50,"y":50}),
        json!({"type":"key","id":"k","event":"down","key":"a","text":"a"}),
        json!({"type":"text","id":"t","text":"hello"}),
        json!({"type":"navigate","id":"n","url":format!("{pages}/second")}),
    ] {
        let id = request["id"].clone();
        user.send(browser(request)).await;
        let error = error_for(&mut user, &id).await;
        assert_eq!(error["error"], "take control first");
    }
    assert_eq!(controller(&api).await, "agent");

    user.send(browser(json!({"type":"take_control","id":"tc"})))
        .await;
    let state = state_where(&mut user, |s| s["controller"] == "user").await;
    assert_eq!(
        (state["controller"].clone(), state["you_control"].clone()),
        (json!("user"), json!(true)),
        "{state}"
    );
    assert_eq!(controller(&api).await, "user");

    // A click on the button (CSS pixels of the viewport) navigates the page.
    for event in ["move", "down", "up"] {
        user.send(browser(
            json!({"type":"mouse","event":event,"x":100.0,"y":50.0,"click_count":1}),
        ))
        .await;
    }
    let clicked_url = format!("{pages}/clicked");
    let clicked = state_where(&mut user, |s| s["url"] == clicked_url).await;
    assert_eq!(clicked["type"], "state", "{clicked}");
    assert_eq!(clicked["you_control"], true);

    // Navigate: http(s) only, named in the error; a good URL loads.
    user.send(browser(
        json!({"type":"navigate","id":"bad","url":"javascript:alert(1)"}),
    ))
    .await;
    let refused = error_for(&mut user, &json!("bad")).await;
    assert!(
        refused["error"].as_str().unwrap().contains("field `url`"),
        "{refused}"
    );
    user.send(browser(
        json!({"type":"navigate","id":"go","url":format!("{pages}/second")}),
    ))
    .await;
    let second = state_where(&mut user, |s| s["title"] == "Second").await;
    assert_eq!(second["url"], format!("{pages}/second"), "{second}");
    // A move within the page (a fragment, a single-page app's route) is told too.
    user.send(browser(
        json!({"type":"navigate","id":"part","url":format!("{pages}/second#part")}),
    ))
    .await;
    let part = format!("{pages}/second#part");
    let moved = state_where(&mut user, |s| s["url"] == part).await;
    assert_eq!(moved["type"], "state", "{moved}");

    // Another connection sees the user in control, but not itself.
    let mut other = bridge.connect().await;
    other.send(browser(json!({"type":"watch"}))).await;
    let seen = state_where(&mut other, |_| true).await;
    assert_eq!(
        (seen["controller"].clone(), seen["you_control"].clone()),
        (json!("user"), json!(false))
    );

    user.send(browser(json!({"type":"release_control"}))).await;
    let released = state_where(&mut user, |s| s["controller"] == "agent").await;
    assert_eq!(released["controller"], "agent", "{released}");
    assert_eq!(released["you_control"], false);
    assert_eq!(controller(&api).await, "agent");

    // The controlling socket closes: control goes back to the agent, and the others are told.
    user.send(browser(json!({"type":"take_control"}))).await;
    let user_state = |s: &Value| s["controller"] == "user";
    assert_eq!(
        state_where(&mut user, user_state).await["you_control"],
        true
    );
    assert_eq!(
        state_where(&mut other, user_state).await["you_control"],
        false
    );
    drop(user);
    eventually_controller(&api, "agent").await;
    let told = state_where(&mut other, |s| s["controller"] == "agent").await;
    assert_eq!(told["controller"], "agent", "{told}");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_floods_titles_and_navigations_gets_few_bounded_states() {
    let pages = serve_pages().await;
    let chromium = Chromium::start(&format!("{pages}/")).await;
    let env = Env::new(json!({"rules": []})).await;
    let (bridge, _api) = bridge(&env, &[("OQTO_BROWSER_CDP", &chromium.endpoint)]).await;
    let mut user = bridge.connect().await;
    user.send(browser(json!({"type":"watch"}))).await;
    state_where(&mut user, |s| s["title"] == "Browser test").await;
    user.send(browser(json!({"type":"take_control"}))).await;
    state_where(&mut user, |s| s["controller"] == "user").await;
    user.send(browser(
        json!({"type":"navigate","id":"go","url":format!("{pages}/flood")}),
    ))
    .await;
    // The flood: every `state` from here on is counted, for a few seconds after it began.
    let flooded = state_where(&mut user, |s| {
        s["title"].as_str().unwrap().starts_with("xxx")
    })
    .await;
    let mut states = vec![flooded];
    let quiet = tokio::time::Instant::now() + Duration::from_secs(4);
    while let Ok(frame) = tokio::time::timeout_at(quiet, user.next()).await {
        if frame["channel"] == "browser" && frame["type"] == "state" {
            states.push(frame);
        }
    }
    for state in &states {
        let chars = |field: &str| state[field].as_str().unwrap().chars().count();
        assert!(
            chars("title") <= 2048,
            "a title of {} chars",
            chars("title")
        );
        assert!(chars("url") <= 2048, "a url of {} chars", chars("url"));
    }
    assert_eq!(
        states[0]["title"].as_str().unwrap().chars().count(),
        2048,
        "the title is cut, not dropped"
    );
    assert!(states.len() < 100, "{} states for one flood", states.len());
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn control_is_released_at_once_while_a_busy_page_holds_up_input() {
    let pages = serve_pages().await;
    let chromium = Chromium::start(&format!("{pages}/")).await;
    let env = Env::new(json!({"rules": []})).await;
    let (bridge, api) = bridge(&env, &[("OQTO_BROWSER_CDP", &chromium.endpoint)]).await;
    let mut user = bridge.connect().await;
    user.send(browser(json!({"type":"watch"}))).await;
    state_where(&mut user, |s| s["title"] == "Browser test").await;
    user.send(browser(json!({"type":"take_control"}))).await;
    state_where(&mut user, |s| s["controller"] == "user").await;
    user.send(browser(
        json!({"type":"navigate","id":"go","url":format!("{pages}/busy")}),
    ))
    .await;
    state_where(&mut user, |s| s["title"] == "Busy").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The renderer spins: input is not taken, and more of it piles up.
    for n in 0..20 {
        user.send(browser(
            json!({"type":"mouse","event":"move","x":f64::from(n),"y":10.0}),
        ))
        .await;
        user.send(browser(
            json!({"type":"key","event":"down","key":"a","text":"a"}),
        ))
        .await;
    }
    let asked = tokio::time::Instant::now();
    user.send(browser(json!({"type":"release_control"}))).await;
    let released = state_where(&mut user, |s| s["controller"] == "agent").await;
    assert_eq!(released["type"], "state", "{released}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "released after {:?}",
        asked.elapsed()
    );
    assert_eq!(controller(&api).await, "agent");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn watchers_are_told_when_the_browser_goes_away() {
    let pages = serve_pages().await;
    let mut chromium = Chromium::start(&format!("{pages}/")).await;
    let env = Env::new(json!({"rules": []})).await;
    let (bridge, _api) = bridge(&env, &[("OQTO_BROWSER_CDP", &chromium.endpoint)]).await;
    let mut user = bridge.connect().await;
    user.send(browser(json!({"type":"watch"}))).await;
    state_where(&mut user, |s| s["title"] == "Browser test").await;
    chromium.child.kill().await.unwrap();
    let told = next_browser(&mut user, "error").await;
    assert_eq!(
        told["error"],
        "the browser restarted or is unreachable; reconnecting…"
    );
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn what_a_user_leaves_pressed_is_released_when_control_ends() {
    let pages = serve_pages().await;
    let chromium = Chromium::start(&format!("{pages}/keys")).await;
    let env = Env::new(json!({"rules": []})).await;
    let (bridge, api) = bridge(&env, &[("OQTO_BROWSER_CDP", &chromium.endpoint)]).await;
    let logged = |log: &str| {
        let url = format!("{pages}/keys#{log}");
        move |s: &Value| s["url"] == url
    };
    let mut user = bridge.connect().await;
    user.send(browser(json!({"type":"watch"}))).await;
    state_where(&mut user, |s| s["title"] == "Keys").await;

    // A key held down when the user hands back: its `up` comes from the bridge.
    user.send(browser(json!({"type":"take_control"}))).await;
    state_where(&mut user, |s| s["controller"] == "user").await;
    user.send(browser(
        json!({"type":"key","event":"down","key":"a","code":"KeyA","text":"a"}),
    ))
    .await;
    state_where(&mut user, logged("down-a")).await;
    user.send(browser(json!({"type":"release_control"}))).await;
    let released = state_where(&mut user, logged("down-a,up-a")).await;
    assert_eq!(released["type"], "state", "{released}");

    // A button held down when the connection goes: let go.
    let mut other = bridge.connect().await;
    other.send(browser(json!({"type":"watch"}))).await;
    state_where(&mut other, |s| s["title"] == "Keys").await;
    user.send(browser(json!({"type":"take_control"}))).await;
    state_where(&mut user, |s| s["controller"] == "user").await;
    user.send(browser(
        json!({"type":"mouse","event":"down","x":50.0,"y":50.0,"click_count":1}),
    ))
    .await;
    state_where(&mut user, logged("down-a,up-a,mdown")).await;
    drop(user);
    eventually_controller(&api, "agent").await;
    // The next input goes after the release.
    other.send(browser(json!({"type":"take_control"}))).await;
    state_where(&mut other, |s| s["you_control"] == true).await;
    for event in ["down", "up"] {
        other
            .send(browser(
                json!({"type":"key","event":event,"key":"z","text":"z"}),
            ))
            .await;
    }
    let last = state_where(&mut other, |s| {
        s["url"].as_str().is_some_and(|u| u.ends_with("up-z"))
    })
    .await;
    // Let go as a real mouse's button would be (a click may follow, as it would there).
    let log = last["url"].as_str().unwrap();
    assert!(
        log.starts_with(&format!("{pages}/keys#down-a,up-a,mdown,mup,")),
        "{log}"
    );
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn control_of_a_browser_that_cannot_be_reached_goes_back_to_the_agent() {
    // A port nobody listens on: the sidecar is down (restarting, or never came up).
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let env = Env::new(json!({"rules": []})).await;
    let endpoint = format!("http://127.0.0.1:{closed}");
    let (bridge, api) = bridge(&env, &[("OQTO_BROWSER_CDP", &endpoint)]).await;
    let mut user = bridge.connect().await;
    user.send(browser(json!({"type":"take_control","id":"tc"})))
        .await;
    let refused = error_for(&mut user, &json!("tc")).await;
    assert!(
        refused["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{refused}"
    );
    let state = state_where(&mut user, |s| s["controller"] == "agent").await;
    assert_eq!(state["you_control"], false, "{state}");
    eventually_controller(&api, "agent").await;
    bridge.stop().await;
}
