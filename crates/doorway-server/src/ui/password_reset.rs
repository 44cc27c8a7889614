//! Forgotten password: ask for a reset mail, then set a new password with the mailed code or
//! link. The link in the mail (`/api/auth/reset-password?token=`) redirects here, so there is
//! one reset page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use doorway_core::flows::password_recovery::{self, ResetLink};
use serde_json::json;

use super::Chrome;
use super::render::{self, FormErrors, PageForm, PageQuery, PageView, see_other, with_query};
use crate::client_info::Client;
use crate::contracts::native::account::{recovery_error, reset_with};
use crate::errors::{ApiError, FieldError};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "ui/forgot_password.html")]
pub(crate) struct ForgotPage {
    chrome: Chrome,
    errors: FormErrors,
    notice: &'static str,
    email: String,
}

impl PageView for ForgotPage {
    fn chrome(&self) -> &Chrome {
        &self.chrome
    }
}

#[derive(Template)]
#[template(path = "ui/reset_password.html")]
pub(crate) struct ResetPage {
    chrome: Chrome,
    errors: FormErrors,
    notice: &'static str,
    email: String,
    /// The mailed link's token: the page then asks only for the new password.
    token: String,
    password_hint: String,
}

impl PageView for ResetPage {
    fn chrome(&self) -> &Chrome {
        &self.chrome
    }
}

impl ResetPage {
    fn new(chrome: Chrome, errors: FormErrors, notice: &'static str, email: String, token: String) -> Self {
        let password_hint = chrome.m.password_hint(&chrome.project.project.settings.password_policy);
        Self { chrome, errors, notice, email, token, password_hint }
    }
}

/// The forgot-password page.
#[utoipa::path(get, path = "/ui/forgot-password", operation_id = "pagesForgotPassword", tag = "pages", params(PageQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "The address form"),
        (status = 400, content_type = "text/html", body = String, description = "An unreadable query string"),
        (status = 404, content_type = "text/html", body = String, description = "No such project"),
    ))]
pub(crate) async fn forgot_page(chrome: Chrome, Query(q): Query<PageQuery>) -> Response {
    let view = ForgotPage { chrome, errors: FormErrors::default(), notice: "", email: q.email.unwrap_or_default() };
    render::page(StatusCode::OK, &view)
}

/// The forgot-password form's fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = PagesForgotForm)]
pub struct ForgotForm {
    csrf: String,
    #[schema(format = Email)]
    email: String,
}

/// Mail a reset code and link; 303 to the reset page (the same answer whether or not the
/// address has an account).
#[utoipa::path(post, path = "/ui/forgot-password", operation_id = "pagesForgotPasswordSubmit", tag = "pages",
    request_body(content = ForgotForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To `reset-password`"),
        (status = 400, content_type = "text/html", body = String, description = "An unreadable form"),
        (status = 403, content_type = "text/html", body = String, description = "Missing or wrong CSRF token, or a cross-site post"),
        (status = 413, content_type = "text/html", body = String, description = "The form is too large"),
        (status = 415, content_type = "text/html", body = String, description = "Not a urlencoded form"),
        (status = 422, content_type = "text/html", body = String, description = "The form again: not an email address, or the project has no passwords"),
        (status = 429, content_type = "text/html", body = String, description = "The form again: mail budget spent; see Retry-After"),
    ))]
pub(crate) async fn forgot(
    State(state): State<AppState>,
    chrome: Chrome,
    Client(client): Client,
    headers: HeaderMap,
    form: PageForm,
) -> Response {
    if !form.csrf_ok(&headers) {
        return render::csrf_refused(&chrome);
    }
    let ctx = chrome.project.clone();
    let email = form.get("email").trim();
    let sent = if email.is_empty() {
        Err(ApiError::validation(vec![FieldError::new("email", "email is required")]))
    } else {
        password_recovery::request_password_reset(&state.services, &ctx, email, ResetLink::Hosted, &client)
            .await
            .map_err(recovery_error)
    };
    match sent {
        Ok(()) => see_other(
            CookieJar::new(),
            &with_query(&chrome.page("reset-password"), &[("email", email), ("notice", "reset-sent")]),
        ),
        Err(e) => render::refused_form(e, chrome, |chrome, errors| ForgotPage {
            chrome,
            errors,
            notice: "",
            email: email.to_owned(),
        }),
    }
}

/// The reset page: email, code and new password; with the mailed link's `token`, only the new
/// password.
#[utoipa::path(get, path = "/ui/reset-password", operation_id = "pagesResetPassword", tag = "pages", params(PageQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "The new-password form; changes nothing"),
        (status = 400, content_type = "text/html", body = String, description = "An unreadable query string"),
        (status = 404, content_type = "text/html", body = String, description = "No such project"),
    ))]
pub(crate) async fn reset_page(chrome: Chrome, Query(q): Query<PageQuery>) -> Response {
    let notice = render::notice(q.notice.as_deref(), chrome.m);
    let view =
        ResetPage::new(chrome, FormErrors::default(), notice, q.email.unwrap_or_default(), q.token.unwrap_or_default());
    render::page(StatusCode::OK, &view)
}

/// The reset form's fields: `email` and `code`, or the link's `token`, and the new password.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = PagesResetForm)]
pub struct ResetForm {
    csrf: String,
    #[schema(format = Email)]
    email: Option<String>,
    code: Option<String>,
    token: Option<String>,
    #[schema(format = Password)]
    password: String,
}

/// Set the new password; every session of the user is revoked, and the browser is sent to
/// sign in with it.
#[utoipa::path(post, path = "/ui/reset-password", operation_id = "pagesResetPasswordSubmit", tag = "pages",
    request_body(content = ResetForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Password set: to `sign-in`"),
        (status = 400, content_type = "text/html", body = String, description = "The form again: wrong or expired code or link; or an unreadable form"),
        (status = 403, content_type = "text/html", body = String, description = "Missing or wrong CSRF token, or a cross-site post"),
        (status = 413, content_type = "text/html", body = String, description = "The form is too large"),
        (status = 415, content_type = "text/html", body = String, description = "Not a urlencoded form"),
        (status = 422, content_type = "text/html", body = String, description = "The form again: a field is missing or the password breaks the policy"),
        (status = 429, content_type = "text/html", body = String, description = "The form again: too many codes tried; see Retry-After"),
        (status = 503, content_type = "text/html", body = String, description = "The form again: busy; see Retry-After"),
    ))]
pub(crate) async fn reset(
    State(state): State<AppState>,
    chrome: Chrome,
    Client(client): Client,
    headers: HeaderMap,
    form: PageForm,
) -> Response {
    if !form.csrf_ok(&headers) {
        return render::csrf_refused(&chrome);
    }
    let ctx = chrome.project.clone();
    let (email, code, token, password) =
        (form.get("email"), form.get("code").trim(), form.get("token"), form.get("password"));
    let mut body = json!({ "password": password });
    if token.is_empty() {
        body["email"] = email.into();
        body["code"] = code.into();
    } else {
        body["token"] = token.into();
    }
    // Empty fields count as missing, as the native API reads an absent one.
    if let Some(fields) = body.as_object_mut() {
        fields.retain(|_, v| v.as_str().is_some_and(|s| !s.is_empty()));
    }
    match reset_with(&state, &ctx, &client, &body).await {
        Ok(_) => see_other(CookieJar::new(), &with_query(&chrome.page("sign-in"), &[("notice", "reset")])),
        Err(e) => render::refused_form(e, chrome, |chrome, errors| {
            let errors = if token.is_empty() { errors } else { errors.detach("code") };
            ResetPage::new(chrome, errors, "", email.to_owned(), token.to_owned())
        }),
    }
}
