//! `return_to`: where the signed-in landing sends the browser. Only a path on Doorway's own
//! origin or a URL under the project's `redirect_allowlist` is accepted (the check every
//! OAuth `callbackUrl` gets), so the pages never redirect anywhere else.

use doorway_core::ProjectContext;
use doorway_core::oauth::CallbackUrl;

/// An accepted `return_to`, or none.
#[derive(Default)]
pub(crate) struct ReturnTo(Option<CallbackUrl>);

/// The value was given but is not allowed.
pub(crate) struct NotAllowed;

impl ReturnTo {
    /// Absent or empty is none; anything else must pass the allow-list check.
    pub(crate) fn parse(raw: Option<&str>, ctx: &ProjectContext) -> Result<Self, NotAllowed> {
        match raw.filter(|r| !r.is_empty()) {
            None => Ok(Self(None)),
            Some(raw) => CallbackUrl::parse(raw, &ctx.project.settings.redirect_allowlist)
                .map(|u| Self(Some(u)))
                .ok_or(NotAllowed),
        }
    }

    pub(crate) fn url(&self) -> Option<&str> {
        self.0.as_ref().map(CallbackUrl::as_str)
    }

    /// The value for a hidden field or a query parameter (empty when none).
    pub(crate) fn field(&self) -> String {
        self.url().unwrap_or_default().to_owned()
    }
}
