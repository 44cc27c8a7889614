//! Session cookies: HttpOnly, SameSite=Lax, path-scoped to the project's routes, and Secure
//! unless Doorway is reached over plain http on loopback (local development).

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
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

    pub fn set(
        &self,
        name: impl Into<Cow<'static, str>>,
        value: String,
        path: String,
        max_age_secs: i64,
    ) -> Cookie<'static> {
        Cookie::build((name, value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .path(path)
            .max_age(Duration::seconds(max_age_secs))
            .build()
    }

    /// A cookie that makes the browser forget `name` at `path`.
    pub fn clear(&self, name: impl Into<Cow<'static, str>>, path: String) -> Cookie<'static> {
        self.set(name, String::new(), path, 0)
    }
}

/// Every value the request sent for cookie `name`, in the order sent. A browser sends several
/// cookies of one name when they differ in path (`/` and `/acme`), so a reader that must pick
/// one looks at them all; `CookieJar` keeps only one per name.
pub fn cookie_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, v)| *n == name && !v.is_empty())
        .map(|(_, v)| v)
        .collect()
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
    fn every_value_of_a_name_in_order() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2; a=3"));
        headers.append(header::COOKIE, HeaderValue::from_static("a=4;a=; ab=5"));
        assert_eq!(cookie_values(&headers, "a"), ["1", "3", "4"]);
        assert!(cookie_values(&headers, "c").is_empty());
    }

    proptest::proptest! {
        /// Any header bytes: no panic, and what comes back is a non-empty value without `;`.
        #[test]
        fn any_cookie_header_parses_without_panic(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200), name in "[a-z_=; ]{0,8}") {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_bytes(&raw) {
                headers.append(header::COOKIE, value);
            }
            for value in cookie_values(&headers, &name) {
                proptest::prop_assert!(!value.is_empty() && !value.contains(';'));
            }
        }

        /// A header built from pairs gives back exactly the values of that name, in order.
        #[test]
        fn values_of_a_name_round_trip(pairs in proptest::collection::vec(("[a-c]{1,2}", "[A-Za-z0-9._~=-]{0,12}"), 0..12)) {
            let line = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
            let mut headers = HeaderMap::new();
            headers.append(header::COOKIE, HeaderValue::from_str(&line).unwrap());
            let expected: Vec<&str> = pairs.iter().filter(|(n, v)| n == "a" && !v.is_empty()).map(|(_, v)| v.as_str()).collect();
            proptest::prop_assert_eq!(cookie_values(&headers, "a"), expected);
        }
    }

    #[test]
    fn secure_except_plain_http_on_loopback() {
        assert!(!CookiePolicy::for_public_url("http://127.0.0.1:8080").secure);
        assert!(!CookiePolicy::for_public_url("http://localhost:8080").secure);
        assert!(!CookiePolicy::for_public_url("http://[::1]:8080").secure);
        assert!(CookiePolicy::for_public_url("http://auth.example.com").secure);
        assert!(CookiePolicy::for_public_url("https://localhost").secure);
    }
}
