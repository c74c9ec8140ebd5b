//! The WebSocket upgrade's `Origin` check. Browsers send cookies with cross-site WebSocket
//! handshakes, so a page on another site could otherwise act as the logged-in user. Allowed:
//! no `Origin` (not a browser: the CLI, tests), an origin on the configured list, or, when the
//! list is empty, the gateway's own origin (same scheme-less host as the `Host` header).

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};

pub fn allowed(headers: &HeaderMap, allow_list: &[String]) -> Result<(), String> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .map_err(|_| "the Origin header is not text".to_owned())?
        .trim_end_matches('/');
    if allow_list
        .iter()
        .any(|allowed| allowed == "*" || allowed.trim_end_matches('/') == origin)
    {
        return Ok(());
    }
    if allow_list.is_empty() {
        let host = headers.get(HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        if host.is_some() && origin_host == host {
            return Ok(());
        }
    }
    Err(format!(
        "origin {origin:?} is not allowed to open the WebSocket (configure --allowed-origins)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            map.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        map
    }

    #[test]
    fn same_origin_listed_origins_and_non_browsers_pass() {
        assert!(allowed(&headers(None, "oqto.example"), &[]).is_ok());
        assert!(allowed(&headers(Some("https://oqto.example"), "oqto.example"), &[]).is_ok());
        assert!(allowed(&headers(Some("https://evil.example"), "oqto.example"), &[]).is_err());
        let list = vec!["https://ui.example/".to_owned()];
        assert!(allowed(&headers(Some("https://ui.example"), "api.example"), &list).is_ok());
        // With a list, only the list counts (same-origin must be listed too).
        assert!(allowed(&headers(Some("https://api.example"), "api.example"), &list).is_err());
        assert!(allowed(&headers(Some("null"), "api.example"), &[]).is_err());
    }
}
