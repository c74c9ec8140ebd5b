//! Test support: the real pi-bridge binary with the real Pi (from npm, via hack/pi/install.sh),
//! a real hstry in this process, and the scripted OpenAI-compatible LLM as the only stand-in.

#![allow(dead_code)] // Each test file uses its own part of this module.
#![allow(clippy::unwrap_used)] // Test support: a failed step is a failed test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use oqto_hstry::listen::ListenAddr;
use oqto_hstry::server::{Listener, serve};
use oqto_hstry::store::Store;
use oqto_scripted_llm::{RunningLlm, Script, ScriptedLlm};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long a test waits for one expected frame before failing. Generous: it bounds a hang, it
/// does not measure speed (that is the benchmark's job).
pub const WAIT: Duration = Duration::from_secs(60);

/// The `pi` command: $OQTO_PI, or the pinned Pi that hack/pi/install.sh installs (cached).
pub fn pi_program() -> PathBuf {
    static PI: OnceLock<PathBuf> = OnceLock::new();
    PI.get_or_init(|| installed_pi("OQTO_PI", "current"))
        .clone()
}

/// The older Pi line (0.73): $OQTO_PI_LEGACY, or `hack/pi/install.sh legacy`.
pub fn legacy_pi_program() -> PathBuf {
    static PI: OnceLock<PathBuf> = OnceLock::new();
    PI.get_or_init(|| installed_pi("OQTO_PI_LEGACY", "legacy"))
        .clone()
}

fn installed_pi(variable: &str, line: &str) -> PathBuf {
    if let Some(pi) = std::env::var_os(variable) {
        return PathBuf::from(pi);
    }
    let script = repo_root().join("hack/pi/install.sh");
    let output = std::process::Command::new(&script)
        .arg(line)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(output.status.success(), "{} failed", script.display());
    let stdout = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("install.sh prints the pi path")
            .trim(),
    )
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// hstry serving a database in a temporary directory.
pub struct Hstry {
    pub addr: ListenAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Hstry {
    pub async fn start(dir: &Path) -> Self {
        let listener = Listener::bind(&ListenAddr::Unix(dir.join("hstry.sock")))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Store::open(&dir.join("hstry.db")).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, store, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
        }
    }
}

impl Hstry {
    /// Stops serving (the socket goes away), as when hstry crashes.
    pub fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Hstry {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Everything a bridge needs: directories, hstry, the scripted LLM and Pi's models.json.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub workspace: PathBuf,
    pub home: PathBuf,
    pub hstry: Hstry,
    pub llm: RunningLlm,
}

impl Env {
    pub async fn new(script: Value) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let workspace = dir.path().join("workspace");
        let home = dir.path().join("home");
        let agent_dir = home.join(".pi/agent");
        std::fs::create_dir_all(&workspace).unwrap();
        std::fs::create_dir_all(&agent_dir).unwrap();
        let script: Script = serde_json::from_value(script).unwrap();
        let llm = ScriptedLlm::spawn(script, "127.0.0.1:0").await.unwrap();
        std::fs::write(
            agent_dir.join("models.json"),
            oqto_scripted_llm::models_json(&llm.base_url()).to_string(),
        )
        .unwrap();
        let hstry = Hstry::start(dir.path()).await;
        Self {
            dir,
            workspace,
            home,
            hstry,
            llm,
        }
    }

    pub async fn start_bridge(&self) -> Bridge {
        self.start_bridge_with(&[]).await
    }

    pub async fn start_bridge_with(&self, extra: &[&str]) -> Bridge {
        self.start_bridge_on(&pi_program(), extra).await
    }

    pub async fn start_bridge_on(&self, pi: &Path, extra: &[&str]) -> Bridge {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pi-bridge"))
            .args(["--listen", "127.0.0.1:0", "--runner-id", "test-runner"])
            .arg("--workspace")
            .arg(&self.workspace)
            .arg("--pi")
            .arg(pi)
            .arg("--hstry")
            .arg(self.hstry.addr.to_string())
            .args(["--provider", "scripted", "--model", "scripted"])
            .args(extra)
            .env("HOME", &self.home)
            .env_remove("PI_CODING_AGENT_DIR")
            // Quiet by default; OQTO_TEST_LOG=debug shows what the bridge did.
            .env(
                "RUST_LOG",
                std::env::var("OQTO_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("pi-bridge announces its address")
            .unwrap()
            .expect("pi-bridge printed a line");
        let http = line
            .strip_prefix("pi-bridge listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Bridge { child, http }
    }
}

pub struct Bridge {
    pub child: Child,
    pub http: String,
}

impl Bridge {
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.http.replacen("http://", "ws://", 1))
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.ws_url()).await
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Connects and checks the server's greeting.
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = connect_async(url).await.unwrap();
        let mut client = Client { ws };
        let hello = client.next().await;
        assert_eq!(hello, json!({"channel":"system","type":"connected"}));
        client
    }

    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(WsMessage::Text(frame.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, text: String) {
        self.ws.send(WsMessage::Text(text.into())).await.unwrap();
    }

    /// The next frame that is not a ping.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame within the wait limit")
                .expect("the connection is open")
                .unwrap();
            if let WsMessage::Text(text) = message {
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                if value == json!({"channel":"system","type":"ping"}) {
                    continue;
                }
                return value;
            }
        }
    }

    /// Frames up to and including the first that satisfies `done`.
    pub async fn until(&mut self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            let stop = done(&frame);
            frames.push(frame);
            if stop {
                return frames;
            }
        }
    }

    /// Sends an agent command and returns its `response` event (events before it are kept
    /// by the caller's next `until`, so nothing is lost: the response always comes first).
    pub async fn command(&mut self, session: &str, id: &str, cmd: &str, fields: Value) -> Value {
        let mut frame = json!({"channel":"agent","session_id":session,"id":id,"cmd":cmd});
        if let (Some(frame), Some(fields)) = (frame.as_object_mut(), fields.as_object()) {
            frame.extend(fields.clone());
        }
        self.send(frame).await;
        let frames = self.until(|f| is_response(f, id)).await;
        frames.last().cloned().unwrap()
    }

    pub async fn create_session(&mut self, session: &str) -> Value {
        let response = self
            .command(
                session,
                "create",
                "session.create",
                json!({"config":{"harness":"pi"}}),
            )
            .await;
        assert_eq!(response["success"], true, "{response}");
        response
    }
}

pub fn is_response(frame: &Value, id: &str) -> bool {
    frame["channel"] == "agent" && frame["event"] == "response" && frame["id"] == id
}

pub fn is_event(frame: &Value, name: &str) -> bool {
    frame["channel"] == "agent" && frame["event"] == name
}

/// The `event` names of agent frames, in order.
pub fn event_names(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["channel"] == "agent")
        .filter_map(|f| f["event"].as_str().map(str::to_owned))
        .collect()
}
