//! Reading a native sign-up body into a core command, every failing field at once.

use doorway_core::PasswordMode;
use doorway_core::ProjectContext;
use doorway_core::email::EmailAddress;
use doorway_core::events::ClientInfo;
use doorway_core::flows::email_signup::{EmailSignup, OnExisting};
use doorway_core::flows::password_signup::PasswordSignup;
use doorway_core::lookalike;
use doorway_core::password::Password;
use doorway_core::user::{Login, ProfileDraft};
use serde_json::Value;

use crate::contracts::common::Fields;
use crate::errors::ApiError;

/// A display name or organization name: trimmed, 2–100 characters, nothing hidden, one script
/// when `refuse_mixed_script`.
pub(super) fn bounded_text(
    fields: &mut Fields<'_>,
    field: &str,
    label: &str,
    raw: &str,
    refuse_mixed_script: bool,
) -> Option<String> {
    let trimmed = raw.trim();
    if let Err(e) = lookalike::check_name(trimmed, refuse_mixed_script) {
        fields.error(field, format!("{label} {e}"));
        return None;
    }
    if !(2..=100).contains(&trimmed.chars().count()) {
        fields.error(field, format!("{label} must be between 2 and 100 characters"));
        return None;
    }
    Some(trimmed.to_owned())
}

/// A native sign-up: with a password, or (when the project's `signup.password` allows) by
/// email only.
pub(crate) enum NativeSignup {
    Password(PasswordSignup),
    EmailOnly(EmailSignup),
}

pub(crate) fn parse_signup(body: &Value, ctx: &ProjectContext, client: ClientInfo) -> Result<NativeSignup, ApiError> {
    let settings = &ctx.project.settings;
    let mode = settings.signup.password;
    let mut f = Fields::of(body)?;
    let email = f.required("email", "Email").and_then(|raw| match EmailAddress::parse(raw) {
        Ok(e) => Some(e),
        Err(e) => {
            f.error("email", e.to_string());
            None
        }
    });
    let raw_password = match mode {
        PasswordMode::Required => f.required("password", "Password"),
        PasswordMode::Optional | PasswordMode::Off => f.optional("password", "Password"),
    };
    let password = match (raw_password, mode) {
        (Some(_), PasswordMode::Off) => {
            f.error("password", "This project signs in by email code only; send no password");
            None
        }
        (Some(raw), _) => {
            let password = Password::new(raw.to_owned());
            let violations = settings.password_policy.violations(&password);
            for v in &violations {
                f.error("password", v.clone());
            }
            violations.is_empty().then_some(Some(password))
        }
        (None, PasswordMode::Required) => None,
        (None, _) => Some(None),
    };
    let mixed = settings.names.refuse_mixed_script;
    let name = f.required("name", "Name").and_then(|raw| bounded_text(&mut f, "name", "Name", raw, mixed));
    let organization_name = match f.optional("organizationName", "Organization name") {
        Some(raw) => bounded_text(&mut f, "organizationName", "Organization name", raw, mixed).map(Some),
        None => Some(None),
    };
    let command = match (email, password, name, organization_name) {
        (Some(email), Some(password), Some(name), Some(organization_name)) => {
            let profile = ProfileDraft { name: Some(name), ..Default::default() };
            Some(match password {
                Some(password) => NativeSignup::Password(PasswordSignup {
                    login: Login::Email(email),
                    password,
                    policy: settings.password_policy.clone(),
                    profile,
                    organization_name,
                    client,
                }),
                None => NativeSignup::EmailOnly(EmailSignup {
                    email,
                    password: None,
                    mode,
                    policy: settings.password_policy.clone(),
                    profile,
                    organization_name,
                    client,
                    on_existing: OnExisting::Refuse,
                }),
            })
        }
        _ => None,
    };
    f.finish(command)
}
