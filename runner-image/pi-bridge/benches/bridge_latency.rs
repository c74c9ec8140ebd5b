//! How much latency pi-bridge adds between a line on Pi's stdout and the WebSocket frame a
//! client receives. `cargo bench -p oqto-pi-bridge` runs a stand-in Pi (benches/fake_pi.py) that
//! writes text deltas carrying their write time, and measures two paths in the same run:
//!
//! - pipe: the stand-in's stdout read straight from the pipe (the floor: Python, the pipe, the
//!   scheduler);
//! - bridge: the real pi-bridge binary translating those lines into canonical
//!   `stream.text_delta` frames on a WebSocket (with a real hstry beside it).
//!
//! The bridge's own cost is the difference. Figures, not assertions.

#![allow(clippy::unwrap_used)] // A bench that cannot set up has nothing to report.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use oqto_hstry::listen::ListenAddr;
use oqto_hstry::server::{Listener, serve};
use oqto_hstry::store::Store;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

const LINES: usize = 5000;

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

fn fake_pi() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fake_pi.py")
}

fn latency_of(delta: &str) -> Duration {
    let written: i128 = delta.parse().unwrap();
    Duration::from_nanos((now_ns() - written).max(0) as u64)
}

async fn pipe() -> Vec<Duration> {
    let mut child = Command::new(fake_pi())
        .env("FAKE_PI_LINES", LINES.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"type\":\"prompt\",\"message\":\"go\"}\n")
        .await
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut latencies = Vec::with_capacity(LINES);
    while let Some(line) = lines.next_line().await.unwrap() {
        let value: Value = serde_json::from_str(&line).unwrap();
        if let Some(delta) = value["assistantMessageEvent"]["delta"].as_str() {
            latencies.push(latency_of(delta));
        }
        if value["type"] == "agent_end" {
            break;
        }
    }
    latencies
}

async fn bridge() -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let listener = Listener::bind(&ListenAddr::Unix(dir.path().join("hstry.sock")))
        .await
        .unwrap();
    let hstry = listener.local_addr().unwrap();
    let store = Store::open(&dir.path().join("hstry.db")).unwrap();
    tokio::spawn(serve(listener, store, std::future::pending()));
    let workspace = dir.path().join("workspace");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pi-bridge"))
        .args(["--listen", "127.0.0.1:0", "--hstry", &hstry.to_string()])
        .arg("--workspace")
        .arg(&workspace)
        .arg("--pi")
        .arg(fake_pi())
        .env("HOME", dir.path())
        .env("FAKE_PI_LINES", LINES.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = stdout.next_line().await.unwrap().unwrap();
    let http = line.strip_prefix("pi-bridge listening on ").unwrap();
    let (mut ws, _) = connect_async(format!("{}/ws", http.replacen("http://", "ws://", 1)))
        .await
        .unwrap();
    for frame in [
        json!({"channel":"agent","session_id":"bench","id":"c","cmd":"session.create","config":{"harness":"pi"}}),
        json!({"channel":"agent","session_id":"bench","id":"p","cmd":"prompt","message":"go"}),
    ] {
        ws.send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }
    let mut latencies = Vec::with_capacity(LINES);
    while let Some(message) = ws.next().await {
        let Message::Text(text) = message.unwrap() else {
            continue;
        };
        let frame: Value = serde_json::from_str(text.as_str()).unwrap();
        match frame["event"].as_str() {
            Some("stream.text_delta") => {
                latencies.push(latency_of(frame["delta"].as_str().unwrap()))
            }
            Some("agent.idle") => break,
            _ => {}
        }
    }
    latencies
}

fn summary(name: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name:<40} {:>7} {:>10?} {:>10?} {:>10?}",
        latencies.len(),
        at(0.50),
        at(0.99),
        latencies[latencies.len() - 1]
    );
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!("pi-bridge latency: {LINES} Pi stdout lines, one every 0.5 ms");
    println!(
        "{:<40} {:>7} {:>10} {:>10} {:>10}",
        "path", "lines", "p50", "p99", "max"
    );
    summary(
        "pipe (stand-in stdout, no bridge)",
        runtime.block_on(pipe()),
    );
    summary(
        "bridge (stdout -> canonical WS frame)",
        runtime.block_on(bridge()),
    );
}
