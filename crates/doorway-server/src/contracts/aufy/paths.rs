//! Where Aufy's routes live. Aufy mounts an `{auth}` group and an `{account}` group under base
//! paths its host configures (`AuthApiBasePath`, `AccountApiBasePath`); here they are project
//! settings. The router serves each route at one canonical path: `/api/auth/…` and
//! `/api/account/…` (Aufy's defaults), and `/auth/…` for seed 000's external routes, where the
//! seed put them. A request under a configured base path (or for an external route under
//! `/api/auth`) is rewritten to the canonical path before routing, so the canonical paths
//! always answer too.

use doorway_core::ProjectSettings;

use crate::contracts::common::settings::ContractSettings;

const AUTH: &str = "/api/auth";
const ACCOUNT: &str = "/api/account";
/// Seed 000's base path of the external routes.
const SEED: &str = "/auth";

/// `projects.<slug>.aufy`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AufySettings {
    /// Aufy's `AuthApiBasePath`: where `{auth}/signin`, `{auth}/whoami`… are served too.
    pub auth_api_base_path: String,
    /// Aufy's `AccountApiBasePath`: where `{account}/info`, `{account}/password/…` are served too.
    pub account_api_base_path: String,
    /// The app's reset-password page (Aufy's `ClientApp.BaseUrl` + `PasswordResetPath`): the
    /// mailed link leads there with `?code=…`. An absolute URL on the project's
    /// `redirect_allowlist`; unset, the link leads to Doorway's own reset page.
    pub password_reset_url: Option<String>,
}

impl Default for AufySettings {
    fn default() -> Self {
        Self {
            auth_api_base_path: AUTH.to_owned(),
            account_api_base_path: ACCOUNT.to_owned(),
            password_reset_url: None,
        }
    }
}

impl ContractSettings for AufySettings {
    const KEY: &'static str = "aufy";

    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (field, base) in
            [("auth_api_base_path", &self.auth_api_base_path), ("account_api_base_path", &self.account_api_base_path)]
        {
            if !is_base_path(base) {
                out.push((field, format!("'{base}' is not a base path: use /segment[/segment…], no trailing '/'")));
            }
        }
        if self.auth_api_base_path == self.account_api_base_path {
            out.push(("account_api_base_path", "must differ from auth_api_base_path".to_owned()));
        }
        out
    }
}

/// The settings' own problems, and a reset page the project's `redirect_allowlist` does not allow.
pub(crate) fn check(settings: &ProjectSettings) -> Vec<(String, String)> {
    let mut out = AufySettings::check(settings);
    if let Ok(AufySettings { password_reset_url: Some(url), .. }) = AufySettings::of(settings) {
        let absolute = url::Url::parse(&url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        if !absolute || doorway_core::oauth::CallbackUrl::parse(&url, &settings.redirect_allowlist).is_none() {
            out.push((
                "aufy.password_reset_url".to_owned(),
                format!("'{url}' must be an absolute http(s) URL under one of redirect_allowlist's entries"),
            ));
        }
    }
    out
}

/// `/a/b-c`: one or more segments of URL-safe characters, no trailing slash.
fn is_base_path(base: &str) -> bool {
    base.len() <= 200
        && base.strip_prefix('/').is_some_and(|rest| {
            rest.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
            })
        })
}

/// Which canonical base a route tail (the path below a group's base) belongs to.
fn auth_route(tail: &str) -> Option<&'static str> {
    match tail {
        "signup" | "signin" | "signin/refresh" | "token" | "token/refresh" | "signout" | "whoami"
        | "external/providers" => Some(AUTH),
        "signup/external" | "signin/external" => Some(SEED),
        _ if one_segment_below(tail, "external/challenge/") || one_segment_below(tail, "external/callback/") => {
            Some(SEED)
        }
        _ => None,
    }
}

fn account_route(tail: &str) -> bool {
    matches!(
        tail,
        "info"
            | "password/change"
            | "link/external"
            | "password/forgot"
            | "password/reset"
            | "email/confirm"
            | "email/confirm/resend"
    )
}

fn one_segment_below(tail: &str, parent: &str) -> bool {
    tail.strip_prefix(parent).is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

fn tail_of<'a>(path: &'a str, base: &str) -> Option<&'a str> {
    path.strip_prefix(base)?.strip_prefix('/').map(|tail| tail.trim_end_matches('/'))
}

/// Whether a (prefix-stripped) path is one of Aufy's canonical routes.
pub(crate) fn owns(path: &str) -> bool {
    tail_of(path, AUTH).and_then(auth_route) == Some(AUTH)
        || tail_of(path, SEED).and_then(auth_route) == Some(SEED)
        || tail_of(path, ACCOUNT).is_some_and(account_route)
}

/// Whether `path` may name an Aufy route under some base path: a cheap test, so that only such
/// requests look up the project's settings.
pub(crate) fn may_be_rebased(path: &str) -> bool {
    // Its last one, two and three segments (every request passes here: no allocation).
    let path = path.trim_end_matches('/');
    path.rmatch_indices('/').take(3).any(|(slash, _)| {
        let tail = &path[slash + 1..];
        auth_route(tail).is_some() || account_route(tail)
    })
}

/// The canonical path of an Aufy route requested under one of the project's base paths, when
/// that differs from `path`; `None` for every other path.
pub(crate) fn rebase(settings: &ProjectSettings, path: &str) -> Option<String> {
    // A base path never takes a route of another seed contract (Rivergen's `/api/v1/auth/…`,
    // Storyden's and Replyke's `/auth/…`); native's names never match Aufy's.
    let taken = crate::contracts::CONTRACTS.iter().any(|c| !matches!(c.name(), "aufy" | "native") && c.owns(path));
    if taken {
        return None;
    }
    let configured = AufySettings::of(settings).unwrap_or_default();
    let canonical = [configured.auth_api_base_path.as_str(), AUTH]
        .into_iter()
        .find_map(|base| {
            let tail = tail_of(path, base)?;
            auth_route(tail).map(|canonical_base| format!("{canonical_base}/{tail}"))
        })
        .or_else(|| {
            let tail = tail_of(path, &configured.account_api_base_path).filter(|t| account_route(t))?;
            Some(format!("{ACCOUNT}/{tail}"))
        })?;
    (canonical != path).then_some(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(auth: &str, account: &str) -> ProjectSettings {
        let mut settings = ProjectSettings::default();
        settings
            .contract_settings
            .insert("aufy".into(), serde_json::json!({"auth_api_base_path": auth, "account_api_base_path": account}));
        settings
    }

    #[test]
    fn canonical_paths_are_owned_and_left_alone() {
        for path in [
            "/api/auth/signin",
            "/api/auth/token/refresh",
            "/api/auth/whoami",
            "/auth/signup/external",
            "/auth/external/challenge/google",
            "/api/account/info",
            "/api/account/email/confirm/resend",
        ] {
            assert!(owns(path), "{path}");
            assert_eq!(rebase(&ProjectSettings::default(), path), None, "{path}");
        }
        for path in
            ["/api/auth/sign-in", "/api/auth/signup/external", "/auth/signin", "/api/account", "/auth/email/signup"]
        {
            assert!(!owns(path), "{path}");
        }
    }

    #[test]
    fn external_routes_are_served_under_the_auth_base_too() {
        let default = ProjectSettings::default();
        assert_eq!(rebase(&default, "/api/auth/signup/external").as_deref(), Some("/auth/signup/external"));
        assert_eq!(
            rebase(&default, "/api/auth/external/callback/google").as_deref(),
            Some("/auth/external/callback/google")
        );
        assert_eq!(rebase(&default, "/api/auth/external/challenge/a/b"), None);
    }

    #[test]
    fn configured_base_paths_lead_to_the_canonical_routes() {
        let settings = with("/identity", "/me/account");
        assert_eq!(rebase(&settings, "/identity/signin").as_deref(), Some("/api/auth/signin"));
        assert_eq!(rebase(&settings, "/identity/signup/external").as_deref(), Some("/auth/signup/external"));
        assert_eq!(rebase(&settings, "/me/account/password/reset").as_deref(), Some("/api/account/password/reset"));
        assert_eq!(rebase(&settings, "/identity/sign-up"), None, "only Aufy's routes");
        assert_eq!(rebase(&settings, "/identity/info"), None, "account routes only under the account base");
        assert!(may_be_rebased("/identity/signin") && may_be_rebased("/x/external/challenge/google"));
        assert!(!may_be_rebased("/api/auth/sign-up") && !may_be_rebased("/healthz"));
    }

    #[test]
    fn base_paths_are_checked() {
        assert!(AufySettings::default().problems().is_empty());
        let bad = AufySettings {
            auth_api_base_path: "api/auth/".into(),
            account_api_base_path: "/a/../b".into(),
            ..Default::default()
        };
        assert_eq!(bad.problems().len(), 2);
        let same =
            AufySettings { auth_api_base_path: "/x".into(), account_api_base_path: "/x".into(), ..Default::default() };
        assert_eq!(same.problems().len(), 1);
        let mut settings = ProjectSettings::default();
        settings
            .contract_settings
            .insert("aufy".into(), serde_json::json!({"password_reset_url": "https://app.example.com/reset"}));
        assert_eq!(check(&settings).len(), 1, "not on the allow-list");
        settings.redirect_allowlist = vec!["https://app.example.com".into()];
        assert!(check(&settings).is_empty());
    }
}
