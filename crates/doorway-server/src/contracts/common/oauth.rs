//! What an OAuth provider sends back to a callback URL (every contract with a callback).

use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the user refused or it failed.
    pub error: Option<String>,
}

use doorway_core::flows::oauth_signup::OAuthError;

/// What a client may read about a failed OAuth step: fixed text only. A provider's or HTTP
/// client's own words (`CodeRejected`, `ProviderFailed`) go to the log, never to the client.
pub fn client_message(e: &OAuthError) -> &'static str {
    match e {
        OAuthError::UnknownProvider(_) => "unknown or unconfigured provider",
        OAuthError::CallbackNotAllowed => "the callback URL is not allowed for this project",
        OAuthError::NoRedirectUri => "the provider has no redirect_uri configured for client-side codes",
        OAuthError::InvalidState => "the state is unknown, used or expired",
        OAuthError::RateLimited(_) => "too many OAuth attempts",
        OAuthError::CodeRejected(detail) => {
            tracing::warn!(detail = %detail, "the OAuth provider refused the code");
            "the provider refused the code"
        }
        OAuthError::ProviderFailed(detail) => {
            tracing::warn!(detail = %detail, "the OAuth provider failed");
            "the provider failed"
        }
        OAuthError::NoEmail => "the provider gave no email address",
        OAuthError::AccountExists => {
            "an account with this email already exists and cannot be linked: both the provider and the account must have the address verified"
        }
        OAuthError::Denied(_) => "the pre-sign-up hook refused",
        OAuthError::HookUnavailable => "the pre-sign-up hook gave no usable answer",
        OAuthError::Unexpected(_) => "OAuth sign-up failed",
    }
}
