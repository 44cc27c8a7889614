//! `/admin/projects`: create, list and read projects; rotate their signing keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use doorway_core::flows::record_admin_action;
use doorway_core::projects::{NewProject, ProjectError, create_project, rotate_keys};
use doorway_core::{Project, ProjectSettings, ProjectSlug};
use serde::{Deserialize, Serialize};

use crate::admin_auth::Admin;
use crate::contracts::common::NativeJson;
use crate::errors::{ApiError, ErrorBody, FieldError};
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// URL name: a-z, 0-9 and '-', starting with a letter; not a reserved route name.
    #[schema(pattern = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", min_length = 1, max_length = 63, example = "acme")]
    slug: String,
    /// Display name (1–100 characters); defaults to the slug.
    #[schema(nullable, min_length = 1, max_length = 100, pattern = "\\S", example = "Acme")]
    name: Option<String>,
    /// Per-project settings; omitted keys take their defaults.
    #[schema(value_type = Option<Object>, nullable)]
    settings: Option<ProjectSettings>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    id: String,
    slug: String,
    name: String,
    #[schema(value_type = Object)]
    settings: ProjectSettings,
    issuer: String,
    jwks_uri: String,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectEnvelope {
    success: bool,
    data: ProjectView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectListEnvelope {
    success: bool,
    data: Vec<ProjectView>,
}

fn view(state: &AppState, p: Project) -> ProjectView {
    let issuer = state.projects.issuer_for(&p.slug);
    ProjectView {
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        issuer,
        id: p.id,
        slug: p.slug.to_string(),
        name: p.name,
        settings: p.settings.redacted(),
        created_at: p.created_at.to_rfc3339(),
        updated_at: p.updated_at.to_rfc3339(),
    }
}

/// Create a project and its signing key.
#[utoipa::path(post, path = "/admin/projects", operation_id = "adminCreateProject", tag = "admin", security(("admin_token" = [])),
    request_body = CreateProject,
    responses(
        (status = 201, body = ProjectEnvelope),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "Admin API disabled"),
        (status = 409, body = ErrorBody, description = "PROJECT_EXISTS"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR"),
    ))]
pub async fn create(
    _: Admin,
    State(state): State<AppState>,
    NativeJson(body): NativeJson<CreateProject>,
) -> Result<(StatusCode, Json<ProjectEnvelope>), ApiError> {
    let mut details = Vec::new();
    let slug = ProjectSlug::parse(body.slug.trim())
        .map_err(|e| details.push(FieldError::new("slug", format!("Slug {e}"))))
        .ok();
    let name = body.name.unwrap_or_else(|| body.slug.trim().to_owned());
    if name.trim().is_empty() || name.chars().count() > 100 {
        details.push(FieldError::new("name", "Name must be 1-100 characters"));
    }
    let settings = body.settings.unwrap_or_default();
    for (key, message) in settings.problems() {
        details.push(FieldError::new(format!("settings.{key}"), message));
    }
    for (key, message) in crate::contracts::settings_problems(&settings) {
        details.push(FieldError::new(format!("settings.{key}"), message));
    }
    let (Some(slug), true) = (slug, details.is_empty()) else {
        return Err(ApiError::validation(details));
    };
    let new = NewProject { slug, name: name.trim().to_owned(), settings };
    match create_project(state.services.store.as_ref(), state.services.clock.as_ref(), new).await {
        Ok(p) => {
            tracing::info!(project = %p.slug, "project created through the admin API");
            let detail = serde_json::json!({"slug": p.slug.as_str(), "name": p.name});
            let store = state.services.store.as_ref();
            record_admin_action(store, p.created_at, &p.id, "admin.project.create", detail)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            Ok((StatusCode::CREATED, Json(ProjectEnvelope { success: true, data: view(&state, p) })))
        }
        Err(ProjectError::Exists(slug)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "PROJECT_EXISTS",
            format!("A project named '{slug}' already exists"),
        )),
        Err(e @ ProjectError::InvalidSettings(_)) => {
            Err(ApiError::validation(vec![FieldError::new("settings", e.to_string())]))
        }
        Err(ProjectError::Unexpected(e)) => Err(ApiError::internal(&e)),
    }
}

/// List every project.
#[utoipa::path(get, path = "/admin/projects", operation_id = "adminListProjects", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = ProjectListEnvelope), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(_: Admin, State(state): State<AppState>) -> Result<Json<ProjectListEnvelope>, ApiError> {
    let projects = state.services.store.list_projects().await.map_err(|e| ApiError::internal(&e))?;
    Ok(Json(ProjectListEnvelope { success: true, data: projects.into_iter().map(|p| view(&state, p)).collect() }))
}

/// Read one project.
#[utoipa::path(get, path = "/admin/projects/{slug}", operation_id = "adminGetProject", tag = "admin", security(("admin_token" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = ProjectEnvelope), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "PROJECT_NOT_FOUND")))]
pub async fn get(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<ProjectEnvelope>, ApiError> {
    let parsed = ProjectSlug::parse(&slug).map_err(|_| ApiError::project_not_found(&slug))?;
    match state.services.store.project_by_slug(&parsed).await {
        Ok(Some(p)) => Ok(Json(ProjectEnvelope { success: true, data: view(&state, p) })),
        Ok(None) => Err(ApiError::project_not_found(&slug)),
        Err(e) => Err(ApiError::internal(&e)),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminUserEnvelope {
    success: bool,
    data: AdminUserView,
}

/// Every stored profile field of a user, `secureMetadata` included.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminUserView {
    /// `usr_…`
    id: String,
    /// The user's number in the project (Replyke's sequence).
    seq: i64,
    /// Null for an account known by its handle only.
    #[schema(format = Email)]
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    username: Option<String>,
    #[schema(format = "uri")]
    avatar: Option<String>,
    bio: Option<String>,
    location: Option<GeoJsonPoint>,
    /// `YYYY-MM-DD`.
    #[schema(format = Date)]
    birthdate: Option<String>,
    /// What the user's own contract lets them store (Replyke's `metadata`), any JSON object.
    #[schema(value_type = Object, additional_properties = true)]
    metadata: serde_json::Value,
    /// Written only by trusted back ends; never returned to the user.
    #[schema(value_type = Object, additional_properties = true)]
    secure_metadata: serde_json::Value,
    /// The fields of the project's external sign-up model (Aufy), or null.
    #[schema(value_type = Option<Object>, additional_properties = true)]
    custom_fields: serde_json::Value,
    reputation: i64,
    /// Project-wide roles (the access token's `roles` claim).
    roles: Vec<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// A GeoJSON point: `[longitude, latitude]`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GeoJsonPoint {
    #[schema(pattern = "^Point$", example = "Point")]
    r#type: &'static str,
    #[schema(min_items = 2, max_items = 2, example = json!([2.35, 48.85]))]
    coordinates: [f64; 2],
}

/// Read one user with everything stored about them, secure metadata included.
#[utoipa::path(get, path = "/admin/projects/{slug}/users/{user_id}", operation_id = "adminGetUser", tag = "admin", security(("admin_token" = [])),
    params(("slug" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = AdminUserEnvelope), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "PROJECT_NOT_FOUND or USER_NOT_FOUND")))]
pub async fn get_user(
    _: Admin,
    State(state): State<AppState>,
    Path((slug, user_id)): Path<(String, String)>,
) -> Result<Json<AdminUserEnvelope>, ApiError> {
    let parsed = ProjectSlug::parse(&slug).map_err(|_| ApiError::project_not_found(&slug))?;
    let store = &state.services.store;
    let project = store.project_by_slug(&parsed).await.map_err(|e| ApiError::internal(&e))?;
    let project = project.ok_or_else(|| ApiError::project_not_found(&slug))?;
    let user = store.user_by_id(&project.id, &user_id).await.map_err(|e| ApiError::internal(&e))?;
    let u = user.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "USER_NOT_FOUND", format!("No user '{user_id}' in '{slug}'"))
    })?;
    let roles = store.user_roles(&u.id).await.map_err(|e| ApiError::internal(&e))?;
    let data = AdminUserView {
        email: u.email.as_ref().map(|e| e.as_str().to_owned()),
        email_verified: u.email_verified,
        avatar: u.avatar_url,
        location: u.location.map(|l| GeoJsonPoint { r#type: "Point", coordinates: [l.longitude, l.latitude] }),
        created_at: u.created_at.to_rfc3339(),
        updated_at: u.updated_at.to_rfc3339(),
        id: u.id,
        seq: u.seq,
        name: u.name,
        username: u.username,
        bio: u.bio,
        birthdate: u.birthdate,
        metadata: u.metadata,
        secure_metadata: u.secure_metadata,
        custom_fields: u.custom_fields,
        reputation: u.reputation,
        roles,
    };
    Ok(Json(AdminUserEnvelope { success: true, data }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    kid: String,
    created_at: String,
    /// When a replaced key stops being published and accepted; null for the signing key.
    retires_at: Option<String>,
    /// `active` (signs), `retiring` (verifies only) or `retired`.
    state: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedKeys {
    /// The new signing key.
    kid: String,
    /// Every stored key of the project, newest first.
    keys: Vec<KeyView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RotatedKeysEnvelope {
    success: bool,
    data: RotatedKeys,
}

/// Rotate the project's signing key: a new key signs from now on; the replaced keys stay
/// published and verifying until everything they signed has expired.
#[utoipa::path(post, path = "/admin/projects/{slug}/keys/rotate", operation_id = "adminRotateSigningKey", tag = "admin", security(("admin_token" = [])),
    params(("slug" = String, Path)),
    responses((status = 200, body = RotatedKeysEnvelope), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "PROJECT_NOT_FOUND")))]
pub async fn rotate_signing_key(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<RotatedKeysEnvelope>, ApiError> {
    let parsed = ProjectSlug::parse(&slug).map_err(|_| ApiError::project_not_found(&slug))?;
    let store = state.services.store.as_ref();
    let project = store.project_by_slug(&parsed).await.map_err(|e| ApiError::internal(&e))?;
    let project = project.ok_or_else(|| ApiError::project_not_found(&slug))?;
    let clock = state.services.clock.as_ref();
    let rotation = rotate_keys(store, clock, &project).await.map_err(|e| ApiError::internal(&e))?;
    state.projects.forget(&parsed);
    tracing::info!(project = %parsed, kid = %rotation.kid, "signing key rotated through the admin API");
    let now = clock.now();
    let detail = serde_json::json!({"kid": rotation.kid, "previousRetireAt": rotation.previous_retire_at.to_rfc3339()});
    record_admin_action(store, now, &project.id, "admin.keys.rotate", detail)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let keys = store.project_keys(&project.id).await.map_err(|e| ApiError::internal(&e))?;
    let keys = keys
        .into_iter()
        .map(|k| KeyView {
            state: k.state_at(now).as_str(),
            created_at: k.created_at.to_rfc3339(),
            retires_at: k.retires_at.map(|t| t.to_rfc3339()),
            kid: k.kid,
        })
        .collect();
    Ok(Json(RotatedKeysEnvelope { success: true, data: RotatedKeys { kid: rotation.kid, keys } }))
}
