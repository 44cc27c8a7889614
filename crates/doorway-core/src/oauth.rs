//! OAuth / OpenID Connect providers: settings, the identity they vouch for, and the port the
//! server implements to talk to them.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::email::EmailAddress;

/// One provider of a project (`projects.<slug>.providers.<id>`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Defaults: `openid email profile` (OIDC), `read:user user:email` (GitHub).
    pub scopes: Option<Vec<String>>,
    /// OpenID Connect issuer, for discovery; built in for google, gitlab, microsoft, slack, apple.
    pub issuer: Option<String>,
    /// Endpoint overrides (self-hosted GitLab, tests).
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    /// GitHub's `/user/emails` (override for GitHub Enterprise and tests).
    pub emails_url: Option<String>,
    /// The front-end redirect URI used to obtain codes that clients post to the API-style
    /// endpoint (Rivergen).
    pub redirect_uri: Option<String>,
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("client_id", &self.client_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// How Doorway talks to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// Discovery from `issuer`, ID token checked (signature, issuer, audience, nonce).
    Oidc { issuer: String },
    /// OAuth2 plus GitHub's user and emails APIs.
    GitHub { authorize_url: String, token_url: String, user_url: String, emails_url: String },
}

/// A provider ready to use: its id, display name, kind and settings.
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub display_name: String,
    pub kind: ProviderKind,
    pub settings: ProviderSettings,
}

/// `azure-ad` is seed 002's name for Microsoft.
pub fn canonical_provider_id(id: &str) -> &str {
    match id {
        "azure-ad" => "microsoft",
        other => other,
    }
}

fn display_name(id: &str) -> String {
    match id {
        "github" => "GitHub".into(),
        "gitlab" => "GitLab".into(),
        "google" => "Google".into(),
        "microsoft" => "Microsoft".into(),
        "slack" => "Slack".into(),
        "apple" => "Apple".into(),
        other => {
            let mut chars = other.chars();
            chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
        }
    }
}

fn built_in_issuer(id: &str) -> Option<&'static str> {
    Some(match id {
        "google" => "https://accounts.google.com",
        "gitlab" => "https://gitlab.com",
        "microsoft" => "https://login.microsoftonline.com/common/v2.0",
        "slack" => "https://slack.com",
        "apple" => "https://appleid.apple.com",
        _ => return None,
    })
}

impl Provider {
    /// The configured provider `id` (or its alias), if the project has one that is usable.
    pub fn resolve(providers: &std::collections::BTreeMap<String, ProviderSettings>, id: &str) -> Option<Self> {
        let id = canonical_provider_id(id);
        let settings =
            providers.get(id).or_else(|| if id == "microsoft" { providers.get("azure-ad") } else { None })?;
        if settings.client_id.is_empty() {
            return None;
        }
        let kind = if id == "github" {
            ProviderKind::GitHub {
                authorize_url: settings
                    .authorize_url
                    .clone()
                    .unwrap_or_else(|| "https://github.com/login/oauth/authorize".into()),
                token_url: settings
                    .token_url
                    .clone()
                    .unwrap_or_else(|| "https://github.com/login/oauth/access_token".into()),
                user_url: settings.userinfo_url.clone().unwrap_or_else(|| "https://api.github.com/user".into()),
                emails_url: settings.emails_url.clone().unwrap_or_else(|| "https://api.github.com/user/emails".into()),
            }
        } else {
            let issuer = settings.issuer.clone().or_else(|| built_in_issuer(id).map(str::to_owned))?;
            ProviderKind::Oidc { issuer }
        };
        Some(Self { id: id.to_owned(), display_name: display_name(id), kind, settings: settings.clone() })
    }

    pub fn scopes(&self) -> Vec<String> {
        self.settings.scopes.clone().unwrap_or_else(|| match self.kind {
            ProviderKind::GitHub { .. } => vec!["read:user".into(), "user:email".into()],
            ProviderKind::Oidc { .. } => vec!["openid".into(), "email".into(), "profile".into()],
        })
    }
}

pub fn provider_problems(id: &str, p: &ProviderSettings) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if p.client_id.trim().is_empty() {
        out.push(("providers", format!("{id}.client_id must not be empty")));
    }
    let canonical = canonical_provider_id(id);
    if canonical != "github" && p.issuer.is_none() && built_in_issuer(canonical).is_none() {
        out.push(("providers", format!("{id}.issuer is required for a generic OpenID Connect provider")));
    }
    out
}

/// What the provider vouches for.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalProfile {
    pub provider: String,
    pub subject: String,
    pub email: Option<EmailAddress>,
    /// Only the provider's own assertion counts (GitHub: a verified primary address).
    pub email_verified: bool,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The code was refused (unknown, used, expired): the client's problem.
    #[error("the provider refused the code: {0}")]
    Rejected(String),
    /// The provider answered something unusable or could not be reached.
    #[error("the provider failed: {0}")]
    Failed(String),
}

/// Secrets of one redirect round trip.
#[derive(Debug, Clone)]
pub struct RedirectSecrets {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

#[async_trait]
pub trait IdentityProviders: Send + Sync + 'static {
    /// The URL to send the browser to (state, nonce, PKCE S256).
    async fn authorization_url(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        secrets: &RedirectSecrets,
    ) -> Result<String, ProviderError>;
    /// Exchanges a code; `secrets` are present for Doorway's own redirect flows (PKCE verifier
    /// and nonce checked) and absent for codes a client obtained itself.
    async fn exchange(
        &self,
        provider: &Provider,
        code: &str,
        redirect_uri: &str,
        secrets: Option<&RedirectSecrets>,
    ) -> Result<ExternalProfile, ProviderError>;
}

/// Where a flow may send the browser back to, normalised: a path on Doorway's own origin, or
/// an http(s) URL under an entry of the project's `redirect_allowlist` (an origin, or an
/// origin and path prefix matched by whole segments). Redirect to this, never to the raw input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl(String);

/// The base relative callbacks are resolved against: any origin would do, since only the
/// path, query and fragment are kept, but the result must still be on it.
const OWN_ORIGIN: &str = "https://doorway.invalid/";

impl CallbackUrl {
    /// `None` for anything that could leave the allowed places: other origins, userinfo,
    /// backslashes, whitespace or control characters, encoded separators (`%2F`, `%5C`),
    /// dot segments that climb out of a prefix, non-http(s) schemes.
    pub fn parse(raw: &str, allowlist: &[String]) -> Option<Self> {
        // Browsers drop tabs and newlines inside URLs and treat `\` as `/`: refuse them all
        // rather than guess which reading a browser will pick.
        if raw.is_empty() || raw.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
            return None;
        }
        if raw.starts_with('/') {
            return Self::relative(raw);
        }
        let url = url::Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || has_userinfo(&url) {
            return None;
        }
        let segments = clean_segments(&url)?;
        let allowed = allowlist.iter().any(|entry| {
            let Ok(entry) = url::Url::parse(entry) else { return false };
            if entry.origin() != url.origin() {
                return false;
            }
            // `https://a.example/auth/done/` and `…/done` are the same prefix.
            let mut prefix: Vec<_> = entry
                .path_segments()
                .into_iter()
                .flatten()
                .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy())
                .collect();
            if prefix.last().is_some_and(|s| s.is_empty()) {
                prefix.pop();
            }
            segments.len() >= prefix.len() && segments.iter().zip(&prefix).all(|(a, b)| a == b)
        });
        allowed.then(|| Self(url.into()))
    }

    fn relative(raw: &str) -> Option<Self> {
        if raw.starts_with("//") {
            return None;
        }
        let base = url::Url::parse(OWN_ORIGIN).ok()?;
        let url = base.join(raw).ok()?;
        if url.origin() != base.origin() || has_userinfo(&url) {
            return None;
        }
        clean_segments(&url)?;
        let path = url.path();
        // `/a/..//evil.example` normalises to `//evil.example`: protocol-relative, so off-origin.
        if path.starts_with("//") {
            return None;
        }
        let mut out = path.to_owned();
        if let Some(q) = url.query() {
            out.push('?');
            out.push_str(q);
        }
        if let Some(f) = url.fragment() {
            out.push('#');
            out.push_str(f);
        }
        Some(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn has_userinfo(url: &url::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// The path's segments, decoded once; `None` when decoding reveals a separator, a dot segment,
/// a control character or invalid UTF-8 (a server or proxy that decodes again would see a
/// different path than the one matched).
fn clean_segments(url: &url::Url) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for raw in url.path_segments()? {
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8().ok()?;
        if decoded.contains(['/', '\\', '%'])
            || decoded.chars().any(char::is_control)
            || decoded == "."
            || decoded == ".."
        {
            return None;
        }
        out.push(decoded.into_owned());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowlist() -> Vec<String> {
        vec!["https://app.example.com".to_owned(), "https://other.example.com/auth/done".to_owned()]
    }

    fn normalised(raw: &str) -> Option<String> {
        CallbackUrl::parse(raw, &allowlist()).map(|c| c.as_str().to_owned())
    }

    #[test]
    fn callbacks_are_relative_or_allow_listed_and_come_back_normalised() {
        for (raw, expected) in [
            ("/dashboard", "/dashboard"),
            ("/a?b=c#d", "/a?b=c#d"),
            ("/a/./b/../c", "/a/c"),
            ("https://app.example.com/x", "https://app.example.com/x"),
            ("https://APP.example.com:443/x/../y", "https://app.example.com/y"),
            ("https://other.example.com/auth/done", "https://other.example.com/auth/done"),
            ("https://other.example.com/auth/done/", "https://other.example.com/auth/done/"),
            ("https://other.example.com/auth/done?x=1", "https://other.example.com/auth/done?x=1"),
            ("https://other.example.com/auth/done/step/../next", "https://other.example.com/auth/done/next"),
        ] {
            assert_eq!(normalised(raw).as_deref(), Some(expected), "{raw}");
        }
    }

    #[test]
    fn escapes_are_refused() {
        for bad in [
            "",
            "dashboard",
            "//evil.example.com",
            "/\\evil.example.com",
            "\\/evil.example.com",
            "/%2F%2Fevil.example.com",
            "/%5Cevil.example.com",
            "/a/..//evil.example.com",
            "/..//evil.example.com",
            " /dashboard",
            "/dash\tboard",
            "/\n/evil.example.com",
            "/%0d%0aSet-Cookie:x",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "https://evil.example.com",
            "https://app.example.com.evil.example/",
            "https://app.example.com@evil.example/",
            "https://user:pw@app.example.com/",
            "http://app.example.com/",
            "https://app.example.com:8443/",
            "https://other.example.com/",
            "https://other.example.com/auth",
            "https://other.example.com/auth/donex",
            "https://other.example.com/auth/done/../../evil",
            "https://other.example.com/auth/done/%2e%2e/%2e%2e/evil",
            "https://other.example.com/auth/done/..%2F..%2Fevil",
            "https://other.example.com/auth/done/%2e%2e%2f%2e%2e%2fevil",
            "https://other.example.com/auth/done/%252e%252e/evil",
            "https://other.example.com/auth//done",
        ] {
            assert_eq!(normalised(bad), None, "{bad:?}");
        }
    }

    /// Where a browser lands when it follows the callback as a `Location` from Doorway.
    fn landing(callback: &str) -> url::Url {
        url::Url::parse("https://doorway.example.net/acme/auth/external/callback/google")
            .unwrap()
            .join(callback)
            .unwrap()
    }

    fn pieces() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let start = prop::sample::select(vec![
            "",
            "/",
            "//",
            "https://other.example.com/auth/done",
            "https://other.example.com/auth/done/",
            "https://app.example.com",
            "https://evil.example",
            "javascript:",
            "https://a@app.example.com",
            "HTTPS://other.example.com:443/auth/done",
            "/\\",
            "http:",
        ]);
        let piece = prop::sample::select(vec![
            "/", "..", ".", "%2F", "%2f", "%5C", "\\", "%2e", "%2E%2E", "%252e", "evil", "@", "?", "#", " ", "\t",
            "%00", ":", "done", "auth", "//", "x?y=/..", "%", "é",
        ]);
        (start, prop::collection::vec(piece, 0..8)).prop_map(|(s, rest)| format!("{s}{}", rest.concat()))
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(raw in proptest::prelude::any::<String>(), built in pieces()) {
            let _ = CallbackUrl::parse(&raw, &allowlist());
            let _ = CallbackUrl::parse(&built, &allowlist());
        }

        #[test]
        fn an_accepted_callback_lands_on_an_allowed_origin_and_prefix(raw in pieces()) {
            if let Some(callback) = CallbackUrl::parse(&raw, &allowlist()) {
                let to = landing(callback.as_str());
                let path: Vec<_> = to.path_segments().unwrap().collect();
                let ok = match to.host_str() {
                    Some("doorway.example.net") => callback.as_str().starts_with('/'),
                    Some("app.example.com") => true,
                    Some("other.example.com") => path.len() >= 2 && path[..2] == ["auth", "done"],
                    _ => false,
                };
                proptest::prop_assert!(ok, "{raw:?} -> {:?} -> {to}", callback.as_str());
                proptest::prop_assert_eq!(to.scheme(), "https");
                proptest::prop_assert!(to.username().is_empty() && to.password().is_none());
                let dots = |s: &&str| matches!(&*percent_encoding::percent_decode_str(s).decode_utf8_lossy(), "." | "..");
                proptest::prop_assert!(!path.iter().any(dots), "a dot segment survived: {to}");
                // Normalising is idempotent: what Doorway redirects to is itself accepted as is.
                let again = CallbackUrl::parse(callback.as_str(), &allowlist());
                proptest::prop_assert_eq!(again.as_ref(), Some(&callback));
            }
        }
    }

    #[test]
    fn resolves_aliases_and_built_in_issuers() {
        let mut providers = std::collections::BTreeMap::new();
        let settings = ProviderSettings {
            client_id: "id".into(),
            client_secret: None,
            scopes: None,
            issuer: None,
            authorize_url: None,
            token_url: None,
            userinfo_url: None,
            emails_url: None,
            redirect_uri: None,
        };
        providers.insert("microsoft".to_owned(), settings.clone());
        providers.insert("github".to_owned(), settings.clone());
        providers.insert("custom".to_owned(), settings);
        let ms = Provider::resolve(&providers, "azure-ad").unwrap();
        assert_eq!(ms.id, "microsoft");
        assert!(matches!(ms.kind, ProviderKind::Oidc { .. }));
        assert_eq!(Provider::resolve(&providers, "github").unwrap().display_name, "GitHub");
        assert!(Provider::resolve(&providers, "custom").is_none(), "a generic provider needs an issuer");
        assert!(Provider::resolve(&providers, "google").is_none(), "not configured");
    }
}
