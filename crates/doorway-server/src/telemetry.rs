//! Logs (text or JSON) and Prometheus metrics.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Installs the global log subscriber; `RUST_LOG` refines the default `info` level. Text logs
/// are coloured only on a terminal, and never with `NO_COLOR` set (https://no-color.org).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let colour = colour_wanted(std::io::IsTerminal::is_terminal(&std::io::stdout()), std::env::var_os("NO_COLOR"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(colour);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Colour for a terminal, unless `NO_COLOR` is set to anything but the empty string.
fn colour_wanted(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The process-wide metrics recorder (installed once, shared by every app in the process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub async fn record_http_metrics(req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("doorway_http_requests_total", "method" => method.clone(), "status" => status).increment(1);
    metrics::histogram!("doorway_http_request_duration_seconds", "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// One sign-up attempt of any contract: `doorway_signups_total{contract, method, outcome}`.
/// `method`: `password`, `email` (no password), `oauth` or `external`; `outcome`: `created`,
/// `invalid`, `conflict`, `denied`, `busy`, `rate_limited` or `error`.
pub fn record_signup(contract: &'static str, method: &'static str, outcome: &'static str) {
    metrics::counter!("doorway_signups_total", "contract" => contract, "method" => method, "outcome" => outcome)
        .increment(1);
}

/// The `outcome` label of a refused sign-up.
pub fn signup_outcome(e: &doorway_core::flows::password_signup::SignupError) -> &'static str {
    use doorway_core::flows::password_signup::SignupError;
    match e {
        SignupError::EmailTaken | SignupError::UsernameTaken => "conflict",
        SignupError::Denied { .. } | SignupError::HookUnavailable => "denied",
        SignupError::WeakPassword(_) | SignupError::PasswordNotAccepted(_) => "invalid",
        SignupError::Busy { .. } => "busy",
        SignupError::RateLimited(_) => "rate_limited",
        SignupError::Unexpected(_) => "error",
    }
}

/// The `outcome` label of a refused OAuth or external sign-up.
pub fn oauth_signup_outcome(e: &doorway_core::flows::oauth_signup::OAuthError) -> &'static str {
    use doorway_core::flows::oauth_signup::OAuthError;
    match e {
        OAuthError::UnknownProvider(_)
        | OAuthError::CallbackNotAllowed
        | OAuthError::NoRedirectUri
        | OAuthError::InvalidState
        | OAuthError::CodeRejected(_)
        | OAuthError::NoEmail => "invalid",
        OAuthError::AccountExists => "conflict",
        OAuthError::Denied(_) | OAuthError::HookUnavailable => "denied",
        OAuthError::RateLimited(_) => "rate_limited",
        OAuthError::ProviderFailed(_) | OAuthError::Unexpected(_) => "error",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(super::colour_wanted(true, None));
        assert!(super::colour_wanted(true, Some("".into())));
        assert!(!super::colour_wanted(true, Some("1".into())));
        assert!(!super::colour_wanted(false, None));
    }
}
