//! Hosted pages: server-rendered HTML (askama templates in `templates/ui/`) under `/ui/…` for
//! the default project and `/{slug}/ui/…` for any other (the prefix is resolved by
//! `project_scope`, like every route). Every form works without JavaScript: it POSTs
//! urlencoded fields with a CSRF token (`csrf`), success answers 303 (post/redirect/get), a
//! refused form is shown again with each error next to its field. The pages are a thin adapter
//! like the wire contracts: they call `doorway_core::flows` and reuse the native contract's
//! session cookies, so an app using the native API sees the same session.
//!
//! Extension slots (for passkeys and proof-of-work):
//! - `Chrome::scripts`: asset names (see `assets::ASSETS`) loaded as `<script src defer>` by
//!   the base layout; the CSP allows only `'self'` scripts, so a page script must be an asset.
//!   `Slots::for_page` decides which a page gets.
//! - `SignUpPage`/`SignInPage` carry `slots: Slots`: `slots.passkeys_enabled` shows the
//!   section of `templates/ui/slots/passkeys.html`; `slots.altcha` (`Some` when the project
//!   asks for proof of work) shows the widget of `templates/ui/slots/altcha.html` inside the
//!   sign-up form, whose POST then carries its `altcha` field (`SignUpForm::altcha`).
//! - `Csp` takes extra sources (`connect_src`, `worker_src`) for a widget that needs them.

pub(crate) mod assets;
pub(crate) mod branding;
mod chrome;
pub(crate) mod csrf;
pub(crate) mod i18n;
mod password_reset;
mod render;
mod return_to;
mod sign_in;
mod sign_up;
pub(crate) mod slots;
mod verify_email;
mod welcome;

use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use chrome::Chrome;

use crate::contracts::{ContractAdapter, SettingsCheck};
use crate::state::AppState;

/// The hosted pages, mounted like a contract: `contracts.pages.enabled = false` switches them
/// off for a project, and refusals raised before a handler ran are HTML pages.
pub struct Pages;

impl ContractAdapter for Pages {
    fn name(&self) -> &'static str {
        "pages"
    }

    fn tag(&self) -> (&'static str, &'static str) {
        ("pages", "Hosted HTML pages: sign-up, sign-in, verification, password reset (forms work without JavaScript)")
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(assets::serve))
            .routes(routes!(sign_up::page, sign_up::submit))
            .routes(routes!(sign_up::oauth))
            .routes(routes!(sign_in::page, sign_in::submit))
            .routes(routes!(sign_in::send_code))
            .routes(routes!(sign_in::code_page, sign_in::with_code))
            .routes(routes!(verify_email::page, verify_email::submit))
            .routes(routes!(verify_email::resend))
            .routes(routes!(password_reset::forgot_page, password_reset::forgot))
            .routes(routes!(password_reset::reset_page, password_reset::reset))
            .routes(routes!(welcome::page))
            .routes(routes!(welcome::sign_out))
    }

    fn owns(&self, path: &str) -> bool {
        path == "/ui" || path.starts_with("/ui/")
    }

    fn refuse(&self, status: StatusCode, _code: &'static str, message: String) -> Response {
        render::refusal(status, &message)
    }

    fn project_not_found(&self, _slug: &str) -> Response {
        render::refusal(StatusCode::NOT_FOUND, i18n::Locale::En.messages().unknown_project)
    }

    fn settings_check(&self) -> Option<SettingsCheck> {
        use crate::contracts::common::settings::ContractSettings;
        Some((branding::Branding::KEY, branding::Branding::check))
    }
}

/// Where a mailed link of the native API (`/api/auth/reset-password?token=`,
/// `/api/auth/verify-email?token=`) lands: a 303 to the pages' `page` with the token, so there
/// is one page per flow; `None` when the project switched the pages off (the native
/// confirmation page answers then). The link in mails already sent keeps working either way.
pub(crate) fn link_landing(
    ctx: &doorway_core::ProjectContext,
    prefix: Option<&crate::project_scope::RoutePrefix>,
    page: &str,
    token: &str,
) -> Option<Response> {
    if !ctx.project.settings.contract_enabled(Pages.name()) {
        return None;
    }
    let base = format!("{}/ui/{page}", prefix.map_or("", |p| p.0.as_str()));
    Some(render::see_other(axum_extra::extract::CookieJar::new(), &render::with_query(&base, &[("token", token)])))
}
