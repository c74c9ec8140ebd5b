//! Where a request's credentials come from, in the order of §2.1: `Authorization: Bearer`
//! (a JWT, or an API key when it starts with `octo_sk_`), `X-API-Key`, the `auth_token`
//! cookie, and, on the WebSocket upgrade only, `?token=` and `?api_key=`.

use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};

use crate::accounts::keys;

pub const COOKIE_NAME: &str = "auth_token";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Token(String),
    ApiKey(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    Missing,
    /// An `Authorization` header that is not `Bearer <something>`.
    Malformed,
}

pub fn find(
    headers: &HeaderMap,
    query: Option<&str>,
    allow_query: bool,
) -> Result<Credential, CredentialError> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| CredentialError::Malformed)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(CredentialError::Malformed)?;
        return Ok(classify(token));
    }
    if let Some(value) = headers.get("x-api-key") {
        let key = value.to_str().map_err(|_| CredentialError::Malformed)?;
        return Ok(Credential::ApiKey(key.trim().to_owned()));
    }
    if let Some(token) = cookie(headers, COOKIE_NAME) {
        return Ok(Credential::Token(token));
    }
    if allow_query && let Some(query) = query {
        for (name, value) in form_pairs(query) {
            match name.as_str() {
                "token" if !value.is_empty() => return Ok(classify(&value)),
                "api_key" if !value.is_empty() => return Ok(Credential::ApiKey(value)),
                _ => {}
            }
        }
    }
    Err(CredentialError::Missing)
}

fn classify(token: &str) -> Credential {
    if token.starts_with(keys::PREFIX) {
        Credential::ApiKey(token.to_owned())
    } else {
        Credential::Token(token.to_owned())
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// `a=1&b=2` with percent-decoding (tokens are URL-safe, but clients may still encode them).
fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        Some((percent_decode(name), percent_decode(value)))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_headers as headers;

    #[test]
    fn bearer_comes_first_and_api_keys_are_told_apart() {
        let key = "octo_sk_".to_owned() + &"a".repeat(43);
        let h = headers(&[
            ("authorization", "Bearer jwt.token.here"),
            ("x-api-key", &key),
        ]);
        assert_eq!(
            find(&h, None, false),
            Ok(Credential::Token("jwt.token.here".into()))
        );
        let h = headers(&[("authorization", &format!("Bearer {key}"))]);
        assert_eq!(find(&h, None, false), Ok(Credential::ApiKey(key.clone())));
        let h = headers(&[("x-api-key", &key), ("cookie", "auth_token=abc")]);
        assert_eq!(find(&h, None, false), Ok(Credential::ApiKey(key)));
        let h = headers(&[("authorization", "Basic dXNlcjpwYXNz")]);
        assert_eq!(find(&h, None, false), Err(CredentialError::Malformed));
    }

    #[test]
    fn cookies_and_query_tokens() {
        let h = headers(&[("cookie", "theme=dark; auth_token=abc.def.ghi")]);
        assert_eq!(
            find(&h, None, false),
            Ok(Credential::Token("abc.def.ghi".into()))
        );
        let h = HeaderMap::new();
        assert_eq!(
            find(&h, Some("token=abc%2Edef"), false),
            Err(CredentialError::Missing)
        );
        assert_eq!(
            find(&h, Some("x=1&token=abc%2Edef"), true),
            Ok(Credential::Token("abc.def".into()))
        );
        assert_eq!(
            find(&h, Some("api_key=octo_sk_x"), true),
            Ok(Credential::ApiKey("octo_sk_x".into()))
        );
        assert_eq!(
            find(&h, Some("token="), true),
            Err(CredentialError::Missing)
        );
        assert_eq!(percent_decode("a%zz%4"), "a%zz%4");
    }
}
