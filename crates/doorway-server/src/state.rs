//! What every handler can reach: storage, clock, settings and the project directory.

use std::sync::Arc;

use doorway_core::services::Services;

use crate::project_directory::ProjectDirectory;
use crate::settings::Settings;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub services: Services,
    pub identity_providers: std::sync::Arc<dyn doorway_core::oauth::IdentityProviders>,
    pub settings: Settings,
    pub public_url: String,
    pub projects: ProjectDirectory,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
