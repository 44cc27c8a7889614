//! Answering with a page: the CSP, `no-store`, the CSRF cookie, form errors, redirects
//! (303, post/redirect/get) and the HTML refusal used before or outside a page.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Form, FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::branding::Brand;
use super::i18n::{Locale, Messages};
use super::return_to::ReturnTo;
use super::{Chrome, csrf};
use crate::errors::{ApiError, with_cause};

/// The page's Content-Security-Policy: scripts and styles only from Doorway (plus the hashed
/// brand colour block), no framing, forms only to Doorway (plus the OAuth providers a form
/// redirects to, since `form-action` also governs the redirect after a post).
pub(crate) struct Csp {
    style_hash: Option<String>,
    img_src: Vec<String>,
    pub(crate) form_action: Vec<String>,
    pub(crate) connect_src: Vec<String>,
    pub(crate) worker_src: Vec<String>,
}

impl Csp {
    pub(crate) fn for_brand(brand: &Brand) -> Self {
        Self {
            style_hash: brand.style.as_ref().map(|s| {
                format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes())))
            }),
            img_src: brand.logo_origin.iter().cloned().collect(),
            form_action: Vec::new(),
            connect_src: Vec::new(),
            worker_src: Vec::new(),
        }
    }

    pub(crate) fn header(&self) -> String {
        let with = |base: &str, extra: &[String]| {
            extra.iter().fold(base.to_owned(), |mut out, s| {
                out.push(' ');
                out.push_str(s);
                out
            })
        };
        let style = with("'self'", self.style_hash.as_slice());
        let mut csp = format!(
            "default-src 'none'; script-src 'self'; style-src {style}; img-src {}; connect-src {}; form-action {}; \
             base-uri 'none'; frame-ancestors 'none'",
            with("'self'", &self.img_src),
            with("'self'", &self.connect_src),
            with("'self'", &self.form_action),
        );
        if !self.worker_src.is_empty() {
            csp.push_str(&format!("; worker-src {}", with("'self'", &self.worker_src)));
        }
        csp
    }
}

/// One problem of a form: its field (the input's id), if any, and the text shown.
pub(crate) struct FormError {
    pub(crate) field: Option<String>,
    /// The field's label, for the summary (empty when the page has no such label).
    pub(crate) label: &'static str,
    pub(crate) message: String,
}

/// The problems of a posted form, shown next to their fields and in the page's summary.
#[derive(Default)]
pub(crate) struct FormErrors(Vec<FormError>);

impl FormErrors {
    fn field(field: &str, m: &Messages, message: impl Into<String>) -> Self {
        Self(vec![FormError { field: Some(field.to_owned()), label: m.label(field), message: message.into() }])
    }

    pub(crate) fn form(message: impl Into<String>) -> Self {
        Self(vec![FormError { field: None, label: "", message: message.into() }])
    }

    /// A refusal of the flows (in the native API's terms) in the locale's words where it has
    /// them; policy and name rules keep the flow's own text.
    pub(crate) fn from_api(e: &ApiError, m: &Messages) -> Self {
        if let Some(details) = e.details.as_deref().filter(|d| !d.is_empty()) {
            // The summary lists problems in the order of the fields on the pages.
            let rank = |field: &str| {
                ["name", "email", "code-email", "code", "password"]
                    .iter()
                    .position(|f| *f == field)
                    .unwrap_or(usize::MAX)
            };
            let mut details: Vec<_> = details.iter().collect();
            details.sort_by_key(|d| rank(&d.field));
            return Self(
                details
                    .iter()
                    .map(|d| FormError {
                        field: Some(d.field.clone()),
                        label: m.label(&d.field),
                        message: if d.message.ends_with(" is required") {
                            m.err_required.to_owned()
                        } else {
                            d.message.clone()
                        },
                    })
                    .collect(),
            );
        }
        match e.code {
            "EMAIL_EXISTS" => Self::field("email", m, m.err_email_taken),
            "INVALID_CREDENTIALS" => Self::form(m.err_credentials),
            "INVALID_CODE" => Self::field("code", m, m.err_code_invalid),
            "CODE_EXPIRED" => Self::field("code", m, m.err_code_expired),
            "RATE_LIMITED" => Self::form(m.err_rate_limited),
            "SERVICE_UNAVAILABLE" => Self::form(m.err_busy),
            crate::contracts::common::bot_check::REFUSED_CODE => Self::field("altcha", m, m.err_bot_check),
            _ => Self::form(e.message.clone()),
        }
    }

    /// The errors of a field the page does not show (a link's token stands in for the code)
    /// become the form's own.
    pub(crate) fn detach(mut self, field: &str) -> Self {
        for e in self.0.iter_mut().filter(|e| e.field.as_deref() == Some(field)) {
            e.field = None;
            e.label = "";
        }
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn list(&self) -> &[FormError] {
        &self.0
    }

    /// The message for `field`, or empty.
    pub(crate) fn get(&self, field: &str) -> &str {
        self.0.iter().find(|e| e.field.as_deref() == Some(field)).map_or("", |e| e.message.as_str())
    }
}

/// A page template with its chrome.
pub(crate) trait PageView: Template {
    fn chrome(&self) -> &Chrome;
}

/// Answers a rendered page: `no-store`, the page's CSP, and the CSRF cookie when it is new.
pub(crate) fn page(status: StatusCode, view: &impl PageView) -> Response {
    let chrome = view.chrome();
    let html = match view.render() {
        Ok(html) => html,
        Err(e) => return with_cause(refusal(StatusCode::INTERNAL_SERVER_ERROR, chrome.m.err_internal), &e),
    };
    let jar = chrome.csrf_cookie.clone().map_or_else(CookieJar::new, |c| CookieJar::new().add(c));
    let mut response = (status, jar, html).into_response();
    html_headers(response.headers_mut(), &chrome.csp.header());
    response
}

/// A refused flow shown on its form (4xx, with `Retry-After` when it has one), or the error
/// page for a failure of ours (the cause is logged at the edge, never shown).
pub(crate) fn refused_form<V: PageView>(
    e: ApiError,
    chrome: Chrome,
    view: impl FnOnce(Chrome, FormErrors) -> V,
) -> Response {
    if e.status.is_server_error() && e.status != StatusCode::SERVICE_UNAVAILABLE {
        let response = refusal(e.status, chrome.m.err_internal);
        return match &e.cause {
            Some(cause) => with_cause(response, cause),
            None => response,
        };
    }
    let errors = FormErrors::from_api(&e, chrome.m);
    let mut response = page(e.status, &view(chrome, errors));
    if let Some(secs) = e.retry_after_secs {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The 400 of a `return_to` that is neither a path of ours nor on the allow-list.
pub(crate) fn return_to_refused(chrome: &Chrome) -> Response {
    refusal(StatusCode::BAD_REQUEST, chrome.m.err_return_to)
}

/// The query parameters of the pages (each page reads the ones it needs).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Where to go once signed in: a path of Doorway's, or a URL under the project's
    /// `redirect_allowlist`; anything else is refused with 400.
    pub(crate) return_to: Option<String>,
    /// Pre-fills the email field.
    pub(crate) email: Option<String>,
    /// A mailed link's token (verify email, reset password): shown in a form, used only by its POST.
    pub(crate) token: Option<String>,
    /// What the previous step did (`verified`, `resent`, `code-sent`, `reset-sent`, `reset`, `signed-out`).
    pub(crate) notice: Option<String>,
    /// Why an OAuth sign-in failed (`oauth_failed`, `access_denied`, `account_exists`, `signup_denied`).
    pub(crate) error: Option<String>,
}

/// 303 to `location` (a path of ours or an allow-listed URL), with `jar`'s cookies.
pub(crate) fn see_other(jar: CookieJar, location: &str) -> Response {
    let mut response = (StatusCode::SEE_OTHER, jar).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `path?k=v&…` with the non-empty pairs, form-encoded.
pub(crate) fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    let query = query.finish();
    if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") }
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    m: &'static Messages,
    brand: Brand,
    stylesheet: String,
    message: &'a str,
}

/// A page that only says what went wrong: for refusals raised before a handler ran (unknown
/// project, 404, 405, 413, 415) and failures; English, Doorway's own look.
pub(crate) fn refusal(status: StatusCode, message: &str) -> Response {
    let brand = Brand::plain();
    let csp = Csp::for_brand(&brand).header();
    let page = ErrorPage {
        m: Locale::En.messages(),
        brand,
        stylesheet: super::assets::url("/ui", "ui.css").unwrap_or_default(),
        message,
    };
    let html = page.render().unwrap_or_else(|_| message.to_owned());
    let mut response = (status, html).into_response();
    html_headers(response.headers_mut(), &csp);
    response
}

fn html_headers(headers: &mut HeaderMap, csp: &str) {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Ok(csp) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
}

/// A posted form's fields (`application/x-www-form-urlencoded`); an unreadable body is an
/// HTML refusal.
pub(crate) struct PageForm(pub(crate) BTreeMap<String, String>);

impl PageForm {
    pub(crate) fn get(&self, field: &str) -> &str {
        self.0.get(field).map_or("", String::as_str)
    }

    /// Whether the form carries the CSRF token of the browser's cookie.
    pub(crate) fn csrf_ok(&self, headers: &HeaderMap) -> bool {
        csrf::is_valid(headers, self.0.get(csrf::FIELD).map(String::as_str))
    }

    /// The prologue of every form post that may return somewhere: the CSRF token, then the
    /// allow-listed `return_to`; the refusal page otherwise.
    pub(crate) fn checked_return_to(&self, headers: &HeaderMap, chrome: &Chrome) -> Result<ReturnTo, Box<Response>> {
        if !self.csrf_ok(headers) {
            return Err(Box::new(csrf_refused(chrome)));
        }
        ReturnTo::parse(Some(self.get("return_to")), &chrome.project).map_err(|_| Box::new(return_to_refused(chrome)))
    }
}

impl<S: Send + Sync> FromRequest<S> for PageForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Form::<BTreeMap<String, String>>::from_request(req, state).await {
            Ok(Form(fields)) => Ok(Self(fields)),
            Err(r) => {
                let status = if r.status().is_client_error() { r.status() } else { StatusCode::BAD_REQUEST };
                Err(refusal(status, &r.body_text()))
            }
        }
    }
}

/// The 403 of a post without the right CSRF token: its form's page again would need the form's
/// values, so it says what to do instead.
pub(crate) fn csrf_refused(chrome: &Chrome) -> Response {
    let mut response = refusal(StatusCode::FORBIDDEN, chrome.m.err_csrf);
    // The browser may lack the cookie altogether: set it, so a reload works.
    if let Some(cookie) = &chrome.csrf_cookie
        && let Ok(value) = HeaderValue::from_str(&cookie.to_string())
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A short message a page shows after a redirect (`?notice=`); unknown values show nothing.
pub(crate) fn notice(raw: Option<&str>, m: &Messages) -> &'static str {
    match raw.unwrap_or_default() {
        "verified" => m.verified,
        "resent" => m.resent,
        "code-sent" => m.code_sent,
        "reset-sent" => m.reset_sent,
        "reset" => m.reset_done,
        "signed-out" => m.signed_out,
        _ => "",
    }
}

/// The text for `?error=` of the OAuth callback's redirect; unknown values show nothing.
pub(crate) fn oauth_error(raw: Option<&str>, m: &Messages) -> &'static str {
    match raw.unwrap_or_default() {
        "oauth_failed" | "access_denied" => m.err_oauth_failed,
        "account_exists" => m.err_account_exists,
        "signup_denied" => m.err_denied,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_allows_only_doorway_scripts_and_no_framing() {
        let brand = Brand { style: Some(":root{--primary:#123456}".into()), ..Brand::plain() };
        let mut csp = Csp::for_brand(&brand);
        csp.form_action.push("https://accounts.example".into());
        let header = csp.header();
        assert!(header.contains("script-src 'self';"), "{header}");
        assert!(header.contains("frame-ancestors 'none'"), "{header}");
        assert!(header.contains("form-action 'self' https://accounts.example;"), "{header}");
        assert!(header.contains("style-src 'self' 'sha256-"), "{header}");
        assert!(!header.contains("unsafe-inline"), "{header}");
    }

    #[test]
    fn queries_leave_out_empty_values_and_encode_the_rest() {
        assert_eq!(with_query("/ui/sign-in", &[("return_to", ""), ("notice", "")]), "/ui/sign-in");
        assert_eq!(
            with_query("/ui/welcome", &[("return_to", "https://app.example/a?b=c&d"), ("notice", "reset")]),
            "/ui/welcome?return_to=https%3A%2F%2Fapp.example%2Fa%3Fb%3Dc%26d&notice=reset"
        );
    }
}
