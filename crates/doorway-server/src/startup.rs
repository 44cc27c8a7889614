//! Building and running the server: `main` and every test start it the same way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use doorway_core::password_hashing::PasswordHasher;
use doorway_core::projects::{NewProject, ProjectError, ensure_project};
use doorway_core::rate_limit::{MemoryRateLimiter, RateLimiter, StoreRateLimiter};
use doorway_core::services::Services;
use doorway_core::session_cache::SessionCache;
use doorway_core::{Clock, ProjectSettings, ProjectSlug, SystemClock};
use tokio::net::TcpListener;
use tower::{Layer, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::admission::{Admission, admit};
use crate::connections::body_deadline;
use crate::contracts::{self, refuse_disabled};
use crate::cors::{Cors, cors};
use crate::errors::{
    MAX_BODY_BYTES, contract_errors, log_failures, method_not_allowed, panic_response, route_not_found,
};
use crate::hook_caller::HttpHookCaller;
use crate::identity_providers::HttpIdentityProviders;
use crate::openapi::ApiDoc;
use crate::project_directory::ProjectDirectory;
use crate::project_scope::resolve_project;
use crate::routes::{admin_activity, admin_projects, discovery, operations};
use crate::same_origin::refuse_cross_site;
use crate::security_headers::security_headers;
use crate::settings::{Settings, redact_url};
use crate::state::{AppState, Inner};
use crate::telemetry::{metrics_handle, record_http_metrics};
use crate::workers::delivery::DeliveryWorker;
use crate::workers::housekeeping;
use crate::workers::mail::MailSender;
use crate::workers::webhooks::WebhookSender;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] doorway_store::ConnectError),
    #[error("master_key: {0}")]
    MasterKey(#[from] doorway_store::MasterKeyError),
    #[error("cannot set up project '{slug}': {source}")]
    Project { slug: String, source: ProjectError },
    #[error("cannot set up mail: {0}")]
    Mail(String),
    #[error("cannot start password hashing: {0}")]
    Hashing(#[from] doorway_core::password_hashing::HashError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    /// `metrics_listen`, when set: `GET /metrics` without authentication.
    metrics_listener: Option<(TcpListener, SocketAddr)>,
    state: AppState,
    /// None without SMTP: mail then stays in the outbox.
    mail_sender: Option<MailSender>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Connects, migrates, provisions projects and binds; serving starts with `run_until`.
    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        let mut settings = settings;
        let master_key = settings.master_key.take().map(|text| doorway_store::MasterKey::parse(&text)).transpose()?;
        let encrypted = master_key.is_some();
        let opened =
            doorway_store::connect_with_master_key(&settings.database_url, master_key, settings.pool_tuning()).await?;
        if opened.keys_sealed > 0 {
            tracing::info!("encrypted {} plaintext signing key(s) at rest with the master key", opened.keys_sealed);
        }
        if !encrypted {
            tracing::info!("no master key set: private signing keys are stored unencrypted (see master_key_file)");
        }
        let store = opened.store;
        let listener = crate::connections::listen(settings.listen, settings.connections.max_connections)
            .map_err(|source| StartupError::Bind { addr: settings.listen, source })?;
        let local_addr =
            listener.local_addr().map_err(|source| StartupError::Bind { addr: settings.listen, source })?;
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => {
                let bound = TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { addr, source })?;
                let local = bound.local_addr().map_err(|source| StartupError::Bind { addr, source })?;
                Some((bound, local))
            }
            None => None,
        };

        let mut declared = settings.declared_projects();
        if !declared.iter().any(|(slug, ..)| slug.is_default()) {
            declared.insert(0, (ProjectSlug::default_project(), "Default".to_owned(), ProjectSettings::default()));
        }
        for (slug, name, project_settings) in declared {
            let new = NewProject { slug: slug.clone(), name, settings: project_settings };
            ensure_project(store.as_ref(), clock.as_ref(), new)
                .await
                .map_err(|source| StartupError::Project { slug: slug.to_string(), source })?;
        }

        if settings.public_url.is_none() && settings.listen.port() == 0 {
            settings.public_url = Some(format!("http://{local_addr}"));
        }
        let public_url = settings.public_url();
        let hasher = PasswordHasher::start(&settings.password_hashing)?;
        let mail_sender = settings.smtp.as_ref().map(MailSender::new).transpose().map_err(StartupError::Mail)?;
        // Limits must hold across instances on PostgreSQL; SQLite means one process.
        let rate_limiter: Arc<dyn RateLimiter> = match store.backend() {
            "postgres" => Arc::new(StoreRateLimiter { store: store.clone() }),
            _ => Arc::new(MemoryRateLimiter::default()),
        };
        let state = AppState::new(Inner {
            projects: ProjectDirectory::new(store.clone(), clock.clone(), public_url.clone()),
            identity_providers: Arc::new(HttpIdentityProviders::new()),
            services: Services {
                store,
                clock,
                hasher,
                hooks: Arc::new(HttpHookCaller::new()),
                rate_limiter,
                session_cache: Arc::new(SessionCache::new(Duration::from_millis(settings.session_cache_ms))),
            },
            public_url,
            settings,
            metrics: metrics_handle(),
        });
        Ok(Self { listener, local_addr, metrics_listener, state, mail_sender })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `metrics_listen` was bound, if it is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, addr)| *addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let s = &self.state;
        let mail = match &s.settings.smtp {
            Some(smtp) => format!("mail goes out through {}", redact_url(&smtp.url)),
            None => "no SMTP configured, so mail stays in the outbox: read it with `doorway mail list`".to_owned(),
        };
        tracing::info!(
            "Doorway listening on {} (bound {}), database {}; {mail}",
            s.public_url,
            self.local_addr,
            redact_url(&s.settings.database_url),
        );
        if s.settings.admin_token.is_none() {
            tracing::info!("admin API disabled: set admin_token (DOORWAY_ADMIN_TOKEN) to enable /admin");
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (store, clock) = (s.services.store.clone(), s.services.clock.clone());
        let timeout = std::time::Duration::from_millis(s.settings.webhook_delivery.timeout_ms);
        let webhooks = DeliveryWorker {
            store: store.clone(),
            clock: clock.clone(),
            settings: s.settings.webhook_delivery.clone(),
            sender: WebhookSender::new(store.clone(), timeout),
        };
        let mut workers = vec![
            tokio::spawn(webhooks.run(stopped.clone())),
            tokio::spawn(housekeeping(store.clone(), clock.clone(), stopped.clone())),
        ];
        if let Some(sender) = self.mail_sender {
            let mail = DeliveryWorker { store, clock, settings: s.settings.webhook_delivery.clone(), sender };
            workers.push(tokio::spawn(mail.run(stopped.clone())));
        }
        if let Some((listener, addr)) = self.metrics_listener {
            tracing::info!("metrics served without authentication on http://{addr}/metrics");
            let mut stopped = stopped.clone();
            let metrics = operations::metrics_only(self.state.clone());
            workers.push(tokio::spawn(async move {
                let until_stopped = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                if let Err(e) = axum::serve(listener, metrics).with_graceful_shutdown(until_stopped).await {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            }));
        }
        let app = router(self.state.clone());
        // The workers stop with the listener, not after the requests in flight: their attempts
        // in flight finish while those requests drain (a stop that outlasts the supervisor's
        // patience would cut attempts short, and each is sent again when its lease expires).
        // Serving ends only once `shutdown` has resolved, so the workers have been told by then.
        let shutdown = async {
            shutdown.await;
            let _ = stop.send(true);
        };
        crate::connections::serve(self.listener, app, &self.state.settings.connections, shutdown).await;
        // Deliveries in flight finish; anything not finished is retried by the next start.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(15), futures_util::future::join_all(workers)).await;
    }
}

fn router(state: AppState) -> Router {
    let (routes, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(operations::healthz))
        .routes(routes!(operations::readyz))
        .routes(routes!(operations::metrics))
        .routes(routes!(discovery::jwks))
        .routes(routes!(discovery::authorization_server_metadata))
        .routes(routes!(admin_projects::create, admin_projects::list))
        .routes(routes!(admin_projects::get))
        .routes(routes!(admin_projects::get_user))
        .routes(routes!(admin_projects::rotate_signing_key))
        .routes(routes!(admin_activity::audit))
        .routes(routes!(admin_activity::deliveries))
        .routes(routes!(admin_activity::replay))
        .merge(contracts::routes())
        .split_for_parts();
    let routes = routes
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", crate::openapi::finish(api)))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(state.clone(), refuse_disabled))
        .layer(from_fn(contract_errors))
        .layer(from_fn_with_state(state.clone(), refuse_cross_site))
        // Inside admission: the body's time counts from when the request holds a slot.
        .layer(from_fn_with_state(
            Duration::from_millis(state.settings.connections.body_read_timeout_ms),
            body_deadline,
        ))
        // Inside CORS, so a shed request's 503 carries its CORS headers; in its contract's format.
        .layer(from_fn_with_state(Admission::new(&state.settings.admission), admit))
        // Outermost, so every answer of a project route carries its CORS headers, refusals too.
        .layer(from_fn_with_state(Cors::new(state.clone()), cors))
        .with_state(state.clone());
    // The project prefix must be stripped before routing, so the resolver wraps the router
    // instead of being one of its layers.
    let scoped = from_fn_with_state(state, resolve_project).layer(routes);
    Router::new().fallback_service(scoped).layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &axum::extract::Request| {
                        let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                        tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id)
                    })
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(from_fn(log_failures))
            .layer(from_fn(security_headers))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(from_fn(record_http_metrics)),
    )
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
