//! Admission control: a bound on the requests served at once, with a short bounded queue in
//! front of it. Past both, or after waiting `queue_timeout_ms` in the queue, a request is
//! answered 503 with `Retry-After` in its contract's format, at once, instead of piling up
//! in the database pool's queue until every client times out (and memory grows with them).
//! Requests on a connection taken past `connections.max_connections` are refused the same way.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::connections::OverConnectionLimit;

/// What a shed request reads, in every contract.
const BUSY_MESSAGE: &str = "The server is busy; please retry shortly";
/// Overload passes within seconds, unlike an outage.
const RETRY_AFTER_SECS: u64 = 1;

/// `admission.*` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionSettings {
    /// Requests served at once (the others wait in the queue).
    pub max_in_flight: usize,
    /// Requests that may wait for a slot; past it new ones are refused at once.
    pub max_queued: usize,
    /// The longest a request waits in the queue before it is refused.
    pub queue_timeout_ms: u64,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        Self { max_in_flight: 256, max_queued: 1024, queue_timeout_ms: 1000 }
    }
}

impl AdmissionSettings {
    pub fn problems(&self) -> Vec<String> {
        if self.max_in_flight == 0 || self.queue_timeout_ms == 0 {
            vec!["admission.max_in_flight, admission.queue_timeout_ms: must be at least 1".to_owned()]
        } else {
            Vec::new()
        }
    }
}

#[derive(Clone)]
pub(crate) struct Admission(Arc<Inner>);

struct Inner {
    slots: Semaphore,
    queued: AtomicUsize,
    max_queued: usize,
    queue_timeout: Duration,
}

impl Admission {
    pub(crate) fn new(settings: &AdmissionSettings) -> Self {
        Self(Arc::new(Inner {
            slots: Semaphore::new(settings.max_in_flight),
            queued: AtomicUsize::new(0),
            max_queued: settings.max_queued,
            queue_timeout: Duration::from_millis(settings.queue_timeout_ms),
        }))
    }
}

/// Probes and metrics are always answered: an overloaded instance is alive, and says so.
fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

pub(crate) async fn admit(State(admission): State<Admission>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if exempt(path) {
        return next.run(req).await;
    }
    let inner = &admission.0;
    if req.extensions().get::<OverConnectionLimit>().is_some_and(|over| over.0) {
        return shed(path);
    }
    let permit = match inner.slots.try_acquire() {
        Ok(permit) => Some(permit),
        Err(_) if inner.queued.fetch_add(1, Ordering::AcqRel) < inner.max_queued => {
            let waited = tokio::time::timeout(inner.queue_timeout, inner.slots.acquire()).await;
            inner.queued.fetch_sub(1, Ordering::AcqRel);
            waited.ok().and_then(Result::ok)
        }
        Err(_) => {
            inner.queued.fetch_sub(1, Ordering::AcqRel);
            None
        }
    };
    match permit {
        Some(_permit) => next.run(req).await,
        None => shed(path),
    }
}

/// Marks a shed request's answer: it is counted, not logged one by one (a flood would
/// otherwise write a warning per request it was spared).
#[derive(Clone, Copy)]
pub(crate) struct Shed;

/// 503 with `Retry-After`, in the format of the contract owning `path`.
fn shed(path: &str) -> Response {
    metrics::counter!("doorway_requests_shed_total").increment(1);
    let contract = crate::contracts::contract_for(path);
    let mut response = contract.refuse(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", BUSY_MESSAGE.to_owned());
    crate::errors::set_retry_headers(&mut response, Some(RETRY_AFTER_SECS), None);
    response.extensions_mut().insert(Shed);
    response
}
