//! Property tests of Workspace and Session documents on their way in: read as the gateway reads
//! a request body (serde, the bad field named by its path), then the tenancy allow-list and the
//! create and update rules. Whatever the JSON, nothing panics; durations beyond Go's limit are
//! refused naming the field; what is accepted keeps its meaning through a round trip.
#![allow(clippy::unwrap_used)] // Tests: a failed step is a failed test.

use oqto_api::duration::{BoundedDuration, DURATION_FORMAT};
use oqto_api::rules::{Rules, quantity};
use oqto_api::tenancy::{USER_SETTABLE_WORKSPACE_FIELDS, admin_only_workspace_field};
use oqto_api::{Session, Workspace};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

/// Go's `time.Duration` limit.
const MAX_NANOS: u128 = i64::MAX as u128;

const UNITS: [(&str, u128); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Reads `value` as the gateway does (`serde_path_to_error`): the error names the field's path.
fn read<T: DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| (e.path().to_string(), e.into_inner().to_string()))
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field's value: mostly of the right shape, sometimes any JSON.
fn field(plausible: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Value> {
    prop_oneof![29 => plausible.boxed(), 1 => any_json().boxed()].boxed()
}

/// Fields the types require (in any object that has them).
const REQUIRED: [&str; 5] = ["owner", "provider", "model", "name", "workspaceRef"];

/// An object with each of `fields` present or not.
fn object(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    fields
        .into_iter()
        .map(|(key, value)| {
            // Required fields are nearly always there, so most documents get past serde.
            let present = if REQUIRED.contains(&key) { 0.97 } else { 0.7 };
            prop::option::weighted(present, value).prop_map(move |v| (key, v))
        })
        .collect::<Vec<_>>()
        .prop_map(|fields| {
            let object: Map<String, Value> = fields
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_owned(), value?)))
                .collect();
            Value::Object(object)
        })
        .boxed()
}

fn text(pattern: &'static str) -> BoxedStrategy<Value> {
    field(pattern.prop_map(Value::String))
}

/// One of the `choices` the type knows, or now and then `other`, which it does not.
fn one_of(choices: &'static [&'static str], other: &'static str) -> BoxedStrategy<Value> {
    field(
        prop_oneof![
            9 => prop::sample::select(choices),
            1 => Just(other),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    )
}

/// Durations in the grammar, huge ones, and others.
fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => (any::<u64>(), prop::sample::select(UNITS.to_vec()))
            .prop_map(|(n, (u, _))| format!("{n}{u}")),
        6 => (0u32..100, prop::sample::select(vec!["s", "m", "h"])).prop_map(|(n, u)| format!("{n}{u}")),
        1 => "[0-9]{1,25}(\\.[0-9]{0,25})?(ns|us|µs|ms|s|m|h|d|)([0-9]{1,5}(s|m|h))?",
        1 => ".{0,12}",
    ]
}

fn quantity_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (
            any::<u32>(),
            prop::sample::select(vec!["", "Ki", "Mi", "Gi", "Ti", "E", "m", "k", "G"])
        )
            .prop_map(|(n, s)| format!("{n}{s}")),
        1 => "[-+]?[0-9.eE]{0,6}(Gi|Mi|M|E|)",
        1 => ".{0,8}",
    ]
}

fn workspace_spec() -> BoxedStrategy<Value> {
    object(vec![
        ("owner", text(".{0,10}")),
        ("displayName", text(".{0,10}")),
        (
            "storage",
            field(object(vec![
                ("size", field(quantity_text().prop_map(Value::String))),
                ("storageClassName", text("[a-z]{0,6}")),
                (
                    "accessModes",
                    field(
                        prop::collection::vec(
                            one_of(
                                &["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"],
                                "Rwo",
                            ),
                            0..3,
                        )
                        .prop_map(Value::Array),
                    ),
                ),
                ("reclaimPolicy", one_of(&["Retain", "Delete"], "Keep")),
            ])),
        ),
        (
            "lifecycle",
            field(object(vec![
                (
                    "idleTimeout",
                    field(duration_text().prop_map(Value::String)),
                ),
                (
                    "maxLifetime",
                    field(duration_text().prop_map(Value::String)),
                ),
                (
                    "startTimeout",
                    field(duration_text().prop_map(Value::String)),
                ),
            ])),
        ),
        (
            "llm",
            field(object(vec![
                ("provider", text("[a-z]{0,6}")),
                ("model", text("[a-z0-9-]{0,8}")),
                ("baseUrl", text("https?://[a-z]{1,6}")),
                (
                    "credentialsSecretRef",
                    field(object(vec![("name", text("[a-z]{1,6}"))])),
                ),
            ])),
        ),
        (
            "runner",
            field(object(vec![
                ("image", text("[a-z/:]{0,10}")),
                (
                    "imagePullPolicy",
                    one_of(&["Always", "IfNotPresent", "Never"], "Sometimes"),
                ),
                (
                    "env",
                    field(
                        prop::collection::vec(
                            object(vec![
                                ("name", text("[A-Z]{1,4}")),
                                ("value", text(".{0,4}")),
                            ]),
                            0..3,
                        )
                        .prop_map(Value::Array),
                    ),
                ),
            ])),
        ),
        (
            "network",
            field(object(vec![(
                "egress",
                one_of(&["Open", "Restricted"], "Closed"),
            )])),
        ),
    ])
}

fn session_spec() -> BoxedStrategy<Value> {
    object(vec![
        (
            "workspaceRef",
            field(object(vec![("name", text("[a-z0-9.-]{0,8}|.{0,4}"))])),
        ),
        ("harness", one_of(&["pi"], "Pi")),
        ("provider", text("[a-z]{0,6}")),
        ("model", text("[a-z]{0,6}")),
        ("suspended", field(any::<bool>().prop_map(Value::Bool))),
        (
            "parentSessionRef",
            field(object(vec![("name", text("s|[a-z]{1,4}"))])),
        ),
    ])
}

fn document(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "oqto.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

/// The value at a dotted path of `spec` (as `spec.a.b`).
fn at<'a>(spec: &'a Value, path: &str) -> Option<&'a Value> {
    path.strip_prefix("spec.")?
        .split('.')
        .try_fold(spec, |v, key| v.get(key))
}

proptest! {
    #![proptest_config(config())]

    /// Any text is a duration or a refusal that says what a duration is; one that parses is
    /// within Go's limit and is kept as written.
    #[test]
    fn durations_parse_within_the_limit_or_are_refused(text in duration_text()) {
        match text.parse::<BoundedDuration>() {
            Ok(d) => {
                prop_assert!(d.as_duration().as_nanos() <= MAX_NANOS);
                prop_assert_eq!(d.as_str(), text.as_str());
            }
            Err(e) => prop_assert!(e.to_string().contains(DURATION_FORMAT), "{e}"),
        }
    }

    /// Whole numbers of one unit: accepted exactly when they fit Go's limit, with that value.
    #[test]
    fn whole_durations_are_exact_up_to_the_limit(n in any::<u64>(), (unit, scale) in prop::sample::select(UNITS.to_vec())) {
        let nanos = u128::from(n) * scale;
        let parsed = format!("{n}{unit}").parse::<BoundedDuration>();
        if nanos <= MAX_NANOS {
            prop_assert_eq!(parsed.unwrap().as_duration().as_nanos(), nanos);
        } else {
            prop_assert!(parsed.is_err());
        }
    }

    /// A duration beyond the limit in a Workspace is refused naming the field.
    #[test]
    fn huge_durations_are_refused_naming_the_field(
        key in prop::sample::select(vec!["idleTimeout", "maxLifetime", "startTimeout"]),
        // The smallest count of each unit past the limit, and how much further.
        (unit, least) in prop::sample::select(vec![("h", 2_562_048u128), ("m", 153_722_868), ("s", 9_223_372_037), ("ns", MAX_NANOS + 1)]),
        beyond in prop_oneof![0u128..1000, any::<u128>().prop_map(|n| n / 4)],
    ) {
        let huge = format!("{}{unit}", least + beyond);
        let spec = json!({"owner": "alice", "lifecycle": {key: huge}});
        let (path, message) = read::<Workspace>(document("Workspace", "w", spec)).unwrap_err();
        prop_assert_eq!(path, format!("spec.lifecycle.{key}"));
        prop_assert!(message.contains(DURATION_FORMAT), "{message}");
    }

    /// Any quantity text: a finite number or none.
    #[test]
    fn quantities_are_finite_or_none(text in quantity_text()) {
        if let Some(q) = quantity(&text) {
            prop_assert!(q.is_finite(), "{text}: {q}");
        }
    }

    /// A Workspace spec of any shape: the allow-list names a leaf the user set under no
    /// user-settable path; the document is read or refused at a path; an accepted one passes or
    /// fails its rules naming a `spec.` field, never refuses itself as an update, and reads back
    /// from its own serialisation unchanged.
    #[test]
    fn workspace_specs_are_read_checked_or_refused(spec in workspace_spec()) {
        if let Some(field) = admin_only_workspace_field(&spec) {
            let value = at(&spec, &field);
            prop_assert!(value.is_some_and(|v| !v.is_null() && !v.is_object()), "{field} in {spec}");
            let relative = field.strip_prefix("spec.").unwrap();
            prop_assert!(
                !USER_SETTABLE_WORKSPACE_FIELDS.iter().any(|allowed| relative == *allowed || relative.starts_with(&format!("{allowed}."))),
                "{field} is user-settable"
            );
        }
        match read::<Workspace>(document("Workspace", "w", spec.clone())) {
            Err((path, message)) => {
                prop_assert!(path.starts_with("spec"), "{path}: {message}");
            }
            Ok(workspace) => {
                let verdict = workspace.validate();
                if let Err(e) = &verdict {
                    prop_assert!(e.field.starts_with("spec."), "{e}");
                } else {
                    prop_assert!(!workspace.spec.owner.is_empty());
                    prop_assert!(quantity(&workspace.spec.storage.size.0).is_some_and(|q| q > 0.0));
                }
                prop_assert_eq!(workspace.validate_update(&workspace), Ok(()));
                let again: Workspace = serde_json::from_value(serde_json::to_value(&workspace).unwrap()).unwrap();
                prop_assert_eq!(&again, &workspace);
                prop_assert_eq!(again.validate(), verdict);
            }
        }
    }

    /// The same for Sessions.
    #[test]
    fn session_specs_are_read_checked_or_refused(spec in session_spec()) {
        match read::<Session>(document("Session", "s", spec)) {
            Err((path, message)) => {
                prop_assert!(path.starts_with("spec"), "{path}: {message}");
            }
            Ok(session) => {
                let verdict = session.validate();
                if let Err(e) = &verdict {
                    prop_assert!(e.field.starts_with("spec."), "{e}");
                }
                prop_assert_eq!(session.validate_update(&session), Ok(()));
                let again: Session = serde_json::from_value(serde_json::to_value(&session).unwrap()).unwrap();
                prop_assert_eq!(&again, &session);
                prop_assert_eq!(again.validate(), verdict);
            }
        }
    }
}
