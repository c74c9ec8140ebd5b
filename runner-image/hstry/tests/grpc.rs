//! hstry over gRPC: a real server on a temporary Unix socket and real tonic clients.
#![allow(clippy::unwrap_used)] // Test helpers: a failed step is a failed test.

mod common;

use common::{TestServer, clients, conversation, message, paths};
use oqto_proto::hstry::{
    AppendMessagesRequest, DeleteConversationRequest, GetConversationRequest, GetMessagesRequest,
    ListConversationsRequest, SearchRequest, UpdateConversationRequest, WriteConversationRequest,
};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn append(external_id: &str, messages: Vec<oqto_proto::hstry::Message>) -> AppendMessagesRequest {
    AppendMessagesRequest {
        source_id: "pi".into(),
        external_id: external_id.into(),
        messages,
        updated_at_ms: None,
    }
}

fn messages_of(external_id: &str) -> GetMessagesRequest {
    GetMessagesRequest {
        source_id: "pi".into(),
        external_id: external_id.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn write_append_resend_change_read_and_search() {
    let dir = tempfile::tempdir().unwrap();
    let (db, socket) = paths(&dir);
    let server = TestServer::start(&db, &socket).await;
    let mut c = clients(&server.addr).await;

    let written = c
        .write
        .write_conversation(WriteConversationRequest {
            conversation: Some(conversation("ses_a")),
            messages: vec![message(0, "user", "Where do emperor penguins breed?")],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            written.version,
            written.message_count,
            written.messages_written
        ),
        (1, 1, 1)
    );

    let turn = vec![
        message(1, "assistant", "They breed on the sea ice of Antarctica."),
        message(2, "user", "And in winter?"),
    ];
    let appended = c
        .write
        .append_messages(append("ses_a", turn.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            appended.version,
            appended.message_count,
            appended.messages_written
        ),
        (2, 3, 2)
    );
    assert_eq!(appended.conversation_id, written.conversation_id);

    // The bridge re-sends a turn after a reconnect: nothing changes.
    let resent = c
        .write
        .append_messages(append("ses_a", turn))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            resent.version,
            resent.message_count,
            resent.messages_written
        ),
        (2, 3, 0)
    );

    // A real edit is one new version.
    let edited = c
        .write
        .append_messages(append(
            "ses_a",
            vec![message(2, "user", "And in the polar winter?")],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            edited.version,
            edited.message_count,
            edited.messages_written
        ),
        (3, 3, 1)
    );

    let read = c
        .read
        .get_messages(messages_of("ses_a"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.conversation_id, written.conversation_id);
    let contents: Vec<_> = read.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        contents,
        [
            "Where do emperor penguins breed?",
            "They breed on the sea ice of Antarctica.",
            "And in the polar winter?"
        ]
    );
    // Every field the writer sent comes back as sent.
    assert_eq!(
        read.messages[0],
        message(0, "user", "Where do emperor penguins breed?")
    );

    let by_id = c
        .read
        .get_conversation(GetConversationRequest {
            conversation_id: written.conversation_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .conversation
        .unwrap();
    assert_eq!(
        (
            by_id.version,
            by_id.message_count,
            by_id.external_id.as_str()
        ),
        (3, 3, "ses_a")
    );
    assert_eq!(by_id.platform_id.as_deref(), Some("sess-1"));

    let hits = c
        .search
        .search(SearchRequest {
            query: "penguin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!(
        (hit.message_idx, hit.role.as_str(), hit.external_id.as_str()),
        (0, "user", "ses_a")
    );
    assert!(
        hit.snippet.contains("**penguins**"),
        "snippet: {}",
        hit.snippet
    );
    assert_eq!(hit.workspace, "alice-dev");
    assert_eq!(hit.message_id, "msg_0");
    // The edited-away words are no longer found.
    let stale = c
        .search
        .search(SearchRequest {
            query: "winter".into(),
            role: "user".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert_eq!(stale.len(), 1);
    assert!(stale[0].content.contains("polar"));

    let listed = c
        .read
        .list_conversations(ListConversationsRequest {
            source_id: "pi".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .conversations;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].first_user_message,
        "Where do emperor penguins breed?"
    );

    drop(c);
    server.stop().await;
    assert!(!socket.exists(), "the socket file is removed on shutdown");
}

#[tokio::test]
async fn history_outlives_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (db, socket) = paths(&dir);
    let server = TestServer::start(&db, &socket).await;
    let mut c = clients(&server.addr).await;
    c.write
        .write_conversation(WriteConversationRequest {
            conversation: Some(conversation("ses_r")),
            messages: vec![
                message(0, "user", "Remember the word xylophone."),
                message(1, "assistant", "Noted."),
            ],
        })
        .await
        .unwrap();
    drop(c);
    server.stop().await;

    let server = TestServer::start(&db, &socket).await;
    let mut c = clients(&server.addr).await;
    let read = c
        .read
        .get_messages(messages_of("ses_r"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.messages.len(), 2);
    let hits = c
        .search
        .search(SearchRequest {
            query: "xylophone".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert_eq!(hits.len(), 1);
    // Versions continue where they were.
    let appended = c
        .write
        .append_messages(append("ses_r", vec![message(2, "user", "Which word?")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((appended.version, appended.message_count), (2, 3));
    drop(c);
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_codes_that_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let (db, socket) = paths(&dir);
    let server = TestServer::start(&db, &socket).await;
    let mut c = clients(&server.addr).await;

    let mut nameless = conversation("x");
    nameless.source_id.clear();
    let mut bad_parts = message(1, "assistant", "ok");
    bad_parts.parts_json = "[{not json".into();
    let mut bad_metadata = message(0, "user", "ok");
    bad_metadata.metadata_json = "{".into();
    let mut bad_sender = message(0, "user", "ok");
    bad_sender.sender_json = "\"ann\"".into();
    let cases = [
        (
            conversation("x"),
            vec![message(-1, "user", "x")],
            "messages[0].idx",
        ),
        (nameless, vec![], "conversation.source_id"),
        (
            conversation("x"),
            vec![message(0, "user", "ok"), bad_parts],
            "messages[1].parts_json",
        ),
        (
            conversation("x"),
            vec![bad_metadata],
            "messages[0].metadata_json",
        ),
        (
            conversation("x"),
            vec![bad_sender],
            "messages[0].sender_json",
        ),
    ];
    for (conversation, messages, field) in cases {
        let status = c
            .write
            .write_conversation(WriteConversationRequest {
                conversation: Some(conversation),
                messages,
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(status.message().starts_with(field), "{field}: {status:?}");
    }
    // Nothing of the refused writes was stored.
    let listed = c
        .read
        .list_conversations(ListConversationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.conversations.is_empty());

    let status = c
        .write
        .append_messages(append("", vec![]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("external_id"));

    let status = c
        .write
        .append_messages(append("ghost", vec![message(0, "user", "x")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = c.read.get_messages(messages_of("ghost")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = c
        .write
        .delete_conversation(DeleteConversationRequest {
            source_id: "pi".into(),
            external_id: "ghost".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = c
        .write
        .update_conversation(UpdateConversationRequest {
            source_id: "pi".into(),
            external_id: "ghost".into(),
            title: Some("t".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let status = c
        .read
        .get_conversation(GetConversationRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("conversation_id"));

    let status = c
        .search
        .search(SearchRequest {
            query: "x".into(),
            limit: -3,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("limit"));

    drop(c);
    server.stop().await;
}

#[tokio::test]
async fn delete_removes_the_conversation_and_its_search_hits() {
    let dir = tempfile::tempdir().unwrap();
    let (db, socket) = paths(&dir);
    let server = TestServer::start(&db, &socket).await;
    let mut c = clients(&server.addr).await;
    let written = c
        .write
        .write_conversation(WriteConversationRequest {
            conversation: Some(conversation("ses_d")),
            messages: vec![message(0, "user", "ephemeral walrus")],
        })
        .await
        .unwrap()
        .into_inner();
    let deleted = c
        .write
        .delete_conversation(DeleteConversationRequest {
            source_id: "pi".into(),
            external_id: "ses_d".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.conversation_id, written.conversation_id);
    let hits = c
        .search
        .search(SearchRequest {
            query: "walrus".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    assert!(hits.is_empty());
    drop(c);
    server.stop().await;
}

#[tokio::test]
async fn health_reports_serving_for_each_service() {
    let dir = tempfile::tempdir().unwrap();
    let (db, socket) = paths(&dir);
    let server = TestServer::start(&db, &socket).await;
    let c = clients(&server.addr).await;
    let mut health = HealthClient::new(c.channel.clone());
    for service in [
        "",
        "hstry.service.WriteService",
        "hstry.service.ReadService",
        "hstry.service.SearchService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "service {service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "hstry.service.Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    drop((health, c));
    server.stop().await;
}

#[tokio::test]
async fn serves_on_loopback_tcp_too() {
    let dir = tempfile::tempdir().unwrap();
    let listener = oqto_hstry::server::Listener::bind(&"tcp:127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let store = oqto_hstry::store::Store::open(&dir.path().join("hstry.db")).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(oqto_hstry::server::serve(listener, store, async {
        let _ = stopped.await;
    }));
    let mut c = clients(&addr).await;
    let written = c
        .write
        .write_conversation(WriteConversationRequest {
            conversation: Some(conversation("ses_tcp")),
            messages: vec![message(0, "user", "over tcp")],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(written.message_count, 1);
    drop(c);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// The first bytes of every HTTP/2 client connection, followed by an empty SETTINGS frame.
const HTTP2_PREFACE_AND_SETTINGS: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
const HTTP2_FRAME_HEADER_LEN: usize = 9;
const HTTP2_SETTINGS: u8 = 0x4;
const HTTP2_GOAWAY: u8 = 0x7;

fn frame_payload_len(header: &[u8]) -> usize {
    usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2])
}

/// The frame types in a run of raw HTTP/2 frames.
fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= HTTP2_FRAME_HEADER_LEN {
        types.push(bytes[3]);
        let frame_len = HTTP2_FRAME_HEADER_LEN + frame_payload_len(bytes);
        bytes = &bytes[frame_len.min(bytes.len())..];
    }
    types
}

#[tokio::test]
async fn a_client_that_stops_responding_cannot_hold_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let (db, socket) = paths(&dir);
    // Any grace will do: the peer below never answers, however long it is given.
    let grace = std::time::Duration::from_millis(100);
    let server = TestServer::start_with_grace(&db, &socket, grace).await;
    // A peer that opens an HTTP/2 connection and then never reads again, so it never answers
    // the PING that completes the server's GOAWAY.
    let mut peer = tokio::net::UnixStream::connect(&socket).await.unwrap();
    peer.write_all(HTTP2_PREFACE_AND_SETTINGS).await.unwrap();
    let mut header = [0; HTTP2_FRAME_HEADER_LEN];
    peer.read_exact(&mut header).await.unwrap();
    assert_eq!(
        header[3], HTTP2_SETTINGS,
        "the server serves the connection"
    );
    let mut settings = vec![0; frame_payload_len(&header)];
    peer.read_exact(&mut settings).await.unwrap();

    server.stop().await;
    assert!(!socket.exists(), "the socket file is removed on shutdown");
    // `stop` returned only after the server closed the connection: what the peer can still
    // read ends. The guard turns a regression (a connection left open) into a failure, not a hang.
    let mut rest = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        peer.read_to_end(&mut rest),
    )
    .await
    .expect("the server left the connection open after shutdown")
    .unwrap();
    assert!(
        frame_types(&rest).contains(&HTTP2_GOAWAY),
        "the server said goodbye before cutting the connection: {rest:?}"
    );
}
