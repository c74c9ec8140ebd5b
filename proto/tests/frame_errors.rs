//! `ClientFrame::parse` refuses each kind of bad frame with a message naming what is wrong, and
//! keeps the frame's `id` and channel so the answer can be correlated.
#![allow(clippy::unwrap_used)]

use oqto_proto::mux::{Channel, ClientFrame, FrameError};

fn refused(text: &str) -> FrameError {
    ClientFrame::parse(text).unwrap_err()
}

#[test]
fn text_that_is_not_json() {
    let error = refused(r#"{"channel":"agent","#);
    assert!(matches!(error, FrameError::NotJson { .. }), "{error:?}");
    assert!(error.to_string().contains("not JSON"), "{error}");
    assert_eq!((error.id(), error.channel()), (None, None));
}

#[test]
fn json_that_is_not_an_object() {
    for text in ["[1]", "\"agent\"", "null", "3"] {
        let error = refused(text);
        assert_eq!(error, FrameError::NotObject, "{text}");
        assert!(error.to_string().contains("JSON object"), "{error}");
    }
}

#[test]
fn a_missing_channel() {
    let error = refused(r#"{"id":"a","type":"read","path":"x"}"#);
    assert!(
        matches!(error, FrameError::MissingChannel { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("`channel`"), "{error}");
    assert_eq!((error.id(), error.channel()), (Some("a"), None));
}

#[test]
fn a_channel_that_is_not_a_string() {
    let error = refused(r#"{"channel":7,"id":"a2"}"#);
    assert!(
        matches!(error, FrameError::MissingChannel { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("`channel` (a string)"),
        "{error}"
    );
    assert_eq!(error.id(), Some("a2"));
}

#[test]
fn an_unknown_channel() {
    let error = refused(r#"{"channel":"radio","id":"b"}"#);
    assert!(
        matches!(error, FrameError::UnknownChannel { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("unknown channel \"radio\""),
        "{error}"
    );
    assert_eq!((error.id(), error.channel()), (Some("b"), None));
}

#[test]
fn a_known_channel_this_endpoint_does_not_serve() {
    for name in ["trx", "session", "system", "bus"] {
        let error = refused(&format!(r#"{{"channel":"{name}","type":"list","id":"c"}}"#));
        assert!(
            matches!(error, FrameError::UnsupportedChannel { .. }),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains(&format!("`{name}` is not served")),
            "{error}"
        );
        assert_eq!(error.id(), Some("c"));
        assert_eq!(error.channel().map(Channel::as_str), Some(name));
    }
}

#[test]
fn an_agent_frame_without_cmd() {
    let error = refused(r#"{"channel":"agent","session_id":"s","id":"d"}"#);
    assert!(
        matches!(error, FrameError::MissingTag { tag: "cmd", .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("agent frame: missing `cmd`"),
        "{error}"
    );
    assert_eq!(
        (error.id(), error.channel()),
        (Some("d"), Some(Channel::Agent))
    );
}

#[test]
fn an_agent_frame_with_an_unknown_cmd() {
    let error = refused(r#"{"channel":"agent","cmd":"dance","session_id":"s","id":"e"}"#);
    assert!(
        matches!(error, FrameError::UnknownOperation { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("unknown cmd \"dance\""),
        "{error}"
    );
    assert_eq!(
        (error.id(), error.channel()),
        (Some("e"), Some(Channel::Agent))
    );
}

#[test]
fn a_files_frame_without_type() {
    let error = refused(r#"{"channel":"files","path":"a","id":"f"}"#);
    assert!(
        matches!(error, FrameError::MissingTag { tag: "type", .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("files frame: missing `type`"),
        "{error}"
    );
    assert_eq!(
        (error.id(), error.channel()),
        (Some("f"), Some(Channel::Files))
    );
}

#[test]
fn a_terminal_or_hstry_frame_with_an_unknown_type() {
    let error = refused(r#"{"channel":"terminal","type":"teleport","id":"g"}"#);
    assert!(
        error
            .to_string()
            .contains("terminal frame: unknown type \"teleport\""),
        "{error}"
    );
    assert_eq!(
        (error.id(), error.channel()),
        (Some("g"), Some(Channel::Terminal))
    );
    let error = refused(r#"{"channel":"hstry","type":"delete_everything"}"#);
    assert!(
        error
            .to_string()
            .contains("hstry frame: unknown type \"delete_everything\""),
        "{error}"
    );
    assert_eq!((error.id(), error.channel()), (None, Some(Channel::Hstry)));
}

#[test]
fn a_missing_field_is_named_with_its_frame() {
    let error = refused(r#"{"channel":"files","session_id":"s","type":"read","id":"h"}"#);
    assert!(
        matches!(error, FrameError::InvalidField { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("files frame `read`: missing field `path`"),
        "{error}"
    );
    assert_eq!(
        (error.id(), error.channel()),
        (Some("h"), Some(Channel::Files))
    );
}

#[test]
fn a_missing_envelope_field_of_an_agent_frame_is_named() {
    let error = refused(r#"{"channel":"agent","cmd":"prompt","message":"m","id":"i"}"#);
    assert!(
        error
            .to_string()
            .contains("agent frame `prompt`: missing field `session_id`"),
        "{error}"
    );
    assert_eq!(error.id(), Some("i"));
}

#[test]
fn a_wrong_type_names_the_field() {
    let error = refused(
        r#"{"channel":"terminal","session_id":"s","type":"open","cols":"wide","rows":2,"id":"j"}"#,
    );
    assert!(
        error
            .to_string()
            .contains("terminal frame `open`: field `cols`: invalid type"),
        "{error}"
    );
    assert_eq!(error.id(), Some("j"));
}

#[test]
fn a_bad_payload_field_after_the_envelope_is_named_not_the_envelope() {
    // `workdir` sorts after `session_id`: the envelope must not be blamed for it.
    let error = refused(r#"{"channel":"agent","cmd":"get_models","session_id":"s","workdir":1}"#);
    assert!(error.to_string().contains("field `workdir`"), "{error}");
    let error =
        refused(r#"{"channel":"agent","cmd":"set_thinking_level","session_id":"s","level":"max"}"#);
    assert!(
        error
            .to_string()
            .contains("field `level`: unknown variant `max`"),
        "{error}"
    );
}

#[test]
fn a_bad_nested_field_gets_its_path() {
    let error = refused(
        r#"{"channel":"agent","cmd":"session.create","session_id":"s","config":{"harness":1},"id":"k"}"#,
    );
    assert!(
        error.to_string().contains("field `config.harness`"),
        "{error}"
    );
    assert_eq!(
        (error.id(), error.channel()),
        (Some("k"), Some(Channel::Agent))
    );
}

#[test]
fn a_non_string_id_is_a_bad_field_and_not_kept() {
    let error = refused(r#"{"channel":"agent","cmd":"abort","session_id":"s","id":7}"#);
    assert!(error.to_string().contains("field `id`"), "{error}");
    assert_eq!(error.id(), None);
}
