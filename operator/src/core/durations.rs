//! Duration strings checked before a Workspace is deserialised. The apiserver's CEL rule bounds
//! them; single-node mode has no apiserver, and an unbounded value (`99999999999999999999h`)
//! would overflow the duration type while parsing, so the same bound is applied here first.

use serde_json::Value;

use super::CoreError;

/// Go's `time.Duration` limit (~292 years), which the apiserver's `duration()` enforces too.
const MAX_SECONDS: f64 = 9_223_372_036.0;

fn seconds(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let (unit, scale) = [
            ("ns", 1e-9),
            ("us", 1e-6),
            ("µs", 1e-6),
            ("ms", 1e-3),
            ("s", 1.0),
            ("m", 60.0),
            ("h", 3600.0),
        ]
        .into_iter()
        .find(|(unit, _)| rest.starts_with(unit))?;
        rest = &rest[unit.len()..];
        total += number * scale;
    }
    total.is_finite().then_some(total)
}

/// Checks `spec.lifecycle.{idleTimeout,maxLifetime,startTimeout}` of a Workspace document.
pub fn check_workspace(document: &Value) -> Result<(), CoreError> {
    let Some(lifecycle) = document.get("spec").and_then(|s| s.get("lifecycle")) else {
        return Ok(());
    };
    for (key, field) in [
        ("idleTimeout", "spec.lifecycle.idleTimeout"),
        ("maxLifetime", "spec.lifecycle.maxLifetime"),
        ("startTimeout", "spec.lifecycle.startTimeout"),
    ] {
        let Some(value) = lifecycle.get(key) else {
            continue;
        };
        let ok = value
            .as_str()
            .and_then(seconds)
            .is_some_and(|s| s <= MAX_SECONDS);
        if !ok {
            return Err(CoreError::InvalidField {
                field,
                reason: format!(
                    "{value} must be a duration such as 90s, 30m or 1h30m, at most 2562047h"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sane_durations_pass_and_overflowing_ones_are_named() {
        assert!(check_workspace(&json!({"spec":{"lifecycle":{"idleTimeout":"1h30m","maxLifetime":"1.5h","startTimeout":"90s"}}})).is_ok());
        let err =
            check_workspace(&json!({"spec":{"lifecycle":{"idleTimeout":"99999999999999999999h"}}}))
                .unwrap_err();
        assert!(
            err.to_string().starts_with("spec.lifecycle.idleTimeout:"),
            "{err}"
        );
        assert!(
            check_workspace(&json!({"spec":{"lifecycle":{"startTimeout":"5 minutes"}}})).is_err()
        );
        assert!(check_workspace(&json!({"spec":{"lifecycle":{"startTimeout":"-5m"}}})).is_err());
        assert!(check_workspace(&json!({"spec":{}})).is_ok());
    }
}
