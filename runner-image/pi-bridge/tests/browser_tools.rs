//! The runner image's browser extension (runner-image/pi-extensions/browser.ts) with the real
//! pi-bridge, the real Pi and the scripted LLM, driving a real headless Chromium over CDP as the
//! runner's `browser` sidecar would (`OQTO_BROWSER_CDP`). Chromium: $OQTO_CHROMIUM or Debian's
//! /usr/bin/chromium (hack/ensure-tools.sh installs it); playwright-core: the one hack/pi locks,
//! beside the tests' Pi.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Env, is_event, repo_root};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The demo's dev server (e2e/scripted-llm/demo.json, "check my web app in the browser").
const DEV_SERVER: &str = "127.0.0.1:8765";

fn demo_script() -> Value {
    let text = std::fs::read_to_string(repo_root().join("e2e/scripted-llm/demo.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn extension() -> PathBuf {
    repo_root().join("runner-image/pi-extensions/browser.ts")
}

/// The node_modules of the tests' Pi (hack/pi/install.sh puts playwright-core there, as the
/// image puts it in /opt/pi/node_modules).
fn playwright_modules() -> String {
    let pi = common::pi_program();
    let modules = pi
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("node_modules");
    assert!(
        modules.join("playwright-core/package.json").is_file(),
        "no playwright-core in {} (hack/pi's lock pins it; run hack/pi/install.sh)",
        modules.display()
    );
    format!("{}/", modules.display())
}

/// A headless Chromium with its DevTools endpoint on a free loopback port; killed (with its
/// helper processes, one process group) when dropped.
struct Chromium {
    child: std::process::Child,
    cdp: String,
    _profile: tempfile::TempDir,
}

impl Chromium {
    fn start() -> Self {
        let program = std::env::var("OQTO_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            Path::new(&program).is_file(),
            "no Chromium at {program} (hack/ensure-tools.sh installs Debian's; or set OQTO_CHROMIUM)"
        );
        let profile = tempfile::tempdir().unwrap();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(&program)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--remote-debugging-address=127.0.0.1",
                    "--remote-debugging-port=0",
                    "--window-size=1280,800",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg("about:blank")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap()
        };
        // Chromium writes the port it chose into the profile.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.lines().next().map(str::to_owned))
                .filter(|p| !p.is_empty())
            {
                break port;
            }
            assert!(
                Instant::now() < deadline,
                "Chromium announced no DevTools port"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        Self {
            child,
            cdp: format!("http://127.0.0.1:{port}"),
            _profile: profile,
        }
    }

    /// The URL of the first page target: the page the user's live view shows.
    async fn first_page_url(&self) -> String {
        let targets: Value = reqwest::get(format!("{}/json/list", self.cdp))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pages: Vec<&Value> = targets
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["type"] == "page")
            .collect();
        // /json/list lists the most recently created target first; the first page is the last.
        pages
            .last()
            .map(|p| p["url"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// A process the demo started (its pid file), killed when dropped, even if the test failed.
struct Started(Option<u32>);

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

fn alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped by whoever adopted it) is gone too.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// A loopback HTTP server answering every request with `body()` (a page, or pi-bridge's
/// `/browser/control`). Returns its `host:port`.
async fn serve(
    content_type: &'static str,
    body: impl Fn() -> String + Send + Sync + 'static,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let body = Arc::new(body);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = body();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    address
}

/// One prompt's frames, up to `agent.idle`.
async fn turn(client: &mut common::Client, id: &str, message: &str) -> Vec<Value> {
    client
        .send(
            json!({"channel":"agent","session_id":common::SESSION,"id":id,"cmd":"prompt",
            "message":message,"client_id":format!("client-{id}")}),
        )
        .await;
    client.until(|f| is_event(f, "agent.idle")).await
}

fn tool_names(frames: &[Value], event: &str) -> Vec<String> {
    frames
        .iter()
        .filter(|f| is_event(f, event))
        .map(|f| f["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn tool_end<'a>(frames: &'a [Value], name: &str) -> &'a Value {
    frames
        .iter()
        .find(|f| is_event(f, "tool.end") && f["name"] == name)
        .unwrap_or_else(|| panic!("no tool.end of {name} in {frames:?}"))
}

fn output_text(end: &Value) -> String {
    end["output"]["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn answer(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| is_event(f, "stream.text_delta"))
        .filter_map(|f| f["delta"].as_str())
        .collect()
}

/// The names of the tools Pi offered the model, from the scripted LLM's requests.
fn offered_tools(env: &Env) -> Vec<String> {
    let requests = env.llm.requests();
    let request = requests.first().expect("the model was asked");
    request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str().or(t["name"].as_str()))
        .map(str::to_owned)
        .collect()
}

/// The demo's "check my web app in the browser": the agent writes a page and starts a dev
/// server in the workspace, opens it in the browser, clicks its button and reads the text the
/// click put there. The answer quotes that text, so it holds "Hello from the app" only if the
/// click really happened in the page.
#[tokio::test(flavor = "multi_thread")]
async fn the_demo_agent_opens_clicks_and_reads_its_web_app_in_the_browser() {
    let chromium = Chromium::start();
    let env = Env::new(demo_script()).await;
    let modules = playwright_modules();
    let bridge = env
        .start_bridge_full(
            &common::pi_program(),
            &[
                "--provider",
                "scripted",
                "--model",
                "scripted",
                "--pi-extension",
                extension().to_str().unwrap(),
            ],
            &[
                ("OQTO_BROWSER_CDP", &chromium.cdp),
                ("OQTO_PLAYWRIGHT_MODULES", &modules),
            ],
        )
        .await;
    let mut client = bridge.connect().await;
    client.create_session(common::SESSION).await;
    let frames = turn(&mut client, "p1", "check my web app in the browser").await;

    let pid_file = env.workspace.join("webapp/server.pid");
    let server = Started(
        std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok()),
    );

    let offered = offered_tools(&env);
    for tool in [
        "browser_open",
        "browser_snapshot",
        "browser_click",
        "browser_type",
        "browser_read_text",
        "browser_screenshot",
    ] {
        assert!(
            offered.iter().any(|t| t == tool),
            "{tool} not offered: {offered:?}"
        );
    }
    assert_eq!(
        tool_names(&frames, "tool.start"),
        ["bash", "browser_open", "browser_click", "browser_read_text"]
    );
    for name in ["bash", "browser_open", "browser_click", "browser_read_text"] {
        let end = tool_end(&frames, name);
        assert_eq!(end["is_error"], json!(false), "{end}");
    }
    let opened = output_text(tool_end(&frames, "browser_open"));
    assert!(opened.contains("Title: Oqto test app"), "{opened}");
    assert!(
        opened.contains(&format!("URL: http://{DEV_SERVER}/")),
        "{opened}"
    );
    assert!(
        opened.contains(r#"button "Say hello" [ref="#),
        "a snapshot with refs: {opened}"
    );
    assert!(
        !opened.contains("Hello from the app"),
        "not before the click: {opened}"
    );
    let clicked = output_text(tool_end(&frames, "browser_click"));
    assert!(
        clicked.starts_with(r#"Clicked button "Say hello"."#),
        "{clicked}"
    );
    let said = answer(&frames);
    assert!(said.contains("The page now reads:"), "{said}");
    assert!(
        said.contains("Hello from the app"),
        "the click changed the page: {said}"
    );
    // The agent worked in the first page, the one the user's live view shows: the page counts
    // the click in its address.
    assert_eq!(
        chromium.first_page_url().await,
        format!("http://{DEV_SERVER}/#hello-1")
    );

    // Cleanup: the dev server the agent started goes, and is gone.
    let pid = server.0.expect("the demo wrote the dev server's pid");
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) || tokio::net::TcpStream::connect(DEV_SERVER).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the dev server {pid} is still there"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bridge.stop().await;
}

/// Without a browser (no OQTO_BROWSER_CDP) the extension registers nothing: the model is not
/// offered tools that cannot work.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_browser_no_browser_tools_are_offered() {
    assert!(
        std::env::var_os("OQTO_BROWSER_CDP").is_none(),
        "the tests run without OQTO_BROWSER_CDP (the bridge and its Pi would inherit it)"
    );
    let env = Env::new(demo_script()).await;
    let bridge = env
        .start_bridge_full(
            &common::pi_program(),
            &[
                "--provider",
                "scripted",
                "--model",
                "scripted",
                "--pi-extension",
                extension().to_str().unwrap(),
            ],
            &[],
        )
        .await;
    let mut client = bridge.connect().await;
    client.create_session(common::SESSION).await;
    let frames = turn(&mut client, "p1", "hello").await;
    assert_eq!(tool_names(&frames, "tool.start"), ["bash"]);
    let offered = offered_tools(&env);
    assert!(offered.iter().any(|t| t == "bash"), "{offered:?}");
    assert!(
        !offered.iter().any(|t| t.starts_with("browser_")),
        "browser tools offered without a browser: {offered:?}"
    );
    bridge.stop().await;
}

/// Refs of the snapshot name elements (`[ref=e4]` -> `aria-ref=e4`), and while the user holds
/// the browser (pi-bridge's `/browser/control` says so) every tool refuses and says why. The
/// control API here is a stand-in on loopback, told to Pi through a `pi` wrapper.
#[tokio::test(flavor = "multi_thread")]
async fn refs_click_and_the_tools_refuse_while_the_user_has_control() {
    let chromium = Chromium::start();
    let page = serve("text/html; charset=utf-8", || {
        r#"<!doctype html><title>Ref page</title><h1>Ref page</h1><p>Try the button.</p>
<button onclick="document.getElementById('out').textContent='Clicked by ref'">Press</button>
<p id="out"></p>"#
            .to_owned()
    })
    .await;
    let user_controls = Arc::new(AtomicBool::new(false));
    let control = serve("application/json", {
        let user_controls = user_controls.clone();
        move || {
            let who = if user_controls.load(Ordering::SeqCst) {
                "user"
            } else {
                "agent"
            };
            json!({ "controller": who }).to_string()
        }
    })
    .await;
    let script = json!({"rules":[
        {"when_user_contains":"by ref","steps":[
            {"kind":"tool_call","name":"browser_open","arguments":{"url":format!("http://{page}/")}},
            {"kind":"tool_call","name":"browser_click","arguments":{"ref":"e4"}},
            {"kind":"tool_call","name":"browser_read_text","arguments":{}},
            {"kind":"echo_tool_results","prefix":"Read: ","last":true}]},
        {"when_user_contains":"user has it","steps":[
            {"kind":"tool_call","name":"browser_click","arguments":{"ref":"e4"}},
            {"kind":"echo_tool_results","prefix":"The tool said: "}]},
        {"when_user_contains":"bad","steps":[
            {"kind":"tool_call","name":"browser_open","arguments":{"url":"file:///etc/passwd"}},
            {"kind":"tool_call","name":"browser_click","arguments":{}},
            {"kind":"echo_tool_results","prefix":"The tools said: "}]}
    ]});
    let env = Env::new(script).await;
    // pi-bridge tells its Pi its own loopback API; the wrapper points Pi at the stand-in.
    let wrapper = env.dir.path().join("pi-with-control");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nPI_BRIDGE_DELEGATE_LISTEN={control} exec '{}' \"$@\"\n",
            common::pi_program().display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let modules = playwright_modules();
    let bridge = env
        .start_bridge_full(
            &wrapper,
            &[
                "--provider",
                "scripted",
                "--model",
                "scripted",
                "--pi-extension",
                extension().to_str().unwrap(),
            ],
            &[
                ("OQTO_BROWSER_CDP", &chromium.cdp),
                ("OQTO_PLAYWRIGHT_MODULES", &modules),
            ],
        )
        .await;
    let mut client = bridge.connect().await;
    client.create_session(common::SESSION).await;

    let frames = turn(&mut client, "p1", "click it by ref").await;
    let opened = output_text(tool_end(&frames, "browser_open"));
    assert!(opened.contains(r#"button "Press" [ref=e4]"#), "{opened}");
    let clicked = tool_end(&frames, "browser_click");
    assert_eq!(clicked["is_error"], json!(false), "{clicked}");
    assert!(output_text(clicked).contains("Clicked by ref"), "{clicked}");
    assert!(answer(&frames).contains("Clicked by ref"), "{frames:?}");

    user_controls.store(true, Ordering::SeqCst);
    let frames = turn(&mut client, "p2", "the user has it now").await;
    let refused = tool_end(&frames, "browser_click");
    assert_eq!(refused["is_error"], json!(true), "{refused}");
    assert!(
        output_text(refused)
            .contains("the user has taken control of the browser; wait until they hand it back"),
        "{refused}"
    );

    user_controls.store(false, Ordering::SeqCst);
    let frames = turn(&mut client, "p3", "bad arguments").await;
    let open = tool_end(&frames, "browser_open");
    assert_eq!(open["is_error"], json!(true), "{open}");
    assert!(
        output_text(open).contains("`url` must be http:// or https://"),
        "{open}"
    );
    let click = tool_end(&frames, "browser_click");
    assert_eq!(click["is_error"], json!(true), "{click}");
    assert!(output_text(click).contains("`ref`"), "{click}");
    // Still on the page: nothing opened the file.
    assert_eq!(chromium.first_page_url().await, format!("http://{page}/"));
    bridge.stop().await;
}
