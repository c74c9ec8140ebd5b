//! Helpers shared by the wire-contract tests.
#![allow(clippy::unwrap_used, dead_code)] // Test helpers; not every test file uses each one.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Parses `value` as `T` and requires exactly the same JSON back.
pub fn round_trip<T: Serialize + DeserializeOwned>(value: Value) -> T {
    let typed: T = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), value);
    typed
}

/// `payload` with extra top-level fields (an envelope) merged in.
pub fn with(envelope: Value, payload: Value) -> Value {
    let mut merged = envelope;
    merged
        .as_object_mut()
        .unwrap()
        .extend(payload.as_object().unwrap().clone());
    merged
}

/// An event payload inside the §1.3 envelope.
pub fn event(payload: Value) -> Value {
    with(
        json!({"session_id":"S","runner_id":"local","ts":1_700_000_000_000i64}),
        payload,
    )
}
