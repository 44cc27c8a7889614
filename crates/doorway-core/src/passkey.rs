//! Passkeys (WebAuthn): the per-project relying party. The ceremonies themselves are
//! webauthn-rs's; `flows::passkey` stores their state and turns results into accounts and
//! sessions.

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::project::{ProjectContext, exact_origin};

/// How long a started ceremony may take: the authenticator's timeout, and the stored state's life.
pub const CEREMONY_TTL_SECS: i64 = 300;

/// `passkeys.*` of a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeySettings {
    /// Serve the passkey routes. Off by default: the relying party id must be a domain name,
    /// which the default public URL (an IP address) is not.
    pub enabled: bool,
    /// The relying party id (a domain, e.g. `example.com`); defaults to the public URL's host.
    /// Passkeys are bound to it: changing it later makes every registered passkey unusable.
    pub rp_id: Option<String>,
    /// Exact origins whose pages may run the ceremonies (`https://app.example.com`); defaults
    /// to the public URL's origin. Each one's host must be the rp id or under it.
    pub origins: Vec<String>,
}

impl PasskeySettings {
    /// What is wrong with the explicit values; see [`relying_party_problem`] for the whole check.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(rp_id) = &self.rp_id
            && !is_domain(rp_id)
        {
            out.push(("passkeys.rp_id", format!("'{rp_id}' is not a domain name (no scheme, port or path)")));
        }
        for origin in &self.origins {
            if exact_origin(origin).is_none() {
                out.push(("passkeys.origins", format!("'{origin}' is not an origin; write scheme://host[:port]")));
            }
        }
        out
    }
}

fn is_domain(raw: &str) -> bool {
    matches!(url::Host::parse(raw), Ok(url::Host::Domain(d)) if d == raw && !d.ends_with('.'))
}

/// The relying party a project runs with, given the URL its routes are served at; or why it
/// cannot (for `config check` and start-up, when passkeys are enabled).
pub fn relying_party_problem(settings: &PasskeySettings, project_url: &str) -> Option<String> {
    relying_party(settings, "check", project_url).err()
}

/// webauthn-rs's relying party for a project: rp id and origins from `passkeys.*`, or from
/// the URL its routes are served at.
pub(crate) fn relying_party(settings: &PasskeySettings, name: &str, project_url: &str) -> Result<Webauthn, String> {
    let public =
        Url::parse(project_url).map_err(|e| format!("passkeys: the public URL '{project_url}' is not a URL: {e}"))?;
    let rp_id = match &settings.rp_id {
        Some(id) => id.clone(),
        None => match public.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            _ => {
                return Err(format!(
                    "passkeys.rp_id: the public URL's host ({}) is not a domain name; set passkeys.rp_id \
                     (and passkeys.origins) or a public_url with a domain (e.g. http://localhost:8080)",
                    public.host_str().unwrap_or("none")
                ));
            }
        },
    };
    let origins: Vec<Url> = if settings.origins.is_empty() {
        vec![
            Url::parse(&public.origin().ascii_serialization())
                .map_err(|e| format!("passkeys: the public URL's origin: {e}"))?,
        ]
    } else {
        settings
            .origins
            .iter()
            .map(|o| Url::parse(o).map_err(|e| format!("passkeys.origins: '{o}': {e}")))
            .collect::<Result<_, _>>()?
    };
    let Some((first, rest)) = origins.split_first() else {
        return Err("passkeys.origins: no origin".to_owned());
    };
    for origin in &origins {
        let host = origin.domain().unwrap_or_default();
        if !(host == rp_id || host.ends_with(&format!(".{rp_id}"))) {
            return Err(format!("passkeys.origins: '{origin}' is not on the rp id '{rp_id}' or a subdomain of it"));
        }
    }
    let mut builder = WebauthnBuilder::new(&rp_id, first)
        .map_err(|e| format!("passkeys: rp id '{rp_id}' and origin '{first}': {e}"))?
        .rp_name(name)
        .timeout(std::time::Duration::from_secs(CEREMONY_TTL_SECS as u64));
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map_err(|e| format!("passkeys: {e}"))
}

/// The relying party of the project a request is for.
pub(crate) fn project_relying_party(ctx: &ProjectContext) -> Result<Webauthn, String> {
    relying_party(&ctx.project.settings.passkeys, &ctx.project.name, &ctx.issuer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rp_id: Option<&str>, origins: &[&str]) -> PasskeySettings {
        PasskeySettings {
            enabled: true,
            rp_id: rp_id.map(str::to_owned),
            origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    #[test]
    fn defaults_come_from_the_public_url() {
        assert!(relying_party_problem(&settings(None, &[]), "https://auth.example.com/acme").is_none());
        assert!(relying_party_problem(&settings(None, &[]), "http://localhost:8080").is_none());
        let ip = relying_party_problem(&settings(None, &[]), "http://127.0.0.1:8080").unwrap();
        assert!(ip.contains("not a domain name"), "{ip}");
    }

    #[test]
    fn origins_must_sit_on_the_rp_id() {
        let s = settings(Some("example.com"), &["https://app.example.com", "https://example.com:8443"]);
        assert!(relying_party_problem(&s, "http://127.0.0.1:8080").is_none());
        let s = settings(Some("example.com"), &["https://notexample.com"]);
        assert!(relying_party_problem(&s, "http://127.0.0.1:8080").unwrap().contains("not on the rp id"));
    }

    #[test]
    fn explicit_values_are_checked_alone() {
        assert!(settings(Some("example.com"), &["https://app.example.com"]).problems().is_empty());
        assert_eq!(settings(Some("https://example.com"), &[]).problems()[0].0, "passkeys.rp_id");
        assert_eq!(settings(Some("example.com:443"), &[]).problems()[0].0, "passkeys.rp_id");
        assert_eq!(settings(None, &["https://app.example.com/login"]).problems()[0].0, "passkeys.origins");
    }
}
