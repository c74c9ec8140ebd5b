//! The LLM proxy's contract with the rest of the platform: the per-Session virtual key a runner
//! presents instead of a provider key, and the model catalogue the proxy serves (Pi's
//! `models.json` and the UI's model picker are written from it).
//!
//! A virtual key is derived, not stored, like a runner token: it names its Session (namespace,
//! name, uid) and carries an HMAC-SHA256 of them under a key only the operator (which mints it)
//! and the proxy (which checks it) hold. The proxy then looks the Session up: a deleted Session,
//! or another one made under the same name, no longer matches, so deleting a Session revokes its
//! key without a list of keys to keep.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use ts_rs::TS;

use crate::names;

/// Shortest signing key accepted (as for runner tokens).
pub const MIN_KEY_BYTES: usize = crate::runner_token::MIN_KEY_BYTES;

/// Every virtual key starts with this, so a key in a log or a paste is recognisable as ours.
pub const KEY_PREFIX: &str = "oqto-vk";

/// Between a key's parts: no object name, uid or hex tag holds it.
const SEPARATOR: char = '_';

/// The runner's environment: the proxy's OpenAI-compatible base URL (`…/v1`).
pub const ENV_PROXY_URL: &str = "OQTO_LLM_PROXY_URL";

/// The platform's key for virtual LLM keys. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct VirtualKeySigner(Vec<u8>);

/// Who a virtual key was minted for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyClaims {
    pub namespace: String,
    pub session: String,
    pub session_uid: String,
}

impl VirtualKeySigner {
    /// A key of at least [`MIN_KEY_BYTES`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, String> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the LLM key signer must be at least {MIN_KEY_BYTES} bytes, not {}",
                bytes.len()
            ));
        }
        Ok(Self(bytes))
    }

    fn mac(&self, claims: &KeyClaims) -> Hmac<Sha256> {
        let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(b"oqto llm virtual key\0");
        for part in [&claims.namespace, &claims.session, &claims.session_uid] {
            mac.update(part.as_bytes());
            mac.update(b"\0");
        }
        mac
    }

    /// The virtual key of one Session.
    pub fn mint(&self, claims: &KeyClaims) -> VirtualKey {
        let tag = hex::encode(self.mac(claims).finalize().into_bytes());
        VirtualKey(format!(
            "{KEY_PREFIX}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}{tag}",
            claims.namespace, claims.session, claims.session_uid
        ))
    }

    /// The Session a presented key names, when its tag is right (constant time in the tag).
    /// Says nothing of whether the Session still exists: the caller looks it up.
    pub fn verify(&self, presented: &str) -> Option<KeyClaims> {
        let mut parts = presented.split(SEPARATOR);
        let (prefix, namespace, session, uid, tag) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if prefix != KEY_PREFIX || parts.next().is_some() {
            return None;
        }
        // Names as the platform makes them: anything else was never minted.
        if !names::is_object_name(namespace)
            || !names::is_object_name(session)
            || uid.is_empty()
            || uid.len() > 64
            || !uid
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return None;
        }
        let tag = hex::decode(tag).ok()?;
        let claims = KeyClaims {
            namespace: namespace.to_owned(),
            session: session.to_owned(),
            session_uid: uid.to_owned(),
        };
        self.mac(&claims).verify_slice(&tag).ok()?;
        Some(claims)
    }
}

impl std::fmt::Debug for VirtualKeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VirtualKeySigner(..)")
    }
}

/// One Session's virtual key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct VirtualKey(String);

impl VirtualKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for VirtualKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VirtualKey(..)")
    }
}

/// The API a provider speaks upstream, as Pi names it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, TS)]
pub enum ProviderApi {
    /// OpenAI's `POST /v1/chat/completions`.
    #[serde(rename = "openai-completions")]
    OpenAiCompletions,
    /// Anthropic's `POST /v1/messages`.
    #[serde(rename = "anthropic-messages")]
    AnthropicMessages,
}

/// One model of the catalogue: what Pi needs to use it and what the UI shows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelInfo {
    /// The provider it is reached through (a provider of the proxy's configuration).
    pub provider: String,
    /// The model's id at that provider.
    pub id: String,
    /// The API it is called with: the proxy fills it in from the provider when it serves the
    /// catalogue (a configuration leaves it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub api: Option<ProviderApi>,
    /// Name for people; the id when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub name: Option<String>,
    /// Input tokens it takes.
    pub context_window: u32,
    /// Output tokens it may produce in one answer.
    pub max_tokens: u32,
    /// Whether it reasons (thinking) before it answers.
    #[serde(default)]
    pub reasoning: bool,
    /// Whether it takes images.
    #[serde(default)]
    pub images: bool,
    /// Price per million tokens, in US dollars.
    #[serde(default)]
    pub price: Prices,
}

/// Price per million tokens, in US dollars.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Prices {
    #[serde(default)]
    pub input: f64,
    #[serde(default)]
    pub output: f64,
    #[serde(default)]
    pub cache_read: f64,
    #[serde(default)]
    pub cache_write: f64,
}

/// What `GET /v1/models` of the proxy answers: OpenAI's list shape, each entry with the
/// catalogue's fields, so OpenAI clients and Oqto's own read the same document.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, TS)]
pub struct Catalogue {
    pub object: String,
    pub data: Vec<ModelInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(byte: u8) -> VirtualKeySigner {
        VirtualKeySigner::new(vec![byte; 32]).unwrap()
    }

    fn claims(session: &str, uid: &str) -> KeyClaims {
        KeyClaims {
            namespace: "team-a".into(),
            session: session.into(),
            session_uid: uid.into(),
        }
    }

    #[test]
    fn a_minted_key_names_its_session_and_nothing_else_verifies() {
        let dotted = signer(1).mint(&claims("ws.s1", "0a1b"));
        assert_eq!(
            signer(1).verify(dotted.expose()),
            Some(claims("ws.s1", "0a1b"))
        );
        let key = signer(1).mint(&claims("s1", "0a1b-2c"));
        assert!(key.expose().starts_with("oqto-vk_team-a_s1_0a1b-2c_"));
        assert_eq!(
            signer(1).verify(key.expose()),
            Some(claims("s1", "0a1b-2c"))
        );
        assert_eq!(
            signer(2).verify(key.expose()),
            None,
            "another platform's signer"
        );
        let text = key.expose();
        // The same tag on other claims: another session, another uid, another namespace.
        let tag = text.rsplit('_').next().unwrap();
        for forged in [
            format!("oqto-vk_team-a_s2_0a1b-2c_{tag}"),
            format!("oqto-vk_team-a_s1_0a1b-2d_{tag}"),
            format!("oqto-vk_team-b_s1_0a1b-2c_{tag}"),
            format!("{text}0"),
            text[..text.len() - 2].to_string(),
            format!("{text}_x"),
            text.replacen("oqto-vk", "sk", 1),
            "oqto-vk_team-a_s1_0a1b-2c_".into(),
            "oqto-vk_Team-A_s1_0a1b-2c_00".into(),
            "oqto-vk_team-a_s1_Z_00".into(),
            String::new(),
        ] {
            assert_eq!(signer(1).verify(&forged), None, "{forged}");
        }
        assert!(VirtualKeySigner::new(vec![0; 31]).is_err());
        assert_eq!(format!("{key:?}"), "VirtualKey(..)");
    }

    #[test]
    fn the_catalogue_refuses_unknown_fields_and_reads_pi_names() {
        let model: ModelInfo = serde_json::from_value(serde_json::json!({
            "provider": "openai", "id": "gpt", "contextWindow": 1000, "maxTokens": 100,
            "price": {"input": 1.5, "output": 6}}))
        .unwrap();
        assert_eq!(model.price.output, 6.0);
        let typo = serde_json::from_value::<ModelInfo>(serde_json::json!({
            "provider": "openai", "id": "gpt", "contextWindow": 1000, "maxTokens": 100,
            "prize": {}}));
        assert!(typo.unwrap_err().to_string().contains("prize"));
        assert_eq!(
            serde_json::to_value(ProviderApi::AnthropicMessages).unwrap(),
            "anthropic-messages"
        );
    }
}
