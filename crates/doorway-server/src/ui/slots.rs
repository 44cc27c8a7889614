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
    /// The challenge URL of the proof-of-work widget (`templates/ui/slots/altcha.html`), when
    /// the project asks sign-ups for one.
    pub(crate) altcha: Option<String>,
}

impl Slots {
    /// The slots of `page` for the project; a slot that needs a script adds it to `chrome`
    /// (`chrome.add_script`), and a widget that fetches adds its source to `chrome.csp`.
    pub(crate) fn for_page(_ctx: &ProjectContext, _chrome: &mut Chrome, _page: PageKind) -> Self {
        Self { passkeys_enabled: false, altcha: None }
    }
}
