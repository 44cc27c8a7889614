//! Doorway's own HTML pages. A link in a mail opens a confirmation page whose button POSTs the
//! token back as a form, so a mail scanner that prefetches links uses nothing up. The page is
//! self-contained: no script, one hashed style block, every value escaped, never cached, no
//! referrer (the URL carries the token), no framing.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}\
button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}";

/// The page's CSP: only its own style block, forms only to Doorway itself.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
});

/// What a confirmation page says and where its button posts (relative to the page's path).
pub struct Confirmation {
    pub title: &'static str,
    pub text: &'static str,
    pub button: &'static str,
    pub action: &'static str,
    /// The label of a new-password field the form also posts (as `password`), if any.
    pub password_field: Option<&'static str>,
}

/// The page for `token`, answered with status 200.
pub fn confirmation(page: &Confirmation, token: &str) -> Response {
    let field = match page.password_field {
        Some(label) => format!(
            "<p><label for=\"password\">{}</label><br>\n\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required></p>\n",
            escape(label)
        ),
        None => String::new(),
    };
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<h1>{title}</h1>\n<p>{text}</p>\n\
         <form method=\"post\" action=\"{action}\">\n<input type=\"hidden\" name=\"token\" value=\"{token}\">\n{field}\
         <button type=\"submit\">{button}</button>\n</form>\n</body>\n</html>\n",
        title = escape(page.title),
        text = escape(page.text),
        action = escape(page.action),
        token = escape(token),
        button = escape(page.button),
    );
    html_page(StatusCode::OK, html)
}

/// A page that only says how a form post ended.
pub fn notice(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<h1>{title}</h1>\n<p role=\"status\">{text}</p>\n</body>\n</html>\n",
        title = escape(title),
        text = escape(text),
    );
    html_page(status, html)
}

fn html_page(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(csp) = HeaderValue::from_str(&CSP) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// Escapes text for an HTML element or a quoted attribute.
fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape(r#""><script>x('&')</script>"#), "&quot;&gt;&lt;script&gt;x(&#39;&amp;&#39;)&lt;/script&gt;");
    }
}
