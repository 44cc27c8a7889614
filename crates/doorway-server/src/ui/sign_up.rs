//! The sign-up page: the project's methods (password, or email code when passwords are off or
//! optional and left empty), each configured OAuth provider as a button, and the slots for
//! passkeys and proof of work.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use doorway_core::flows::oauth_signup::{self, RoundTrip};
use doorway_core::oauth::{Provider, ProviderKind};
use doorway_core::{PasswordMode, ProjectContext};
use serde_json::json;

use super::Chrome;
use super::chrome::prefix_extension;
use super::render::{self, Csp, FormErrors, PageForm, PageQuery, PageView, see_other, with_query};
use super::return_to::ReturnTo;
use super::slots::{PageKind, Slots};
use crate::client_info::Client;
use crate::contracts::common::{SessionCookies, bot_check};
use crate::contracts::native::handlers::create_account;
use crate::contracts::native::oauth::oauth_error;
use crate::contracts::native::parse::parse_signup;
use crate::cookies::CookiePolicy;
use crate::oauth_binding;
use crate::state::AppState;

pub(crate) struct ProviderButton {
    pub(crate) id: String,
    pub(crate) name: String,
}

#[derive(Template)]
#[template(path = "ui/sign_up.html")]
pub(crate) struct SignUpPage {
    pub(crate) chrome: Chrome,
    pub(crate) errors: FormErrors,
    pub(crate) notice: &'static str,
    pub(crate) return_to: String,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) asks_password: bool,
    pub(crate) password_required: bool,
    pub(crate) password_hint: String,
    pub(crate) providers: Vec<ProviderButton>,
    pub(crate) slots: Slots,
}

impl PageView for SignUpPage {
    fn chrome(&self) -> &Chrome {
        &self.chrome
    }
}

impl SignUpPage {
    fn new(mut chrome: Chrome, return_to: String, email: String, name: String, errors: FormErrors) -> Self {
        let ctx = chrome.project.clone();
        let slots = Slots::for_page(&ctx, &mut chrome, PageKind::SignUp);
        let providers = providers(&ctx, &mut chrome.csp);
        let mode = ctx.project.settings.signup.password;
        let password_hint = chrome.m.password_hint(&ctx.project.settings.password_policy);
        Self {
            chrome,
            errors,
            notice: "",
            return_to,
            email,
            name,
            asks_password: mode != PasswordMode::Off,
            password_required: mode == PasswordMode::Required,
            password_hint,
            providers,
            slots,
        }
    }
}

/// The project's usable providers, each allowed as a `form-action` target: the OAuth button
/// posts here and is redirected to the provider's authorization endpoint.
fn providers(ctx: &ProjectContext, csp: &mut Csp) -> Vec<ProviderButton> {
    let configured = &ctx.project.settings.providers;
    configured
        .keys()
        .filter_map(|id| Provider::resolve(configured, id))
        .map(|p| {
            let endpoint = match &p.kind {
                ProviderKind::GitHub { authorize_url, .. } => Some(authorize_url.clone()),
                ProviderKind::Oidc { issuer } => {
                    Some(p.settings.authorize_url.clone().unwrap_or_else(|| issuer.clone()))
                }
            };
            if let Some(origin) =
                endpoint.and_then(|e| url::Url::parse(&e).ok()).map(|u| u.origin().ascii_serialization())
                && !csp.form_action.contains(&origin)
            {
                csp.form_action.push(origin);
            }
            ProviderButton { id: p.id, name: p.display_name }
        })
        .collect()
}

/// The sign-up page.
#[utoipa::path(get, path = "/ui/sign-up", operation_id = "pagesSignUp", tag = "pages", params(PageQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "The sign-up form (`Cache-Control: no-store`, strict CSP); sets the `doorway_csrf` cookie when missing"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` is not allowed"),
        (status = 404, content_type = "text/html", body = String, description = "No such project"),
    ))]
pub(crate) async fn page(chrome: Chrome, Query(q): Query<PageQuery>) -> Response {
    let Ok(return_to) = ReturnTo::parse(q.return_to.as_deref(), &chrome.project) else {
        return render::return_to_refused(&chrome);
    };
    let email = q.email.unwrap_or_default();
    let mut view = SignUpPage::new(chrome, return_to.field(), email, String::new(), FormErrors::default());
    let m = view.chrome.m;
    view.notice = render::oauth_error(q.error.as_deref(), m);
    render::page(StatusCode::OK, &view)
}

/// The sign-up form's fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = PagesSignUpForm)]
pub struct SignUpForm {
    /// The CSRF token of the page (equal to the `doorway_csrf` cookie).
    csrf: String,
    name: String,
    #[schema(format = Email)]
    email: String,
    /// Required unless the project's `signup.password` is `optional` (empty: sign up by email
    /// code) or `off` (then it must be absent).
    #[schema(format = Password)]
    password: Option<String>,
    return_to: Option<String>,
    /// The solved proof-of-work payload, when the project asks for one.
    altcha: Option<String>,
}

/// Create an account from the sign-up form; 303 to the verify page (when a code was mailed)
/// or the signed-in landing, with the native session cookies set.
#[utoipa::path(post, path = "/ui/sign-up", operation_id = "pagesSignUpSubmit", tag = "pages",
    request_body(content = SignUpForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed up: to `verify-email` or `welcome`; session cookies set"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` not allowed, or an unreadable form"),
        (status = 403, content_type = "text/html", body = String, description = "Missing or wrong CSRF token, or a cross-site post; or the form again when the project's bot protection is on and the `altcha` field is missing, invalid, expired or already used"),
        (status = 409, content_type = "text/html", body = String, description = "The form again: the address has an account"),
        (status = 413, content_type = "text/html", body = String, description = "The form is too large"),
        (status = 415, content_type = "text/html", body = String, description = "Not a urlencoded form"),
        (status = 422, content_type = "text/html", body = String, description = "The form again, each problem next to its field"),
        (status = 429, content_type = "text/html", body = String, description = "The form again: too many sign-ups; see Retry-After"),
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
    if let Err(e) = bot_check::pass(&state, &ctx, Some(form.get("altcha"))).await {
        let (email, name) = (form.get("email").to_owned(), form.get("name").to_owned());
        return render::refused_form(bot_check::page_refusal(e), chrome, |chrome, errors| {
            SignUpPage::new(chrome, return_to.field(), email, name, errors)
        });
    }
    // An empty field is a missing one ("is required"), as a browser sends every field.
    let mut body = json!({});
    for field in ["email", "name", "password"] {
        if !form.get(field).is_empty() {
            body[field] = form.get(field).into();
        }
    }
    let created = match parse_signup(&body, &ctx, client) {
        Ok(command) => create_account(&state, &ctx, command, "pages").await,
        Err(e) => Err(e),
    };
    match created {
        Ok(outcome) => {
            let jar = SessionCookies::new(&state, &ctx, prefix_extension(&chrome)).issue(
                jar,
                &outcome.access,
                &outcome.refresh_secret,
            );
            let mailed_code = !outcome.user.email_verified
                && (form.get("password").is_empty() || ctx.project.settings.signup.verify_email);
            let next = if mailed_code {
                with_query(
                    &chrome.page("verify-email"),
                    &[
                        ("email", outcome.user.email.as_ref().map_or("", |e| e.as_str())),
                        ("return_to", &return_to.field()),
                    ],
                )
            } else {
                with_query(&chrome.page("welcome"), &[("return_to", &return_to.field())])
            };
            see_other(jar, &next)
        }
        Err(e) => {
            let (email, name) = (form.get("email").to_owned(), form.get("name").to_owned());
            render::refused_form(e, chrome, |chrome, errors| {
                SignUpPage::new(chrome, return_to.field(), email, name, errors)
            })
        }
    }
}

/// The OAuth button's fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = PagesOAuthForm)]
pub struct OAuthForm {
    csrf: String,
    /// A configured provider's id (`google`, `github`, …).
    provider: String,
    return_to: Option<String>,
}

/// Start signing up (or in) with a provider: 303 to its authorization URL. The provider comes
/// back to the native callback, which sets the session and redirects to the pages' landing.
#[utoipa::path(post, path = "/ui/sign-up/oauth", operation_id = "pagesOAuthStart", tag = "pages",
    request_body(content = OAuthForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the provider; the short-lived `doorway_oauth_state` cookie binds the flow to this browser"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` not allowed, or an unreadable form"),
        (status = 403, content_type = "text/html", body = String, description = "Missing or wrong CSRF token, or a cross-site post"),
        (status = 413, content_type = "text/html", body = String, description = "The form is too large"),
        (status = 415, content_type = "text/html", body = String, description = "Not a urlencoded form"),
        (status = 422, content_type = "text/html", body = String, description = "The sign-up page again: unknown provider"),
        (status = 429, content_type = "text/html", body = String, description = "The sign-up page again: too many attempts"),
    ))]
pub(crate) async fn oauth(
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
    let provider = form.get("provider");
    let canonical = doorway_core::oauth::canonical_provider_id(provider);
    let redirect_uri = format!("{}/api/auth/oauth/{canonical}/callback", ctx.issuer);
    let landing = with_query(&chrome.page("welcome"), &[("return_to", &return_to.field())]);
    let round_trip = RoundTrip {
        provider_id: provider,
        callback_url: &landing,
        redirect_uri: redirect_uri.clone(),
        purpose: "native",
    };
    match oauth_signup::start(&state.services, state.identity_providers.as_ref(), &ctx, round_trip, &client).await {
        Ok(started) => {
            let binding =
                oauth_binding::bind(CookiePolicy::for_public_url(&state.public_url), started.state, &redirect_uri);
            see_other(CookieJar::new().add(binding), &started.authorization_url)
        }
        Err(e) => render::refused_form(oauth_error(e), chrome, |chrome, errors| {
            SignUpPage::new(chrome, return_to.field(), String::new(), String::new(), errors)
        }),
    }
}
