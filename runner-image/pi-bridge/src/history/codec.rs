//! Canonical message ↔ hstry row. The row keeps what hstry indexes (role, flattened text,
//! parts as JSON); the other canonical fields ride in `metadata_json` so nothing is lost.

use oqto_proto::canonical::{Message, Part};
use oqto_proto::hstry::Message as Row;
use serde_json::{Map, Value};

use crate::agent::convert::flattened_text;

/// Fields that have a column of their own (or are the parts) and are not repeated in metadata.
const OWN_COLUMNS: [&str; 7] = [
    "id",
    "idx",
    "role",
    "parts",
    "created_at",
    "model",
    "provider",
];

pub fn message_to_row(message: &Message) -> Row {
    let mut extra = match serde_json::to_value(message) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for key in OWN_COLUMNS {
        extra.remove(key);
    }
    let role = serde_json::to_value(message.role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "system".into());
    Row {
        idx: i32::try_from(message.idx).unwrap_or(i32::MAX),
        role,
        content: flattened_text(message),
        parts_json: serde_json::to_string(&message.parts).unwrap_or_else(|_| "[]".into()),
        created_at_ms: Some(message.created_at),
        model: message.model.clone(),
        tokens: message
            .usage
            .as_ref()
            .map(|u| (u.input_tokens + u.output_tokens) as i64),
        cost_usd: message.usage.as_ref().and_then(|u| u.cost_usd),
        metadata_json: Value::Object(extra).to_string(),
        sender_json: String::new(),
        provider: message.provider.clone(),
        harness: Some("pi".into()),
        client_id: message.client_id.clone(),
        id: Some(message.id.clone()),
    }
}

pub fn message_from_row(row: &Row) -> Result<Message, String> {
    let mut object = match serde_json::from_str::<Value>(&row.metadata_json) {
        Ok(Value::Object(map)) => map,
        Ok(_) | Err(_) if row.metadata_json.is_empty() => Map::new(),
        Ok(_) => return Err("metadata_json is not an object".into()),
        Err(e) => return Err(format!("metadata_json: {e}")),
    };
    let parts: Vec<Part> = if row.parts_json.is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(&row.parts_json).map_err(|e| format!("parts_json: {e}"))?
    };
    object.insert("id".into(), Value::from(row.id.clone().unwrap_or_default()));
    object.insert("idx".into(), Value::from(row.idx.max(0)));
    object.insert("role".into(), Value::from(row.role.clone()));
    object.insert(
        "parts".into(),
        serde_json::to_value(parts).map_err(|e| e.to_string())?,
    );
    object.insert(
        "created_at".into(),
        Value::from(row.created_at_ms.unwrap_or(0)),
    );
    if let Some(model) = &row.model {
        object.insert("model".into(), Value::from(model.clone()));
    }
    if let Some(provider) = &row.provider {
        object.insert("provider".into(), Value::from(provider.clone()));
    }
    serde_json::from_value(Value::Object(object)).map_err(|e| format!("message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::convert::message_from_pi;
    use serde_json::json;

    #[test]
    fn a_message_survives_the_row_round_trip() {
        let pi = json!({"role":"assistant","provider":"p","model":"m","stopReason":"stop",
            "usage":{"input":3,"output":4,"cost":{"total":0.1}},"timestamp":1_700_000_000_123i64,
            "content":[{"type":"text","text":"hello there"},{"type":"toolCall","id":"c1","name":"ls","arguments":{}}]});
        let mut message = message_from_pi(&pi, 7, 0);
        message.client_id = Some("client-1".into());
        let row = message_to_row(&message);
        assert_eq!(row.idx, 7);
        assert_eq!(row.role, "assistant");
        assert_eq!(row.tokens, Some(7));
        assert!(row.content.contains("hello there"));
        assert_eq!(message_from_row(&row).unwrap(), message);
    }

    #[test]
    fn unreadable_rows_are_reported_not_panicked() {
        let row = Row {
            parts_json: "not json".into(),
            role: "user".into(),
            ..Default::default()
        };
        assert!(message_from_row(&row).unwrap_err().contains("parts_json"));
    }
}
