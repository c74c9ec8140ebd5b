//! Finds which field a serde error is about.
//!
//! serde_json names a field when it is missing, but its type and value errors ("invalid type:
//! integer `5`, expected a string") say nothing about where; and `serde_path_to_error` loses the
//! path inside internally tagged and flattened enums, which every frame type here is. So the
//! field is found by experiment: remove one key at a time, and the key whose removal changes the
//! error is the bad one (serde reports a bad value while it walks a struct, before it checks for
//! missing fields, so removing a good key leaves the error as it was).

use serde_json::{Map, Value};

/// Objects with more keys than this are not probed: every probe deserialises the whole frame
/// again, and no frame type has half as many fields.
const MAX_KEYS_PROBED: usize = 32;

/// Nesting levels probed (`config.harness` is two).
const MAX_DEPTH: usize = 4;

/// The dotted path of the field that `error_of` complains about in `root`, or `None` when no
/// single field is to blame. `error_of` deserialises a candidate and returns its error message;
/// `skip` lists top-level keys never to remove: the tag (without it every frame is wrong), and
/// fields already known to be valid.
pub(super) fn locate_bad_field(
    root: &Value,
    skip: &[&str],
    error_of: impl Fn(&Value) -> Option<String>,
) -> Option<String> {
    let original = error_of(root)?;
    let mut path: Vec<String> = Vec::new();
    while path.len() < MAX_DEPTH {
        let Some(object) = object_at(root, &path) else {
            break;
        };
        if object.len() > MAX_KEYS_PROBED {
            break;
        }
        let culprit = object
            .keys()
            .filter(|key| !(path.is_empty() && skip.contains(&key.as_str())))
            .find(|key| {
                let mut probe = root.clone();
                if let Some(parent) = object_at_mut(&mut probe, &path) {
                    parent.remove(key.as_str());
                }
                error_of(&probe).as_deref() != Some(original.as_str())
            });
        match culprit {
            Some(key) => path.push(key.clone()),
            None => break,
        }
    }
    (!path.is_empty()).then(|| path.join("."))
}

fn object_at<'a>(root: &'a Value, path: &[String]) -> Option<&'a Map<String, Value>> {
    path.iter()
        .try_fold(root, |value, key| value.get(key))?
        .as_object()
}

fn object_at_mut<'a>(root: &'a mut Value, path: &[String]) -> Option<&'a mut Map<String, Value>> {
    path.iter()
        .try_fold(root, |value, key| value.get_mut(key))?
        .as_object_mut()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // Only deserialised.
    struct Inner {
        name: String,
        #[serde(default)]
        size: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(tag = "type")]
    #[allow(dead_code)] // Only deserialised.
    enum Outer {
        #[serde(rename = "thing")]
        Thing { count: u32, inner: Inner },
    }

    fn locate(value: Value) -> Option<String> {
        locate_bad_field(&value, &["type"], |v| {
            Outer::deserialize(v).err().map(|e| e.to_string())
        })
    }

    #[test]
    fn a_wrong_type_is_traced_to_its_field() {
        let found = locate(json!({"type":"thing","count":"many","inner":{"name":"a"}}));
        assert_eq!(found.as_deref(), Some("count"));
    }

    #[test]
    fn a_wrong_type_in_a_nested_object_gets_a_dotted_path() {
        let found = locate(json!({"type":"thing","count":1,"inner":{"name":"a","size":-1}}));
        assert_eq!(found.as_deref(), Some("inner.size"));
    }

    #[test]
    fn a_missing_nested_field_is_traced_to_its_parent() {
        let found = locate(json!({"type":"thing","count":1,"inner":{}}));
        assert_eq!(found.as_deref(), Some("inner"));
    }

    #[test]
    fn a_missing_top_level_field_has_no_other_culprit() {
        assert_eq!(locate(json!({"type":"thing","inner":{"name":"a"}})), None);
    }

    #[test]
    fn a_valid_value_has_no_culprit() {
        assert_eq!(
            locate(json!({"type":"thing","count":1,"inner":{"name":"a"}})),
            None
        );
    }
}
