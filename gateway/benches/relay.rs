//! What the gateway costs on the wire: the same WebSocket load (files `stat` round trips, the
//! cheapest request a runner answers) (1) straight to a pi-bridge, (2) through the gateway,
//! (3) through nginx configured as a plain WebSocket proxy, in one run; then the gateway's
//! memory with 5000 idle authenticated connections. Figures, never pass/fail.
//!
//! The gateway runs as its own process in single-node mode (a local store whose Session
//! points at the bridge); the bridge runs in this process on a runtime of its own. nginx is
//! Debian's (`apt-get install nginx-light`); without it, (3) is skipped with a note.
//!
//! `cargo bench -p oqto-gateway --bench relay` (env: ROUND_TRIPS, FRAMES, CONNECTIONS; smaller
//! defaults with OQTO_BENCH_QUICK). `hack/bench.sh` runs it and records its figures.
#![allow(clippy::unwrap_used)] // A benchmark: a failed step ends it.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{ADMIN, Gateway, Runner, RunnerEnv, free_port};
use oqto_api::{Session, SessionPhase, SessionStatus};
use oqto_bench::{Figure, Unit};
use oqto_e2e::mux::MuxClient;
use oqto_store::LocalStore;
use serde_json::{Value, json};

const NAMESPACE: &str = "bench";
const NGINX_PATHS: [&str; 2] = ["/usr/sbin/nginx", "/usr/bin/nginx"];
/// Requests in flight in the throughput run (below every queue, so nothing is "busy").
const WINDOW: usize = 64;
/// The bench's name in `hack/bench.sh`'s table, and the rows the others are compared with.
const BENCH: &str = "relay";
const DIRECT_ROUND_TRIP: &str = "round trip direct to pi-bridge";
const DIRECT_FRAMES: &str = "frames/s direct to pi-bridge";
const NGINX_ROUND_TRIP: &str = "round trip through nginx";
const NGINX_FRAMES: &str = "frames/s through nginx";

fn stat(n: usize) -> String {
    json!({"channel":"files","session_id":"s1","id":n.to_string(),"type":"stat","path":""})
        .to_string()
}

struct Figures {
    p50: Duration,
    p99: Duration,
    per_second: f64,
    /// The sequential round trips, sorted.
    times: Vec<Duration>,
}

/// Sequential round trips for latency, then a window of requests in flight for throughput.
async fn measure(client: &mut MuxClient, round_trips: usize, frames: usize) -> Figures {
    for n in 0..500 {
        round_trip(client, n).await;
    }
    let mut times = Vec::with_capacity(round_trips);
    for n in 0..round_trips {
        let started = Instant::now();
        round_trip(client, n).await;
        times.push(started.elapsed());
    }
    times.sort();
    let started = Instant::now();
    let mut sent = 0;
    let mut answered = 0;
    while sent < WINDOW.min(frames) {
        client.send_raw(stat(sent)).await.unwrap();
        sent += 1;
    }
    while answered < frames {
        let answer = client.next().await.unwrap();
        assert_eq!(answer["type"], "stat_result", "{answer}");
        answered += 1;
        if sent < frames {
            client.send_raw(stat(sent)).await.unwrap();
            sent += 1;
        }
    }
    let elapsed = started.elapsed();
    Figures {
        p50: times[times.len() / 2],
        p99: times[times.len() * 99 / 100],
        per_second: frames as f64 / elapsed.as_secs_f64(),
        times,
    }
}

async fn round_trip(client: &mut MuxClient, n: usize) {
    client.send_raw(stat(n)).await.unwrap();
    let answer: Value = client.next().await.unwrap();
    assert_eq!(answer["id"], n.to_string(), "{answer}");
}

/// nginx as a plain WebSocket reverse proxy in front of `upstream`; None when not installed.
fn start_nginx(dir: &Path, upstream: &str) -> Option<(std::process::Child, String)> {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nworker_processes auto;\nerror_log {d}/error.log;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://{upstream};\n\
               proxy_http_version 1.1;\n      proxy_set_header Upgrade $http_upgrade;\n\
               proxy_set_header Connection $connection_upgrade;\n      proxy_read_timeout 3600s;\n\
               proxy_buffering off;\n      tcp_nodelay on;\n    }}\n  }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = std::process::Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .spawn()
        .ok()?;
    // Ready when it accepts connections.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((child, format!("ws://127.0.0.1:{port}/ws")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() {
    let round_trips = oqto_bench::count("ROUND_TRIPS", 5000, 1000);
    let frames = oqto_bench::count("FRAMES", 20_000, 5000);
    let connections = oqto_bench::count("CONNECTIONS", 5000, 1000);
    let dir = tempfile::tempdir().unwrap();

    // The runner: a real pi-bridge (no agent turn is needed for files).
    let runners = RunnerEnv::new(json!({"rules":[]})).await;
    let listen: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let bridge = listen.to_string();

    // The gateway, in single-node mode, with a Session that points at the bridge.
    let state = dir.path().join("state");
    let store = LocalStore::open(&state).unwrap();
    let workspace: oqto_api::Workspace = serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1",
        "kind":"Workspace","metadata":{"name":"ws","namespace":NAMESPACE},"spec":{"owner":ADMIN.0}}))
    .unwrap();
    store.apply(workspace).unwrap();
    let session: Session = serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1",
        "kind":"Session","metadata":{"name":"s1","namespace":NAMESPACE},"spec":{"workspaceRef":{"name":"ws"}}}))
    .unwrap();
    let mut session = store.apply(session).unwrap();
    session.status = Some(SessionStatus {
        phase: Some(SessionPhase::Running),
        endpoint: Some(format!("http://{bridge}")),
        ..Default::default()
    });
    store.update_status(&session).unwrap();
    // The token the operator would give the runner; the gateway derives the same one.
    let runner_token = oqto_e2e::runner_key()
        .token(session.metadata.uid.as_deref().unwrap_or_default())
        .expose()
        .to_owned();
    let runner = Runner::start(&runners, listen, "s1", &runner_token);
    // The idle connections below are one user's: lift the per-user cap for them.
    let cap = (connections + 10).to_string();
    let gateway = Gateway::start_local_with(
        &dir.path().join("gateway"),
        &state,
        NAMESPACE,
        &["--max-connections-per-user", &cap],
    )
    .await;
    let token = gateway.rest().login(ADMIN.0, ADMIN.1).await;
    let nginx_dir = dir.path().join("nginx");
    std::fs::create_dir_all(&nginx_dir).unwrap();
    let nginx = start_nginx(&nginx_dir, &bridge);

    let mut targets = vec![
        (
            "direct to pi-bridge",
            format!("ws://{bridge}/ws"),
            Some(runner_token.clone()),
        ),
        ("through the gateway", gateway.ws_url(), Some(token.clone())),
    ];
    match &nginx {
        Some((_, url)) => targets.push(("through nginx", url.clone(), Some(runner_token.clone()))),
        None => {
            println!("nginx is not installed (apt-get install nginx-light): its row is skipped")
        }
    }
    println!(
        "{round_trips} sequential round trips (files stat), then {frames} frames with {WINDOW} in flight"
    );
    println!(
        "{:<22} {:>9} {:>9} {:>11} {:>11} {:>12} {:>10}",
        "path", "p50 µs", "p99 µs", "+p50 µs", "+p99 µs", "frames/s", "vs direct"
    );
    let mut direct: Option<Figures> = None;
    for (name, url, token) in targets {
        let mut client = MuxClient::connect(&url, token.as_deref()).await.unwrap();
        let figures = measure(&mut client, round_trips, frames).await;
        let base = direct.as_ref().unwrap_or(&figures);
        println!(
            "{:<22} {:>9.1} {:>9.1} {:>11.1} {:>11.1} {:>12.0} {:>9.2}x",
            name,
            micros(figures.p50),
            micros(figures.p99),
            micros(figures.p50) - micros(base.p50),
            micros(figures.p99) - micros(base.p99),
            figures.per_second,
            figures.per_second / base.per_second,
        );
        println!(
            "{:<22} latency ratio p50 {:.2}x, p99 {:.2}x",
            "",
            micros(figures.p50) / micros(base.p50),
            micros(figures.p99) / micros(base.p99)
        );
        let latency = Figure::latency_us(BENCH, &format!("round trip {name}"), &figures.times)
            .plotted_in("relay round trip (files stat)");
        let throughput = Figure::value(
            BENCH,
            &format!("frames/s {name}"),
            Unit::PerSecond,
            figures.per_second,
        )
        .higher_is_better();
        // nginx is what the gateway is compared with (both proxies); nginx with the direct path.
        let (round_trip, frames) = match name {
            "direct to pi-bridge" => (None, None),
            "through the gateway" if nginx.is_some() => {
                (Some(NGINX_ROUND_TRIP), Some(NGINX_FRAMES))
            }
            _ => (Some(DIRECT_ROUND_TRIP), Some(DIRECT_FRAMES)),
        };
        match (round_trip, frames) {
            (Some(round_trip), Some(frames)) => {
                latency.against(round_trip).record();
                throughput.against(frames).record();
            }
            _ => {
                latency.record();
                throughput.record();
            }
        }
        if direct.is_none() {
            direct = Some(figures);
        }
    }

    // Memory: idle authenticated connections to the gateway (each greeted, none talking).
    let pid = gateway.pid();
    let before = rss_kib(pid);
    let url = format!("{}?token={token}", gateway.ws_url());
    let mut idle = Vec::with_capacity(connections);
    let started = Instant::now();
    while idle.len() < connections {
        let batch = (connections - idle.len()).min(100);
        let opened =
            futures::future::join_all((0..batch).map(|_| MuxClient::connect(&url, None))).await;
        for client in opened {
            idle.push(client.unwrap());
        }
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    println!(
        "gateway RSS: {:.1} MiB idle, {:.1} MiB with {connections} idle authenticated connections \
         ({:.1} KiB each; opened in {:.1} s)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / connections as f64,
        opened_in.as_secs_f64()
    );
    Figure::value(BENCH, "gateway RSS idle", Unit::Mib, before as f64 / 1024.0).record();
    Figure::value(
        BENCH,
        "gateway RSS per idle authenticated connection",
        Unit::Kib,
        (after.saturating_sub(before)) as f64 / connections as f64,
    )
    .record();
    drop(idle);
    if let Some((mut child, _)) = nginx {
        // `-s stop` makes the master stop its workers too (a killed master orphans them).
        let _ = std::process::Command::new(
            NGINX_PATHS
                .iter()
                .find(|p| Path::new(p).exists())
                .unwrap_or(&"nginx"),
        )
        .arg("-p")
        .arg(&nginx_dir)
        .arg("-c")
        .arg(nginx_dir.join("nginx.conf"))
        .args(["-s", "stop"])
        .status();
        let _ = child.wait();
    }
    drop(runner);
}
