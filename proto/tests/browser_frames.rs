//! The `browser` channel: every request parses and writes back unchanged, every bound is
//! enforced by the parser (the runner maps these straight to DevTools calls), and refusals name
//! the bad field and answer on the browser channel.
#![allow(clippy::unwrap_used)]

mod common;

use common::round_trip;
use oqto_proto::mux::{
    Addressed, BrowserMouseEvent, BrowserRequest, Channel, ClientFrame, Envelope, FrameError,
    SERVED, ServerFrame,
};
use serde_json::{Value, json};

fn parses_back_unchanged(frame: Value) -> ClientFrame {
    let parsed = ClientFrame::parse(&frame.to_string()).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), frame);
    parsed
}

/// The parser's refusal of `frame`, which must be an invalid field of a browser frame.
fn bad_field(frame: Value) -> (Option<String>, String) {
    match ClientFrame::parse(&frame.to_string()).unwrap_err() {
        error @ FrameError::InvalidField { .. } => {
            assert_eq!(error.channel(), Some(Channel::Browser));
            let FrameError::InvalidField { field, .. } = &error else {
                unreachable!()
            };
            (field.clone(), error.to_string())
        }
        other => panic!("{frame}: expected an invalid field, got {other:?}"),
    }
}

#[test]
fn the_browser_channel_is_served_and_named_browser() {
    assert_eq!(Channel::parse("browser"), Some(Channel::Browser));
    assert_eq!(Channel::Browser.as_str(), "browser");
    assert!(SERVED.contains(&Channel::Browser));
    let envelope =
        Envelope::peek(r#"{"channel":"browser","session_id":"s","type":"watch","id":"w"}"#)
            .unwrap();
    assert_eq!(
        (
            envelope.channel,
            envelope.op.as_str(),
            envelope.id.as_deref()
        ),
        (Channel::Browser, "watch", Some("w"))
    );
}

#[test]
fn every_browser_request_round_trips() {
    for frame in [
        json!({"channel":"browser","session_id":"s","type":"watch","id":"w"}),
        json!({"channel":"browser","session_id":"s","type":"watch"}),
        json!({"channel":"browser","session_id":"s","type":"unwatch"}),
        json!({"channel":"browser","session_id":"s","type":"take_control","id":"t"}),
        json!({"channel":"browser","session_id":"s","type":"release_control"}),
        json!({"channel":"browser","session_id":"s","type":"mouse","event":"down","x":10.5,"y":20.0,"button":"left","click_count":1,"modifiers":8}),
        json!({"channel":"browser","session_id":"s","type":"mouse","event":"move","x":0.0,"y":16384.0}),
        json!({"channel":"browser","session_id":"s","type":"mouse","event":"wheel","x":1.0,"y":2.0,"delta_x":0.0,"delta_y":-120.0}),
        json!({"channel":"browser","session_id":"s","type":"mouse","event":"up","x":1.0,"y":2.0,"button":"right"}),
        json!({"channel":"browser","session_id":"s","type":"key","event":"down","key":"Enter","code":"Enter","text":"\r","modifiers":0}),
        json!({"channel":"browser","session_id":"s","type":"key","event":"up","key":"a"}),
        json!({"channel":"browser","session_id":"s","type":"text","text":"hello wörld"}),
        json!({"channel":"browser","session_id":"s","type":"navigate","id":"n","url":"https://example.com/a?b=c"}),
        json!({"channel":"browser","session_id":"s","type":"navigate","url":"HTTP://localhost:8080"}),
    ] {
        let ClientFrame::Browser(_) = parses_back_unchanged(frame) else {
            panic!("a browser frame")
        };
    }
    let ClientFrame::Browser(Addressed {
        body: BrowserRequest::Mouse { event, x, y, .. },
        ..
    }) = ClientFrame::parse(
        r#"{"channel":"browser","session_id":"s","type":"mouse","event":"down","x":3,"y":4}"#,
    )
    .unwrap()
    else {
        panic!("mouse")
    };
    assert_eq!((event, x, y), (BrowserMouseEvent::Down, 3.0, 4.0));
}

#[test]
fn every_browser_reply_round_trips() {
    for frame in [
        json!({"channel":"browser","session_id":"s","type":"state","url":"about:blank","title":"","controller":"agent","you_control":false}),
        json!({"channel":"browser","session_id":"s","type":"state","url":"https://a.example/","title":"A","controller":"user","you_control":true}),
        json!({"channel":"browser","session_id":"s","type":"frame","seq":7,"mime":"image/jpeg","data_base64":"/9j/","width":1280,"height":800}),
        json!({"channel":"browser","session_id":"s","type":"error","id":"m","error":"take control first"}),
        json!({"channel":"browser","type":"error","error":"this runner has no browser"}),
    ] {
        let parsed: ServerFrame = round_trip(frame);
        assert_eq!(parsed.channel(), Channel::Browser);
    }
}

#[test]
fn only_http_and_https_urls_are_opened_and_the_error_names_url() {
    for url in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,<h1>x</h1>",
        "chrome://settings",
        "about:blank",
        "ftp://example.com",
        "http://",
        "https:///path",
        "example.com",
        "",
    ] {
        let frame =
            json!({"channel":"browser","session_id":"s","type":"navigate","id":"n","url":url});
        let (field, error) = bad_field(frame);
        assert_eq!(field.as_deref(), Some("url"), "{url}: {error}");
        assert!(error.contains("field `url`"), "{url}: {error}");
    }
    let long = format!("https://example.com/{}", "a".repeat(9000));
    let (field, _) =
        bad_field(json!({"channel":"browser","session_id":"s","type":"navigate","url":long}));
    assert_eq!(field.as_deref(), Some("url"));
}

#[test]
fn text_key_and_code_are_bounded() {
    let ok = "é".repeat(4096);
    parses_back_unchanged(json!({"channel":"browser","session_id":"s","type":"text","text":ok}));
    let long = "é".repeat(4097);
    let (field, error) =
        bad_field(json!({"channel":"browser","session_id":"s","type":"text","text":long}));
    assert_eq!(field.as_deref(), Some("text"));
    assert!(error.contains("longer than 4096 characters"), "{error}");
    let (field, _) = bad_field(
        json!({"channel":"browser","session_id":"s","type":"key","event":"down","key":"k".repeat(65)}),
    );
    assert_eq!(field.as_deref(), Some("key"));
    let (field, _) = bad_field(
        json!({"channel":"browser","session_id":"s","type":"key","event":"down","key":"a","code":"c".repeat(65)}),
    );
    assert_eq!(field.as_deref(), Some("code"));
    let (field, _) = bad_field(
        json!({"channel":"browser","session_id":"s","type":"key","event":"down","key":"a","text":"t".repeat(4097)}),
    );
    assert_eq!(field.as_deref(), Some("text"));
}

#[test]
fn mouse_coordinates_and_click_counts_are_bounded() {
    let mouse = |extra: Value| {
        let mut frame = json!({"channel":"browser","session_id":"s","type":"mouse","event":"down","x":1.0,"y":1.0});
        for (key, value) in extra.as_object().unwrap() {
            frame[key] = value.clone();
        }
        frame
    };
    for (extra, culprit) in [
        (json!({"x": -1.0}), "x"),
        (json!({"y": 16384.5}), "y"),
        (json!({"x": 1e300}), "x"),
        (json!({"x": "1"}), "x"),
        (json!({"click_count": 4}), "click_count"),
        (json!({"click_count": 300}), "click_count"),
        (json!({"delta_y": 1e9}), "delta_y"),
        (json!({"button": "back"}), "button"),
        (json!({"event": "drag"}), "event"),
        (json!({"modifiers": 256}), "modifiers"),
    ] {
        let (field, error) = bad_field(mouse(extra.clone()));
        assert_eq!(field.as_deref(), Some(culprit), "{extra}: {error}");
    }
    parses_back_unchanged(mouse(json!({"click_count": 3, "delta_x": -16384.0})));
    // `null` is absent, as the TypeScript types (`?: T | null`) allow.
    let nulls = mouse(json!({"click_count": null, "delta_x": null, "button": null}));
    let ClientFrame::Browser(Addressed {
        body:
            BrowserRequest::Mouse {
                click_count,
                delta_x,
                button,
                ..
            },
        ..
    }) = ClientFrame::parse(&nulls.to_string()).unwrap()
    else {
        panic!("mouse")
    };
    assert_eq!((click_count, delta_x, button), (None, None, None));
}

#[test]
fn an_unknown_browser_type_is_refused_on_the_browser_channel() {
    let error = ClientFrame::parse(
        r#"{"channel":"browser","session_id":"s","id":"u","type":"evaluate","expression":"1"}"#,
    )
    .unwrap_err();
    assert!(
        matches!(error, FrameError::UnknownOperation { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("browser frame: unknown type \"evaluate\""),
        "{error}"
    );
    assert_eq!(
        (error.id(), error.channel()),
        (Some("u"), Some(Channel::Browser))
    );
    // The refusal goes back as a browser error with the id.
    let envelope =
        Envelope::peek(r#"{"channel":"browser","session_id":"s","id":"u","type":"evaluate"}"#)
            .unwrap();
    let answer: Value =
        serde_json::from_str(&envelope.refuse(error.to_string()).to_frame("r").to_json()).unwrap();
    assert_eq!(answer["channel"], "browser");
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["id"], "u");
    assert_eq!(answer["session_id"], "s");
}

#[test]
fn a_browser_frame_without_a_session_is_refused() {
    let error = ClientFrame::parse(r#"{"channel":"browser","type":"watch"}"#)
        .unwrap_err()
        .to_string();
    assert!(error.contains("session_id"), "{error}");
}
