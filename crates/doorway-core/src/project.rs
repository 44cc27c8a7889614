//! Projects (tenants): every user, key and setting belongs to one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Path segments that belong to Doorway's own top-level routes and so cannot name a project.
pub const RESERVED_SLUGS: &[&str] =
    &["api", "auth", "accounts", "admin", "ui", "docs", ".well-known", "healthz", "readyz", "metrics", "openapi.json"];

pub const DEFAULT_PROJECT: &str = "default";

/// A project's URL name: 1–63 of `a-z`, `0-9` and `-`, starting with a letter, not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ProjectSlug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("must be 1 to 63 characters long")]
    Length,
    #[error("must start with a lowercase letter and contain only a-z, 0-9 and '-'")]
    Characters,
    #[error("'{0}' is reserved for Doorway's own routes")]
    Reserved(String),
}

impl ProjectSlug {
    pub fn parse(raw: &str) -> Result<Self, SlugError> {
        if raw.is_empty() || raw.len() > 63 {
            return Err(SlugError::Length);
        }
        if RESERVED_SLUGS.contains(&raw) {
            return Err(SlugError::Reserved(raw.to_owned()));
        }
        let mut chars = raw.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !starts_with_letter || !rest_ok || raw.ends_with('-') {
            return Err(SlugError::Characters);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn default_project() -> Self {
        Self(DEFAULT_PROJECT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_PROJECT
    }
}

impl fmt::Display for ProjectSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ProjectSlug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Per-project behaviour. Every field has the seeds' documented behaviour as its default,
/// so an empty table is a valid project.
///
/// Settings that belong to one wire contract (`replyke`, `storyden`, …) are not typed here:
/// they are kept in `contract_settings` under their key, and the server's contract modules own
/// their shape, defaults and checks. So unknown keys are not refused by deserializing: the
/// server refuses every key in `contract_settings` that no contract claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectSettings {
    /// Lifetime of access tokens (JWT), in seconds.
    pub access_token_ttl_secs: u32,
    /// Lifetime of refresh tokens (and so of sessions), in seconds.
    pub refresh_token_ttl_secs: u32,
    /// What new passwords must contain.
    pub password_policy: crate::password::PasswordPolicy,
    /// Calls made before a user is created (any contract).
    pub hooks: crate::hooks::HooksSettings,
    pub rate_limits: crate::rate_limit::RateLimits,
    /// Where events (`user.created`, …) are delivered.
    pub webhooks: Vec<crate::webhooks::WebhookEndpoint>,
    /// The native sign-up (seed 002).
    pub signup: SignupSettings,
    /// One-time codes and links.
    pub verification: VerificationSettings,
    /// OAuth / OpenID Connect providers by id (`google`, `github`, …).
    pub providers: std::collections::BTreeMap<String, crate::oauth::ProviderSettings>,
    /// Origins or URL prefixes that `callbackUrl` may point at; relative paths are always allowed.
    pub redirect_allowlist: Vec<String>,
    /// The Aufy external sign-up model; the endpoint is off without it.
    pub external_signup: crate::external_signup::ExternalSignupSettings,
    /// What names other users see may contain.
    pub names: NameSettings,
    /// Project-wide roles every new account gets, whatever the contract it signs up through
    /// (Aufy's `DefaultRoles`); in the access token's `roles` claim. None by default.
    pub default_roles: Vec<String>,
    /// Browser origins other than Doorway's own that may send cookie-carrying requests.
    pub cors: CorsSettings,
    /// Proof-of-work (ALTCHA) challenges on every sign-up; off by default.
    pub bot_protection: crate::bot_check::BotProtectionSettings,
    /// WebAuthn passkeys: off unless enabled; relying party from the public URL by default.
    pub passkeys: crate::passkey::PasskeySettings,
    /// Wire contracts by name (`native`, `replyke`, `storyden`, `rivergen`, `aufy`): every one
    /// is served unless switched off here. The server knows the names and checks them.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub contracts: std::collections::BTreeMap<String, ContractSwitch>,
    /// Every other key: one contract's own settings (`replyke = {…}`), kept as given.
    #[serde(flatten)]
    pub contract_settings: std::collections::BTreeMap<String, serde_json::Value>,
}

/// `contracts.<name>`: whether the project serves a contract's routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContractSwitch {
    pub enabled: bool,
}

impl Default for ContractSwitch {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NameSettings {
    /// Refuse display names and handles that mix scripts (Unicode TS #39), such as Latin with a
    /// Cyrillic look-alike letter. Off by default: names legitimately mix scripts in places.
    pub refuse_mixed_script: bool,
}

/// Cross-origin access: the browser origins, besides Doorway's own, that may call the project's
/// routes with credentials (CORS) and send cookie-carrying state changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsSettings {
    /// Exact origins (`https://app.example.com`, no path); none by default.
    pub allowed_origins: Vec<String>,
}

impl CorsSettings {
    /// Whether `origin` (an `Origin` header value) is one of the allowed origins.
    pub fn allows(&self, origin: &str) -> bool {
        let Some(origin) = exact_origin(origin) else { return false };
        self.allowed_origins.iter().any(|allowed| allowed_origin(allowed).ok().as_deref() == Some(origin.as_str()))
    }

    fn problems(&self) -> Vec<(&'static str, String)> {
        self.allowed_origins
            .iter()
            .filter_map(|o| allowed_origin(o).err().map(|why| ("cors.allowed_origins", format!("'{o}' {why}"))))
            .collect()
    }
}

/// An entry of `cors.allowed_origins`, serialized as browsers send it in `Origin`; or why it is
/// not an origin. Stricter than [`exact_origin`]: a configured `https://app.example.com/` or
/// `*` is a mistake to point out, not something to guess the meaning of.
fn allowed_origin(raw: &str) -> Result<String, &'static str> {
    if raw.contains('*') {
        return Err("is a wildcard; list each origin (credentials are allowed, so browsers refuse '*')");
    }
    let url = url::Url::parse(raw).map_err(|_| "is not an origin; write scheme://host[:port]")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("is not an origin; write http(s)://host[:port]");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries credentials; write scheme://host[:port]");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("has a query or fragment; an origin is scheme://host[:port]");
    }
    if raw.ends_with('/') {
        return Err("ends with '/'; an origin has no path, drop the trailing slash");
    }
    if url.path() != "/" {
        return Err("has a path; an origin is scheme://host[:port]");
    }
    Ok(url.origin().ascii_serialization())
}

/// `scheme://host[:port]` serialized the way browsers send it, or None for anything else.
pub fn exact_origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim_end_matches('/')).ok()?;
    let bare = matches!(url.path(), "" | "/") && url.query().is_none() && url.fragment().is_none();
    let plain = url.username().is_empty() && url.password().is_none();
    (matches!(url.scheme(), "http" | "https") && url.host().is_some() && bare && plain)
        .then(|| url.origin().ascii_serialization())
}

/// Whether a sign-up takes a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PasswordMode {
    Required,
    Optional,
    /// Magic link / one-time code only.
    Off,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignupSettings {
    /// Send a verification mail after every sign-up (`emailVerified` stays false until done).
    pub verify_email: bool,
    pub password: PasswordMode,
}

impl Default for SignupSettings {
    fn default() -> Self {
        Self { verify_email: false, password: PasswordMode::Required }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerificationSettings {
    /// Lifetime of a code and its link.
    pub code_ttl_secs: u32,
    /// Wrong codes before a code is dead.
    pub max_attempts: u32,
}

impl Default for VerificationSettings {
    fn default() -> Self {
        Self { code_ttl_secs: 900, max_attempts: 5 }
    }
}

impl Default for ProjectSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 3600,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            password_policy: Default::default(),
            hooks: Default::default(),
            rate_limits: Default::default(),
            webhooks: Vec::new(),
            signup: Default::default(),
            verification: Default::default(),
            providers: Default::default(),
            redirect_allowlist: Vec::new(),
            external_signup: Default::default(),
            names: Default::default(),
            default_roles: Vec::new(),
            cors: Default::default(),
            bot_protection: Default::default(),
            passkeys: Default::default(),
            contracts: Default::default(),
            contract_settings: Default::default(),
        }
    }
}

impl ProjectSettings {
    /// Whether the project serves the contract named `name` (on unless switched off).
    pub fn contract_enabled(&self, name: &str) -> bool {
        self.contracts.get(name).is_none_or(|s| s.enabled)
    }

    /// The settings as an admin may see them: secrets masked.
    pub fn redacted(&self) -> Self {
        Self {
            hooks: self.hooks.redacted(),
            webhooks: self.webhooks.iter().map(|w| w.redacted()).collect(),
            providers: self
                .providers
                .iter()
                .map(|(id, p)| {
                    let secret = p.client_secret.as_ref().map(|_| "***".to_owned());
                    (id.clone(), crate::oauth::ProviderSettings { client_secret: secret, ..p.clone() })
                })
                .collect(),
            ..self.clone()
        }
    }

    /// Problems as `(field, message)` pairs; empty when the settings are usable.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(60..=86_400).contains(&self.access_token_ttl_secs) {
            out.push(("access_token_ttl_secs", "must be between 60 and 86400 seconds".to_owned()));
        }
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs {
            out.push(("refresh_token_ttl_secs", "must be at least access_token_ttl_secs".to_owned()));
        }
        out.extend(self.password_policy.problems());
        out.extend(self.hooks.problems());
        out.extend(self.rate_limits.problems());
        out.extend(self.webhooks.iter().enumerate().flat_map(|(i, w)| w.problems(i)));
        if !(60..=86_400).contains(&self.verification.code_ttl_secs) {
            out.push(("verification.code_ttl_secs", "must be between 60 and 86400".to_owned()));
        }
        for (id, p) in &self.providers {
            out.extend(crate::oauth::provider_problems(id, p));
        }
        for entry in &self.redirect_allowlist {
            if !url::Url::parse(entry).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                out.push(("redirect_allowlist", format!("'{entry}' is not an absolute http(s) URL")));
            }
        }
        if let Some(schema) = &self.external_signup.schema
            && let Err(e) = crate::external_signup::SignUpModel::compile(schema)
        {
            out.push(("external_signup.schema", format!("is not a usable JSON Schema: {e}")));
        }
        out.extend(self.cors.problems());
        out.extend(self.bot_protection.problems());
        out.extend(self.passkeys.problems());
        out.extend(role_problems(&self.default_roles));
        if self.verification.max_attempts == 0 {
            out.push(("verification.max_attempts", "must be at least 1".to_owned()));
        }
        out
    }
}

/// Role names are 1–64 printable characters with no surrounding spaces, each listed once.
fn role_problems(roles: &[String]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let printable = !role.chars().any(char::is_control);
        if role.is_empty() || role.chars().count() > 64 || role.trim() != role || !printable {
            out.push(("default_roles", format!("'{role}' is not a role name: use 1 to 64 printable characters")));
        } else if roles[..i].contains(role) {
            out.push(("default_roles", format!("'{role}' is listed twice")));
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: String,
    pub slug: ProjectSlug,
    pub name: String,
    pub settings: ProjectSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_slugs() {
        for ok in ["acme", "a", "acme-2", "default", "x1"] {
            assert_eq!(ProjectSlug::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_reserved_and_malformed_slugs() {
        for reserved in RESERVED_SLUGS {
            assert!(matches!(ProjectSlug::parse(reserved), Err(SlugError::Reserved(_))), "{reserved}");
        }
        for bad in ["Acme", "1acme", "-acme", "acme-", "ac me", "acme_inc", "ümlaut"] {
            assert_eq!(ProjectSlug::parse(bad), Err(SlugError::Characters), "{bad}");
        }
        assert_eq!(ProjectSlug::parse(""), Err(SlugError::Length));
        assert_eq!(ProjectSlug::parse(&"a".repeat(64)), Err(SlugError::Length));
    }

    #[test]
    fn default_settings_are_valid() {
        assert!(ProjectSettings::default().problems().is_empty());
    }

    #[test]
    fn default_roles_are_plain_names_listed_once() {
        let ok = ProjectSettings { default_roles: vec!["user".into(), "Reader 2".into()], ..Default::default() };
        assert!(ok.problems().is_empty());
        let bad = vec!["".into(), " admin".into(), "a\nb".into(), "x".repeat(65), "user".into(), "user".into()];
        let problems = role_problems(&bad);
        assert_eq!(problems.len(), 5, "{problems:?}");
    }

    #[test]
    fn allowed_origins_are_exact() {
        let cors =
            CorsSettings { allowed_origins: vec!["https://app.example.com".into(), "http://localhost:3000".into()] };
        assert!(cors.problems().is_empty());
        assert!(cors.allows("https://app.example.com"));
        assert!(cors.allows("https://APP.example.com:443"));
        assert!(cors.allows("http://localhost:3000"));
        for refused in ["https://app.example.com.evil.com", "http://app.example.com", "null", "https://evil.com"] {
            assert!(!cors.allows(refused), "{refused}");
        }
    }

    #[test]
    fn malformed_allowed_origins_are_named_with_the_fix() {
        let cases = [
            ("https://app.example.com/", "drop the trailing slash"),
            ("https://app.example.com/path", "has a path"),
            ("*", "wildcard"),
            ("https://*.example.com", "wildcard"),
            ("app.example.com", "not an origin"),
            ("ftp://app.example.com", "http(s)://host[:port]"),
            ("https://user@app.example.com", "credentials"),
            ("https://app.example.com?x=1", "query or fragment"),
        ];
        for (raw, reason) in cases {
            let cors = CorsSettings { allowed_origins: vec![raw.into()] };
            let problems = cors.problems();
            assert_eq!(problems.len(), 1, "{raw}");
            assert_eq!(problems[0].0, "cors.allowed_origins");
            assert!(problems[0].1.starts_with(&format!("'{raw}' ")) && problems[0].1.contains(reason), "{problems:?}");
            assert!(!cors.allows(raw.trim_end_matches('/')), "a refused entry allows nothing: {raw}");
        }
    }

    #[test]
    fn unknown_keys_are_kept_for_the_server_to_refuse() {
        // Contract settings are not typed in core, so a key no typed field takes is kept in
        // `contract_settings`; the server refuses every key there that no contract claims.
        let parsed = serde_json::from_str::<ProjectSettings>(r#"{"acces_token_ttl_secs": 5}"#).unwrap();
        assert_eq!(parsed.access_token_ttl_secs, ProjectSettings::default().access_token_ttl_secs);
        assert_eq!(parsed.contract_settings.keys().collect::<Vec<_>>(), ["acces_token_ttl_secs"]);
        // Typed fields still refuse unknown keys inside them.
        assert!(serde_json::from_str::<ProjectSettings>(r#"{"names": {"refuse_mixed": true}}"#).is_err());
    }
}

/// A project as a request sees it: the project, its published keys and its issuer URL.
#[derive(Debug)]
pub struct ProjectContext {
    pub project: Project,
    /// Keys published when the context was loaded, newest first.
    pub keys: Vec<crate::keys::ProjectKey>,
    /// Token issuer and base URL of this project's routes.
    pub issuer: String,
}

impl ProjectContext {
    /// The key new tokens are signed with: the newest key not yet replaced by a rotation.
    pub fn signing_key(&self) -> Option<&crate::keys::ProjectKey> {
        self.keys.iter().find(|k| k.retires_at.is_none())
    }

    /// Keys published and accepted at `now`, newest first. A context may be cached past a key's
    /// retirement, so time-bound checks filter here rather than trusting `keys`.
    pub fn published_keys(&self, now: Timestamp) -> impl Iterator<Item = &crate::keys::ProjectKey> {
        self.keys.iter().filter(move |k| k.is_published_at(now))
    }
}
