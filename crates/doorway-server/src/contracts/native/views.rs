//! What the native API answers: its bodies, and the request shapes documented in OpenAPI.

use doorway_core::organization::Organization;
use doorway_core::session::AccessToken;
use doorway_core::user::User;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// `usr_…`
    pub(crate) id: String,
    /// Null for an account known by its handle only (made through Storyden's `password/signup`).
    pub(crate) email: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) email_verified: bool,
    /// RFC 3339, UTC.
    pub(crate) created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.as_ref().map(ToString::to_string),
            name: u.name.clone(),
            email_verified: u.email_verified,
            created_at: u.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// Access token: a JWT signed with the project's Ed25519 key (`EdDSA`).
    pub(crate) token: String,
    pub(crate) expires_at: String,
}

impl From<&AccessToken> for SessionView {
    fn from(a: &AccessToken) -> Self {
        Self { token: a.token.clone(), expires_at: a.expires_at.to_rfc3339() }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) slug: String,
}

impl From<&Organization> for OrganizationView {
    fn from(o: &Organization) -> Self {
        Self { id: o.id.clone(), name: o.name.clone(), slug: o.slug.clone() }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignUpData {
    pub(crate) user: UserView,
    pub(crate) session: SessionView,
    /// Present when `organizationName` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) organization: Option<OrganizationView>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"success": true, "data": {"user": {"id": "usr_01JH4Z4T1Q7N6V8W9X0Y1Z2A3B", "email": "ada@example.com", "name": "Ada Lovelace", "emailVerified": false, "createdAt": "2026-01-31T12:00:00Z"}, "session": {"token": "eyJhbGciOiJFZERTQSIsImtpZCI6InE4QzFuMGJxMHkzaFhnM3RRazdmMncifQ.eyJzdWIiOiJ1c3JfMDFKSDRaNFQxUTdONlY4VzlYMFkxWjJBM0IifQ.c2lnbmF0dXJl", "expiresAt": "2026-01-31T12:15:00Z"}}, "message": "Account created successfully"}))]
pub struct SignUpResponse {
    pub(crate) success: bool,
    pub(crate) data: SignUpData,
    pub(crate) message: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInData {
    pub(crate) user: UserView,
    pub(crate) session: SessionView,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"success": true, "data": {"user": {"id": "usr_01JH4Z4T1Q7N6V8W9X0Y1Z2A3B", "email": "ada@example.com", "name": "Ada Lovelace", "emailVerified": true, "createdAt": "2026-01-31T12:00:00Z"}, "session": {"token": "eyJhbGciOiJFZERTQSIsImtpZCI6InE4QzFuMGJxMHkzaFhnM3RRazdmMncifQ.eyJzdWIiOiJ1c3JfMDFKSDRaNFQxUTdONlY4VzlYMFkxWjJBM0IifQ.c2lnbmF0dXJl", "expiresAt": "2026-01-31T12:15:00Z"}}, "message": "Signed in successfully"}))]
pub struct SignInResponse {
    pub(crate) success: bool,
    pub(crate) data: SignInData,
    pub(crate) message: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RefreshData {
    pub(crate) session: SessionView,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"success": true, "data": {"session": {"token": "eyJhbGciOiJFZERTQSIsImtpZCI6InE4QzFuMGJxMHkzaFhnM3RRazdmMncifQ.eyJzdWIiOiJ1c3JfMDFKSDRaNFQxUTdONlY4VzlYMFkxWjJBM0IifQ.c2lnbmF0dXJl", "expiresAt": "2026-01-31T12:15:00Z"}}, "message": "Session refreshed"}))]
pub struct RefreshResponse {
    pub(crate) success: bool,
    pub(crate) data: RefreshData,
    pub(crate) message: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MembershipView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) slug: String,
    pub(crate) role: String,
    pub(crate) workspaces: Vec<WorkspaceView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkspaceView {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) slug: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeData {
    pub(crate) user: UserView,
    pub(crate) organizations: Vec<MembershipView>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({"success": true, "data": {"user": {"id": "usr_01JH4Z4T1Q7N6V8W9X0Y1Z2A3B", "email": "ada@example.com", "name": "Ada Lovelace", "emailVerified": true, "createdAt": "2026-01-31T12:00:00Z"}, "organizations": [{"id": "org_01JH4Z4T1Q7N6V8W9X0Y1Z2A3C", "name": "Analytical Engines", "slug": "analytical-engines", "role": "owner", "workspaces": []}]}}))]
pub struct MeResponse {
    pub(crate) success: bool,
    pub(crate) data: MeData,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageResponse {
    pub(crate) success: bool,
    pub(crate) message: &'static str,
}

/// Email/password sign-up request (seed 002). OAuth sign-up uses `{provider, callbackUrl}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = SignUpRequest, rename_all = "camelCase")]
pub struct SignUpRequestDoc {
    /// Valid address, unique in the project (case-insensitive).
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    pub(crate) email: String,
    /// At least 8 characters with an uppercase letter, a number and a special character
    /// (the project's `password_policy`).
    #[schema(format = Password, min_length = 8, max_length = 128, example = "Correct-horse-9")]
    pub(crate) password: String,
    /// 2–100 characters.
    #[schema(min_length = 2, max_length = 100, example = "Ada Lovelace")]
    pub(crate) name: String,
    /// Optional, 2–100 characters: creates an organization owned by the new user.
    #[schema(nullable, min_length = 2, max_length = 100, example = "Analytical Engines")]
    pub(crate) organization_name: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = SignInRequest)]
pub struct SignInRequestDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    pub(crate) email: String,
    #[schema(format = Password, min_length = 1, example = "Correct-horse-9")]
    pub(crate) password: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = RefreshRequest)]
pub struct RefreshRequestDoc {
    /// Used when no `doorway_refresh` cookie is sent.
    #[schema(rename = "refreshToken")]
    pub(crate) refresh_token: String,
}
