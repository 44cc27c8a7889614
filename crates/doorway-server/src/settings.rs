//! Configuration: defaults → `doorway.toml` (or `--config FILE`) → `DOORWAY_*` environment
//! (`__` for nesting) → command-line flags. Validated once, with one line per problem.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use doorway_core::password_hashing::HashingSettings;
use doorway_core::{ProjectSettings, ProjectSlug};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub const DEFAULT_CONFIG_FILE: &str = "doorway.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// A second address serving only `GET /metrics`, without authentication (for a scraper on
    /// a private network). On `listen`, `/metrics` needs the admin token.
    pub metrics_listen: Option<SocketAddr>,
    /// `sqlite://path` or `postgres://user@host/db`.
    pub database_url: String,
    /// The longest a request waits for a database connection (on PostgreSQL, including
    /// connecting) before it is answered 503 with `Retry-After`: the bound on a request's wait
    /// while the database is down or saturated.
    pub database_timeout_ms: u64,
    /// PostgreSQL connections each instance keeps at most (SQLite has one writer and this many
    /// readers, at most 8).
    pub database_max_connections: u32,
    /// How long a session check (is the session behind an access token still active?) is
    /// reused without reading the database; 0 reads it on every request. A revocation on this
    /// instance takes effect at once; on another instance sharing the database, within this.
    pub session_cache_ms: u64,
    /// How many requests are served at once, and how many may wait (then 503 + Retry-After).
    pub admission: crate::admission::AdmissionSettings,
    /// How many connections are open at once, and how long a request head may take.
    pub connections: crate::connections::ConnectionSettings,
    /// The longest `/readyz` takes: a database that has not answered by then is reported 503.
    pub readiness_timeout_ms: u64,
    /// The URL clients reach Doorway at; issuer and links are built from it.
    /// Defaults to `http://<listen>`.
    pub public_url: Option<String>,
    /// Bearer token for `/admin/*`; the admin API is off without one.
    pub admin_token: Option<String>,
    /// File holding the admin token (for secret mounts); wins over `admin_token`.
    pub admin_token_file: Option<PathBuf>,
    /// Encrypts private signing keys at rest: 32 random bytes as base64 or hex
    /// (`doorway keys generate-master-key`). Without it they are stored unencrypted.
    pub master_key: Option<String>,
    /// File holding the master key (for secret mounts); wins over `master_key`.
    pub master_key_file: Option<PathBuf>,
    pub log_format: LogFormat,
    /// argon2id cost and the size of the hashing pool (shared by every project).
    pub password_hashing: HashingSettings,
    /// Peers (CIDRs) whose `X-Forwarded-For` is believed; from anyone else it is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Outgoing mail; without it, mail stays in the outbox (`doorway mail list`).
    pub smtp: Option<SmtpSettings>,
    /// How the outbox workers deliver webhooks and mail.
    pub webhook_delivery: DeliverySettings,
    /// Projects declared here are created or updated at start.
    pub projects: BTreeMap<String, ProjectConfig>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("public_url", &self.public_url)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("master_key", &self.master_key.as_ref().map(|_| "<redacted>"))
            .field("log_format", &self.log_format)
            .field("smtp", &self.smtp)
            .field("projects", &self.projects.keys())
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// `smtp://host:port` (plain, or `?tls=required` for STARTTLS) or `smtps://host:port`;
    /// credentials may be in the URL.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// File holding the password (secret mounts); wins over `password`.
    pub password_file: Option<PathBuf>,
    /// Sender, e.g. `Acme <no-reply@acme.example>`.
    #[serde(default = "default_from")]
    pub from: String,
}

fn default_from() -> String {
    "Doorway <no-reply@localhost>".to_owned()
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &redact_url(&self.url))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    /// How often an idle worker looks for due deliveries.
    pub poll_interval_ms: u64,
    /// How long a claimed delivery is reserved; a crashed worker's rows come back after it.
    pub lease_secs: u64,
    /// First retry delay; each further one is 6 times longer (with jitter), capped at 6 h.
    pub retry_base_ms: u64,
    /// Attempts before a delivery is given up ("dead"); replay revives it.
    pub max_attempts: i64,
    /// Whole-request timeout of one attempt.
    pub timeout_ms: u64,
    /// Attempts in flight at once, over every endpoint.
    pub max_in_flight: usize,
    /// Attempts in flight at once to one endpoint (one webhook URL; all mail shares the SMTP
    /// server), so a slow receiver holds at most this many of `max_in_flight`.
    pub max_in_flight_per_endpoint: usize,
    /// Consecutive failed attempts to an endpoint that open its circuit: its deliveries then
    /// wait (without using attempts) until one probe, `breaker_cooldown_ms` later, succeeds.
    pub breaker_failures: u32,
    pub breaker_cooldown_ms: u64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            poll_interval_ms: 500,
            lease_secs: 60,
            retry_base_ms: 5000,
            max_attempts: 8,
            timeout_ms: 10_000,
            max_in_flight: 64,
            max_in_flight_per_endpoint: 8,
            breaker_failures: 5,
            breaker_cooldown_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectConfig {
    /// Display name; defaults to the slug.
    pub name: Option<String>,
    #[serde(flatten)]
    pub settings: ProjectSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_listen: None,
            database_url: "sqlite://doorway.db".to_owned(),
            database_timeout_ms: 2000,
            database_max_connections: 16,
            session_cache_ms: 2000,
            admission: crate::admission::AdmissionSettings::default(),
            connections: crate::connections::ConnectionSettings::default(),
            readiness_timeout_ms: 1000,
            public_url: None,
            admin_token: None,
            admin_token_file: None,
            master_key: None,
            master_key_file: None,
            log_format: LogFormat::Text,
            password_hashing: HashingSettings::default(),
            trusted_proxies: Vec::new(),
            smtp: None,
            webhook_delivery: DeliverySettings::default(),
            projects: BTreeMap::new(),
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

impl ConfigError {
    pub fn problems(&self) -> &[String] {
        match self {
            Self::Invalid(p) => p,
        }
    }
}

pub fn figment(config_file: Option<&Path>, overrides: &Overrides) -> Result<Figment, ConfigError> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    match config_file {
        Some(path) if !path.exists() => {
            return Err(ConfigError::Invalid(vec![format!(
                "--config: file {} does not exist; give an existing file or leave the flag out",
                path.display()
            )]));
        }
        Some(path) => fig = fig.merge(Toml::file_exact(path)),
        None if Path::new(DEFAULT_CONFIG_FILE).exists() => fig = fig.merge(Toml::file_exact(DEFAULT_CONFIG_FILE)),
        None => {}
    }
    Ok(fig.merge(Env::prefixed("DOORWAY_").split("__")).merge(Serialized::defaults(overrides)))
}

impl Settings {
    /// How the database pool waits (see `database_timeout_ms`).
    pub fn pool_tuning(&self) -> doorway_store::PoolTuning {
        doorway_store::PoolTuning {
            acquire_timeout: std::time::Duration::from_millis(self.database_timeout_ms),
            postgres_connections: self.database_max_connections,
            sqlite_readers: self.database_max_connections.min(8),
        }
    }

    /// Loads and validates; every problem is reported, one line each.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let fig = figment(config_file, overrides)?;
        let at = Locator::new(&fig, config_file);
        let mut settings: Settings = match fig.extract() {
            Ok(settings) => settings,
            Err(_) => {
                let mut problems = every_problem(&fig, &at);
                sort_by_line(&mut problems);
                return Err(ConfigError::Invalid(problems));
            }
        };
        let mut problems = Vec::new();
        if let Some(path) = &settings.admin_token_file {
            match std::fs::read_to_string(path) {
                Ok(token) => settings.admin_token = Some(token.trim().to_owned()),
                Err(e) => problems.push(format!(
                    "admin_token_file: cannot read {}: {e}; point it at a readable file",
                    path.display()
                )),
            }
        }
        if let Some(path) = &settings.master_key_file {
            match std::fs::read_to_string(path) {
                Ok(key) => settings.master_key = Some(key.trim().to_owned()),
                Err(e) => problems
                    .push(format!("master_key_file: cannot read {}: {e}; point it at a readable file", path.display())),
            }
        }
        if let Some(smtp) = &mut settings.smtp
            && let Some(path) = &smtp.password_file
        {
            match std::fs::read_to_string(path) {
                Ok(password) => smtp.password = Some(password.trim().to_owned()),
                Err(e) => problems.push(format!(
                    "smtp.password_file: cannot read {}: {e}; point it at a readable file",
                    path.display()
                )),
            }
        }
        for (slug, project) in &mut settings.projects {
            let external = &mut project.settings.external_signup;
            if let Some(path) = external.schema_file.clone() {
                match std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
                {
                    Ok(schema) => external.schema = Some(schema),
                    Err(e) => {
                        problems.push(format!("projects.{slug}.external_signup.schema_file: cannot read {path}: {e}"))
                    }
                }
            }
        }
        problems.extend(settings.problems());
        let keys = project_keys();
        let mut problems: Vec<String> = problems.into_iter().map(|line| place(line, &at, &keys)).collect();
        sort_by_line(&mut problems);
        if problems.is_empty() { Ok(settings) } else { Err(ConfigError::Invalid(problems)) }
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = doorway_store::backend_of(&self.database_url) {
            out.push(format!("database_url: {e}"));
        }
        if let Some(url) = &self.public_url {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => {}
                _ => out.push(format!(
                    "public_url: '{url}' is not an absolute http(s) URL without a query; use e.g. https://auth.example.com"
                )),
            }
        }
        if let Some(token) = &self.admin_token
            && token.len() < 16
        {
            out.push(
                "admin_token: too short; use at least 16 random characters (e.g. `openssl rand -hex 32`)".to_owned(),
            );
        }
        if let Some(key) = &self.master_key
            && let Err(e) = doorway_store::MasterKey::parse(key)
        {
            out.push(format!("master_key: {e}"));
        }
        if let Some(smtp) = &self.smtp {
            let scheme_ok = smtp.url.starts_with("smtp://") || smtp.url.starts_with("smtps://");
            if !scheme_ok || url::Url::parse(&smtp.url).is_err() {
                out.push(format!("smtp.url: '{}' is not smtp://host:port or smtps://host:port", redact_url(&smtp.url)));
            }
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                out.push(format!(
                    "smtp.from: '{}' is not a mailbox; use e.g. \"Acme <no-reply@acme.example>\"",
                    smtp.from
                ));
            }
        }
        let d = &self.webhook_delivery;
        if d.poll_interval_ms == 0
            || d.lease_secs == 0
            || d.max_attempts < 1
            || d.timeout_ms == 0
            || d.max_in_flight == 0
            || d.max_in_flight_per_endpoint == 0
            || d.breaker_failures == 0
        {
            out.push(
                "webhook_delivery: poll_interval_ms, lease_secs, max_attempts, timeout_ms, max_in_flight, \
                 max_in_flight_per_endpoint and breaker_failures must be at least 1"
                    .to_owned(),
            );
        }
        if self.database_timeout_ms == 0 || self.readiness_timeout_ms == 0 || self.database_max_connections == 0 {
            out.push(
                "database_timeout_ms, readiness_timeout_ms, database_max_connections: must be at least 1".to_owned(),
            );
        }
        if d.timeout_ms / 1000 >= d.lease_secs {
            out.push("webhook_delivery.lease_secs: must be longer than timeout_ms, or another worker may send the same delivery twice".to_owned());
        }
        out.extend(self.admission.problems());
        out.extend(self.connections.problems());
        for (key, message) in self.password_hashing.problems() {
            out.push(format!("password_hashing.{key}: {message}"));
        }
        for (slug, project) in &self.projects {
            if let Err(e) = ProjectSlug::parse(slug) {
                out.push(format!("projects.{slug}: the project slug {e}; rename the table"));
            }
            for (key, message) in project.settings.problems() {
                out.push(format!("projects.{slug}.{key}: {message}"));
            }
            for (key, message) in crate::contracts::settings_problems(&project.settings) {
                out.push(format!("projects.{slug}.{key}: {message}"));
            }
            if project.settings.passkeys.enabled
                && project.settings.passkeys.problems().is_empty()
                && let Some(problem) =
                    doorway_core::passkey::relying_party_problem(&project.settings.passkeys, &self.public_url())
            {
                out.push(format!("projects.{slug}.{problem}"));
            }
        }
        out
    }

    /// What `doorway serve` will run with these settings, for `doorway config check`.
    pub fn summary(&self, config_file: Option<&Path>) -> Vec<String> {
        let file = match config_file {
            Some(path) => path.display().to_string(),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => DEFAULT_CONFIG_FILE.to_owned(),
            None => "none (defaults and DOORWAY_* environment variables)".to_owned(),
        };
        let mut out = vec![
            format!("configuration OK; file: {file}"),
            format!("listen: {} (public URL {})", self.listen, self.public_url()),
            format!("database: {}", redact_url(&self.database_url)),
        ];
        let mut projects = self.declared_projects();
        if !projects.iter().any(|(slug, ..)| slug.is_default()) {
            projects.insert(0, (ProjectSlug::default_project(), "Default".to_owned(), ProjectSettings::default()));
        }
        out.push(format!(
            "projects: {} ({} declared here, `default` always exists; projects made with `doorway project add` run too)",
            projects.len(),
            self.projects.len()
        ));
        for (slug, name, p) in &projects {
            let contracts: Vec<&str> =
                crate::contracts::CONTRACTS.iter().map(|c| c.name()).filter(|c| p.contract_enabled(c)).collect();
            let providers: Vec<&str> = p.providers.keys().map(String::as_str).collect();
            let limit = &p.rate_limits.password_signup;
            let limits = if p.rate_limits.enabled {
                format!("{} password sign-ups per {} s per IP", limit.limit, limit.window_secs)
            } else {
                "rate limits off".to_owned()
            };
            out.push(format!(
                "  {slug} ({name}): contracts {}; OAuth providers {}; {limits}",
                if contracts.is_empty() { "none".to_owned() } else { contracts.join(", ") },
                if providers.is_empty() { "none".to_owned() } else { providers.join(", ") },
            ));
        }
        out.push(match &self.smtp {
            Some(smtp) => format!("mail: sent through {} from {}", redact_url(&smtp.url), smtp.from),
            None => "mail: no SMTP configured; mail stays in the outbox (`doorway mail list`)".to_owned(),
        });
        out.push(
            if self.admin_token.is_some() {
                "admin API: on (/admin/*, bearer token)"
            } else {
                "admin API: off (no admin_token)"
            }
            .to_owned(),
        );
        out.push(
            match self.master_key {
                Some(_) => "signing keys: encrypted at rest with the master key",
                None => "signing keys: no master key, stored unencrypted",
            }
            .to_owned(),
        );
        out
    }

    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if self.listen.ip().is_unspecified() => {
                format!("http://127.0.0.1:{}", self.listen.port())
            }
            None => format!("http://{}", self.listen),
        }
    }

    /// Config-declared projects, parsed; call after `load` succeeded.
    pub fn declared_projects(&self) -> Vec<(ProjectSlug, String, ProjectSettings)> {
        self.projects
            .iter()
            .filter_map(|(slug, p)| {
                let slug = ProjectSlug::parse(slug).ok()?;
                let name = p.name.clone().unwrap_or_else(|| slug.to_string());
                Some((slug, name, p.settings.clone()))
            })
            .collect()
    }
}

pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Where a key's value came from: `FILE:LINE:COLUMN`, an environment variable, or nothing known.
struct Locator<'a> {
    fig: &'a Figment,
    file: Option<(String, String)>,
}

impl<'a> Locator<'a> {
    fn new(fig: &'a Figment, config_file: Option<&Path>) -> Self {
        let path = config_file
            .map(Path::to_path_buf)
            .or_else(|| Path::new(DEFAULT_CONFIG_FILE).exists().then(|| PathBuf::from(DEFAULT_CONFIG_FILE)));
        let file = path.and_then(|p| Some((p.display().to_string(), std::fs::read_to_string(&p).ok()?)));
        Self { fig, file }
    }

    fn file_name(&self) -> &str {
        self.file.as_ref().map_or(DEFAULT_CONFIG_FILE, |(name, _)| name.as_str())
    }

    /// ` (doorway.toml:3:1)`, ` (environment variable DOORWAY_X__Y)` or nothing.
    fn suffix(&self, key: &[String]) -> String {
        if key.is_empty() {
            return String::new();
        }
        let dotted = key.join(".");
        let from_env =
            self.fig.find_metadata(&dotted).is_some_and(|m| m.source.is_none() && m.name.contains("environment"));
        if from_env {
            return format!(" (environment variable DOORWAY_{})", key.join("__").to_uppercase());
        }
        match &self.file {
            Some((name, text)) => match locate_key(text, key) {
                Some((line, column)) => format!(" ({name}:{line}:{column})"),
                None => String::new(),
            },
            None => String::new(),
        }
    }
}

/// Every key path written in TOML `text` (`[table]` headers and `key = …` lines), with its
/// line and column (1-based).
fn written_keys(text: &str) -> Vec<(Vec<String>, usize, usize)> {
    fn parts(raw: &str) -> Vec<String> {
        raw.split('.').map(|p| p.trim().trim_matches(|c| c == '"' || c == '\'').to_owned()).collect()
    }
    let mut table: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let column = line.len() - line.trim_start().len() + 1;
        let trimmed = line.trim();
        if let Some(header) = trimmed.strip_prefix('[') {
            let header = header.trim_start_matches('[');
            let Some(end) = header.find(']') else { continue };
            table = parts(&header[..end]);
            out.push((table.clone(), index + 1, column));
        } else if let Some((name, _)) = trimmed.split_once('=')
            && !trimmed.starts_with('#')
        {
            let mut full = table.clone();
            full.extend(parts(name));
            out.push((full, index + 1, column));
        }
    }
    out
}

/// Where `key` is written: its `key = …` line, else its `[table]` header, else the first key
/// written beneath it.
fn locate_key(text: &str, key: &[String]) -> Option<(usize, usize)> {
    let written = written_keys(text);
    let exact = written.iter().find(|(k, ..)| k == key);
    let beneath = written.iter().find(|(k, ..)| k.starts_with(key));
    exact.or(beneath).map(|(_, line, column)| (*line, *column))
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb { previous } else { 1 + previous.min(row[j]).min(current) };
            previous = current;
        }
    }
    row[b.len()]
}

/// `; did you mean `x`?` when a known key is close, else the list of known keys.
fn suggestion<'k>(unknown: &str, known: impl IntoIterator<Item = &'k str>) -> String {
    let known: Vec<&str> = known.into_iter().collect();
    let best = known.iter().map(|k| (edit_distance(unknown, k), *k)).min();
    match best {
        Some((distance, k)) if distance <= 2.max(unknown.len() / 3) => format!("; did you mean `{k}`?"),
        _ if known.is_empty() => String::new(),
        _ => format!("; known keys here: {}", known.join(", ")),
    }
}

/// A parse error's several lines made one: `TOML parse error at line 1, column 7: invalid array`.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim_end).filter(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or_default().to_owned();
    let rest: Vec<&str> = lines.filter(|l| !l.contains(" |") && !l.starts_with(' ') && !l.starts_with('|')).collect();
    if rest.is_empty() { first } else { format!("{first}: {}", rest.join(", ")) }
}

fn describe_error(path: &[String], kind: &figment::error::Kind, at: &Locator<'_>) -> (Vec<String>, String) {
    use figment::error::Kind;
    let mut key = path.to_vec();
    let message = match kind {
        Kind::UnknownField(name, expected) => {
            if key.last() != Some(name) {
                key.push(name.clone());
            }
            if (path.is_empty() || path == std::slice::from_ref(name)) && project_keys().contains(name) {
                "unknown key here: it is a project setting; put it under [projects.default] (or another [projects.<slug>])".to_owned()
            } else {
                format!("unknown key{}", suggestion(name, expected.iter().copied()))
            }
        }
        Kind::UnknownVariant(name, expected) => {
            format!("'{name}' is not one of {}{}", expected.join(", "), suggestion(name, expected.iter().copied()))
        }
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::InvalidValue(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::MissingField(name) => format!("missing key `{name}`"),
        Kind::Message(m) => one_line(m),
        other => other.to_string(),
    };
    let hint = match key.last().map(String::as_str) {
        Some("listen" | "metrics_listen") if key.len() == 1 => {
            "; use an IP address and port such as 127.0.0.1:8080 or [::1]:8080 (host names are not resolved)"
        }
        _ => "",
    };
    let name = if key.is_empty() { at.file_name().to_owned() } else { key.join(".") };
    let line = format!("{name}: {message}{hint}{}", at.suffix(&key));
    (key, line)
}

/// Problems in the order of their lines in the file; those without a line last.
fn sort_by_line(problems: &mut [String]) {
    problems.sort_by_key(|line| {
        line.strip_suffix(')')
            .and_then(|l| l.rsplit_once(':'))
            .and_then(|(l, _column)| l.rsplit_once(':'))
            .and_then(|(_, n)| n.parse::<usize>().ok())
            .unwrap_or(usize::MAX)
    });
}

/// Removes `key` from a value tree; whether it was there.
fn remove_key(value: &mut figment::value::Value, key: &[String]) -> bool {
    use figment::value::Value;
    let Some((last, parents)) = key.split_last() else { return false };
    let mut current = value;
    for part in parents {
        match current {
            Value::Dict(_, dict) => match dict.get_mut(part) {
                Some(next) => current = next,
                None => return false,
            },
            _ => return false,
        }
    }
    match current {
        Value::Dict(_, dict) => dict.remove(last).is_some(),
        _ => false,
    }
}

/// The keys a project table takes, for "did you mean".
fn project_keys() -> Vec<String> {
    let mut keys: Vec<String> = match serde_json::to_value(ProjectConfig::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    keys.push("contracts".to_owned());
    keys.extend(crate::contracts::CONTRACTS.iter().filter_map(|c| c.settings_check()).map(|(k, _)| k.to_owned()));
    keys
}

/// Every problem of a configuration that does not deserialize: the value tree is read
/// leniently, each project key is checked on its own (a flattened table loses the key in
/// serde's errors), and each failing key is reported and taken out until the rest is read.
fn every_problem(fig: &Figment, at: &Locator<'_>) -> Vec<String> {
    use figment::value::{Dict, Value};
    let mut value: Value = match fig.extract() {
        Ok(v) => v,
        Err(errors) => return errors.into_iter().map(|e| describe_error(&e.path, &e.kind, at).1).collect(),
    };
    let mut problems = Vec::new();
    if let Value::Dict(_, top) = &mut value
        && let Some(Value::Dict(_, projects)) = top.get_mut("projects")
    {
        for (slug, project) in projects.iter_mut() {
            let Value::Dict(_, table) = project else { continue };
            let keys: Vec<String> = table.keys().cloned().collect();
            for key in keys {
                let Some(v) = table.get(&key).cloned() else { continue };
                let check = |v: Value| Value::from(Dict::from([(key.clone(), v)])).deserialize::<ProjectConfig>().err();
                let mut report = |sub: Option<&String>, errors: figment::Error| {
                    for e in errors {
                        let mut path = vec!["projects".to_owned(), slug.clone()];
                        for part in [Some(&key), sub].into_iter().flatten() {
                            if !e.path.contains(part) {
                                path.push(part.clone());
                            }
                        }
                        path.extend(e.path.iter().cloned());
                        problems.push(describe_error(&path, &e.kind, at).1);
                    }
                };
                if check(v.clone()).is_none() {
                    continue;
                }
                // A table: narrow the problem down to its entries and keep the good ones.
                if let Value::Dict(_, inner) = &v {
                    let mut kept = inner.clone();
                    for (sub, sv) in inner {
                        if let Some(errors) = check(Value::from(Dict::from([(sub.clone(), sv.clone())]))) {
                            report(Some(sub), errors);
                            kept.remove(sub);
                        }
                    }
                    if check(Value::from(kept.clone())).is_none() {
                        table.insert(key.clone(), Value::from(kept));
                        continue;
                    }
                }
                if let Some(errors) = check(v) {
                    report(None, errors);
                }
                table.remove(&key);
            }
        }
    }
    for _ in 0..200 {
        let Err(errors) = value.deserialize::<Settings>() else { break };
        let mut removed = false;
        for e in errors {
            let (key, line) = describe_error(&e.path, &e.kind, at);
            problems.push(line);
            removed |= remove_key(&mut value, &key) || remove_key(&mut value, &e.path);
        }
        if !removed {
            break;
        }
    }
    // What is left is read: check it too, so one run names every problem.
    if let Ok(rest) = value.deserialize::<Settings>() {
        let keys = project_keys();
        problems.extend(rest.problems().into_iter().map(|line| place(line, at, &keys)));
    }
    problems
}

/// Adds where a checked key was written, and "did you mean" for unknown project keys, to a
/// `key.path: message` line.
fn place(line: String, at: &Locator<'_>, project_keys: &[String]) -> String {
    let Some((key, message)) = line.split_once(": ") else { return line };
    if key.contains(char::is_whitespace) {
        return line;
    }
    let path: Vec<String> = key.split('.').map(str::to_owned).collect();
    // A contract's table refused a key (serde's "unknown field `x`, expected …"): name the key.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once('`')
    {
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let written = at.file.as_ref().map(|(_, text)| written_keys(text)).unwrap_or_default();
        let full = written
            .into_iter()
            .map(|(k, ..)| k)
            .find(|k| k.starts_with(&path) && k.last().map(String::as_str) == Some(field))
            .unwrap_or_else(|| path.iter().cloned().chain([field.to_owned()]).collect());
        return format!("{}: unknown key{}{}", full.join("."), suggestion(field, known), at.suffix(&full));
    }
    let mut hint = String::new();
    if message.contains("not a project setting")
        && let [_, _, unknown] = path.as_slice()
    {
        hint = suggestion(unknown, project_keys.iter().map(String::as_str));
    }
    format!("{line}{hint}{}", at.suffix(&path))
}

#[cfg(test)]
#[allow(clippy::result_large_err, reason = "figment's `Jail` closures return its (large) `figment::Error`")]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_need_no_file() {
        Jail::expect_with(|_| {
            let s = Settings::load(None, &Overrides::default()).unwrap();
            assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
            assert_eq!(s.database_url, "sqlite://doorway.db");
            assert_eq!(s.public_url(), "http://127.0.0.1:8080");
            Ok(())
        });
    }

    #[test]
    fn layers_file_then_env_then_flags() {
        Jail::expect_with(|jail| {
            jail.create_file("doorway.toml", "listen = \"127.0.0.1:9000\"\n[projects.acme]\nname = \"From file\"\n")?;
            jail.set_env("DOORWAY_PROJECTS__ACME__NAME", "Acme");
            jail.set_env("DOORWAY_PROJECTS__BETA__ACCESS_TOKEN_TTL_SECS", "600");
            jail.set_env("DOORWAY_DATABASE_URL", "postgres://u@localhost/d");
            let flags = Overrides { listen: Some("127.0.0.1:9100".into()), ..Default::default() };
            let s = Settings::load(None, &flags).unwrap();
            assert_eq!(s.listen.port(), 9100);
            assert_eq!(s.database_url, "postgres://u@localhost/d");
            let projects = s.declared_projects();
            assert_eq!(projects[0].0.as_str(), "acme");
            assert_eq!(projects[0].1, "Acme");
            assert_eq!(projects[1].2.access_token_ttl_secs, 600);
            Ok(())
        });
    }

    #[test]
    fn reports_every_problem_with_its_key() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "doorway.toml",
                "database_url = \"mysql://x\"\nadmin_token = \"short\"\n[projects.api]\n[projects.ok]\naccess_token_ttl_secs = 5\n",
            )?;
            let err = Settings::load(None, &Overrides::default()).unwrap_err();
            let text = err.problems().join("\n");
            assert!(text.contains("database_url:"), "{text}");
            assert!(text.contains("admin_token:"), "{text}");
            assert!(text.contains("projects.api:"), "{text}");
            assert!(text.contains("projects.ok.access_token_ttl_secs:"), "{text}");
            Ok(())
        });
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        Jail::expect_with(|jail| {
            jail.create_file("doorway.toml", "lissen = \"127.0.0.1:1\"\n")?;
            let err = Settings::load(None, &Overrides::default()).unwrap_err();
            assert!(err.problems()[0].contains("lissen"), "{:?}", err.problems());
            Ok(())
        });
    }

    #[test]
    fn contract_settings_keep_their_keys_and_are_checked_by_their_contract() {
        Jail::expect_with(|jail| {
            let good = "[projects.default.replyke.password_policy]\nrequire_digit = true\n\
                        [projects.default.storyden]\npassword = \"required\"\n\
                        [projects.default.contracts.aufy]\nenabled = false\n";
            jail.create_file("doorway.toml", good)?;
            let s = Settings::load(None, &Overrides::default()).unwrap();
            let default = &s.projects["default"].settings;
            assert_eq!(default.contract_settings["replyke"]["password_policy"]["require_digit"], true);
            assert_eq!(default.contract_settings["storyden"]["password"], "required");
            assert!(!default.contract_enabled("aufy") && default.contract_enabled("replyke"));

            let bad = "[projects.default]\nrepylke = {}\n[projects.default.storyden]\npasword = \"off\"\n\
                       [projects.default.replyke.password_policy]\nmin_length = 0\n\
                       [projects.default.contracts.nope]\nenabled = false\n";
            jail.create_file("doorway.toml", bad)?;
            let text = Settings::load(None, &Overrides::default()).unwrap_err().problems().join("\n");
            for key in [
                "repylke: unknown key",
                "storyden.pasword: unknown key; did you mean `password`?",
                "replyke.password_policy:",
                "contracts.nope:",
            ] {
                assert!(text.contains(&format!("projects.default.{key}")), "{key} in {text}");
            }
            Ok(())
        });
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = Settings {
            admin_token: Some("super-secret-admin-token".into()),
            database_url: "postgres://u:hunter2@h/d".into(),
            master_key: Some("c2VjcmV0LW1hc3Rlci1rZXktMzItYnl0ZXMtbG9uZyE=".into()),
            ..Settings::default()
        };
        let text = format!("{s:?}");
        assert!(!text.contains("super-secret") && !text.contains("hunter2"), "{text}");
        assert!(!text.contains("c2VjcmV0"), "{text}");
    }

    #[test]
    fn master_key_comes_from_its_file_and_a_bad_one_is_named_without_its_value() {
        Jail::expect_with(|jail| {
            let good = "ab".repeat(32);
            jail.create_file("master.key", &format!("{good}\n"))?;
            jail.set_env("DOORWAY_MASTER_KEY_FILE", "master.key");
            let s = Settings::load(None, &Overrides::default()).unwrap();
            assert_eq!(s.master_key.as_deref(), Some(good.as_str()));

            jail.create_file("master.key", "not-a-key-at-all")?;
            let err = Settings::load(None, &Overrides::default()).unwrap_err();
            let text = err.problems().join("\n");
            assert!(text.starts_with("master_key: must be 32 random bytes"), "{text}");
            assert!(!text.contains("not-a-key-at-all"), "{text}");
            Ok(())
        });
    }
}
