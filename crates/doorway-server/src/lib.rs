//! Doorway's HTTP server: settings, start-up, routes and middleware.

mod admin_auth;
pub mod admission;
mod client_info;
pub mod connections;
mod contracts;
mod cookies;
mod cors;
mod errors;
mod hook_caller;
mod hosted_pages;
mod identity_providers;
mod oauth_binding;
mod openapi;
mod project_directory;
mod project_scope;
mod routes;
mod same_origin;
mod security_headers;
pub mod settings;
mod startup;
mod state;
pub mod telemetry;
mod ui;
mod workers;

pub use settings::{ConfigError, LogFormat, Overrides, Settings};
pub use startup::{Application, StartupError, shutdown_signal};
pub use state::{AppState, Inner as AppStateInner};
