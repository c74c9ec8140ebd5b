//! What a hostile user can make the gateway hold: its RSS while one user floods it, in both
//! directions, with every budget at its default. Figures, never pass/fail.
//!
//! 1. Towards a runner that never answers (a Session whose endpoint accepts TCP and says
//!    nothing): the user's connections send 1 MiB frames until every one is refused "busy".
//!    Without byte budgets each session link queued 384 frames (384 MiB) per connection.
//! 2. Towards a client that never reads: a real pi-bridge is asked for a 1 MiB file many times
//!    over, and the client reads nothing. Without a byte budget the client's queue held 1024
//!    frames (1.4 GiB of base64).
//!
//! `cargo bench -p oqto-gateway --bench flood` (env: CONNECTIONS, READS; smaller defaults with
//! OQTO_BENCH_QUICK). `hack/bench.sh` runs it and records its figures.
#![allow(clippy::unwrap_used)] // A benchmark: a failed step ends it.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{ADMIN, Gateway, Runner, RunnerEnv, free_port};
use oqto_api::{Session, SessionPhase, SessionStatus};
use oqto_bench::{Figure, Unit};
use oqto_e2e::mux::MuxClient;
use oqto_store::LocalStore;
use serde_json::json;

const NAMESPACE: &str = "flood";
const MIB: usize = 1024 * 1024;
/// The bench's name in `hack/bench.sh`'s table, and the row the floods are compared with.
const BENCH: &str = "flood";
const AT_REST: &str = "gateway RSS at rest";

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A Session of the store, Running at `endpoint`.
fn running_session(store: &LocalStore, name: &str, endpoint: String) -> String {
    let session: Session = serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1",
        "kind":"Session","metadata":{"name":name,"namespace":NAMESPACE},
        "spec":{"workspaceRef":{"name":"ws"}}}))
    .unwrap();
    let mut session = store.apply(session).unwrap();
    session.status = Some(SessionStatus {
        phase: Some(SessionPhase::Running),
        endpoint: Some(endpoint),
        ..Default::default()
    });
    store.update_status(&session).unwrap();
    session.metadata.uid.unwrap()
}

#[tokio::main]
async fn main() {
    let connections = oqto_bench::count("CONNECTIONS", 32, 8);
    let reads = oqto_bench::count("READS", 2000, 500);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = LocalStore::open(&state).unwrap();
    let workspace: oqto_api::Workspace = serde_json::from_value(json!({"apiVersion":"oqto.dev/v1alpha1",
        "kind":"Workspace","metadata":{"name":"ws","namespace":NAMESPACE},"spec":{"owner":ADMIN.0}}))
    .unwrap();
    store.apply(workspace).unwrap();

    // A "runner" that accepts connections and never answers the WebSocket handshake.
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mute_addr = mute.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = mute.accept().await {
            held.push(socket);
        }
    });
    running_session(&store, "mute", format!("http://{mute_addr}"));

    // A real pi-bridge with a 1 MiB file.
    let runners = RunnerEnv::new(json!({"rules":[]})).await;
    std::fs::write(runners.workspace.join("big.bin"), vec![b'x'; MIB]).unwrap();
    let listen: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let uid = running_session(&store, "files", format!("http://{listen}"));
    let token = oqto_e2e::runner_key().token(&uid);
    let _runner = Runner::start(&runners, listen, "files", token.expose());

    let gateway = Gateway::start_local(&dir.path().join("gateway"), &state, NAMESPACE).await;
    let login = gateway.rest().login(ADMIN.0, ADMIN.1).await;
    let pid = gateway.pid();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_rest = rss_mib(pid);
    println!("gateway RSS at rest: {at_rest:.1} MiB");
    Figure::value(BENCH, AT_REST, Unit::Mib, at_rest).record();

    // 1. Towards a mute runner, from `connections` connections of one user.
    let frame = json!({"channel":"files","session_id":"mute","type":"write","path":"f",
        "content":"A".repeat(MIB)})
    .to_string();
    let started = Instant::now();
    let mut clients = Vec::new();
    let (mut sent, mut busy) = (0usize, 0usize);
    for _ in 0..connections {
        let mut client = MuxClient::connect(&gateway.ws_url(), Some(&login))
            .await
            .unwrap();
        // Until this connection's frames are all refused: 8 in a row.
        let mut refused_in_a_row = 0;
        while refused_in_a_row < 8 {
            client.send_raw(frame.clone()).await.unwrap();
            sent += 1;
            match tokio::time::timeout(Duration::from_millis(200), client.next()).await {
                Ok(Ok(answer)) if answer["error"].as_str().is_some_and(|e| e.contains("busy")) => {
                    busy += 1;
                    refused_in_a_row += 1;
                }
                _ => refused_in_a_row = 0,
            }
        }
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let flooded = rss_mib(pid);
    println!(
        "1. {connections} connections sent {sent} frames of 1 MiB to a mute runner in {:.1} s, \
         {busy} refused busy: gateway RSS {flooded:.1} MiB",
        started.elapsed().as_secs_f64(),
    );
    Figure::value(
        BENCH,
        "gateway RSS, 1 MiB frames to a mute runner",
        Unit::Mib,
        flooded,
    )
    .against(AT_REST)
    .record();
    drop(clients);
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("   after they closed: {:.1} MiB", rss_mib(pid));

    // 2. A client that asks for a 1 MiB file `reads` times and reads nothing.
    let mut client = MuxClient::connect(&gateway.ws_url(), Some(&login))
        .await
        .unwrap();
    let started = Instant::now();
    for n in 0..reads {
        let read = json!({"channel":"files","session_id":"files","id":n.to_string(),
            "type":"read","path":"big.bin"});
        if tokio::time::timeout(Duration::from_secs(5), client.send(read))
            .await
            .is_err()
        {
            println!("   the gateway stopped taking frames after {n} requests (back-pressure)");
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let unread = rss_mib(pid);
    println!(
        "2. a client asked for a 1 MiB file {reads} times and read nothing ({:.1} s): gateway RSS {unread:.1} MiB",
        started.elapsed().as_secs_f64(),
    );
    Figure::value(
        BENCH,
        "gateway RSS, a client that never reads",
        Unit::Mib,
        unread,
    )
    .against(AT_REST)
    .record();
    drop(client);
}
