//! The credential between the platform and a runner. Anything that reaches a runner's port (a
//! local process on one node, a pod with the gateway's labels elsewhere) gets nothing without
//! it: pi-bridge serves its WebSocket, `/activity` and `/metrics` only to a request that
//! presents the runner's token.
//!
//! Each runner's token is derived, not stored: HMAC-SHA256 of the Session's uid under a key only
//! the gateway and the operator hold. The operator hands a runner its own token (a Secret owned
//! by the Session, or the container's environment); the gateway and the operator derive it when
//! they connect. One runner's token says nothing about another's, and a Session made again under
//! the same name gets a new one.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Shortest key accepted: anything shorter is a mistake in the configuration.
pub const MIN_KEY_BYTES: usize = 32;

/// The platform's key for runner tokens. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct RunnerKey(Vec<u8>);

impl RunnerKey {
    /// A key of at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, String> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the runner key must be at least {MIN_KEY_BYTES} bytes, not {}",
                bytes.len()
            ));
        }
        Ok(Self(bytes))
    }

    /// The token of the runner of the Session with this uid.
    pub fn token(&self, session_uid: &str) -> RunnerToken {
        // new_from_slice takes keys of any length for HMAC: this cannot fail.
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(b"oqto runner token\0");
        mac.update(session_uid.as_bytes());
        RunnerToken(hex::encode(mac.finalize().into_bytes()))
    }
}

impl RunnerKey {
    /// The credential the runner of the Session `name` (uid `session_uid`) presents to the
    /// gateway: it may create and drive that Session's children, nothing else. Derived under
    /// another label than the runner token, so neither reveals the other.
    pub fn session_credential(&self, name: &str, session_uid: &str) -> SessionCredential {
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(b"oqto session credential\0");
        mac.update(session_uid.as_bytes());
        SessionCredential(format!(
            "{SESSION_CREDENTIAL_PREFIX}{name}.{}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }
}

/// How a session credential starts (`oqto-session.<session name>.<hex>`).
pub const SESSION_CREDENTIAL_PREFIX: &str = "oqto-session.";

/// A runner's credential towards the gateway (see [`RunnerKey::session_credential`]). Never
/// printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCredential(String);

impl SessionCredential {
    pub fn from_secret(credential: String) -> Self {
        Self(credential)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// The Session a presented credential claims to be, before it is checked: `None` when it
    /// is not shaped like one.
    pub fn claimed_session(presented: &str) -> Option<&str> {
        let rest = presented.strip_prefix(SESSION_CREDENTIAL_PREFIX)?;
        let (name, mac) = rest.rsplit_once('.')?;
        (mac.len() == 64 && mac.bytes().all(|b| b.is_ascii_hexdigit()) && !name.is_empty())
            .then_some(name)
    }

    /// Whether `presented` is exactly this credential, in constant time in its content.
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        presented.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for SessionCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCredential(..)")
    }
}

impl std::fmt::Debug for RunnerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunnerKey(..)")
    }
}

/// One runner's token. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct RunnerToken(String);

impl RunnerToken {
    /// A token as a runner is given it.
    pub fn from_secret(token: String) -> Self {
        Self(token)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `Authorization` header's value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// Whether an `Authorization` header presents this token. Constant time in the presented
    /// value's content, so a caller cannot find the token byte by byte.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(presented) = authorization.and_then(|h| h.strip_prefix(b"Bearer ")) else {
            return false;
        };
        presented.ct_eq(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for RunnerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunnerToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> RunnerKey {
        RunnerKey::new(vec![byte; 32]).unwrap()
    }

    #[test]
    fn tokens_differ_per_session_and_per_key_and_are_stable() {
        let a = key(1).token("uid-a");
        assert_eq!(a, key(1).token("uid-a"), "the gateway and operator agree");
        assert_ne!(a, key(1).token("uid-b"), "another session's runner");
        assert_ne!(a, key(2).token("uid-a"), "another platform's key");
        assert_eq!(a.expose().len(), 64);
    }

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let token = key(1).token("uid-a");
        assert!(token.accepts(Some(token.bearer().as_bytes())));
        assert!(!token.accepts(None));
        assert!(!token.accepts(Some(token.expose().as_bytes())), "no scheme");
        assert!(!token.accepts(Some(b"Bearer ")));
        let other = key(1).token("uid-b");
        assert!(!token.accepts(Some(other.bearer().as_bytes())));
        let prefix = format!("Bearer {}", &token.expose()[..63]);
        assert!(!token.accepts(Some(prefix.as_bytes())), "a prefix");
        let longer = format!("{}0", token.bearer());
        assert!(!token.accepts(Some(longer.as_bytes())), "a longer value");
    }

    #[test]
    fn session_credentials_name_their_session_and_differ_from_runner_tokens() {
        let credential = key(1).session_credential("fix.bug-1", "uid-a");
        assert_eq!(
            SessionCredential::claimed_session(credential.expose()),
            Some("fix.bug-1"),
            "names may hold dots"
        );
        assert!(credential.matches(credential.expose()));
        assert!(!credential.matches(key(1).session_credential("fix.bug-1", "uid-b").expose()));
        assert!(!credential.expose().contains(key(1).token("uid-a").expose()));
        for bad in [
            "oqto-session.x",
            "oqto-session..abc",
            "Bearer x",
            "oqto-session.s.zz",
        ] {
            assert_eq!(SessionCredential::claimed_session(bad), None, "{bad}");
        }
        assert_eq!(format!("{credential:?}"), "SessionCredential(..)");
    }

    #[test]
    fn short_keys_are_refused_and_nothing_is_printed() {
        assert!(
            RunnerKey::new(vec![0; 31])
                .unwrap_err()
                .contains("32 bytes")
        );
        let key = key(7);
        assert_eq!(format!("{key:?}"), "RunnerKey(..)");
        assert_eq!(format!("{:?}", key.token("u")), "RunnerToken(..)");
    }
}
