//! Checks on every request field before anything touches the database. An error names the
//! field the way the caller wrote it (`messages[2].parts_json`), so a bad writer can be fixed
//! from the error alone.

use std::collections::HashSet;
use std::fmt;

use oqto_proto::hstry::{Conversation, Message, UpdateConversationRequest};
use serde_json::Value;

/// The longest id (source, external, readable, client, message) accepted.
pub const MAX_ID_BYTES: usize = 512;
pub const ROLES: [&str; 4] = ["user", "assistant", "system", "tool"];
pub const FORK_TYPES: [&str; 3] = ["fork", "thread", "resume"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidArgument {
    pub field: String,
    pub reason: String,
}

impl InvalidArgument {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for InvalidArgument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for InvalidArgument {}

type Checked = Result<(), InvalidArgument>;

/// A conversation key part (`source_id`, `external_id`, …): present and of sane length.
pub fn required_id(field: &str, value: &str) -> Checked {
    if value.trim().is_empty() {
        return Err(InvalidArgument::new(field, "must not be empty"));
    }
    optional_id(field, value)
}

fn optional_id(field: &str, value: &str) -> Checked {
    if value.len() > MAX_ID_BYTES {
        return Err(InvalidArgument::new(
            field,
            format!("is {} bytes long; at most {MAX_ID_BYTES}", value.len()),
        ));
    }
    Ok(())
}

/// `""` (none) or any JSON value.
fn json(field: &str, text: &str) -> Checked {
    json_shaped(field, text, "a JSON value", |_| true)
}

fn json_shaped(field: &str, text: &str, shape: &str, fits: impl Fn(&Value) -> bool) -> Checked {
    if text.is_empty() {
        return Ok(());
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|err| InvalidArgument::new(field, format!("is not valid JSON: {err}")))?;
    if !fits(&value) {
        return Err(InvalidArgument::new(field, format!("must be {shape}")));
    }
    Ok(())
}

fn non_negative(field: &str, value: Option<i64>) -> Checked {
    match value {
        Some(v) if v < 0 => Err(InvalidArgument::new(field, "must not be negative")),
        _ => Ok(()),
    }
}

fn amount(field: &str, value: Option<f64>) -> Checked {
    match value {
        Some(v) if !v.is_finite() || v < 0.0 => Err(InvalidArgument::new(
            field,
            "must be a finite, non-negative number",
        )),
        _ => Ok(()),
    }
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> Checked {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(InvalidArgument::new(
        field,
        format!("{value:?} is not one of {}", allowed.join(", ")),
    ))
}

/// The messages of one write: each valid, and no idx twice (which one would win?).
pub fn messages(messages: &[Message]) -> Checked {
    let mut seen = HashSet::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let field = |name: &str| format!("messages[{i}].{name}");
        self::message(message, &field)?;
        if !seen.insert(message.idx) {
            return Err(InvalidArgument::new(
                field("idx"),
                format!("{} appears more than once in this request", message.idx),
            ));
        }
    }
    Ok(())
}

fn message(message: &Message, field: &dyn Fn(&str) -> String) -> Checked {
    if message.idx < 0 {
        return Err(InvalidArgument::new(field("idx"), "must not be negative"));
    }
    one_of(&field("role"), &message.role, &ROLES)?;
    json_shaped(
        &field("parts_json"),
        &message.parts_json,
        "a JSON array of parts",
        Value::is_array,
    )?;
    json(&field("metadata_json"), &message.metadata_json)?;
    json_shaped(
        &field("sender_json"),
        &message.sender_json,
        "a JSON object",
        Value::is_object,
    )?;
    non_negative(&field("created_at_ms"), message.created_at_ms)?;
    non_negative(&field("tokens"), message.tokens)?;
    amount(&field("cost_usd"), message.cost_usd)?;
    if let Some(id) = &message.id {
        optional_id(&field("id"), id)?;
    }
    if let Some(client_id) = &message.client_id {
        optional_id(&field("client_id"), client_id)?;
    }
    Ok(())
}

/// The conversation of a `WriteConversation`.
pub fn conversation(conversation: &Conversation) -> Checked {
    required_id("conversation.source_id", &conversation.source_id)?;
    required_id("conversation.external_id", &conversation.external_id)?;
    non_negative(
        "conversation.created_at_ms",
        Some(conversation.created_at_ms),
    )?;
    non_negative("conversation.updated_at_ms", conversation.updated_at_ms)?;
    non_negative("conversation.tokens_in", conversation.tokens_in)?;
    non_negative("conversation.tokens_out", conversation.tokens_out)?;
    amount("conversation.cost_usd", conversation.cost_usd)?;
    json("conversation.metadata_json", &conversation.metadata_json)?;
    if let Some(readable_id) = &conversation.readable_id {
        optional_id("conversation.readable_id", readable_id)?;
    }
    parent(
        "conversation.",
        conversation.parent_message_idx,
        conversation.fork_type.as_deref(),
    )
}

fn parent(prefix: &str, parent_message_idx: Option<i32>, fork_type: Option<&str>) -> Checked {
    non_negative(
        &format!("{prefix}parent_message_idx"),
        parent_message_idx.map(i64::from),
    )?;
    if let Some(fork_type) = fork_type {
        one_of(&format!("{prefix}fork_type"), fork_type, &FORK_TYPES)?;
    }
    Ok(())
}

pub fn update(request: &UpdateConversationRequest) -> Checked {
    required_id("source_id", &request.source_id)?;
    required_id("external_id", &request.external_id)?;
    if let Some(metadata_json) = &request.metadata_json {
        json("metadata_json", metadata_json)?;
    }
    if let Some(readable_id) = &request.readable_id {
        optional_id("readable_id", readable_id)?;
    }
    parent("", request.parent_message_idx, request.fork_type.as_deref())
}

/// A page size: `0` means `default`, more than `max` is clamped, negative is refused.
pub fn page_limit(
    field: &str,
    requested: i64,
    default: i64,
    max: i64,
) -> Result<i64, InvalidArgument> {
    match requested {
        0 => Ok(default),
        n if n < 0 => Err(InvalidArgument::new(field, "must not be negative")),
        n => Ok(n.min(max)),
    }
}

/// An offset: negative is refused, more than `max` too (deep paging is a scan, not a page).
pub fn page_offset(field: &str, requested: i64, max: i64) -> Result<i64, InvalidArgument> {
    if requested < 0 {
        return Err(InvalidArgument::new(field, "must not be negative"));
    }
    if requested > max {
        return Err(InvalidArgument::new(
            field,
            format!("must be at most {max}"),
        ));
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good_message(idx: i32) -> Message {
        Message {
            idx,
            role: "user".into(),
            content: "hi".into(),
            parts_json: r#"[{"type":"text","id":"p1","text":"hi"}]"#.into(),
            metadata_json: r#"{"pi":{"x":1}}"#.into(),
            sender_json: r#"{"type":"user","id":"u1","name":"Ann"}"#.into(),
            ..Default::default()
        }
    }

    fn field_of(result: Checked) -> String {
        result.unwrap_err().field
    }

    /// A way to spoil a valid input, and the field the error must name.
    type Spoil<T> = (fn(&mut T), &'static str);

    #[test]
    fn a_well_formed_message_and_empty_json_fields_pass() {
        messages(&[good_message(0), good_message(1)]).unwrap();
        let bare = Message {
            idx: 0,
            role: "tool".into(),
            ..Default::default()
        };
        messages(&[bare]).unwrap();
    }

    #[test]
    fn each_bad_message_field_is_named_with_its_position() {
        let cases: [Spoil<Message>; 9] = [
            (|m| m.idx = -1, "messages[1].idx"),
            (|m| m.role = "robot".into(), "messages[1].role"),
            (|m| m.parts_json = "[{".into(), "messages[1].parts_json"),
            (
                |m| m.parts_json = r#"{"type":"text"}"#.into(),
                "messages[1].parts_json",
            ),
            (
                |m| m.metadata_json = "nope".into(),
                "messages[1].metadata_json",
            ),
            (|m| m.sender_json = "[]".into(), "messages[1].sender_json"),
            (|m| m.tokens = Some(-5), "messages[1].tokens"),
            (|m| m.cost_usd = Some(f64::NAN), "messages[1].cost_usd"),
            (
                |m| m.id = Some("x".repeat(MAX_ID_BYTES + 1)),
                "messages[1].id",
            ),
        ];
        for (spoil, expected) in cases {
            let mut bad = good_message(1);
            spoil(&mut bad);
            assert_eq!(field_of(messages(&[good_message(0), bad])), expected);
        }
    }

    #[test]
    fn a_repeated_idx_is_refused() {
        let err = messages(&[good_message(4), good_message(4)]).unwrap_err();
        assert_eq!(err.field, "messages[1].idx");
        assert!(err.reason.contains("more than once"));
    }

    #[test]
    fn conversation_keys_and_fields_are_checked() {
        let good = Conversation {
            source_id: "pi".into(),
            external_id: "ses_1".into(),
            ..Default::default()
        };
        conversation(&good).unwrap();
        let cases: [Spoil<Conversation>; 5] = [
            (|c| c.source_id = " ".into(), "conversation.source_id"),
            (|c| c.external_id.clear(), "conversation.external_id"),
            (
                |c| c.metadata_json = "{".into(),
                "conversation.metadata_json",
            ),
            (
                |c| c.fork_type = Some("spoon".into()),
                "conversation.fork_type",
            ),
            (
                |c| c.parent_message_idx = Some(-1),
                "conversation.parent_message_idx",
            ),
        ];
        for (spoil, expected) in cases {
            let mut bad = good.clone();
            spoil(&mut bad);
            assert_eq!(field_of(conversation(&bad)), expected);
        }
    }

    #[test]
    fn update_names_its_top_level_fields() {
        let mut request = UpdateConversationRequest {
            source_id: "pi".into(),
            external_id: "ses_1".into(),
            metadata_json: Some("{oops".into()),
            ..Default::default()
        };
        assert_eq!(field_of(update(&request)), "metadata_json");
        request.metadata_json = None;
        request.external_id.clear();
        assert_eq!(field_of(update(&request)), "external_id");
    }

    #[test]
    fn paging_defaults_clamps_and_refuses() {
        assert_eq!(page_limit("limit", 0, 20, 200), Ok(20));
        assert_eq!(page_limit("limit", 5000, 20, 200), Ok(200));
        assert_eq!(page_limit("limit", -1, 20, 200).unwrap_err().field, "limit");
        assert_eq!(page_offset("offset", 10, 100), Ok(10));
        assert!(page_offset("offset", 101, 100).is_err());
        assert!(page_offset("offset", -1, 100).is_err());
    }
}
