//! What Replyke clients read: the user as `@replyke/core`'s `AuthUser`, the session answer and
//! the `replyke-refresh-jwt` cookie.

use axum::extract::Extension;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use doorway_core::ProjectContext;
use doorway_core::session::{AccessToken, RefreshSecret};
use doorway_core::user::User;
use serde::Serialize;

use crate::cookies::CookiePolicy;
use crate::project_scope::RoutePrefix;
use crate::state::AppState;

pub const REFRESH_COOKIE: &str = "replyke-refresh-jwt";

/// A GeoJSON point, as Replyke stores locations.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReplykeLocation)]
pub struct LocationView {
    /// Always `Point`.
    #[schema(example = "Point")]
    r#type: &'static str,
    /// `[longitude, latitude]`.
    #[schema(example = json!([-73.935242, 40.73061]))]
    coordinates: [f64; 2],
}

/// A suspension of the account. Doorway suspends no one, so the list is always empty.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReplykeSuspension)]
#[serde(rename_all = "camelCase")]
pub struct SuspensionView {
    #[schema(nullable, required = true)]
    reason: Option<String>,
    start_date: String,
    #[schema(nullable, required = true)]
    end_date: Option<String>,
}

/// The user as Replyke's `AuthUser`: the seed's fields first (in its order), then the rest of
/// `AuthUser`. Secure metadata is never part of it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReplykeAuthUser)]
#[serde(rename_all = "camelCase")]
pub struct AuthUserView {
    #[schema(example = "usr_01JQ…")]
    id: String,
    /// Null only for an account made without an address elsewhere (a handle sign-up).
    #[schema(nullable, required = true, format = Email)]
    email: Option<String>,
    /// Lowercased.
    #[schema(nullable, required = true)]
    username: Option<String>,
    #[schema(nullable, required = true)]
    name: Option<String>,
    #[schema(nullable, required = true, format = "uri")]
    avatar: Option<String>,
    #[schema(nullable, required = true)]
    bio: Option<String>,
    #[schema(nullable, required = true)]
    location: Option<LocationView>,
    /// Midnight UTC of the birthdate, ISO 8601 with milliseconds.
    #[schema(nullable, required = true, example = "1995-01-01T00:00:00.000Z")]
    birthdate: Option<String>,
    /// Public metadata: any JSON object the user's client stored.
    #[schema(value_type = Object, additional_properties = true, example = json!({"theme": "dark"}))]
    metadata: serde_json::Value,
    suspensions: Vec<SuspensionView>,
    reputation: i64,
    #[schema(example = "2024-01-01T00:00:00.000Z")]
    created_at: String,
    #[schema(example = "2024-01-01T00:00:00.000Z")]
    updated_at: String,
    /// The project the user belongs to, as it appears in the path (`default` without a prefix).
    #[schema(example = "acme")]
    project_id: String,
    /// Doorway users have no foreign id.
    #[schema(nullable, required = true, value_type = Option<String>)]
    foreign_id: Option<String>,
    /// Every Replyke user signs up as a `visitor`.
    #[schema(example = "visitor")]
    role: &'static str,
    /// Whether the address was proved.
    is_verified: bool,
    is_active: bool,
    /// Doorway does not record activity: always null.
    #[schema(nullable, required = true, value_type = Option<String>)]
    last_active: Option<String>,
}

impl AuthUserView {
    pub fn of(ctx: &ProjectContext, u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.as_ref().map(|e| e.as_str().to_owned()),
            username: u.username.clone(),
            name: u.name.clone(),
            avatar: u.avatar_url.clone(),
            bio: u.bio.clone(),
            location: u.location.map(|l| LocationView { r#type: "Point", coordinates: [l.longitude, l.latitude] }),
            birthdate: u.birthdate.as_ref().map(|d| format!("{d}T00:00:00.000Z")),
            metadata: u.metadata.clone(),
            suspensions: Vec::new(),
            reputation: u.reputation,
            created_at: u.created_at.to_iso_millis(),
            updated_at: u.updated_at.to_iso_millis(),
            project_id: ctx.project.slug.as_str().to_owned(),
            foreign_id: None,
            role: "visitor",
            is_verified: u.email_verified,
            is_active: true,
            last_active: None,
        }
    }
}

/// `{success, accessToken, refreshToken, user}`: the answer of sign-up, sign-in and refresh.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReplykeAuthResponse)]
#[serde(rename_all = "camelCase")]
pub struct AuthResponse {
    success: bool,
    /// A JWT (EdDSA) for `Authorization: Bearer`.
    access_token: String,
    /// Also in the `replyke-refresh-jwt` cookie; each use replaces it.
    refresh_token: String,
    user: AuthUserView,
}

impl AuthResponse {
    pub fn new(ctx: &ProjectContext, access: &AccessToken, refresh: &RefreshSecret, user: &User) -> Self {
        Self {
            success: true,
            access_token: access.token.clone(),
            refresh_token: refresh.expose().to_owned(),
            user: AuthUserView::of(ctx, user),
        }
    }
}

/// The `replyke-refresh-jwt` cookie: HttpOnly, Secure and `SameSite=None` as Replyke sets it
/// (its client usually runs on another site; the cross-site guard admits only the project's
/// allowed origins), except over plain http on loopback, where browsers refuse `None` without
/// Secure and Doorway's `Lax` default applies. Its path is the project's `…/auth`, not `/`, so
/// one project's cookie never reaches another project's routes.
pub struct RefreshCookie {
    policy: CookiePolicy,
    path: String,
    ttl: i64,
}

impl RefreshCookie {
    pub fn new(state: &AppState, ctx: &ProjectContext, prefix: Option<Extension<RoutePrefix>>) -> Self {
        let prefix = prefix.map(|Extension(p)| p.0).unwrap_or_default();
        Self {
            policy: CookiePolicy::for_public_url(&state.public_url),
            path: format!("{prefix}/auth"),
            ttl: i64::from(ctx.project.settings.refresh_token_ttl_secs),
        }
    }

    fn cookie(&self, value: String, ttl: i64) -> Cookie<'static> {
        let mut cookie = self.policy.set(REFRESH_COOKIE, value, self.path.clone(), ttl);
        if self.policy.secure {
            cookie.set_same_site(SameSite::None);
        }
        cookie
    }

    pub fn issue(&self, jar: CookieJar, secret: &RefreshSecret) -> CookieJar {
        jar.add(self.cookie(secret.expose().to_owned(), self.ttl))
    }

    pub fn clear(&self, jar: CookieJar) -> CookieJar {
        jar.add(self.cookie(String::new(), 0))
    }

    /// The refresh token the request's cookie carries, if any.
    pub fn presented(jar: &CookieJar) -> Option<RefreshSecret> {
        jar.get(REFRESH_COOKIE).map(Cookie::value).filter(|v| !v.is_empty()).map(RefreshSecret::from_client)
    }
}
