//! The one session-name type of the mux: every frame's `session_id` is the name of the
//! Session resource it is for. The gateway and pi-bridge both parse it here, so they accept
//! exactly the same names.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::envelope::shorten;
use crate::names::{MAX_OBJECT_NAME, is_object_name};

/// A Session's name: a Kubernetes object name (lowercase DNS-1123 subdomain).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionName(String);

impl SessionName {
    /// Checks `name`; the error says what a session name is.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::try_from(name.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SessionName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if is_object_name(&name) {
            Ok(Self(name))
        } else {
            Err(format!(
                "{:?} is not a session name (lowercase letters, digits, '-' and '.', at most {MAX_OBJECT_NAME} characters, starting and ending with a letter or digit)",
                shorten(&name)
            ))
        }
    }
}

impl From<SessionName> for String {
    fn from(name: SessionName) -> Self {
        name.0
    }
}

impl AsRef<str> for SessionName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for SessionName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_object_names_are_session_names() {
        assert_eq!(SessionName::parse("alice-1").unwrap().as_str(), "alice-1");
        for bad in ["", "S", "a_b", "tmp:x", "pending-1-", "../x"] {
            let error = SessionName::parse(bad).unwrap_err();
            assert!(error.contains("is not a session name"), "{error}");
        }
        let long = "x".repeat(10_000);
        assert!(SessionName::parse(&long).unwrap_err().len() < 300);
    }

    #[test]
    fn deserialising_checks_the_name() {
        assert!(serde_json::from_str::<SessionName>(r#""ok""#).is_ok());
        let error = serde_json::from_str::<SessionName>(r#""NO""#).unwrap_err();
        assert!(
            error.to_string().contains("is not a session name"),
            "{error}"
        );
    }
}
