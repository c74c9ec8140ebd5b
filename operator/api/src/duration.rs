//! A Kubernetes duration string (`90s`, `30m`, `1h30m`) that parses without panicking.
//!
//! The value is bounded like Go's `time.Duration` (about 292 years), which the apiserver's
//! `duration()` enforces in the CRD rule too; anything larger, or anything not in the grammar, is
//! a clean deserialisation error that names the format. The text is kept as written, so an
//! unchanged spec serialises to the same bytes (and does not bump `generation`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Go's `time.Duration` limit in nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// What every refusal says.
pub const DURATION_FORMAT: &str =
    "must be a duration such as 90s, 30m or 1h30m (units ns, us, ms, s, m, h), at most 2562047h";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BoundedDuration {
    text: String,
    value: std::time::Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} {DURATION_FORMAT}")]
pub struct DurationError {
    text: String,
}

impl BoundedDuration {
    /// A whole number of seconds, written in the largest unit that divides it (`30m`, `90s`).
    pub fn from_secs(seconds: u64) -> Self {
        let text = match seconds {
            0 => "0s".to_owned(),
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        };
        Self {
            text,
            value: std::time::Duration::from_secs(seconds),
        }
    }

    pub fn as_duration(&self) -> std::time::Duration {
        self.value
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<BoundedDuration> for std::time::Duration {
    fn from(d: BoundedDuration) -> Self {
        d.value
    }
}

impl From<&BoundedDuration> for std::time::Duration {
    fn from(d: &BoundedDuration) -> Self {
        d.value
    }
}

impl fmt::Display for BoundedDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Nanoseconds of one unit.
fn unit(rest: &str) -> Option<(&'static str, u128)> {
    [
        ("ns", 1),
        ("us", 1_000),
        ("µs", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ]
    .into_iter()
    .find(|(unit, _)| rest.starts_with(unit))
}

/// Go's `time.ParseDuration` grammar without a sign: one or more `<number><unit>`.
fn nanos(text: &str) -> Option<u128> {
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let int_end = rest.find(|c: char| !c.is_ascii_digit())?;
        let (int, after) = rest.split_at(int_end);
        if int.is_empty() || int.len() > 20 {
            return None;
        }
        let (fraction, after) = match after.strip_prefix('.') {
            Some(f) => {
                let end = f.find(|c: char| !c.is_ascii_digit())?;
                if end == 0 {
                    return None;
                }
                f.split_at(end)
            }
            None => ("", after),
        };
        let (unit_text, scale) = unit(after)?;
        let whole = int.parse::<u128>().ok()?.checked_mul(scale)?;
        // Digits past nanosecond precision of the largest unit change nothing.
        let fraction = &fraction[..fraction.len().min(18)];
        let part = if fraction.is_empty() {
            0
        } else {
            let digits = fraction.parse::<u128>().ok()?;
            digits.checked_mul(scale)? / 10u128.pow(u32::try_from(fraction.len()).ok()?)
        };
        total = total.checked_add(whole)?.checked_add(part)?;
        if total > MAX_NANOS {
            return None;
        }
        rest = &after[unit_text.len()..];
    }
    Some(total)
}

impl FromStr for BoundedDuration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || DurationError {
            text: text.chars().take(64).collect(),
        };
        let total = nanos(text).ok_or_else(error)?;
        let seconds = u64::try_from(total / 1_000_000_000).map_err(|_| error())?;
        let subsec = u32::try_from(total % 1_000_000_000).map_err(|_| error())?;
        Ok(Self {
            text: text.to_owned(),
            value: std::time::Duration::new(seconds, subsec),
        })
    }
}

impl Serialize for BoundedDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for BoundedDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Option<f64> {
        text.parse::<BoundedDuration>()
            .ok()
            .map(|d| d.as_duration().as_secs_f64())
    }

    #[test]
    fn the_go_grammar_parses() {
        assert_eq!(secs("90s"), Some(90.0));
        assert_eq!(secs("1h30m"), Some(5400.0));
        assert_eq!(secs("1.5h"), Some(5400.0));
        assert_eq!(secs("250ms"), Some(0.25));
        assert_eq!(secs("0s"), Some(0.0));
        assert_eq!(secs("2562047h"), Some(2_562_047.0 * 3600.0));
    }

    #[test]
    fn out_of_range_and_malformed_values_are_errors_not_panics() {
        for bad in [
            "99999999999999999999h",
            "2562048h",
            "340282366920938463463374607431768211456ns",
            "",
            "5",
            "5 minutes",
            "-5m",
            "1.h",
            ".5h",
            "1d",
            "h",
        ] {
            assert_eq!(secs(bad), None, "{bad:?}");
        }
        let error = serde_json::from_str::<BoundedDuration>("\"99999999999999999999h\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("at most 2562047h"), "{error}");
    }

    #[test]
    fn the_text_is_kept_and_whole_seconds_are_written_in_the_largest_unit() {
        let d: BoundedDuration = serde_json::from_str("\"60m\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"60m\"");
        assert_eq!(BoundedDuration::from_secs(1800).as_str(), "30m");
        assert_eq!(BoundedDuration::from_secs(7200).as_str(), "2h");
        assert_eq!(BoundedDuration::from_secs(90).as_str(), "90s");
    }
}
