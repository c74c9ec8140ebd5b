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
//!
//! 5000 lines per path; 1000 with `OQTO_BENCH_QUICK` set (not empty). With `OQTO_BENCH_RECORD`
//! set it also records both latency distributions, the bridge's against the pipe's
//! (`oqto_bench::Figure`).

#![allow(clippy::unwrap_used)] // A bench that cannot set up has nothing to report.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use oqto_bench::Figure;
use oqto_hstry::listen::ListenAddr;
use oqto_hstry::server::{Listener, serve};
use oqto_hstry::store::Store;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const BENCH: &str = "bridge_latency";
/// Lines Pi writes per path: 5000, 1000 in a quick run.
const LINES: usize = 5000;
const QUICK_LINES: usize = 1000;
/// The reference path's `what`.
const PIPE: &str = "pipe";
/// The Session the bridge serves, and its runner token (`Authorization: Bearer`).
const SESSION: &str = "bench";
const TOKEN: &str = "bench-runner-token-0123456789abcdef";

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

async fn pipe(lines: usize) -> Vec<Duration> {
    let mut child = Command::new(fake_pi())
        .env("FAKE_PI_LINES", lines.to_string())
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
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut latencies = Vec::with_capacity(lines);
    while let Some(line) = stdout.next_line().await.unwrap() {
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

async fn bridge(lines: usize) -> Vec<Duration> {
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
        .args(["--session", SESSION])
        .env("PI_BRIDGE_TOKEN", TOKEN)
        .arg("--workspace")
        .arg(&workspace)
        .arg("--pi")
        .arg(fake_pi())
        .env("HOME", dir.path())
        .env("FAKE_PI_LINES", lines.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = stdout.next_line().await.unwrap().unwrap();
    let http = line.strip_prefix("pi-bridge listening on ").unwrap();
    let mut request = format!("{}/ws", http.replacen("http://", "ws://", 1))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = connect_async(request).await.unwrap();
    for frame in [
        json!({"channel":"agent","session_id":SESSION,"id":"c","cmd":"session.create","config":{"harness":"pi"}}),
        json!({"channel":"agent","session_id":SESSION,"id":"p","cmd":"prompt","message":"go"}),
    ] {
        ws.send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }
    let mut latencies = Vec::with_capacity(lines);
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

fn summary(name: &str, latencies: &mut [Duration]) {
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
    let lines = if oqto_bench::quick() {
        QUICK_LINES
    } else {
        LINES
    };
    println!("pi-bridge latency: {lines} Pi stdout lines, one every 0.5 ms");
    println!(
        "{:<40} {:>7} {:>10} {:>10} {:>10}",
        "path", "lines", "p50", "p99", "max"
    );
    let mut piped = runtime.block_on(pipe(lines));
    summary("pipe (stand-in stdout, no bridge)", &mut piped);
    let mut bridged = runtime.block_on(bridge(lines));
    summary("bridge (stdout -> canonical WS frame)", &mut bridged);
    Figure::latency_us(BENCH, PIPE, &piped)
        .plotted_in("bridge latency")
        .record();
    Figure::latency_us(BENCH, "bridge", &bridged)
        .against(PIPE)
        .plotted_in("bridge latency")
        .record();
}
