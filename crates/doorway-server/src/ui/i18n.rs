//! The pages' message catalogue: every text of the pages, in English and German, picked by
//! `Accept-Language`. A `Messages` is one locale's catalogue; templates read its fields, so a
//! missing text is a compile error, not a blank on a page. Messages that come from the flows
//! (password policy reasons, name rules) are English in every locale.

use axum::http::{HeaderMap, header};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Locale {
    En,
    De,
}

impl Locale {
    /// The first supported language of `Accept-Language` by preference (`q`), else English.
    pub(crate) fn negotiate(headers: &HeaderMap) -> Self {
        let Some(raw) = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
            return Self::En;
        };
        let mut ranges: Vec<(&str, f32)> = raw
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (!tag.is_empty() && q > 0.0).then_some((tag, q))
            })
            .collect();
        // Stable: equal weights keep the client's order.
        ranges.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranges
            .into_iter()
            .find_map(|(tag, _)| {
                let primary = tag.split('-').next().unwrap_or(tag).to_ascii_lowercase();
                match primary.as_str() {
                    "en" => Some(Self::En),
                    "de" => Some(Self::De),
                    _ => None,
                }
            })
            .unwrap_or(Self::En)
    }

    pub(crate) fn messages(self) -> &'static Messages {
        match self {
            Self::En => &EN,
            Self::De => &DE,
        }
    }
}

/// One locale's texts.
pub(crate) struct Messages {
    pub(crate) lang: &'static str,
    pub(crate) problem: &'static str,
    pub(crate) or: &'static str,
    pub(crate) support: &'static str,
    pub(crate) email: &'static str,
    pub(crate) password: &'static str,
    pub(crate) new_password: &'static str,
    /// `{n}` is the minimum length.
    pub(crate) hint_min: &'static str,
    pub(crate) hint_with: &'static str,
    pub(crate) hint_upper: &'static str,
    pub(crate) hint_lower: &'static str,
    pub(crate) hint_digit: &'static str,
    pub(crate) hint_special: &'static str,
    pub(crate) and: &'static str,
    pub(crate) name: &'static str,
    pub(crate) code: &'static str,
    pub(crate) code_hint: &'static str,
    pub(crate) sign_up_title: &'static str,
    pub(crate) sign_up_submit: &'static str,
    pub(crate) sign_up_by_code: &'static str,
    pub(crate) continue_with: &'static str,
    pub(crate) have_account: &'static str,
    pub(crate) sign_in_title: &'static str,
    pub(crate) sign_in_submit: &'static str,
    pub(crate) no_account: &'static str,
    pub(crate) sign_up_link: &'static str,
    pub(crate) sign_in_link: &'static str,
    pub(crate) forgot_link: &'static str,
    pub(crate) code_instead: &'static str,
    pub(crate) send_code: &'static str,
    pub(crate) code_title: &'static str,
    pub(crate) code_sent: &'static str,
    pub(crate) verify_title: &'static str,
    pub(crate) verify_text: &'static str,
    pub(crate) verify_submit: &'static str,
    pub(crate) verify_link_text: &'static str,
    pub(crate) resend: &'static str,
    pub(crate) resent: &'static str,
    pub(crate) verified: &'static str,
    pub(crate) forgot_title: &'static str,
    pub(crate) forgot_text: &'static str,
    pub(crate) forgot_submit: &'static str,
    pub(crate) reset_title: &'static str,
    pub(crate) reset_sent: &'static str,
    pub(crate) reset_submit: &'static str,
    pub(crate) reset_done: &'static str,
    pub(crate) welcome_title: &'static str,
    pub(crate) signed_in_as: &'static str,
    pub(crate) sign_out: &'static str,
    pub(crate) signed_out: &'static str,
    pub(crate) err_required: &'static str,
    pub(crate) err_email_taken: &'static str,
    pub(crate) err_credentials: &'static str,
    pub(crate) err_code_invalid: &'static str,
    pub(crate) err_code_expired: &'static str,
    pub(crate) err_rate_limited: &'static str,
    pub(crate) err_busy: &'static str,
    pub(crate) err_csrf: &'static str,
    pub(crate) err_return_to: &'static str,
    pub(crate) err_oauth_failed: &'static str,
    pub(crate) err_account_exists: &'static str,
    pub(crate) err_denied: &'static str,
    pub(crate) err_internal: &'static str,
    pub(crate) err_bot_check: &'static str,
    pub(crate) bot_check_needs_js: &'static str,
    pub(crate) error_title: &'static str,
    pub(crate) not_found: &'static str,
    pub(crate) unknown_project: &'static str,
    pub(crate) back: &'static str,
    pub(crate) passkey_title: &'static str,
    pub(crate) passkey_sign_up: &'static str,
    pub(crate) passkey_sign_in: &'static str,
    pub(crate) passkey_needs_email: &'static str,
    pub(crate) passkey_failed: &'static str,
}

pub(crate) const EN: Messages = Messages {
    lang: "en",
    problem: "There is a problem",
    or: "or",
    support: "Need help? Contact support",
    email: "Email address",
    password: "Password",
    new_password: "New password",
    hint_min: "At least {n} characters",
    hint_with: "with",
    hint_upper: "an uppercase letter",
    hint_lower: "a lowercase letter",
    hint_digit: "a number",
    hint_special: "a special character",
    and: "and",
    name: "Your name",
    code: "Code from the email",
    code_hint: "6 digits.",
    sign_up_title: "Create your account",
    sign_up_submit: "Create account",
    sign_up_by_code: "We will email you a code to confirm your address; no password needed.",
    continue_with: "Continue with",
    have_account: "Already have an account?",
    sign_in_title: "Sign in",
    sign_in_submit: "Sign in",
    no_account: "New here?",
    sign_up_link: "Create an account",
    sign_in_link: "Sign in",
    forgot_link: "Forgot your password?",
    code_instead: "Sign in with a code by email instead",
    send_code: "Email me a code",
    code_title: "Enter your sign-in code",
    code_sent: "If the address has an account, a code is on its way to it.",
    verify_title: "Confirm your email address",
    verify_text: "Enter the code we emailed to you.",
    verify_submit: "Confirm",
    verify_link_text: "Press the button to confirm this address.",
    resend: "Send a new code",
    resent: "If the address has an unconfirmed account, a new code is on its way.",
    verified: "Your email address is confirmed.",
    forgot_title: "Reset your password",
    forgot_text: "Enter your address and we will email you a code and a link to set a new password.",
    forgot_submit: "Send reset email",
    reset_title: "Choose a new password",
    reset_sent: "If the address has an account, a code and a link are on their way to it.",
    reset_submit: "Set new password",
    reset_done: "Your new password is set and every other device was signed out. Sign in with it.",
    welcome_title: "You are signed in",
    signed_in_as: "Signed in as",
    sign_out: "Sign out",
    signed_out: "You are signed out.",
    err_required: "Fill in this field.",
    err_email_taken: "An account with this address already exists. Sign in instead.",
    err_credentials: "The email address or the password is wrong.",
    err_code_invalid: "The code is wrong.",
    err_code_expired: "The code has expired or was used up. Request a new one.",
    err_rate_limited: "Too many attempts. Wait a while and try again.",
    err_busy: "We are busy right now. Try again in a moment.",
    err_csrf: "This form has expired. Reload the page and try again.",
    err_return_to: "The address to return to is not allowed for this site.",
    err_oauth_failed: "Signing in with the provider did not work. Try again.",
    err_account_exists: "An account with this address already exists. Sign in with your password.",
    err_denied: "Sign-up was refused.",
    err_internal: "Something went wrong on our side. Try again later.",
    err_bot_check: "The automatic bot check did not pass. Wait until it shows as done, then send the form again.",
    bot_check_needs_js: "This site checks that sign-ups come from people with a short computation in your browser: turn JavaScript on to sign up.",
    error_title: "Something went wrong",
    not_found: "There is no page at this address.",
    unknown_project: "There is no project at this address.",
    back: "Back to sign in",
    passkey_title: "Passkey",
    passkey_sign_up: "Create account with a passkey",
    passkey_sign_in: "Sign in with a passkey",
    passkey_needs_email: "Enter your email address above first.",
    passkey_failed: "The passkey did not work. Try again, or use another way.",
};

pub(crate) const DE: Messages = Messages {
    lang: "de",
    problem: "Es gibt ein Problem",
    or: "oder",
    support: "Brauchen Sie Hilfe? Support kontaktieren",
    email: "E-Mail-Adresse",
    password: "Passwort",
    new_password: "Neues Passwort",
    hint_min: "Mindestens {n} Zeichen",
    hint_with: "mit",
    hint_upper: "einem Großbuchstaben",
    hint_lower: "einem Kleinbuchstaben",
    hint_digit: "einer Ziffer",
    hint_special: "einem Sonderzeichen",
    and: "und",
    name: "Ihr Name",
    code: "Code aus der E-Mail",
    code_hint: "6 Ziffern.",
    sign_up_title: "Konto erstellen",
    sign_up_submit: "Konto erstellen",
    sign_up_by_code: "Wir senden Ihnen einen Code zur Bestätigung Ihrer Adresse; kein Passwort nötig.",
    continue_with: "Weiter mit",
    have_account: "Sie haben schon ein Konto?",
    sign_in_title: "Anmelden",
    sign_in_submit: "Anmelden",
    no_account: "Neu hier?",
    sign_up_link: "Konto erstellen",
    sign_in_link: "Anmelden",
    forgot_link: "Passwort vergessen?",
    code_instead: "Stattdessen mit einem Code per E-Mail anmelden",
    send_code: "Code per E-Mail senden",
    code_title: "Anmeldecode eingeben",
    code_sent: "Wenn zu der Adresse ein Konto gehört, ist ein Code unterwegs.",
    verify_title: "E-Mail-Adresse bestätigen",
    verify_text: "Geben Sie den Code ein, den wir Ihnen gesendet haben.",
    verify_submit: "Bestätigen",
    verify_link_text: "Drücken Sie die Schaltfläche, um diese Adresse zu bestätigen.",
    resend: "Neuen Code senden",
    resent: "Wenn zu der Adresse ein unbestätigtes Konto gehört, ist ein neuer Code unterwegs.",
    verified: "Ihre E-Mail-Adresse ist bestätigt.",
    forgot_title: "Passwort zurücksetzen",
    forgot_text: "Geben Sie Ihre Adresse ein; wir senden Ihnen einen Code und einen Link für ein neues Passwort.",
    forgot_submit: "E-Mail senden",
    reset_title: "Neues Passwort wählen",
    reset_sent: "Wenn zu der Adresse ein Konto gehört, sind ein Code und ein Link unterwegs.",
    reset_submit: "Neues Passwort speichern",
    reset_done: "Ihr neues Passwort ist gespeichert, alle anderen Geräte wurden abgemeldet. Melden Sie sich damit an.",
    welcome_title: "Sie sind angemeldet",
    signed_in_as: "Angemeldet als",
    sign_out: "Abmelden",
    signed_out: "Sie sind abgemeldet.",
    err_required: "Füllen Sie dieses Feld aus.",
    err_email_taken: "Zu dieser Adresse gibt es schon ein Konto. Melden Sie sich an.",
    err_credentials: "E-Mail-Adresse oder Passwort ist falsch.",
    err_code_invalid: "Der Code ist falsch.",
    err_code_expired: "Der Code ist abgelaufen oder verbraucht. Fordern Sie einen neuen an.",
    err_rate_limited: "Zu viele Versuche. Warten Sie eine Weile und versuchen Sie es erneut.",
    err_busy: "Gerade ist viel los. Versuchen Sie es gleich noch einmal.",
    err_csrf: "Dieses Formular ist abgelaufen. Laden Sie die Seite neu und versuchen Sie es erneut.",
    err_return_to: "Die Rücksprungadresse ist für diese Seite nicht erlaubt.",
    err_oauth_failed: "Die Anmeldung beim Anbieter hat nicht geklappt. Versuchen Sie es erneut.",
    err_account_exists: "Zu dieser Adresse gibt es schon ein Konto. Melden Sie sich mit Ihrem Passwort an.",
    err_denied: "Die Registrierung wurde abgelehnt.",
    err_internal: "Bei uns ist etwas schiefgegangen. Versuchen Sie es später erneut.",
    err_bot_check: "Die automatische Bot-Prüfung ist nicht bestanden. Warten Sie, bis sie als erledigt angezeigt wird, und senden Sie das Formular erneut.",
    bot_check_needs_js: "Diese Seite prüft mit einer kurzen Berechnung in Ihrem Browser, dass Registrierungen von Menschen kommen: Schalten Sie JavaScript ein, um sich zu registrieren.",
    error_title: "Etwas ist schiefgegangen",
    not_found: "Unter dieser Adresse gibt es keine Seite.",
    unknown_project: "Unter dieser Adresse gibt es kein Projekt.",
    back: "Zurück zur Anmeldung",
    passkey_title: "Passkey",
    passkey_sign_up: "Konto mit einem Passkey erstellen",
    passkey_sign_in: "Mit einem Passkey anmelden",
    passkey_needs_email: "Geben Sie zuerst oben Ihre E-Mail-Adresse ein.",
    passkey_failed: "Der Passkey hat nicht funktioniert. Versuchen Sie es erneut oder wählen Sie einen anderen Weg.",
};

impl Messages {
    /// What the project's password policy asks for, as the hint under a new-password field.
    pub(crate) fn password_hint(&self, policy: &doorway_core::password::PasswordPolicy) -> String {
        let min = self.hint_min.replace("{n}", &policy.min_length.to_string());
        let classes: Vec<&str> = [
            (policy.require_uppercase, self.hint_upper),
            (policy.require_lowercase, self.hint_lower),
            (policy.require_digit, self.hint_digit),
            (policy.require_special, self.hint_special),
        ]
        .into_iter()
        .filter_map(|(required, text)| required.then_some(text))
        .collect();
        match classes.split_last() {
            None => format!("{min}."),
            Some((last, [])) => format!("{min}, {} {last}.", self.hint_with),
            Some((last, rest)) => format!("{min}, {} {} {} {last}.", self.hint_with, rest.join(", "), self.and),
        }
    }

    /// The label of a form field, for the error summary.
    pub(crate) fn label(&self, field: &str) -> &'static str {
        match field {
            "name" => self.name,
            "email" | "code-email" => self.email,
            "password" => self.password,
            "code" => self.code,
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn negotiate(raw: &str) -> Locale {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(raw).unwrap());
        Locale::negotiate(&headers)
    }

    #[test]
    fn accept_language_picks_the_preferred_supported_locale() {
        assert_eq!(Locale::negotiate(&HeaderMap::new()), Locale::En);
        assert_eq!(negotiate("de-DE,de;q=0.9,en;q=0.8"), Locale::De);
        assert_eq!(negotiate("fr-FR, en;q=0.5, de;q=0.7"), Locale::De);
        assert_eq!(negotiate("en-GB, de"), Locale::En);
        assert_eq!(negotiate("de;q=0, en;q=0.1"), Locale::En);
        assert_eq!(negotiate("fr, it;q=bogus, ;;,"), Locale::En);
    }

    #[test]
    fn the_password_hint_says_what_the_policy_asks() {
        let seed = doorway_core::password::PasswordPolicy::default();
        assert_eq!(
            EN.password_hint(&seed),
            "At least 8 characters, with an uppercase letter, a number and a special character."
        );
        let nist = doorway_core::password::PasswordPolicy {
            require_uppercase: false,
            require_lowercase: false,
            require_digit: false,
            require_special: false,
            min_length: 12,
            ..seed
        };
        assert_eq!(DE.password_hint(&nist), "Mindestens 12 Zeichen.");
    }
}
