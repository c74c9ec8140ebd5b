//! API keys: `octo_sk_` and 43 URL-safe characters (32 random bytes); stored as SHA-256 hex,
//! with the first characters kept to tell keys apart (§1.5).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "octo_sk_";
/// How much of a key is shown in listings (the prefix plus 4 characters).
const SHOWN: usize = PREFIX.len() + 4;

pub fn generate() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn shown_prefix(key: &str) -> String {
    key.chars().take(SHOWN).collect()
}

/// Whether `key` has the shape of one of ours (checked before any lookup).
pub fn well_formed(key: &str) -> bool {
    key.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(well_formed(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(a.len(), PREFIX.len() + 43);
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(shown_prefix(&a).len(), 12);
        assert!(!well_formed("octo_sk_short"));
        assert!(!well_formed(&a.replace("octo_sk_", "octo_pk_")));
    }
}
