//! What every page shows around its form: the locale's messages, the project's branding, the
//! paths of the pages and their assets, the CSRF token, and the page's CSP.

use std::sync::Arc;

use axum::extract::{Extension, FromRequestParts};
use axum::http::request::Parts;
use axum_extra::extract::cookie::Cookie;
use doorway_core::ProjectContext;

use super::branding::Brand;
use super::i18n::{Locale, Messages};
use super::render::Csp;
use super::{assets, csrf};
use crate::cookies::CookiePolicy;
use crate::errors::ApiError;
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;

pub(crate) struct Chrome {
    pub(crate) m: &'static Messages,
    pub(crate) brand: Brand,
    /// The pages' path in this project: `/ui` or `/{slug}/ui`.
    pub(crate) base: String,
    /// The route prefix the client used (`/acme`), or empty.
    pub(crate) prefix: String,
    pub(crate) csrf: String,
    pub(crate) stylesheet: String,
    /// URLs of the page's scripts (assets), loaded with `defer`.
    pub(crate) scripts: Vec<String>,
    pub(crate) csp: Csp,
    pub(crate) project: Arc<ProjectContext>,
    /// Set when the browser had no CSRF cookie yet.
    pub(crate) csrf_cookie: Option<Cookie<'static>>,
}

impl Chrome {
    /// Adds the asset `name` as a page script (see `ui/mod.rs`).
    pub(crate) fn add_script(&mut self, name: &str) {
        if let Some(url) = assets::url(&self.base, name) {
            self.scripts.push(url);
        }
    }

    /// A path under the pages: `page("sign-in")` is `/acme/ui/sign-in`.
    pub(crate) fn page(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }
}

impl FromRequestParts<AppState> for Chrome {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let CurrentProject(project) = CurrentProject::from_request_parts(parts, state).await?;
        let prefix = parts.extensions.get::<RoutePrefix>().map(|p| p.0.clone()).unwrap_or_default();
        let base = format!("{prefix}/ui");
        let locale = Locale::negotiate(&parts.headers);
        let (csrf, csrf_cookie) = csrf::token(&parts.headers, CookiePolicy::for_public_url(&state.public_url), &base);
        let brand = Brand::of(&project);
        let mut chrome = Self {
            m: locale.messages(),
            stylesheet: assets::url(&base, "ui.css").unwrap_or_default(),
            scripts: Vec::new(),
            csp: Csp::for_brand(&brand),
            brand,
            base,
            prefix,
            csrf,
            project,
            csrf_cookie,
        };
        chrome.add_script("pages.js");
        Ok(chrome)
    }
}

/// Lets handlers take `Option<Extension<RoutePrefix>>` the way the native handlers do.
pub(crate) fn prefix_extension(chrome: &Chrome) -> Option<Extension<RoutePrefix>> {
    Some(Extension(RoutePrefix(chrome.prefix.clone())))
}
