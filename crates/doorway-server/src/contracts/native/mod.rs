//! Doorway's own API, seed 002's shape: `{success, data, message}` and
//! `{success:false, error:{code, message, details?}}`.
//!
//! Sign-up, sign-in, refresh, sign-out and who-am-I (`handlers`), the email flows (`email`),
//! OAuth registration (`oauth`), and password recovery and change and the user's sessions
//! (`account`). The refresh token travels in the `doorway_refresh` cookie
//! (path `…/api/auth`), the access token in `data.session.token` and in the `doorway_access`
//! cookie; projects other than `default` use `doorway_<slug>_refresh` and
//! `doorway_<slug>_access`, so the default project's cookies (path `/`) never shadow theirs.

pub mod account;
pub mod bot_check;
pub mod email;
pub mod handlers;
pub mod oauth;
pub(crate) mod parse;
mod passkey_docs;
pub mod passkeys;
pub mod views;

use axum::http::StatusCode;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ContractAdapter;
use crate::state::AppState;

pub struct Native;

impl ContractAdapter for Native {
    fn name(&self) -> &'static str {
        "native"
    }

    fn tag(&self) -> (&'static str, &'static str) {
        ("auth", "Sign-up, sign-in and sessions (native API)")
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(handlers::sign_up))
            .routes(routes!(bot_check::challenge))
            .routes(routes!(handlers::sign_in))
            .routes(routes!(handlers::refresh))
            .routes(routes!(handlers::sign_out))
            .routes(routes!(handlers::me))
            .routes(routes!(email::verify_by_code, email::verify_by_link))
            .routes(routes!(email::resend_verification))
            .routes(routes!(email::request_sign_in_code))
            .routes(routes!(email::sign_in_with_code))
            .routes(routes!(email::confirm_sign_in_link, email::sign_in_with_link))
            .routes(routes!(oauth::callback))
            .routes(routes!(account::forgot_password))
            .routes(routes!(account::reset_password_page, account::reset_password))
            .routes(routes!(account::change_password))
            .routes(routes!(account::list_sessions))
            .routes(routes!(account::revoke_session))
            .routes(routes!(account::sign_out_everywhere))
            .routes(routes!(passkeys::sign_up_options))
            .routes(routes!(passkeys::sign_up))
            .routes(routes!(passkeys::sign_in_options))
            .routes(routes!(passkeys::sign_in))
            .routes(routes!(passkeys::add_options))
            .routes(routes!(passkeys::add, passkeys::list))
            .routes(routes!(passkeys::remove))
    }

    fn owns(&self, path: &str) -> bool {
        // Aufy's `{auth}` group shares `/api/auth/` (`signin`, `whoami`… never clash with the
        // native hyphenated names); its routes answer in its own format.
        path.starts_with("/api/auth/") && !super::aufy::paths::owns(path)
    }

    fn refuse(&self, status: StatusCode, code: &'static str, message: String) -> Response {
        super::native_refusal(status, code, message)
    }
}
