//! The hstry gRPC API (package `hstry.service`, `proto/hstry.proto`): messages, clients and
//! server traits generated at build time without a system `protoc`.

//!
//! Also where hstry listens ([`listen`]) and how to dial it ([`client`]): the bridge, the tests
//! and the benchmarks use these without linking the service itself.

pub mod client;
pub mod listen;

tonic::include_proto!("hstry.service");

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn services_live_in_the_hstry_service_package() {
        // Clients of the public hstry service dial these exact names.
        assert_eq!(
            write_service_server::SERVICE_NAME,
            "hstry.service.WriteService"
        );
        assert_eq!(
            read_service_server::SERVICE_NAME,
            "hstry.service.ReadService"
        );
        assert_eq!(
            search_service_server::SERVICE_NAME,
            "hstry.service.SearchService"
        );
    }

    #[test]
    fn message_round_trips_with_unset_optionals_staying_unset() {
        let message = Message {
            idx: 3,
            role: "assistant".into(),
            content: "hello".into(),
            parts_json: r#"[{"type":"text","id":"part_1","text":"hello"}]"#.into(),
            tokens: Some(12),
            sender_json: String::new(),
            ..Default::default()
        };
        let decoded = Message::decode(message.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, message);
        assert_eq!(decoded.created_at_ms, None);
        assert_eq!(decoded.cost_usd, None);
    }

    #[test]
    fn field_tags_match_the_public_hstry_service() {
        // Tag 1 (idx) = varint 3, tag 3 (content) = "hi": the bytes a public-hstry client sends.
        let message = Message {
            idx: 3,
            content: "hi".into(),
            ..Default::default()
        };
        assert_eq!(message.encode_to_vec(), [0x08, 3, 0x1a, 2, b'h', b'i']);
        let hit = SearchHit {
            score: 1.0,
            ..Default::default()
        };
        // Tag 10, wire type 5 (32-bit float).
        assert_eq!(hit.encode_to_vec()[0], (10 << 3) | 5);
    }
}
