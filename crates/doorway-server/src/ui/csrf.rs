//! CSRF tokens for the pages' forms (double submit): a random value lives in an HttpOnly,
//! SameSite=Strict cookie scoped to the pages' path, and every form carries the same value in
//! its `csrf` field; a POST whose field does not equal one of the cookie's values (compared in
//! constant time) is refused with 403. The cross-site guard in front of every route
//! (`same_origin`) also refuses cookie-carrying posts from other origins, siblings included,
//! so a value planted by a sibling subdomain cannot be used from there either.

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::cookies::{CookiePolicy, cookie_values};

pub(crate) const COOKIE: &str = "doorway_csrf";
/// The form field that carries the token.
pub(crate) const FIELD: &str = "csrf";
/// A day: a form left open longer gets a clear "reload" answer.
const TTL_SECS: i64 = 86_400;

/// A token the browser already holds in a well-formed cookie, else a new one with the cookie
/// that sets it (path `base`, the pages' path of the project).
pub(crate) fn token(headers: &HeaderMap, policy: CookiePolicy, base: &str) -> (String, Option<Cookie<'static>>) {
    if let Some(existing) = cookie_values(headers, COOKIE).into_iter().find(|v| well_formed(v)) {
        return (existing.to_owned(), None);
    }
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let cookie = Cookie::build((COOKIE, value.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(policy.secure)
        .path(base.to_owned())
        .max_age(time::Duration::seconds(TTL_SECS))
        .build();
    (value, Some(cookie))
}

/// Whether the posted field matches a token cookie the request carries.
pub(crate) fn is_valid(headers: &HeaderMap, presented: Option<&str>) -> bool {
    let Some(presented) = presented.filter(|p| well_formed(p)) else { return false };
    cookie_values(headers, COOKIE)
        .into_iter()
        .filter(|v| well_formed(v))
        .fold(false, |found, v| found | bool::from(v.as_bytes().ct_eq(presented.as_bytes())))
}

/// 32 random bytes, base64url without padding.
fn well_formed(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, header};

    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&format!("{COOKIE}={value}")).unwrap());
        headers
    }

    #[test]
    fn a_new_token_is_set_once_and_then_reused() {
        let policy = CookiePolicy { secure: true };
        let (token, cookie) = token(&HeaderMap::new(), policy, "/acme/ui");
        let cookie = cookie.unwrap();
        assert_eq!((cookie.value(), cookie.path(), cookie.http_only()), (token.as_str(), Some("/acme/ui"), Some(true)));
        let (again, none) = super::token(&with_cookie(&token), policy, "/acme/ui");
        assert_eq!(again, token);
        assert!(none.is_none());
    }

    #[test]
    fn only_the_cookies_value_passes() {
        let (token, _) = token(&HeaderMap::new(), CookiePolicy { secure: false }, "/ui");
        let headers = with_cookie(&token);
        assert!(is_valid(&headers, Some(&token)));
        let (other, _) = super::token(&HeaderMap::new(), CookiePolicy { secure: false }, "/ui");
        assert!(!is_valid(&headers, Some(&other)));
        assert!(!is_valid(&headers, None));
        assert!(!is_valid(&HeaderMap::new(), Some(&token)));
        assert!(!is_valid(&with_cookie("short"), Some("short")));
    }
}
