//! Cross-site request forgery stops here, for every write under `/api`:
//! - a body must be declared `application/json`: an HTML form on another site can post only
//!   `text/plain`, `multipart/form-data` or `application/x-www-form-urlencoded` without asking
//!   (a JSON body of such a form would otherwise be read as one);
//! - a write that the browser authenticates by itself (the `auth_token` cookie) must come from
//!   an allowed `Origin` (the gateway's own, or `--allowed-origins`), which catches the body-less
//!   writes (suspend, delete, logout) a form or `fetch` on another site could send.
//!
//! Requests with a bearer token or an API key carry a credential a foreign page cannot read, so
//! only the content type applies to them.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, TRANSFER_ENCODING};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::origin;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn check(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if is_write(request.method())
        && let Err(error) = allowed(request.headers(), &state.settings.allowed_origins)
    {
        return error.into_response();
    }
    next.run(request).await
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn allowed(headers: &HeaderMap, allowed_origins: &[String]) -> Result<(), ApiError> {
    if has_body(headers) && !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type: a request body must be application/json".into(),
        ));
    }
    if authenticated_by_cookie(headers) {
        origin::allowed(headers, allowed_origins).map_err(|reason| {
            ApiError::Forbidden(format!(
                "Origin: {reason}; a cookie cannot authorize this write"
            ))
        })?;
    }
    Ok(())
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The cookie is what authenticates when no header credential is sent (the gateway prefers
/// the headers).
fn authenticated_by_cookie(headers: &HeaderMap) -> bool {
    !headers.contains_key(AUTHORIZATION)
        && !headers.contains_key("x-api-key")
        && headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(';').any(|c| c.trim().starts_with("auth_token=")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_headers as headers;

    #[test]
    fn a_form_post_from_another_site_is_refused() {
        // A cross-site form: text/plain body, the browser's cookie, a foreign Origin.
        let form = headers(&[
            ("host", "oqto.example"),
            ("origin", "https://evil.example"),
            ("cookie", "auth_token=t"),
            ("content-type", "text/plain"),
            ("content-length", "40"),
        ]);
        assert!(matches!(
            allowed(&form, &[]),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        // A body-less write (suspend) from another site with the cookie.
        let bodyless = headers(&[
            ("host", "oqto.example"),
            ("origin", "https://evil.example"),
            ("cookie", "x=1; auth_token=t"),
        ]);
        let refused = allowed(&bodyless, &[]).unwrap_err().to_string();
        assert!(refused.starts_with("Origin:"), "{refused}");
    }

    #[test]
    fn the_ui_and_clients_with_header_credentials_pass() {
        let ui = headers(&[
            ("host", "oqto.example"),
            ("origin", "https://oqto.example"),
            ("cookie", "auth_token=t"),
            ("content-type", "application/json; charset=utf-8"),
            ("content-length", "2"),
        ]);
        assert!(allowed(&ui, &[]).is_ok());
        let cli = headers(&[
            ("host", "oqto.example"),
            ("authorization", "Bearer t"),
            ("content-type", "application/json"),
            ("content-length", "2"),
        ]);
        assert!(allowed(&cli, &[]).is_ok());
        // A bearer token from another origin: the page had to hold the token itself.
        let other = headers(&[
            ("host", "oqto.example"),
            ("origin", "https://ui.example"),
            ("authorization", "Bearer t"),
        ]);
        assert!(allowed(&other, &[]).is_ok());
        // No body, no content type needed.
        assert!(allowed(&headers(&[("authorization", "Bearer t")]), &[]).is_ok());
        let no_type = headers(&[("authorization", "Bearer t"), ("content-length", "2")]);
        assert!(allowed(&no_type, &[]).is_err(), "a body without a type");
    }
}
