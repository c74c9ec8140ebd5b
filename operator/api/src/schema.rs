//! Schema fragments that schemars cannot derive on its own: Kubernetes quantities and durations as
//! validated strings, and list-map conditions. The apiserver enforces these; the operator can then
//! parse them without surprises.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Go's `time.ParseDuration` grammar without the sign: the apiserver has no duration format that
/// matches what the operator parses, so this expression is the contract.
pub const DURATION_PATTERN: &str = r"^([0-9]+([.][0-9]+)?(ns|us|µs|ms|s|m|h))+$";

/// A Kubernetes duration string such as `30m` or `1h30m`. A CEL rule rather than `pattern`, so
/// the refusal explains the format instead of quoting a regular expression.
pub fn duration(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "maxLength": 32,
        "x-kubernetes-validations": [{
            // duration() also bounds the value (Go's ~290 years): an unbounded number of hours
            // would pass the pattern and overflow the operator's duration type.
            "rule": format!("self.matches('{DURATION_PATTERN}') && duration(self) >= duration('0s')"),
            "message": "must be a duration such as 90s, 30m or 1h30m (units ns, us, ms, s, m, h)",
        }],
    })
}

/// A positive Kubernetes quantity such as `10Gi`, checked by the apiserver's CEL quantity library
/// so that the error names the field instead of failing deep in the operator.
pub fn positive_quantity(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "maxLength": 64,
        "x-kubernetes-validations": [{
            "rule": "isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))",
            "message": "must be a positive quantity such as 10Gi or 500Mi",
        }],
    })
}

/// Conditions keyed by `type`, so server-side apply merges them per type (Kubernetes convention).
pub fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let item = generator
        .subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>()
        .to_value();
    json_schema!({
        "type": "array",
        "maxItems": 16,
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    })
}

/// A Kubernetes object name (RFC 1123 subdomain) used as a reference within the namespace.
pub fn object_name(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": 253,
        "x-kubernetes-validations": [{
            "rule": "!format.dns1123Subdomain().validate(self).hasValue()",
            "message": "must be an object name: lowercase letters, digits, '-' and '.'",
        }],
    })
}

/// Joins the hard-wrapped lines of Rust doc comments in every `description`, keeping blank-line
/// paragraph breaks, so that `kubectl explain` can wrap the text itself.
pub fn unwrap_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    serde_json::Value::String(text) if key == "description" => {
                        *text = unwrap_paragraphs(text);
                    }
                    _ => unwrap_descriptions(v),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

fn unwrap_paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .split('\n')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_unwrapped_but_keep_paragraphs() {
        let mut v = serde_json::json!({
            "description": "one\ntwo\n\nthree",
            "properties": {"a": {"description": "x\ny", "default": "keep\nme"}},
            "items": [{"description": "p\nq"}],
        });
        unwrap_descriptions(&mut v);
        assert_eq!(v["description"], "one two\n\nthree");
        assert_eq!(v["properties"]["a"]["description"], "x y");
        assert_eq!(v["properties"]["a"]["default"], "keep\nme");
        assert_eq!(v["items"][0]["description"], "p q");
    }
}
