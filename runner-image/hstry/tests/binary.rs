//! The `hstry` binary as the runner image runs it: configured by environment, stopped with
//! SIGTERM, restarted on the same database file.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use common::{clients, conversation, message, paths};
use oqto_hstry::listen::ListenAddr;
use oqto_proto::hstry::{GetMessagesRequest, WriteConversationRequest};
use tokio::process::Child;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How long a fresh process may take to come up before the test gives up on it.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

fn spawn(db: &Path, socket: &Path) -> Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_hstry"))
        .env("HSTRY_DB", db)
        .env("HSTRY_LISTEN", format!("unix:{}", socket.display()))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn wait_until_serving(addr: &ListenAddr) {
    let started = Instant::now();
    loop {
        if let Ok(channel) = oqto_hstry::client::connect(addr).await {
            let status = HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await;
            if status.is_ok_and(|s| s.into_inner().status() == ServingStatus::Serving) {
                return;
            }
        }
        assert!(started.elapsed() < STARTUP_DEADLINE, "hstry never came up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends SIGTERM and waits without blocking the runtime, whose tasks include the client
/// side of connections the server is closing.
async fn terminate(mut child: Child) -> ExitStatus {
    let pid = child.id().unwrap();
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().await.unwrap()
}

#[tokio::test]
async fn the_binary_stops_cleanly_on_sigterm_and_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let (db, socket) = paths(&dir);
    let addr = ListenAddr::Unix(socket.clone());

    let first = spawn(&db, &socket);
    wait_until_serving(&addr).await;
    let mut c = clients(&addr).await;
    c.write
        .write_conversation(WriteConversationRequest {
            conversation: Some(conversation("ses_bin")),
            messages: vec![
                message(0, "user", "persist me"),
                message(1, "assistant", "ok"),
            ],
        })
        .await
        .unwrap();
    drop(c);
    let status = terminate(first).await;
    assert!(status.success(), "graceful exit on SIGTERM, got {status}");
    assert!(!socket.exists(), "the socket file is removed on shutdown");

    let second = spawn(&db, &socket);
    wait_until_serving(&addr).await;
    let mut c = clients(&addr).await;
    let read = c
        .read
        .get_messages(GetMessagesRequest {
            source_id: "pi".into(),
            external_id: "ses_bin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.messages.len(), 2);
    assert_eq!(read.messages[0].content, "persist me");
    drop(c);
    assert!(terminate(second).await.success());
}

#[test]
fn a_non_loopback_listen_address_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hstry"))
        .args(["--listen", "tcp:0.0.0.0:50051", "--db"])
        .arg(dir.path().join("hstry.db"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    assert!(!dir.path().join("hstry.db").exists());
}
