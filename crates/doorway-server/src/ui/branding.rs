//! Per-project branding of the pages: `projects.<slug>.branding` with `display_name` (the
//! project's name when unset), `logo_url` and `support_url` (https only) and `primary_color`
//! (`#rgb` or `#rrggbb`). Checked when a project is configured; a stored value that no longer
//! parses falls back to the defaults (and is logged) rather than breaking the pages.

use doorway_core::ProjectContext;
use serde::Deserialize;

use crate::contracts::common::settings::ContractSettings;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Branding {
    display_name: Option<String>,
    logo_url: Option<String>,
    primary_color: Option<String>,
    support_url: Option<String>,
}

impl ContractSettings for Branding {
    const KEY: &'static str = "branding";

    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(name) = &self.display_name
            && (name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control))
        {
            out.push(("display_name", "must be 1 to 100 printable characters".to_owned()));
        }
        if let Some(color) = &self.primary_color
            && HexColor::parse(color).is_none()
        {
            out.push(("primary_color", format!("'{color}' is not a hex colour like #1a73e8 or #17e")));
        }
        for (field, value) in [("logo_url", &self.logo_url), ("support_url", &self.support_url)] {
            if let Some(url) = value
                && HttpsUrl::parse(url).is_none()
            {
                out.push((field, format!("'{url}' is not an absolute https:// URL")));
            }
        }
        out
    }
}

/// `#rgb` or `#rrggbb`, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HexColor(String);

impl HexColor {
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let digits = raw.strip_prefix('#')?;
        let ok = matches!(digits.len(), 3 | 6) && digits.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| Self(raw.to_ascii_lowercase()))
    }
}

/// An absolute `https://` URL with a host and no user info.
#[derive(Debug, Clone)]
pub(crate) struct HttpsUrl(url::Url);

impl HttpsUrl {
    pub(crate) fn parse(raw: &str) -> Option<Self> {
        let url = url::Url::parse(raw).ok()?;
        let ok =
            url.scheme() == "https" && url.host().is_some() && url.username().is_empty() && url.password().is_none();
        ok.then_some(Self(url))
    }

    fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }
}

/// The branding a page shows.
pub(crate) struct Brand {
    pub(crate) display_name: String,
    pub(crate) logo_url: Option<String>,
    pub(crate) support_url: Option<String>,
    /// A style block setting the primary colour (allowed by its hash in the CSP).
    pub(crate) style: Option<String>,
    /// The logo's origin, for the CSP's `img-src`.
    pub(crate) logo_origin: Option<String>,
}

impl Brand {
    pub(crate) fn of(ctx: &ProjectContext) -> Self {
        let branding = Branding::of(&ctx.project.settings).unwrap_or_else(|e| {
            tracing::warn!(project = %ctx.project.slug, error = %e, "unusable branding settings; using the defaults");
            Branding::default()
        });
        let display_name =
            branding.display_name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| ctx.project.name.clone());
        let logo = branding.logo_url.as_deref().and_then(HttpsUrl::parse);
        let support = branding.support_url.as_deref().and_then(HttpsUrl::parse);
        let color = branding.primary_color.as_deref().and_then(HexColor::parse);
        Self {
            display_name,
            logo_origin: logo.as_ref().map(HttpsUrl::origin),
            logo_url: logo.map(|u| u.0.into()),
            support_url: support.map(|u| u.0.into()),
            style: color.map(|c| format!(":root{{--primary:{}}}", c.0)),
        }
    }

    /// Doorway's own look, for refusals raised before a project is known.
    pub(crate) fn plain() -> Self {
        Self { display_name: "Doorway".to_owned(), logo_url: None, support_url: None, style: None, logo_origin: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_three_or_six_hex_digits() {
        assert_eq!(HexColor::parse("#1A73E8"), Some(HexColor("#1a73e8".into())));
        assert!(HexColor::parse("#17e").is_some());
        for bad in ["1a73e8", "#1a73e", "#12345g", "red", "#fff;}body{x", ""] {
            assert!(HexColor::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn links_must_be_https() {
        assert!(HttpsUrl::parse("https://help.example.com/contact").is_some());
        for bad in ["http://help.example.com", "javascript:alert(1)", "https://user@x.example", "/help", "mailto:a@b.c"]
        {
            assert!(HttpsUrl::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn problems_name_the_field() {
        let branding: Branding = serde_json::from_value(serde_json::json!({
            "primary_color": "blue", "support_url": "http://x.example", "logo_url": "https://cdn.example/logo.svg"
        }))
        .unwrap();
        let fields: Vec<_> = branding.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["primary_color", "support_url"]);
    }
}
