//! The extension slots of the sign-up and sign-in pages (see `ui/mod.rs`): what each page
//! shows beyond the core forms, decided per project. Passkeys fill `passkeys_enabled` (and add
//! their page script), proof of work fills `altcha`.

use doorway_core::ProjectContext;

use super::Chrome;

/// Which page the slots are for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageKind {
    SignUp,
    SignIn,
}

pub(crate) struct Slots {
    /// Shows `templates/ui/slots/passkeys.html`.
    pub(crate) passkeys_enabled: bool,
    /// The passkey ceremony the section runs: `sign-up` or `sign-in` (`passkey.js`).
    pub(crate) passkey_ceremony: &'static str,
    /// The proof-of-work widget (`templates/ui/slots/altcha.html`), when the project asks
    /// sign-ups for one.
    pub(crate) altcha: Option<AltchaSlot>,
}

/// What the ALTCHA widget of the sign-up form needs: where to fetch challenges, and the URLs
/// of its worker and stylesheet (assets; `altcha-init.js` reads them from the slot).
pub(crate) struct AltchaSlot {
    pub(crate) challenge: String,
    pub(crate) worker: String,
    pub(crate) stylesheet: String,
}

impl AltchaSlot {
    /// The slot of the sign-up page of a project with bot protection on; adds the widget's
    /// scripts to the page. Its worker is same-origin, which `script-src 'self'` allows.
    fn for_sign_up(ctx: &ProjectContext, chrome: &mut Chrome, page: PageKind) -> Option<Self> {
        if page != PageKind::SignUp || !ctx.project.settings.bot_protection.enabled {
            return None;
        }
        chrome.add_script("altcha.js");
        chrome.add_script("altcha-init.js");
        Some(Self {
            challenge: format!("{}/api/auth/challenge", chrome.prefix),
            worker: super::assets::url(&chrome.base, "altcha-worker.js")?,
            stylesheet: super::assets::url(&chrome.base, "altcha.css")?,
        })
    }
}

impl Slots {
    /// The slots of `page` for the project; a slot that needs a script adds it to `chrome`
    /// (`chrome.add_script`), and a widget that fetches adds its source to `chrome.csp`.
    pub(crate) fn for_page(ctx: &ProjectContext, chrome: &mut Chrome, page: PageKind) -> Self {
        let passkeys_enabled = ctx.project.settings.passkeys.enabled;
        if passkeys_enabled {
            chrome.add_script("passkey.js");
        }
        let passkey_ceremony = match page {
            PageKind::SignUp => "sign-up",
            PageKind::SignIn => "sign-in",
        };
        Self { passkeys_enabled, passkey_ceremony, altcha: AltchaSlot::for_sign_up(ctx, chrome, page) }
    }
}
