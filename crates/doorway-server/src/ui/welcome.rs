//! The signed-in landing: sends the browser on to an allow-listed `return_to`, or says who is
//! signed in and offers to sign out. A browser without a session is sent to sign in, keeping
//! `return_to` (and the OAuth callback's `error`).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use doorway_core::flows::profile;
use doorway_core::flows::session::{self as session_flow, SessionProof};

use super::Chrome;
use super::chrome::prefix_extension;
use super::render::{self, FormErrors, PageForm, PageQuery, PageView, see_other, with_query};
use super::return_to::ReturnTo;
use crate::client_info::Client;
use crate::contracts::common::{SessionCookies, presented_access_token};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "ui/welcome.html")]
pub(crate) struct WelcomePage {
    chrome: Chrome,
    errors: FormErrors,
    notice: &'static str,
    email: String,
}

impl PageView for WelcomePage {
    fn chrome(&self) -> &Chrome {
        &self.chrome
    }
}

/// The signed-in landing.
#[utoipa::path(get, path = "/ui/welcome", operation_id = "pagesWelcome", tag = "pages", params(PageQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "Signed in, no `return_to`: who is signed in, and a sign-out button"),
        (status = 303, description = "Signed in: to `return_to`. Not signed in: to `sign-in` (keeping `return_to`, `notice` and `error`)"),
        (status = 400, content_type = "text/html", body = String, description = "`return_to` is neither a path of Doorway's nor under the project's `redirect_allowlist`; no redirect"),
        (status = 404, content_type = "text/html", body = String, description = "No such project"),
    ))]
pub(crate) async fn page(
    State(state): State<AppState>,
    chrome: Chrome,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let ctx = chrome.project.clone();
    let Ok(return_to) = ReturnTo::parse(q.return_to.as_deref(), &ctx) else {
        return render::return_to_refused(&chrome);
    };
    let me = match presented_access_token(&state, &ctx, &headers) {
        Some(token) => {
            profile::who_am_i(&state.services, &ctx, token, profile::WhoAmIParts { memberships: false, roles: false })
                .await
                .ok()
        }
        None => None,
    };
    let Some(me) = me else {
        let pairs = [
            ("return_to", return_to.field()),
            ("notice", q.notice.unwrap_or_default()),
            ("error", q.error.unwrap_or_default()),
        ];
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return see_other(CookieJar::new(), &with_query(&chrome.page("sign-in"), &pairs));
    };
    if let Some(url) = return_to.url() {
        return see_other(CookieJar::new(), url);
    }
    let notice = render::notice(q.notice.as_deref(), chrome.m);
    let view = WelcomePage {
        chrome,
        errors: FormErrors::default(),
        notice,
        email: me.user.email.as_ref().map_or_else(String::new, |e| e.as_str().to_owned()),
    };
    render::page(StatusCode::OK, &view)
}

/// The sign-out form's fields.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = PagesSignOutForm)]
pub struct SignOutForm {
    csrf: String,
}

/// End this browser's session and clear its cookies; 303 to the sign-in page.
#[utoipa::path(post, path = "/ui/sign-out", operation_id = "pagesSignOut", tag = "pages",
    request_body(content = SignOutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To `sign-in`; session cookies cleared"),
        (status = 400, content_type = "text/html", body = String, description = "An unreadable form"),
        (status = 403, content_type = "text/html", body = String, description = "Missing or wrong CSRF token, or a cross-site post"),
        (status = 413, content_type = "text/html", body = String, description = "The form is too large"),
        (status = 415, content_type = "text/html", body = String, description = "Not a urlencoded form"),
    ))]
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    chrome: Chrome,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
    form: PageForm,
) -> Response {
    if !form.csrf_ok(&headers) {
        return render::csrf_refused(&chrome);
    }
    let ctx = chrome.project.clone();
    if let Some(token) = presented_access_token(&state, &ctx, &headers) {
        // Already ended or expired: the cookies go all the same.
        if let Err(e) = session_flow::sign_out(&state.services, &ctx, SessionProof::AccessToken(token), &client).await {
            tracing::debug!(error = %e, "page sign-out without an active session");
        }
    }
    let jar = SessionCookies::new(&state, &ctx, prefix_extension(&chrome)).clear(jar);
    see_other(jar, &with_query(&chrome.page("sign-in"), &[("notice", "signed-out")]))
}
