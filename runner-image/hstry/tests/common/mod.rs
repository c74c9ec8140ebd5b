//! Test support: a real hstry server on a temporary Unix socket, and real tonic clients.

#![allow(dead_code)] // Each test file uses its own part of this module.
#![allow(clippy::unwrap_used)] // Test support: a failed step is a failed test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use oqto_hstry::client;
use oqto_hstry::listen::ListenAddr;
use oqto_hstry::server::{Listener, SHUTDOWN_GRACE, serve_with_grace};
use oqto_hstry::store::Store;
use oqto_proto::hstry::read_service_client::ReadServiceClient;
use oqto_proto::hstry::search_service_client::SearchServiceClient;
use oqto_proto::hstry::write_service_client::WriteServiceClient;
use oqto_proto::hstry::{Conversation, Message};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub struct TestServer {
    pub addr: ListenAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl TestServer {
    /// Serves `db` on `socket` in this process; the socket accepts clients on return.
    pub async fn start(db: &Path, socket: &Path) -> Self {
        Self::start_with_grace(db, socket, SHUTDOWN_GRACE).await
    }

    /// [`TestServer::start`] with the given shutdown grace period.
    pub async fn start_with_grace(db: &Path, socket: &Path, grace: Duration) -> Self {
        Self::serve_on(&ListenAddr::Unix(socket.to_path_buf()), db, grace).await
    }

    /// Serves `db` on `addr` (`tcp:127.0.0.1:0` picks a free port; see `addr`).
    pub async fn serve_on(addr: &ListenAddr, db: &Path, grace: Duration) -> Self {
        let listener = Listener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let store = Store::open(db).unwrap();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve_with_grace(
            listener,
            store,
            async {
                let _ = stopped.await;
            },
            grace,
        ));
        Self { addr, stop, task }
    }

    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

pub struct Clients {
    pub channel: Channel,
    pub write: WriteServiceClient<Channel>,
    pub read: ReadServiceClient<Channel>,
    pub search: SearchServiceClient<Channel>,
}

pub async fn clients(addr: &ListenAddr) -> Clients {
    let channel = client::connect(addr).await.unwrap();
    Clients {
        write: WriteServiceClient::new(channel.clone()),
        read: ReadServiceClient::new(channel.clone()),
        search: SearchServiceClient::new(channel.clone()),
        channel,
    }
}

pub fn paths(dir: &tempfile::TempDir) -> (PathBuf, PathBuf) {
    (dir.path().join("hstry.db"), dir.path().join("hstry.sock"))
}

pub fn conversation(external_id: &str) -> Conversation {
    Conversation {
        source_id: "pi".into(),
        external_id: external_id.into(),
        title: Some("Test chat".into()),
        workspace: Some("alice-dev".into()),
        harness: Some("pi".into()),
        platform_id: Some("sess-1".into()),
        ..Default::default()
    }
}

pub fn message(idx: i32, role: &str, content: &str) -> Message {
    Message {
        idx,
        role: role.into(),
        content: content.into(),
        parts_json:
            serde_json::json!([{"type": "text", "id": format!("part_{idx}"), "text": content}])
                .to_string(),
        metadata_json: r#"{"pi":{"api":"openai-completions"}}"#.into(),
        sender_json: if role == "user" {
            r#"{"type":"user","id":"u1","name":"Ann"}"#.into()
        } else {
            String::new()
        },
        id: Some(format!("msg_{idx}")),
        created_at_ms: Some(1_700_000_000_000 + i64::from(idx)),
        ..Default::default()
    }
}
