//! Test support: the real pi-bridge binary with the real Pi (from npm, via hack/pi/install.sh),
//! a real hstry in this process, and the scripted OpenAI-compatible LLM as the only stand-in.

#![allow(dead_code)] // Each test file uses its own part of this module.
#![allow(clippy::unwrap_used)] // Test support: a failed step is a failed test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use oqto_e2e::mux::MuxClient;
use oqto_hstry::listen::ListenAddr;
use oqto_hstry::server::{Listener, serve};
use oqto_hstry::store::Store;
use oqto_scripted_llm::{RunningLlm, Script, ScriptedLlm};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::oneshot;

/// How long a test waits for one expected frame before failing. Generous: it bounds a hang, it
/// does not measure speed (that is the benchmark's job).
pub const WAIT: Duration = Duration::from_secs(60);
/// The Session every test bridge serves (`--session`).
pub const SESSION: &str = "s";
/// The runner token the tests' bridges are started with (the operator derives real ones).
pub const TOKEN: &str = "test-runner-token-0123456789abcdef";
/// The delegate API's token of every test bridge (`authorization: Bearer …`).
pub const DELEGATE_TOKEN: &str = "test-delegate-token-0123456789abcdef";

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
    oqto_e2e::installed_pi(variable, line).unwrap()
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
        let scripted = ["--provider", "scripted", "--model", "scripted"];
        self.start_bridge_full(pi, &[&scripted[..], extra].concat(), &[])
            .await
    }

    /// A bridge with exactly these arguments (after the test's own) and environment.
    pub async fn start_bridge_full(
        &self,
        pi: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Bridge {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pi-bridge"))
            .args(["--listen", "127.0.0.1:0", "--runner-id", "test-runner"])
            .args(["--session", SESSION])
            .env("PI_BRIDGE_TOKEN", TOKEN)
            // Not the well-known default port: bridges of parallel tests would compete for it.
            .env("PI_BRIDGE_DELEGATE_LISTEN", "127.0.0.1:0")
            // Known to the tests that call the delegate API themselves.
            .env("PI_BRIDGE_DELEGATE_TOKEN", DELEGATE_TOKEN)
            .arg("--workspace")
            .arg(&self.workspace)
            .arg("--pi")
            .arg(pi)
            .arg("--hstry")
            .arg(self.hstry.addr.to_string())
            .args(args)
            .envs(envs.iter().copied())
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
        Bridge {
            child,
            http,
            stdout: lines,
        }
    }
}

pub struct Bridge {
    pub child: Child,
    pub http: String,
    /// The rest of the bridge's stdout (the delegate API's address comes next).
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Bridge {
    /// The delegate API's `host:port`, from the bridge's second line (only a bridge that
    /// serves the API prints it).
    pub async fn delegate_api(&mut self) -> String {
        let line = tokio::time::timeout(WAIT, self.stdout.next_line())
            .await
            .expect("pi-bridge announces its delegate API")
            .unwrap()
            .expect("pi-bridge printed a second line");
        line.strip_prefix("pi-bridge delegate API on http://")
            .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
            .to_owned()
    }

    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.http.replacen("http://", "ws://", 1))
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.ws_url()).await
    }

    /// A GET of one of the bridge's HTTP paths, with the runner token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.http))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The mux client of the test support, failing the test on any error.
pub struct Client(MuxClient);

impl Client {
    /// Connects and checks the server's greeting.
    pub async fn connect(url: &str) -> Client {
        Client(MuxClient::connect(url, Some(TOKEN)).await.unwrap())
    }

    pub async fn send(&mut self, frame: Value) {
        self.0.send(frame).await.unwrap();
    }

    pub async fn send_raw(&mut self, text: String) {
        self.0.send_raw(text).await.unwrap();
    }

    /// The next frame that is not a ping.
    pub async fn next(&mut self) -> Value {
        self.0.next().await.unwrap()
    }

    /// Frames up to and including the first that satisfies `done`.
    pub async fn until(&mut self, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.0.until(done).await.unwrap()
    }

    /// Sends an agent command and returns its `response` event (events before it are kept
    /// by the caller's next `until`, so nothing is lost: the response always comes first).
    pub async fn command(&mut self, session: &str, id: &str, cmd: &str, fields: Value) -> Value {
        self.0.command(session, id, cmd, fields).await.unwrap()
    }

    pub async fn create_session(&mut self, session: &str) -> Value {
        let frames = self.0.create_session(session).await.unwrap();
        frames.last().cloned().unwrap()
    }
}

#[allow(unused_imports)] // Each test file uses its own part.
pub use oqto_e2e::mux::{event_names, is_event, is_response};

/// What must stay the same between recordings of a stream: each frame's kind (event and
/// command), runs of one kind as one (ids, times and the split of deltas may differ).
pub fn stream_shape(frames: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = Vec::new();
    for frame in frames {
        let kind = format!(
            "{}:{}",
            frame["event"].as_str().unwrap_or_default(),
            frame["cmd"].as_str().unwrap_or_default()
        );
        if kinds.last() != Some(&kind) {
            kinds.push(kind);
        }
    }
    kinds
}
