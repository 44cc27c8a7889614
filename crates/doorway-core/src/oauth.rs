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

/// Where a flow may send the browser back to: a relative path, or a URL whose origin (or
/// exact prefix) is in the project's `redirect_allowlist`. Anything else is an open redirect.
pub fn callback_allowed(raw: &str, allowlist: &[String]) -> bool {
    let raw = raw.trim();
    if raw.starts_with('/') {
        return !raw.starts_with("//") && !raw.contains('\\') && !raw.chars().any(char::is_control);
    }
    let Ok(url) = url::Url::parse(raw) else { return false };
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return false;
    }
    let origin = url.origin().ascii_serialization();
    allowlist.iter().any(|allowed| {
        let allowed = allowed.trim_end_matches('/');
        match url::Url::parse(allowed) {
            Ok(a) if a.path() == "/" || a.path().is_empty() => a.origin().ascii_serialization() == origin,
            Ok(_) => {
                raw == allowed || raw.starts_with(&format!("{allowed}/")) || raw.starts_with(&format!("{allowed}?"))
            }
            Err(_) => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_relative_or_allow_listed() {
        let list = vec!["https://app.example.com".to_owned(), "https://other.example.com/auth/done".to_owned()];
        for ok in ["/dashboard", "/a?b=c", "https://app.example.com/x", "https://other.example.com/auth/done?x=1"] {
            assert!(callback_allowed(ok, &list), "{ok}");
        }
        for bad in [
            "//evil.example.com",
            "/\\evil.example.com",
            "https://evil.example.com",
            "https://app.example.com.evil.example/",
            "javascript:alert(1)",
            "https://other.example.com/auth/donex",
            "dashboard",
        ] {
            assert!(!callback_allowed(bad, &list), "{bad}");
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
