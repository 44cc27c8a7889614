//! `TestApp`: starts the real server on a free loopback port against a fresh database.

use std::sync::Arc;

use doorway_core::{Clock, ManualClock, SystemClock, Timestamp};
use doorway_server::settings::ProjectConfig;
use doorway_server::{Application, Settings};
use serde_json::Value;

pub use doorway_store::test_support::Backend;
use doorway_store::test_support::{FreshDatabase, fresh_database};

/// Expands each listed `async fn name(backend: Backend)` into `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name($crate::harness::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name($crate::harness::Backend::Postgres).await }
        })*
    };
}

pub const STRONG_PASSWORD: &str = "securePassword123!";

/// The `Set-Cookie` header for `name`, if the response set it.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value part of a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned()
}

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A change to the server settings, applied after the builder's own.
type SettingsTweak = Box<dyn FnOnce(&mut Settings) + Send>;

pub struct TestAppBuilder {
    backend: Backend,
    database_url: Option<String>,
    admin_token: Option<String>,
    projects: Vec<(String, ProjectConfig)>,
    clock: Option<ManualClock>,
    hashing: Option<doorway_core::password_hashing::HashingSettings>,
    rate_limits: bool,
    delivery: doorway_server::settings::DeliverySettings,
    tweaks: Vec<SettingsTweak>,
    smtp: bool,
    shared_db: Option<Arc<FreshDatabase>>,
}

pub struct TestApp {
    pub address: String,
    /// `http://…` of `metrics_listen`, when the test configured one.
    pub metrics_address: Option<String>,
    pub database_url: String,
    pub client: reqwest::Client,
    pub state: doorway_server::AppState,
    /// Put in the display name of this app's From address, so `mails_to` finds only its mail.
    pub mail_marker: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _db: Option<Arc<FreshDatabase>>,
}

impl TestApp {
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            database_url: None,
            admin_token: None,
            projects: Vec::new(),
            clock: None,
            hashing: None,
            rate_limits: false,
            tweaks: Vec::new(),
            smtp: false,
            // Fast enough that retries happen within a test.
            delivery: doorway_server::settings::DeliverySettings {
                poll_interval_ms: 50,
                lease_secs: 5,
                retry_base_ms: 200,
                max_attempts: 3,
                timeout_ms: 2000,
                ..Default::default()
            },
            shared_db: None,
        }
    }

    pub async fn spawn(backend: Backend) -> TestApp {
        Self::builder(backend).spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request failed")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request failed")
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(ADMIN_TOKEN).send().await.expect("request failed")
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(ADMIN_TOKEN).json(body).send().await.expect("request failed")
    }

    /// A browser of its own: a fresh cookie jar, redirects not followed.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap()
    }

    /// A client with no cookie jar, for requests that must carry only what the test gives.
    pub fn bare_client(&self) -> reqwest::Client {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
    }

    pub async fn sign_up(
        &self,
        prefix: &str,
        email: &str,
        name: &str,
        organization: Option<&str>,
    ) -> reqwest::Response {
        let mut body = serde_json::json!({"email": email, "password": STRONG_PASSWORD, "name": name});
        if let Some(org) = organization {
            body["organizationName"] = org.into();
        }
        self.post_json(&format!("{prefix}/api/auth/sign-up"), &body).await
    }

    /// The messages this app sent to `address`, oldest first (the Maildir is shared by the suite).
    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        mails_now(address)
            .into_iter()
            .filter(|m| m.from_name.split_whitespace().any(|w| w == self.mail_marker))
            .collect()
    }

    /// Waits until this app sent at least `n` messages to `address`.
    pub async fn wait_for_mails_to(&self, address: &str, n: usize) -> Vec<Mail> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let mails = self.mails_to(address);
            if mails.len() >= n {
                return mails;
            }
            assert!(std::time::Instant::now() < deadline, "expected {n} mails to {address}, got {}", mails.len());
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn project_id(&self, slug: &str) -> String {
        let slug = doorway_core::ProjectSlug::parse(slug).unwrap();
        self.state.services.store.project_by_slug(&slug).await.unwrap().unwrap().id
    }
}

impl TestAppBuilder {
    pub fn with_admin_token(mut self) -> Self {
        self.admin_token = Some(ADMIN_TOKEN.to_owned());
        self
    }

    pub fn with_project_config(mut self, slug: &str, config: ProjectConfig) -> Self {
        self.projects.push((slug.to_owned(), config));
        self
    }

    pub fn with_project(mut self, slug: &str, name: &str) -> Self {
        self.projects.push((slug.to_owned(), ProjectConfig { name: Some(name.to_owned()), ..Default::default() }));
        self
    }

    /// Reuses another app's database (to test restarts and several instances).
    pub fn on_database_of(mut self, other: &TestApp) -> Self {
        self.database_url = Some(other.database_url.clone());
        self.shared_db = other._db.clone();
        self
    }

    /// Keeps the projects' rate limits on (the harness turns them off so tests may sign up freely).
    pub fn with_rate_limits(mut self) -> Self {
        self.rate_limits = true;
        self
    }

    /// Sends mail through the suite's SMTP receiver (started by scripts/test.sh).
    pub fn with_smtp(mut self) -> Self {
        self.smtp = true;
        self
    }

    /// Any other server setting.
    pub fn configure(mut self, tweak: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    pub fn with_hashing(mut self, hashing: doorway_core::password_hashing::HashingSettings) -> Self {
        self.hashing = Some(hashing);
        self
    }

    pub fn with_manual_clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    pub async fn spawn(self) -> TestApp {
        let (database_url, db) = match self.database_url {
            Some(url) => (url, self.shared_db),
            None => {
                let db = fresh_database(self.backend).await;
                (db.url.clone(), Some(Arc::new(db)))
            }
        };
        let mut projects = self.projects;
        if !projects.iter().any(|(slug, _)| slug == "default") {
            projects.push(("default".into(), ProjectConfig { name: Some("Default".into()), ..Default::default() }));
        }
        for (_, config) in &mut projects {
            config.settings.rate_limits.enabled &= self.rate_limits;
        }
        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: database_url.clone(),
            admin_token: self.admin_token,
            projects: projects.into_iter().collect(),
            webhook_delivery: self.delivery,
            password_hashing: self.hashing.unwrap_or_default(),
            ..Settings::default()
        };
        let mut settings = settings;
        if std::env::var("TEST_LOG").is_ok() {
            doorway_server::telemetry::init_logging(doorway_server::LogFormat::Text);
        }
        let mail_marker = format!("app-{}", &uuid::Uuid::now_v7().simple().to_string()[16..]);
        if self.smtp {
            let url = std::env::var("TEST_SMTP_URL")
                .expect("TEST_SMTP_URL is not set: run the suite with scripts/test.sh, which starts an SMTP receiver");
            settings.smtp = Some(doorway_server::settings::SmtpSettings {
                url,
                username: None,
                password: None,
                password_file: None,
                from: format!("Doorway Tests {mail_marker} <doorway@tests.example>"),
            });
        }
        for tweak in self.tweaks {
            tweak(&mut settings);
        }
        let clock: Arc<dyn Clock> = match self.clock {
            Some(c) => Arc::new(c),
            None => Arc::new(SystemClock),
        };
        let app = Application::build_with_clock(settings, clock).await.expect("server failed to start");
        let address = format!("http://{}", app.local_addr());
        let metrics_address = app.metrics_addr().map(|a| format!("http://{a}"));
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
        TestApp { address, metrics_address, database_url, client, state, mail_marker, shutdown: Some(tx), _db: db }
    }
}

impl TestApp {
    /// Starts a graceful shutdown, as SIGTERM does.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How far an oversized body goes: 32 KiB over the 64 KiB limit. The server answers 413 without
/// reading it and closes the connection; a body this small fits the loopback socket buffers, so
/// the client reads the 413 (a body of megabytes was still being written when the server
/// closed, and the send failed with a broken pipe instead).
pub const OVERSIZED_BYTES: usize = 96 * 1024;

/// A JSON sign-up body `OVERSIZED_BYTES` long, for tests that send it with their own headers
/// (from a client of their own: see [`oversized`]).
pub fn oversized_json() -> String {
    format!(r#"{{"email":"a@example.com","password":"{STRONG_PASSWORD}","name":"{}"}}"#, "x".repeat(OVERSIZED_BYTES))
}

/// POSTs [`oversized_json`] with the admin token. The server closes the connection after the
/// 413, so this uses its own client (a pooled connection would be reset under the next request).
pub async fn oversized(app: &TestApp, path: &str) -> reqwest::Response {
    oversized_as(app, reqwest::Method::POST, path).await
}

/// [`oversized`] with another method.
pub async fn oversized_as(app: &TestApp, method: reqwest::Method, path: &str) -> reqwest::Response {
    app.bare_client()
        .request(method, app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(oversized_json())
        .send()
        .await
        .expect("the server answers before the client finishes sending")
}

/// Reads a body as JSON, failing the test with the raw text when it is not.
pub async fn json(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

#[allow(dead_code)]
pub fn manual_clock() -> ManualClock {
    ManualClock::starting_at(Timestamp::from_millis(1_767_225_600_000))
}

/// An address no other test uses (the SMTP receiver is shared by the whole suite).
pub fn unique_email(name: &str) -> String {
    format!("{name}-{}@example.com", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

/// A message as the SMTP receiver got it.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    /// The display name of the From address (it carries the sending app's `mail_marker`).
    pub from_name: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    /// The 6-digit code the subject starts with.
    pub fn code(&self) -> String {
        self.subject
            .split_whitespace()
            .next()
            .filter(|c| c.len() == 6 && c.chars().all(|d| d.is_ascii_digit()))
            .unwrap_or_else(|| panic!("no code in {:?}", self.subject))
            .to_owned()
    }

    /// The first link of the text body.
    pub fn link(&self) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with("http"))
            .unwrap_or_else(|| panic!("no link in {:?}", self.text))
            .to_owned()
    }
}

/// Every message the receiver holds for `address`, oldest first.
pub fn mails_now(address: &str) -> Vec<Mail> {
    let dir = std::env::var("TEST_MAILDIR").expect("TEST_MAILDIR is not set: run the suite with scripts/test.sh");
    let mut files: Vec<std::path::PathBuf> = ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(std::path::Path::new(&dir).join(sub)).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    // Maildir names do not sort by arrival within a second; modification times do.
    files.sort_by_key(|p| (std::fs::metadata(p).and_then(|m| m.modified()).ok(), p.clone()));
    files
        .into_iter()
        .filter_map(|path| {
            let bytes = std::fs::read(&path).ok()?;
            let message = mail_parser::MessageParser::default().parse(&bytes)?;
            let to = message.to()?.first()?.address()?.to_lowercase();
            (to == address.to_lowercase()).then(|| Mail {
                from: message.from().and_then(|f| f.first()).and_then(|a| a.address()).unwrap_or_default().to_owned(),
                from_name: message.from().and_then(|f| f.first()).and_then(|a| a.name()).unwrap_or_default().to_owned(),
                subject: message.subject().unwrap_or_default().to_owned(),
                text: message.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                html: message.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
            })
        })
        .collect()
}

/// Waits until `address` has at least `n` messages.
pub async fn wait_for_mails(address: &str, n: usize) -> Vec<Mail> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let mails = mails_now(address);
        if mails.len() >= n {
            return mails;
        }
        assert!(std::time::Instant::now() < deadline, "expected {n} mails to {address}, got {}", mails.len());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
