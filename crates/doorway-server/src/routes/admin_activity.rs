//! What happened in a project: the audit log and webhook deliveries (with replay).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use doorway_core::flows::record_admin_action;
use doorway_core::store::AuditFilter;
use doorway_core::webhooks::{Delivery, DeliveryKind, DeliveryStatus};
use doorway_core::{Project, ProjectSlug, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::admin_auth::Admin;
use crate::errors::{ApiError, ErrorBody, FieldError};
use crate::state::AppState;

async fn project(state: &AppState, slug: &str) -> Result<Project, ApiError> {
    let parsed = ProjectSlug::parse(slug).map_err(|_| ApiError::project_not_found(slug))?;
    state
        .services
        .store
        .project_by_slug(&parsed)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::project_not_found(slug))
}

fn parse_time(field: &str, raw: &Option<String>, details: &mut Vec<FieldError>) -> Option<Timestamp> {
    let raw = raw.as_deref()?;
    match time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339) {
        Ok(t) => Some(Timestamp::from_millis((t.unix_timestamp_nanos() / 1_000_000) as i64)),
        Err(_) => {
            details.push(FieldError::new(field, "must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z"));
            None
        }
    }
}

/// The page size of both admin lists: 1–500 (documented as `minimum: 1, maximum: 500`), 50 when
/// absent; anything else is a 422 on `limit`.
fn page_limit(raw: Option<u32>, details: &mut Vec<FieldError>) -> u32 {
    let limit = raw.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        details.push(FieldError::new("limit", "must be between 1 and 500"));
    }
    limit
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this user's rows.
    user: Option<String>,
    /// e.g. `signup`, `signin`, `refresh`, `signout`, `admin.project.create`.
    action: Option<String>,
    /// `ok` or `denied:<reason>`.
    outcome: Option<String>,
    /// RFC 3339; rows at or after.
    #[param(format = DateTime, example = "2026-01-31T12:00:00Z")]
    since: Option<String>,
    /// RFC 3339; rows before.
    #[param(format = DateTime, example = "2026-02-01T00:00:00Z")]
    until: Option<String>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    success: bool,
    data: Vec<AuditRow>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    next_cursor: Option<String>,
}

/// One row of the audit log.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "aud_01JH4Z4T1Q7N6V8W9X0Y1Z2A3B", "at": "2026-01-31T12:00:00Z", "action": "signup", "outcome": "ok",
    "method": "password", "userId": "usr_01JH4Z4T1Q7N6V8W9X0Y1Z2A3C", "ip": "198.51.100.7",
    "userAgent": "Mozilla/5.0", "detail": null
}))]
pub struct AuditRow {
    id: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    at: String,
    /// e.g. `signup`, `signin`, `refresh.reuse`, `admin.project.create`.
    action: String,
    /// `ok`, or `denied:<reason>`.
    outcome: String,
    /// e.g. `password`, `oauth:github`.
    method: Option<String>,
    user_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    /// What the action recorded beyond the columns (e.g. the changed settings' keys), or null.
    #[schema(value_type = Option<Object>, additional_properties = true)]
    detail: Value,
}

impl From<doorway_core::events::AuditEntry> for AuditRow {
    fn from(a: doorway_core::events::AuditEntry) -> Self {
        Self {
            id: a.id,
            at: a.at.to_rfc3339(),
            action: a.action,
            outcome: a.outcome,
            method: a.method,
            user_id: a.user_id,
            ip: a.ip,
            user_agent: a.user_agent,
            detail: a.detail,
        }
    }
}

/// Read the project's audit log, newest first, with filters and pagination.
#[utoipa::path(get, path = "/admin/projects/{slug}/audit", operation_id = "adminListAudit", tag = "admin", security(("admin_token" = [])),
    params(("slug" = String, Path), AuditQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody, description = "INVALID_REQUEST: the query string does not parse"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn audit(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let project = project(&state, &slug).await?;
    let mut details = Vec::new();
    let since = parse_time("since", &q.since, &mut details);
    let until = parse_time("until", &q.until, &mut details);
    let limit = page_limit(q.limit, &mut details);
    if !details.is_empty() {
        return Err(ApiError::validation(details));
    }
    let filter = AuditFilter {
        user_id: q.user,
        action: q.action,
        outcome: q.outcome,
        since,
        until,
        before_id: q.cursor,
        limit: limit + 1,
    };
    let mut rows = state.services.store.audit_page(&project.id, &filter).await.map_err(|e| ApiError::internal(&e))?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    let data = rows.into_iter().map(AuditRow::from).collect();
    Ok(Json(AuditPage { success: true, data, next_cursor }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `pending`, `delivered`, `dead` or `suppressed`.
    #[param(value_type = Option<DeliveryStatusDoc>, inline)]
    status: Option<String>,
    /// 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A delivery's status, as the `status` filter takes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = DeliveryStatus, rename_all = "lowercase")]
pub enum DeliveryStatusDoc {
    Pending,
    Delivered,
    Dead,
    Suppressed,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    success: bool,
    data: Vec<DeliveryView>,
}

/// One webhook delivery and its attempt log.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    id: String,
    /// The event's id, sent as the `webhook-id` header (kept on replay).
    event_id: String,
    /// Always `webhook` here.
    #[schema(example = "webhook")]
    kind: &'static str,
    /// The endpoint's URL.
    #[schema(format = "uri")]
    target: String,
    #[schema(value_type = DeliveryStatusDoc)]
    status: &'static str,
    /// Attempts made so far.
    #[schema(minimum = 0)]
    attempts: i64,
    #[schema(format = DateTime)]
    next_attempt_at: String,
    last_error: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    delivered_at: Option<String>,
    /// The event exactly as it is sent.
    #[schema(value_type = WebhookEventDoc)]
    payload: Value,
    log: Vec<DeliveryAttemptView>,
}

/// A webhook's body (Standard Webhooks): the event's type, when it happened, and its data.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = WebhookEvent)]
struct WebhookEventDoc {
    /// e.g. `user.created`, `user.password_changed`.
    #[schema(example = "user.created")]
    r#type: String,
    #[schema(format = DateTime)]
    timestamp: String,
    /// The event's own fields (for user events, `user`).
    #[schema(value_type = Object)]
    data: Value,
}

/// One attempt of a delivery.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttemptView {
    /// 1 for the first attempt.
    #[schema(minimum = 1)]
    attempt: i64,
    #[schema(format = DateTime)]
    at: String,
    /// The endpoint's HTTP status; null when no answer came (timeout, refused connection).
    status_code: Option<i64>,
    #[schema(minimum = 0)]
    latency_ms: i64,
    error: Option<String>,
}

impl From<doorway_core::webhooks::DeliveryAttempt> for DeliveryAttemptView {
    fn from(a: doorway_core::webhooks::DeliveryAttempt) -> Self {
        Self {
            attempt: a.attempt,
            at: a.at.to_rfc3339(),
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
        }
    }
}

fn delivery_view(d: &Delivery, log: Vec<DeliveryAttemptView>) -> DeliveryView {
    DeliveryView {
        id: d.id.clone(),
        event_id: d.event_id.clone(),
        kind: d.kind.as_str(),
        target: d.target.clone(),
        status: d.status.as_str(),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.to_rfc3339(),
        last_error: d.last_error.clone(),
        created_at: d.created_at.to_rfc3339(),
        delivered_at: d.delivered_at.map(|t| t.to_rfc3339()),
        payload: serde_json::from_str::<Value>(&d.body).unwrap_or(Value::Null),
        log,
    }
}

/// Webhook deliveries of the project, newest first, each with its attempt log.
#[utoipa::path(get, path = "/admin/projects/{slug}/webhooks/deliveries", operation_id = "adminListWebhookDeliveries", tag = "admin", security(("admin_token" = [])),
    params(("slug" = String, Path), DeliveryQuery),
    responses((status = 200, body = DeliveryList), (status = 400, body = ErrorBody, description = "INVALID_REQUEST: the query string does not parse"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn deliveries(
    _: Admin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let project = project(&state, &slug).await?;
    let mut details = Vec::new();
    let status = match q.status.as_deref() {
        None => None,
        Some(raw) => {
            let parsed = DeliveryStatus::parse(raw);
            if parsed.is_none() {
                details.push(FieldError::new("status", "must be pending, delivered, dead or suppressed"));
            }
            parsed
        }
    };
    let limit = page_limit(q.limit, &mut details);
    if !details.is_empty() {
        return Err(ApiError::validation(details));
    }
    let store = &state.services.store;
    let rows = store
        .deliveries(&project.id, DeliveryKind::Webhook, status, limit)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut data = Vec::with_capacity(rows.len());
    for d in rows {
        let log = store.delivery_attempts(&d.id).await.map_err(|e| ApiError::internal(&e))?;
        let log = log.into_iter().map(DeliveryAttemptView::from).collect();
        data.push(delivery_view(&d, log));
    }
    Ok(Json(DeliveryList { success: true, data }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReplayResponse {
    success: bool,
    message: &'static str,
}

/// Send a delivery again (whatever its status), keeping its webhook-id.
#[utoipa::path(post, path = "/admin/projects/{slug}/webhooks/deliveries/{id}/replay", operation_id = "adminReplayWebhookDelivery", tag = "admin",
    security(("admin_token" = [])),
    params(("slug" = String, Path), ("id" = String, Path)),
    responses((status = 202, body = ReplayResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "PROJECT_NOT_FOUND or DELIVERY_NOT_FOUND")))]
pub async fn replay(
    _: Admin,
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<ReplayResponse>), ApiError> {
    let project = project(&state, &slug).await?;
    let store = state.services.store.as_ref();
    let now = state.services.clock.now();
    if !store.replay_delivery(&project.id, &id, now).await.map_err(|e| ApiError::internal(&e))? {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "DELIVERY_NOT_FOUND",
            format!("No delivery '{id}' in '{slug}'"),
        ));
    }
    record_admin_action(store, now, &project.id, "admin.webhook.replay", json!({"deliveryId": id}))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok((StatusCode::ACCEPTED, Json(ReplayResponse { success: true, message: "Delivery scheduled" })))
}
