//! Dialling hstry lazily, as pi-bridge does: the channel exists before hstry is up, calls
//! fail with UNAVAILABLE while it is down, and succeed once it is (back) up.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use common::{TestServer, conversation, message, paths};
use oqto_hstry::client::connect_lazy;
use oqto_hstry::listen::ListenAddr;
use oqto_hstry::server::SHUTDOWN_GRACE;
use oqto_proto::hstry::write_service_client::WriteServiceClient;
use oqto_proto::hstry::{GetMessagesRequest, WriteConversationRequest};
use tonic::Code;
use tonic::transport::Channel;

fn write_turn(idx: i32) -> WriteConversationRequest {
    WriteConversationRequest {
        conversation: Some(conversation("ses_lazy")),
        messages: vec![message(idx, "user", &format!("turn {idx}"))],
    }
}

/// Writes one turn; the gRPC code when hstry cannot take it.
async fn try_write(channel: &Channel, idx: i32) -> Result<i64, Code> {
    WriteServiceClient::new(channel.clone())
        .write_conversation(write_turn(idx))
        .await
        .map(|response| response.into_inner().message_count)
        .map_err(|status| status.code())
}

#[tokio::test]
async fn a_unix_channel_made_before_hstry_reaches_it_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (db, socket) = paths(&dir);
    let addr = ListenAddr::Unix(socket.clone());
    // No socket yet: building the channel must neither fail nor wait.
    let channel = connect_lazy(&addr).unwrap();
    assert_eq!(try_write(&channel, 0).await, Err(Code::Unavailable));

    let server = TestServer::start(&db, &socket).await;
    assert_eq!(try_write(&channel, 0).await, Ok(1));
    server.stop().await;
    assert_eq!(try_write(&channel, 1).await, Err(Code::Unavailable));

    // The same channel reconnects to the restarted hstry.
    let server = TestServer::start(&db, &socket).await;
    assert_eq!(try_write(&channel, 1).await, Ok(2));
    let read = oqto_proto::hstry::read_service_client::ReadServiceClient::new(channel.clone())
        .get_messages(GetMessagesRequest {
            source_id: "pi".into(),
            external_id: "ses_lazy".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.messages.len(), 2);
    drop(channel);
    server.stop().await;
}

#[tokio::test]
async fn a_tcp_channel_made_before_hstry_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    // A loopback port that nobody listens on (yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let addr = ListenAddr::Tcp(port);
    let channel = connect_lazy(&addr).unwrap();
    assert_eq!(try_write(&channel, 0).await, Err(Code::Unavailable));

    let server = TestServer::serve_on(&addr, &dir.path().join("hstry.db"), SHUTDOWN_GRACE).await;
    assert_eq!(try_write(&channel, 0).await, Ok(1));
    drop(channel);
    server.stop().await;
}
