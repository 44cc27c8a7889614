//! Verifying the address: code entry, and the mailed link's landing, whose button POSTs the
//! token (opening the link uses nothing up, so mail scanners that prefetch links are harmless).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use doorway_core::email::EmailAddress;
use doorway_core::flows::verification::{self, Proof};

use super::Chrome;
use super::render::{self, FormErrors, PageForm, PageQuery, PageView, see_other, with_query};
use super::return_to::ReturnTo;
use crate::client_info::Client;
use crate::contracts::common::presented_access_token;
use crate::contracts::native::email::code_error;
use crate::errors::{ApiError, FieldError};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "ui/verify_email.html")]
pub(crate) struct VerifyPage {
    chrome: Chrome,
    errors: FormErrors,
    notice: &'static str,
    return_to: String,
    email: String,
    /// A mailed link's token: the page then only confirms it.
    token: String,
}

impl PageView for VerifyPage {
    fn chrome(&self) -> &Chrome {
        &self.chrome
    }
}

/// The code entry page, or (with `token`) the mailed link's confirmation page.
#[utoipa::path(get, path = "/ui/verify-email", operation_id = "pagesVerifyEmail", tag = "pages", params(PageQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "The code form, or the link's confirm button; verifies nothing"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` is not allowed"),
        (status = 404, content_type = "text/html", body = String, description = "No such project"),
    ))]
pub(crate) async fn page(chrome: Chrome, Query(q): Query<PageQuery>) -> Response {
    let Ok(return_to) = ReturnTo::parse(q.return_to.as_deref(), &chrome.project) else {
        return render::return_to_refused(&chrome);
    };
    let notice = render::notice(q.notice.as_deref(), chrome.m);
    let view = VerifyPage {
        chrome,
        errors: FormErrors::default(),
        notice,
        return_to: return_to.field(),
        email: q.email.unwrap_or_default(),
        token: q.token.unwrap_or_default(),
    };
    render::page(StatusCode::OK, &view)
}

/// The verify form's fields: `email` and `code`, or the link's `token`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = PagesVerifyForm)]
pub struct VerifyForm {
    csrf: String,
    #[schema(format = Email)]
    email: Option<String>,
    code: Option<String>,
    token: Option<String>,
    return_to: Option<String>,
}

/// Verify the address by code or link; 303 to the landing (which sends a browser without a
/// session to sign in).
#[utoipa::path(post, path = "/ui/verify-email", operation_id = "pagesVerifyEmailSubmit", tag = "pages",
    request_body(content = VerifyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Verified: to `welcome`"),
        (status = 400, content_type = "text/html", body = String, description = "The form again: wrong or expired code; or `return_to` not allowed, or an unreadable form"),
        (status = 403, content_type = "text/html", body = String, description = "Missing or wrong CSRF token, or a cross-site post"),
        (status = 413, content_type = "text/html", body = String, description = "The form is too large"),
        (status = 415, content_type = "text/html", body = String, description = "Not a urlencoded form"),
        (status = 422, content_type = "text/html", body = String, description = "The form again: a field is missing"),
        (status = 429, content_type = "text/html", body = String, description = "The form again: too many codes tried; see Retry-After"),
    ))]
pub(crate) async fn submit(
    State(state): State<AppState>,
    chrome: Chrome,
    Client(client): Client,
    headers: HeaderMap,
    form: PageForm,
) -> Response {
    let return_to = match form.checked_return_to(&headers, &chrome) {
        Ok(return_to) => return_to,
        Err(refused) => return *refused,
    };
    let ctx = chrome.project.clone();
    let (email, code, token) = (form.get("email"), form.get("code").trim(), form.get("token"));
    // Inside the account's own session the address is proved without dropping what it set up.
    let session = presented_access_token(&state, &ctx, &headers);
    let proof = if token.is_empty() {
        let missing: Vec<_> = [("email", email), ("code", code)]
            .into_iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(f, _)| FieldError::new(f, format!("{f} is required")))
            .collect();
        if missing.is_empty() { Ok(Proof::Code { email, code }) } else { Err(ApiError::validation(missing)) }
    } else {
        Ok(Proof::Link { token })
    };
    let verified = match proof {
        Ok(proof) => verification::verify_email(&state.services, &ctx, proof, session, &client)
            .await
            .map_err(|e| code_error(e, StatusCode::BAD_REQUEST)),
        Err(e) => Err(e),
    };
    match verified {
        Ok(_) => see_other(
            CookieJar::new(),
            &with_query(&chrome.page("welcome"), &[("return_to", &return_to.field()), ("notice", "verified")]),
        ),
        Err(e) => render::refused_form(e, chrome, |chrome, errors| VerifyPage {
            chrome,
            errors: if token.is_empty() { errors } else { errors.detach("code") },
            notice: "",
            return_to: return_to.field(),
            email: email.to_owned(),
            token: token.to_owned(),
        }),
    }
}

/// The resend form's fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = PagesResendForm)]
pub struct ResendForm {
    csrf: String,
    #[schema(format = Email)]
    email: String,
    return_to: Option<String>,
}

/// Send the verification mail again; 303 back to the code page (the same answer whether or
/// not the address has an unverified account).
#[utoipa::path(post, path = "/ui/verify-email/resend", operation_id = "pagesResendVerification", tag = "pages",
    request_body(content = ResendForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To `verify-email`"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` not allowed, or an unreadable form"),
        (status = 403, content_type = "text/html", body = String, description = "Missing or wrong CSRF token, or a cross-site post"),
        (status = 413, content_type = "text/html", body = String, description = "The form is too large"),
        (status = 415, content_type = "text/html", body = String, description = "Not a urlencoded form"),
        (status = 422, content_type = "text/html", body = String, description = "The code page again: not an email address"),
        (status = 429, content_type = "text/html", body = String, description = "The code page again: mail budget spent; see Retry-After"),
    ))]
pub(crate) async fn resend(
    State(state): State<AppState>,
    chrome: Chrome,
    Client(client): Client,
    headers: HeaderMap,
    form: PageForm,
) -> Response {
    let return_to = match form.checked_return_to(&headers, &chrome) {
        Ok(return_to) => return_to,
        Err(refused) => return *refused,
    };
    let ctx = chrome.project.clone();
    let raw = form.get("email");
    let sent = match EmailAddress::parse(raw) {
        Err(e) => Err(ApiError::validation(vec![FieldError::new("email", e.to_string())])),
        Ok(email) => verification::resend_verification(&state.services, &ctx, &email, &client)
            .await
            .map(|()| email)
            .map_err(|e| code_error(e, StatusCode::BAD_REQUEST)),
    };
    match sent {
        Ok(email) => see_other(
            CookieJar::new(),
            &with_query(
                &chrome.page("verify-email"),
                &[("email", email.as_str()), ("notice", "resent"), ("return_to", &return_to.field())],
            ),
        ),
        Err(e) => render::refused_form(e, chrome, |chrome, errors| VerifyPage {
            chrome,
            errors,
            notice: "",
            return_to: return_to.field(),
            email: raw.to_owned(),
            token: String::new(),
        }),
    }
}
