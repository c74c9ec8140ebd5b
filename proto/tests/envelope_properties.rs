//! Property tests of the mux envelope (`Envelope::peek`, what the gateway routes by) and the full
//! client-frame parser (`ClientFrame::parse`, what pi-bridge acts on): whatever a client sends,
//! both answer without panicking, they agree on where a frame goes, and a refusal keeps the
//! frame's correlation id and names what is wrong.
#![allow(clippy::unwrap_used)] // Tests: a failed step is a failed test.

use oqto_proto::canonical::{Command, CommandKind};
use oqto_proto::mux::{
    Addressed, BrowserKeyEvent, BrowserMouseButton, BrowserMouseEvent, BrowserRequest, Channel,
    ClientFrame, Envelope, FilesOp, FilesRequest, FrameError, HstryRequest, SessionName,
    TerminalRequest,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Enough cases to reach every branch of the parsers, few enough to keep a debug run short.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

/// A session name (a lowercase DNS-1123 subdomain).
fn session_name() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9.-]{0,30}[a-z0-9])?"
}

/// Any JSON value, nested at most four levels (serde_json refuses 128; deep nesting is not what
/// these properties are about).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for a key of a frame: mostly plausible ones (so that frames get past the first
/// checks), sometimes anything.
fn field_value(key: &'static str) -> BoxedStrategy<Value> {
    let plausible: BoxedStrategy<Value> = match key {
        "channel" => prop_oneof![
            4 => prop::sample::select(oqto_proto::mux::SERVED.to_vec()),
            1 => prop::sample::select(Channel::ALL.to_vec()),
        ]
        .prop_map(|c| Value::String(c.as_str().to_owned()))
        .boxed(),
        "session_id" => prop_oneof![
            3 => session_name().prop_map(Value::String),
            1 => ".{0,12}".prop_map(Value::String),
        ]
        .boxed(),
        "cmd" => prop::sample::select(CommandKind::NAMES.to_vec())
            .prop_map(|s| Value::String(s.to_owned()))
            .boxed(),
        "type" => prop::sample::select(
            FilesOp::TYPES
                .iter()
                .chain(TerminalRequest::TYPES.iter())
                .chain(HstryRequest::TYPES.iter())
                .chain(BrowserRequest::TYPES.iter())
                .copied()
                .collect::<Vec<_>>(),
        )
        .prop_map(|s| Value::String(s.to_owned()))
        .boxed(),
        "cols" | "rows" | "limit" | "depth" => (0u32..70_000).prop_map(Value::from).boxed(),
        _ => ".{0,12}".prop_map(Value::String).boxed(),
    };
    prop_oneof![9 => plausible, 1 => any_json()].boxed()
}

const FRAME_KEYS: [&str; 14] = [
    "channel",
    "session_id",
    "id",
    "cmd",
    "type",
    "path",
    "from",
    "to",
    "message",
    "terminal_id",
    "data",
    "cols",
    "rows",
    "limit",
];

/// A JSON object shaped like a frame: a random subset of the frame keys, plus stray keys.
fn frame_shaped_object() -> impl Strategy<Value = Map<String, Value>> {
    let known = FRAME_KEYS
        .iter()
        .map(|key| {
            // The envelope keys are usually there, so that many frames get to their payload.
            let present = if ["channel", "session_id", "cmd", "type"].contains(key) {
                0.9
            } else {
                0.5
            };
            prop::option::weighted(present, field_value(key)).prop_map(move |v| (*key, v))
        })
        .collect::<Vec<_>>();
    (
        known,
        prop::collection::btree_map("[a-z_]{1,6}", any_json(), 0..3),
    )
        .prop_map(|(known, stray)| {
            let mut object: Map<String, Value> = stray.into_iter().collect();
            for (key, value) in known {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
            object
        })
}

/// The operation name a parsed frame carries (`cmd` or `type`).
fn op_of(frame: &ClientFrame) -> String {
    let value = serde_json::to_value(frame).unwrap();
    let tag = match frame {
        ClientFrame::Agent(_) => "cmd",
        _ => "type",
    };
    value[tag].as_str().unwrap().to_owned()
}

fn channel_of(frame: &ClientFrame) -> Channel {
    match frame {
        ClientFrame::Agent(_) => Channel::Agent,
        ClientFrame::Files(_) => Channel::Files,
        ClientFrame::Terminal(_) => Channel::Terminal,
        ClientFrame::Hstry(_) => Channel::Hstry,
        ClientFrame::Browser(_) => Channel::Browser,
    }
}

/// What must hold for any text: no panic, and the two parsers agree on where a frame goes.
fn check_text(text: &str) -> Result<(), TestCaseError> {
    let peeked = Envelope::peek(text);
    let parsed = ClientFrame::parse(text);
    let _ = oqto_proto::mux::ServerHead::peek(text);
    if let Ok(frame) = &parsed {
        // A frame pi-bridge would act on is routed by the gateway to the same session.
        let envelope = peeked
            .as_ref()
            .map_err(|r| TestCaseError::fail(format!("parsed but not peeked: {r:?}")))?;
        prop_assert_eq!(envelope.channel, channel_of(frame));
        prop_assert_eq!(envelope.session_id.as_str(), frame.session());
        prop_assert_eq!(&envelope.op, &op_of(frame));
    }
    if let Err(refusal) = &peeked {
        prop_assert!(refusal.error.starts_with("Invalid"), "{refusal:?}");
        prop_assert!(parsed.is_err(), "peek refused, parse accepted: {refusal:?}");
    }
    if let Err(error) = &parsed {
        prop_assert!(error.to_string().starts_with("Invalid"), "{error}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_read_or_refused(text in ".{0,200}") {
        check_text(&text)?;
    }

    #[test]
    fn any_bytes_read_as_text_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_text(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn any_json_value_is_read_or_refused(value in any_json()) {
        let refused = Envelope::peek(&value.to_string());
        if !value.is_object() {
            prop_assert!(refused.is_err());
            prop_assert_eq!(ClientFrame::parse(&value.to_string()), Err(FrameError::NotObject));
        }
        check_text(&value.to_string())?;
    }

    /// A frame-shaped object: what the envelope reads is what the frame says, and a refusal
    /// keeps the frame's string `id` and names the field at fault.
    #[test]
    fn frame_shaped_objects_keep_their_envelope_or_say_why(object in frame_shaped_object(), pretty in any::<bool>()) {
        let value = Value::Object(object.clone());
        let text = if pretty { serde_json::to_string_pretty(&value).unwrap() } else { value.to_string() };
        check_text(&text)?;
        let str_field = |key: &str| object.get(key).and_then(Value::as_str);
        let id = str_field("id");
        match Envelope::peek(&text) {
            Ok(envelope) => {
                prop_assert_eq!(Some(envelope.channel.as_str()), str_field("channel"));
                prop_assert_eq!(Some(envelope.session_id.as_str()), str_field("session_id"));
                let tag = if envelope.channel == Channel::Agent { "cmd" } else { "type" };
                prop_assert_eq!(Some(envelope.op.as_str()), str_field(tag));
                prop_assert_eq!(envelope.id.as_deref(), id);
            }
            Err(refusal) => {
                prop_assert_eq!(refusal.id.as_deref(), id, "{:?}", refusal);
                let channel = str_field("channel").and_then(Channel::parse);
                let named = match channel {
                    None => "channel",
                    Some(Channel::Agent) if str_field("cmd").is_none() => "`cmd`",
                    Some(c) if c != Channel::Agent && oqto_proto::mux::SERVED.contains(&c) && str_field("type").is_none() => "`type`",
                    Some(c) if !oqto_proto::mux::SERVED.contains(&c) => "not served",
                    Some(_) => "`session_id`",
                };
                prop_assert!(refusal.error.contains(named), "expected {} in {:?}", named, refusal.error);
            }
        }
        if let Err(error) = ClientFrame::parse(&text) {
            prop_assert_eq!(error.id(), id, "{:?}", error);
            if let FrameError::InvalidField { field: Some(field), .. } = &error {
                // The field blamed exists, and is never the tag the frame was routed by.
                let top = field.split('.').next().unwrap();
                prop_assert!(object.contains_key(top), "{field} not in {object:?}");
                prop_assert!(!["channel", "cmd", "type"].contains(&top), "{error}");
            }
        }
    }
}

/// Valid client frames of every served channel.
fn client_frame() -> impl Strategy<Value = ClientFrame> {
    let text = || ".{0,16}";
    let opt = || prop::option::of(".{0,16}");
    let session = || session_name().prop_map(|s| SessionName::parse(&s).unwrap());
    let files_op = prop_oneof![
        (
            text(),
            prop::option::of(0u32..10),
            any::<bool>(),
            prop::option::of(any::<u64>()),
            prop::option::of(any::<u64>())
        )
            .prop_map(
                |(path, depth, include_hidden, offset, limit)| FilesOp::Tree {
                    path,
                    depth,
                    include_hidden,
                    offset,
                    limit
                }
            ),
        text().prop_map(|path| FilesOp::Read { path }),
        (text(), text(), any::<bool>()).prop_map(|(path, content, create_parents)| {
            FilesOp::Write {
                path,
                content,
                create_parents,
            }
        }),
        (text(), any::<bool>()).prop_map(|(path, recursive)| FilesOp::Delete { path, recursive }),
        (text(), text()).prop_map(|(from, to)| FilesOp::Rename { from, to }),
        (text(), text(), any::<bool>()).prop_map(|(from, to, overwrite)| FilesOp::Copy {
            from,
            to,
            overwrite
        }),
    ];
    let files =
        (session(), opt(), opt(), files_op).prop_map(|(session_id, id, workspace_path, op)| {
            ClientFrame::Files(Addressed {
                session_id,
                body: FilesRequest {
                    id,
                    workspace_path,
                    op,
                },
            })
        });
    let terminal_request = prop_oneof![
        (opt(), opt(), opt(), any::<u16>(), any::<u16>()).prop_map(
            |(id, terminal_id, workspace_path, cols, rows)| {
                TerminalRequest::Open {
                    id,
                    terminal_id,
                    workspace_path,
                    cols,
                    rows,
                }
            }
        ),
        (text(), text())
            .prop_map(|(terminal_id, data)| TerminalRequest::Input { terminal_id, data }),
        (text(), any::<u16>(), any::<u16>()).prop_map(|(terminal_id, cols, rows)| {
            TerminalRequest::Resize {
                terminal_id,
                cols,
                rows,
            }
        }),
        text().prop_map(|terminal_id| TerminalRequest::Close { terminal_id }),
    ];
    let terminal = (session(), terminal_request)
        .prop_map(|(session_id, body)| ClientFrame::Terminal(Addressed { session_id, body }));
    let hstry = (session(), opt(), opt(), prop::option::of(any::<i64>())).prop_map(
        |(session_id, id, query, limit)| {
            ClientFrame::Hstry(Addressed {
                session_id,
                body: HstryRequest::Query { id, query, limit },
            })
        },
    );
    let browser = (session(), browser_request())
        .prop_map(|(session_id, body)| ClientFrame::Browser(Addressed { session_id, body }));
    let kind = prop_oneof![
        (text(), opt()).prop_map(|(message, client_id)| CommandKind::Prompt {
            message,
            images: None,
            client_id
        }),
        (text(), opt()).prop_map(|(message, client_id)| CommandKind::Steer { message, client_id }),
        Just(CommandKind::Abort),
        Just(CommandKind::GetState),
        text().prop_map(|session_path| CommandKind::SessionSwitch { session_path }),
        (text(), text())
            .prop_map(|(provider, model_id)| CommandKind::SetModel { provider, model_id }),
        any::<bool>().prop_map(|enabled| CommandKind::SetAutoRetry { enabled }),
        opt().prop_map(|instructions| CommandKind::Compact { instructions }),
    ];
    let agent =
        (session_name(), opt(), opt(), kind).prop_map(|(session_id, id, runner_id, kind)| {
            ClientFrame::Agent(Command {
                id,
                session_id,
                runner_id,
                kind,
            })
        });
    prop_oneof![files, terminal, hstry, browser, agent]
}

/// Valid browser requests: coordinates, counts and strings within their bounds.
fn browser_request() -> impl Strategy<Value = BrowserRequest> {
    let id = || prop::option::of(".{0,16}");
    // Quarter pixels: serde_json's default float parser does not round-trip every f64 exactly,
    // which is no property of the frames.
    let coordinate = || (0u32..=65536).prop_map(|q| f64::from(q) / 4.0);
    let mouse_event = prop::sample::select(vec![
        BrowserMouseEvent::Down,
        BrowserMouseEvent::Up,
        BrowserMouseEvent::Move,
        BrowserMouseEvent::Wheel,
    ]);
    let button = prop::option::of(prop::sample::select(vec![
        BrowserMouseButton::Left,
        BrowserMouseButton::Middle,
        BrowserMouseButton::Right,
    ]));
    let mouse = (
        id(),
        mouse_event,
        coordinate(),
        coordinate(),
        button,
        prop::option::of(0u8..=3),
        prop::option::of(any::<u8>()),
        prop::option::of((-65536i32..=65536).prop_map(|q| f64::from(q) / 4.0)),
    )
        .prop_map(
            |(id, event, x, y, button, click_count, modifiers, delta_y)| BrowserRequest::Mouse {
                id,
                event,
                x,
                y,
                button,
                click_count,
                modifiers,
                delta_x: None,
                delta_y,
            },
        );
    let key = (
        id(),
        any::<bool>(),
        ".{1,8}",
        prop::option::of(".{0,8}"),
        prop::option::of(".{0,8}"),
    )
        .prop_map(|(id, down, key, code, text)| BrowserRequest::Key {
            id,
            event: if down {
                BrowserKeyEvent::Down
            } else {
                BrowserKeyEvent::Up
            },
            key,
            code,
            text,
            modifiers: None,
        });
    prop_oneof![
        id().prop_map(|id| BrowserRequest::Watch { id }),
        id().prop_map(|id| BrowserRequest::Unwatch { id }),
        id().prop_map(|id| BrowserRequest::TakeControl { id }),
        id().prop_map(|id| BrowserRequest::ReleaseControl { id }),
        mouse,
        key,
        (id(), ".{0,64}").prop_map(|(id, text)| BrowserRequest::Text { id, text }),
        (id(), "https?://[a-z0-9.]{1,20}(/[a-z0-9]{0,10})?")
            .prop_map(|(id, url)| BrowserRequest::Navigate { id, url }),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// What a client library serialises, the bridge reads back unchanged, and the gateway
    /// routes by the same channel, session, id and operation.
    #[test]
    fn serialised_frames_parse_back_unchanged(frame in client_frame()) {
        let text = serde_json::to_string(&frame).unwrap();
        prop_assert_eq!(ClientFrame::parse(&text), Ok(frame.clone()));
        let envelope = Envelope::peek(&text).unwrap();
        prop_assert_eq!(envelope.channel, channel_of(&frame));
        prop_assert_eq!(envelope.session_id.as_str(), frame.session());
        prop_assert_eq!(envelope.op, op_of(&frame));
        let id = serde_json::from_str::<Value>(&text).unwrap()["id"].as_str().map(str::to_owned);
        prop_assert_eq!(envelope.id, id);
    }

    /// A valid frame whose `session_id` is made bad is refused by both parsers naming that field.
    #[test]
    fn a_bad_session_id_is_refused_naming_it(
        frame in client_frame(),
        bad in prop_oneof![
            ".{0,40}".prop_filter("not a session name", |s| SessionName::parse(s).is_err()).prop_map(Value::String),
            any_json().prop_filter("not a string", |v| !v.is_string()),
        ],
    ) {
        let mut value = serde_json::to_value(&frame).unwrap();
        value["session_id"] = bad;
        let text = value.to_string();
        let refusal = Envelope::peek(&text).unwrap_err();
        prop_assert!(refusal.error.contains("field `session_id`"), "{:?}", refusal);
        prop_assert_eq!(refusal.channel, Some(channel_of(&frame)));
        match ClientFrame::parse(&text).unwrap_err() {
            FrameError::InvalidField { field, channel, .. } => {
                prop_assert_eq!(field.as_deref(), Some("session_id"));
                prop_assert_eq!(channel, channel_of(&frame));
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }

    /// A payload field of the wrong type is named (the envelope is still read: the gateway
    /// routes the frame, the bridge answers with the field).
    #[test]
    fn a_payload_field_of_the_wrong_type_is_named(
        frame in client_frame(),
        bad in prop_oneof![any::<i64>().prop_map(Value::from), Just(json!([1])), Just(json!({"a": 1}))],
    ) {
        let mut value = serde_json::to_value(&frame).unwrap();
        let object = value.as_object_mut().unwrap();
        // A required string field of the payload, if the frame has one.
        let Some(key) = ["path", "from", "message", "terminal_id", "session_path", "model_id"]
            .into_iter()
            .find(|k| object.get(*k).is_some_and(Value::is_string))
        else {
            return Ok(());
        };
        object.insert(key.to_owned(), bad);
        let text = value.to_string();
        prop_assert!(Envelope::peek(&text).is_ok());
        match ClientFrame::parse(&text).unwrap_err() {
            FrameError::InvalidField { field, .. } => prop_assert_eq!(field.as_deref(), Some(key)),
            other => prop_assert!(false, "{other:?}"),
        }
    }
}
