//! Binds an OAuth redirect round trip to the browser that started it, against login CSRF (an
//! attacker starting a flow and making a victim's browser finish it with the attacker's code).
//! The start response sets a short-lived HttpOnly cookie holding the state, scoped to the
//! callback path; a callback whose state is not in that cookie is refused before the state is
//! used, so the browser that did start the flow can still finish it. SameSite=Lax lets the
//! provider's top-level redirect carry the cookie.

use axum::http::HeaderMap;
use axum_extra::extract::cookie::Cookie;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::cookies::{CookiePolicy, cookie_values};

const COOKIE: &str = "doorway_oauth_state";
/// The server-side state lives 10 minutes; the cookie need not outlive it.
const TTL_SECS: i64 = 600;

/// The path the provider sends the browser back to, from the registered redirect URI.
fn callback_path(redirect_uri: &str) -> String {
    url::Url::parse(redirect_uri).map(|u| u.path().to_owned()).unwrap_or_else(|_| "/".to_owned())
}

/// The cookie set on the start response.
pub fn bind(policy: CookiePolicy, state: String, redirect_uri: &str) -> Cookie<'static> {
    policy.set(COOKIE, state, callback_path(redirect_uri), TTL_SECS)
}

/// Clears the cookie once its callback was served.
pub fn release(policy: CookiePolicy, redirect_uri: &str) -> Cookie<'static> {
    policy.clear(COOKIE, callback_path(redirect_uri))
}

/// Whether this browser started the flow whose state came back.
pub fn is_bound(headers: &HeaderMap, state: &str) -> bool {
    let expected = Sha256::digest(state.as_bytes());
    // Digests have equal lengths, so the comparison time says nothing about the cookie.
    cookie_values(headers, COOKIE)
        .iter()
        .fold(false, |found, v| found | bool::from(Sha256::digest(v.as_bytes()).ct_eq(&expected)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, header};

    #[test]
    fn only_the_cookie_of_that_state_binds() {
        let mut headers = HeaderMap::new();
        assert!(!is_bound(&headers, "s1"));
        headers.insert(header::COOKIE, HeaderValue::from_static("other=s1; doorway_oauth_state=s1"));
        assert!(is_bound(&headers, "s1"));
        assert!(!is_bound(&headers, "s2"));
        assert!(!is_bound(&headers, ""));
    }

    #[test]
    fn finds_the_callback_path() {
        assert_eq!(
            callback_path("http://127.0.0.1:8080/acme/api/auth/oauth/google/callback"),
            "/acme/api/auth/oauth/google/callback"
        );
    }
}
