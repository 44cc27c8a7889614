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
    #[schema(value_type = Vec<Object>)]
    data: Vec<Value>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    next_cursor: Option<String>,
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
    let data = rows
        .into_iter()
        .map(|a| {
            json!({
                "id": a.id, "at": a.at.to_rfc3339(), "action": a.action, "outcome": a.outcome,
                "method": a.method, "userId": a.user_id, "ip": a.ip, "userAgent": a.user_agent, "detail": a.detail,
            })
        })
        .collect();
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
    #[schema(value_type = Vec<Object>)]
    data: Vec<Value>,
}

fn delivery_view(d: &Delivery, attempts: Vec<Value>) -> Value {
    json!({
        "id": d.id, "eventId": d.event_id, "kind": d.kind.as_str(), "target": d.target,
        "status": d.status.as_str(), "attempts": d.attempts,
        "nextAttemptAt": d.next_attempt_at.to_rfc3339(), "lastError": d.last_error,
        "createdAt": d.created_at.to_rfc3339(), "deliveredAt": d.delivered_at.map(|t| t.to_rfc3339()),
        "payload": serde_json::from_str::<Value>(&d.body).unwrap_or(Value::Null),
        "log": attempts,
    })
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
        let log = log
            .into_iter()
            .map(|a| json!({"attempt": a.attempt, "at": a.at.to_rfc3339(), "statusCode": a.status_code, "latencyMs": a.latency_ms, "error": a.error}))
            .collect();
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
