//! The sign-in page (password, and a one-time code by mail) and the code entry page.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use doorway_core::PasswordMode;
use doorway_core::email::EmailAddress;
use doorway_core::flows::email_code_sign_in;
use doorway_core::flows::sign_in::{self, Identifier, SignInOutcome};
use doorway_core::flows::verification::Proof;
use doorway_core::password::Password;

use super::Chrome;
use super::chrome::prefix_extension;
use super::render::{self, FormErrors, PageForm, PageQuery, PageView, see_other, with_query};
use super::return_to::ReturnTo;
use super::slots::{PageKind, Slots};
use crate::client_info::Client;
use crate::contracts::common::SessionCookies;
use crate::contracts::native::email::code_error;
use crate::contracts::native::handlers::sign_in_error;
use crate::errors::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "ui/sign_in.html")]
pub(crate) struct SignInPage {
    pub(crate) chrome: Chrome,
    pub(crate) errors: FormErrors,
    pub(crate) notice: &'static str,
    pub(crate) return_to: String,
    pub(crate) email: String,
    pub(crate) asks_password: bool,
    pub(crate) slots: Slots,
}

impl PageView for SignInPage {
    fn chrome(&self) -> &Chrome {
        &self.chrome
    }
}

impl SignInPage {
    fn new(mut chrome: Chrome, return_to: String, email: String, errors: FormErrors) -> Self {
        let ctx = chrome.project.clone();
        let slots = Slots::for_page(&ctx, &mut chrome, PageKind::SignIn);
        let asks_password = ctx.project.settings.signup.password != PasswordMode::Off;
        Self { chrome, errors, notice: "", return_to, email, asks_password, slots }
    }
}

#[derive(Template)]
#[template(path = "ui/sign_in_code.html")]
pub(crate) struct CodePage {
    chrome: Chrome,
    errors: FormErrors,
    notice: &'static str,
    return_to: String,
    email: String,
}

impl PageView for CodePage {
    fn chrome(&self) -> &Chrome {
        &self.chrome
    }
}

/// The session cookies of a sign-in and a 303 to the landing.
fn signed_in(
    state: &AppState,
    chrome: &Chrome,
    jar: CookieJar,
    outcome: &SignInOutcome,
    return_to: &ReturnTo,
) -> Response {
    let jar = SessionCookies::new(state, &chrome.project, prefix_extension(chrome)).issue(
        jar,
        &outcome.access,
        &outcome.refresh_secret,
    );
    see_other(jar, &with_query(&chrome.page("welcome"), &[("return_to", &return_to.field())]))
}

/// The sign-in page.
#[utoipa::path(get, path = "/ui/sign-in", operation_id = "pagesSignIn", tag = "pages", params(PageQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "The sign-in forms (`Cache-Control: no-store`, strict CSP)"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` is not allowed"),
        (status = 404, content_type = "text/html", body = String, description = "No such project"),
    ))]
pub(crate) async fn page(chrome: Chrome, Query(q): Query<PageQuery>) -> Response {
    let Ok(return_to) = ReturnTo::parse(q.return_to.as_deref(), &chrome.project) else {
        return render::return_to_refused(&chrome);
    };
    let m = chrome.m;
    let mut view = SignInPage::new(chrome, return_to.field(), q.email.unwrap_or_default(), FormErrors::default());
    let failed = render::oauth_error(q.error.as_deref(), m);
    if failed.is_empty() {
        view.notice = render::notice(q.notice.as_deref(), m);
    } else {
        view.errors = FormErrors::form(failed);
    }
    render::page(StatusCode::OK, &view)
}

/// The password sign-in form's fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = PagesSignInForm)]
pub struct SignInForm {
    csrf: String,
    #[schema(format = Email)]
    email: String,
    #[schema(format = Password)]
    password: String,
    return_to: Option<String>,
}

/// Sign in with email and password; 303 to the landing with the session cookies set.
#[utoipa::path(post, path = "/ui/sign-in", operation_id = "pagesSignInSubmit", tag = "pages",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to `welcome`; session cookies set"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` not allowed, or an unreadable form"),
        (status = 401, content_type = "text/html", body = String, description = "The form again: wrong address or password"),
        (status = 403, content_type = "text/html", body = String, description = "Missing or wrong CSRF token, or a cross-site post"),
        (status = 413, content_type = "text/html", body = String, description = "The form is too large"),
        (status = 415, content_type = "text/html", body = String, description = "Not a urlencoded form"),
        (status = 422, content_type = "text/html", body = String, description = "The form again: a field is missing"),
        (status = 429, content_type = "text/html", body = String, description = "The form again: too many attempts; see Retry-After"),
        (status = 503, content_type = "text/html", body = String, description = "The form again: busy; see Retry-After"),
    ))]
pub(crate) async fn submit(
    State(state): State<AppState>,
    chrome: Chrome,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
    form: PageForm,
) -> Response {
    let return_to = match form.checked_return_to(&headers, &chrome) {
        Ok(return_to) => return_to,
        Err(refused) => return *refused,
    };
    let ctx = chrome.project.clone();
    let (email, password) = (form.get("email"), form.get("password"));
    let result = match required(&[("email", email), ("password", password)]) {
        Err(e) => Err(e),
        Ok(()) => sign_in::sign_in(
            &state.services,
            &ctx,
            Identifier::Email(email),
            Password::new(password.to_owned()),
            client,
        )
        .await
        .map_err(sign_in_error),
    };
    match result {
        Ok(outcome) => signed_in(&state, &chrome, jar, &outcome, &return_to),
        Err(e) => render::refused_form(e, chrome, |chrome, errors| {
            SignInPage::new(chrome, return_to.field(), email.to_owned(), errors)
        }),
    }
}

/// Every empty field, as the native API names them.
fn required(fields: &[(&str, &str)]) -> Result<(), ApiError> {
    let missing: Vec<_> = fields
        .iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(f, _)| crate::errors::FieldError::new(*f, format!("{f} is required")))
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(ApiError::validation(missing)) }
}

/// The send-code form's fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = PagesSendCodeForm)]
pub struct SendCodeForm {
    csrf: String,
    #[schema(format = Email)]
    #[serde(rename = "code-email")]
    code_email: String,
    return_to: Option<String>,
}

/// Mail a one-time sign-in code; 303 to the code page (the same answer whether or not the
/// address has an account).
#[utoipa::path(post, path = "/ui/sign-in/send-code", operation_id = "pagesSendSignInCode", tag = "pages",
    request_body(content = SendCodeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To `sign-in/code`"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` not allowed, or an unreadable form"),
        (status = 403, content_type = "text/html", body = String, description = "Missing or wrong CSRF token, or a cross-site post"),
        (status = 413, content_type = "text/html", body = String, description = "The form is too large"),
        (status = 415, content_type = "text/html", body = String, description = "Not a urlencoded form"),
        (status = 422, content_type = "text/html", body = String, description = "The sign-in page again: not an email address"),
        (status = 429, content_type = "text/html", body = String, description = "The sign-in page again: mail budget spent; see Retry-After"),
    ))]
pub(crate) async fn send_code(
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
    let raw = form.get("code-email");
    let sent = match EmailAddress::parse(raw) {
        Err(e) => Err(ApiError::validation(vec![crate::errors::FieldError::new("code-email", e.to_string())])),
        Ok(email) => email_code_sign_in::request_code(&state.services, &ctx, &email, &client)
            .await
            .map(|()| email)
            .map_err(|e| code_error(e, StatusCode::UNAUTHORIZED)),
    };
    match sent {
        Ok(email) => see_other(
            CookieJar::new(),
            &with_query(
                &chrome.page("sign-in/code"),
                &[("email", email.as_str()), ("notice", "code-sent"), ("return_to", &return_to.field())],
            ),
        ),
        Err(e) => render::refused_form(e, chrome, |chrome, errors| {
            SignInPage::new(chrome, return_to.field(), raw.to_owned(), errors)
        }),
    }
}

/// The page where the mailed sign-in code is entered.
#[utoipa::path(get, path = "/ui/sign-in/code", operation_id = "pagesSignInCode", tag = "pages", params(PageQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "The code form"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` is not allowed"),
        (status = 404, content_type = "text/html", body = String, description = "No such project"),
    ))]
pub(crate) async fn code_page(chrome: Chrome, Query(q): Query<PageQuery>) -> Response {
    let Ok(return_to) = ReturnTo::parse(q.return_to.as_deref(), &chrome.project) else {
        return render::return_to_refused(&chrome);
    };
    let notice = render::notice(q.notice.as_deref(), chrome.m);
    let view = CodePage {
        chrome,
        errors: FormErrors::default(),
        notice,
        return_to: return_to.field(),
        email: q.email.unwrap_or_default(),
    };
    render::page(StatusCode::OK, &view)
}

/// The code form's fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = PagesCodeForm)]
pub struct CodeForm {
    csrf: String,
    #[schema(format = Email)]
    email: String,
    /// The 6-digit code from the mail.
    code: String,
    return_to: Option<String>,
}

/// Sign in with the mailed code; 303 to the landing with the session cookies set.
#[utoipa::path(post, path = "/ui/sign-in/code", operation_id = "pagesSignInWithCode", tag = "pages",
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to `welcome`; session cookies set"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` not allowed, or an unreadable form"),
        (status = 401, content_type = "text/html", body = String, description = "The form again: wrong or expired code"),
        (status = 403, content_type = "text/html", body = String, description = "Missing or wrong CSRF token, or a cross-site post"),
        (status = 413, content_type = "text/html", body = String, description = "The form is too large"),
        (status = 415, content_type = "text/html", body = String, description = "Not a urlencoded form"),
        (status = 422, content_type = "text/html", body = String, description = "The form again: a field is missing"),
        (status = 429, content_type = "text/html", body = String, description = "The form again: too many codes tried; see Retry-After"),
    ))]
pub(crate) async fn with_code(
    State(state): State<AppState>,
    chrome: Chrome,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
    form: PageForm,
) -> Response {
    let return_to = match form.checked_return_to(&headers, &chrome) {
        Ok(return_to) => return_to,
        Err(refused) => return *refused,
    };
    let ctx = chrome.project.clone();
    let (email, code) = (form.get("email"), form.get("code"));
    let result = match required(&[("email", email), ("code", code)]) {
        Err(e) => Err(e),
        Ok(()) => email_code_sign_in::sign_in(&state.services, &ctx, Proof::Code { email, code: code.trim() }, &client)
            .await
            .map_err(|e| code_error(e, StatusCode::UNAUTHORIZED)),
    };
    match result {
        Ok(outcome) => signed_in(&state, &chrome, jar, &outcome, &return_to),
        Err(e) => render::refused_form(e, chrome, |chrome, errors| CodePage {
            chrome,
            errors,
            notice: "",
            return_to: return_to.field(),
            email: email.to_owned(),
        }),
    }
}
