//! Session cookies: HttpOnly, SameSite=Lax, path-scoped to the project's routes, and Secure
//! unless Doorway is reached over plain http on loopback (local development).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use time::Duration;

#[derive(Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    pub fn for_public_url(public_url: &str) -> Self {
        let loopback_http = url::Url::parse(public_url).is_ok_and(|u| {
            u.scheme() == "http"
                && match u.host() {
                    Some(url::Host::Domain(d)) => d == "localhost",
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                }
        });
        Self { secure: !loopback_http }
    }

    pub fn set(&self, name: &'static str, value: String, path: String, max_age_secs: i64) -> Cookie<'static> {
        Cookie::build((name, value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .path(path)
            .max_age(Duration::seconds(max_age_secs))
            .build()
    }

    /// A cookie that makes the browser forget `name` at `path`.
    pub fn clear(&self, name: &'static str, path: String) -> Cookie<'static> {
        self.set(name, String::new(), path, 0)
    }
}

/// A 302 to `to`, carrying the cookies of `jar`.
pub fn redirect(jar: CookieJar, to: &str) -> Response {
    let mut response = (jar, StatusCode::FOUND).into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `url` with one more query parameter.
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{key}={value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_except_plain_http_on_loopback() {
        assert!(!CookiePolicy::for_public_url("http://127.0.0.1:8080").secure);
        assert!(!CookiePolicy::for_public_url("http://localhost:8080").secure);
        assert!(!CookiePolicy::for_public_url("http://[::1]:8080").secure);
        assert!(CookiePolicy::for_public_url("http://auth.example.com").secure);
        assert!(CookiePolicy::for_public_url("https://localhost").secure);
    }
}
