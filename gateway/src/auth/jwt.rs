//! Session tokens: HS256 JWTs with the claims of §7.2. The token names the user by id; every
//! request looks the user up, so deleting a user ends their tokens too.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::accounts::User;

pub const ISSUER: &str = "oqto-gateway";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    pub name: String,
    pub preferred_username: String,
    pub role: String,
    pub roles: Vec<String>,
    /// The user's credentials version at issue: a password change since refuses the token.
    #[serde(default)]
    pub cred: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired; log in again")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl: Duration,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Self, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // Expiry is exact: a token is refused the second it expires.
        validation.leeway = 0;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret).map_err(|e| e.to_string())?,
            decoding: DecodingKey::from_secret(secret).map_err(|e| e.to_string())?,
            validation,
            ttl,
        })
    }

    pub fn issue(&self, user: &User) -> Result<String, String> {
        let now = now_secs();
        let role = match user.role {
            crate::accounts::Role::Admin => "admin",
            crate::accounts::Role::User => "user",
        };
        let claims = Claims {
            sub: user.id.clone(),
            iss: ISSUER.into(),
            iat: now,
            exp: now + self.ttl.as_secs(),
            jti: uuid::Uuid::new_v4().to_string(),
            name: user.username.clone(),
            preferred_username: user.username.clone(),
            role: role.into(),
            roles: vec![role.into()],
            cred: user.credentials_version,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Role;

    fn user() -> User {
        User {
            id: "u1".into(),
            username: "alice".into(),
            role: Role::User,
            created_at: 0,
            disabled: false,
            credentials_version: 3,
        }
    }

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let tokens =
            Tokens::new(b"secret-secret-secret-secret-1234", Duration::from_secs(60)).unwrap();
        let token = tokens.issue(&user()).unwrap();
        let claims = tokens.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.name.as_str()), ("u1", "alice"));
        assert_eq!(claims.roles, vec!["user".to_owned()]);
        assert_eq!(
            claims.cred, 3,
            "the credentials version it was issued under"
        );
        // Another secret, a flipped signature character, or garbage: all invalid.
        let other =
            Tokens::new(b"another-secret-another-secret-12", Duration::from_secs(60)).unwrap();
        assert_eq!(other.verify(&token), Err(TokenError::Invalid));
        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(tokens.verify(&tampered), Err(TokenError::Invalid));
        assert_eq!(tokens.verify("a.b.c"), Err(TokenError::Invalid));
    }

    #[test]
    fn expired_tokens_are_refused_as_expired() {
        let tokens = Tokens::new(b"secret-secret-secret-secret-1234", Duration::ZERO).unwrap();
        let token = tokens.issue(&user()).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(tokens.verify(&token), Err(TokenError::Expired));
    }
}
