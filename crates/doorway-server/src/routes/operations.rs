//! Liveness, readiness and metrics, for orchestrators and scrapers.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use doorway_core::store::Outage;
use serde::Serialize;

use crate::admin_auth::Admin;
use crate::errors::{ApiError, ErrorBody};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` when the check passed.
    status: &'static str,
    /// `sqlite` or `postgres` (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "getHealth", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", database: None })
}

/// The process can reach its database and the database can take writes (on SQLite: its
/// filesystem has room). Answers within `readiness_timeout_ms`, whatever the database does.
#[utoipa::path(get, path = "/readyz", operation_id = "getReadiness", tag = "operations", responses(
    (status = 200, body = Health),
    (status = 503, body = ErrorBody, description = "Database unreachable, too slow to answer, or out of space"),
))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let store = &state.services.store;
    let deadline = Duration::from_millis(state.settings.readiness_timeout_ms);
    let outcome = match tokio::time::timeout(deadline, store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(e.outage().unwrap_or(Outage::Unreachable))
        }
        Err(_) => {
            tracing::warn!(timeout_ms = state.settings.readiness_timeout_ms, "readiness check timed out");
            Err(Outage::Unreachable)
        }
    };
    for outage in [Outage::Unreachable, Outage::Full] {
        let down = outcome == Err(outage);
        metrics::gauge!("doorway_storage_unavailable", "outage" => outage.as_str()).set(if down { 1.0 } else { 0.0 });
    }
    match outcome {
        Ok(()) => Ok(Json(Health { status: "ok", database: Some(store.backend()) })),
        Err(outage) => Err(ApiError::unavailable(outage.message(), outage.retry_after_secs())),
    }
}

/// Prometheus metrics in text exposition format. On the main address they need the admin
/// token (they tell request rates, failures and project activity); `metrics_listen` serves
/// them without it on an address of their own.
#[utoipa::path(get, path = "/metrics", operation_id = "getMetrics", tag = "operations", security(("bearer" = [])), responses(
    (status = 200, content_type = "text/plain", body = String),
    (status = 401, body = ErrorBody, description = "Missing or wrong admin token"),
    (status = 403, body = ErrorBody, description = "ADMIN_DISABLED: no admin_token configured (use metrics_listen)"),
))]
pub async fn metrics(State(state): State<AppState>, _: Admin) -> Response {
    render_metrics(&state)
}

pub fn render_metrics(state: &AppState) -> Response {
    metrics::gauge!("doorway_password_hash_queue_depth").set(state.services.hasher.queue_depth() as f64);
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// The router of `metrics_listen`: `GET /metrics` only, no authentication.
pub fn metrics_only(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(|State(state): State<AppState>| async move { render_metrics(&state) }))
        .fallback(crate::errors::route_not_found)
        .layer(axum::middleware::from_fn(crate::security_headers::security_headers))
        .with_state(state)
}
