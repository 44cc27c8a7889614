//! Fault injection against the real binary, on real engines: `kill -9` under load, PostgreSQL
//! stopped and started under load, SQLite on a filesystem that fills up and frees again.
//!
//! Short by default (a few seconds each); `SOAK=1` runs longer loads and outages. Each test
//! prints what it measured (time to 503, time to recover, duplicates) on one `measured:` line;
//! see them with `scripts/test.sh -E 'binary(faults)' --no-capture`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test's panic is its failure")]

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::Value;

const ADMIN_TOKEN: &str = "fault-test-admin-token-0123456789";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The deadline the server is given for a database connection (`database_timeout_ms`).
const DB_TIMEOUT_MS: u64 = 1000;
/// How long a claimed delivery is reserved (`webhook_delivery.lease_secs`).
const LEASE_SECS: u64 = 3;

fn soak() -> bool {
    std::env::var("SOAK").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// The server, as a child process.

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    /// Starts `doorway serve` with a config for `database_url`, webhooks to `hook_url`.
    async fn start(dir: &Path, database_url: &str, hook_url: &str) -> Server {
        let port = free_port();
        let config = format!(
            r#"listen = "127.0.0.1:{port}"
database_url = "{database_url}"
admin_token = "{ADMIN_TOKEN}"
database_timeout_ms = {DB_TIMEOUT_MS}
readiness_timeout_ms = 500

[password_hashing]
memory_kib = 4096
iterations = 1

[webhook_delivery]
poll_interval_ms = 50
lease_secs = {LEASE_SECS}
retry_base_ms = 200
timeout_ms = 2000

[projects.default]
name = "Default"

[projects.default.rate_limits]
enabled = false

[[projects.default.webhooks]]
url = "{hook_url}"
secret = "{WEBHOOK_SECRET}"
events = ["user.created"]
"#
        );
        std::fs::write(dir.join("doorway.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join(format!("doorway-{port}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_doorway"))
            .args(["--config", "doorway.toml", "serve"])
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start doorway");
        let mut server = Server { child, port, dir: dir.to_owned() };
        server.wait_until_serving().await;
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn wait_until_serving(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        while Instant::now() < deadline {
            if client.get(self.url("/healthz")).send().await.is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("doorway exited early ({status}): {}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("doorway did not start: {}", self.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("doorway-{}.log", self.port))).unwrap_or_default()
    }

    /// `kill -9`: no shutdown, no flush, in-flight requests and deliveries cut.
    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A webhook receiver that counts every `webhook-id` it gets.

#[derive(Clone, Default)]
struct Hooks {
    /// `webhook-id` → arrival times; user id → `webhook-id`.
    by_id: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
    users: Arc<Mutex<HashMap<String, String>>>,
}

impl Hooks {
    async fn start() -> (Hooks, String) {
        let hooks = Hooks::default();
        let state = hooks.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    if let Some(user) = body["data"]["user"]["id"].as_str() {
                        state.users.lock().unwrap().insert(user.to_owned(), id.clone());
                    }
                    state.by_id.lock().unwrap().entry(id).or_default().push(Instant::now());
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (hooks, url)
    }

    /// Waits until every user has had its `user.created` delivered.
    async fn wait_for_users(&self, users: &[String], secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let missing = users.iter().filter(|u| !self.users.lock().unwrap().contains_key(*u)).count();
            if missing == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "{missing} of {} acknowledged sign-ups never delivered", users.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deliveries received more than once, with their arrival times.
    fn duplicates(&self) -> Vec<Vec<Instant>> {
        self.by_id.lock().unwrap().values().filter(|t| t.len() > 1).cloned().collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Load: sign-ups from several tasks until stopped, every answer recorded.

#[derive(Debug, Clone)]
struct Answer {
    sent: Instant,
    took: Duration,
    /// None when the connection failed (server killed).
    status: Option<u16>,
    retry_after: Option<String>,
    body: Value,
}

impl Answer {
    fn user_id(&self) -> Option<String> {
        (self.status == Some(201)).then(|| self.body["data"]["user"]["id"].as_str().unwrap().to_owned())
    }
}

struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// `workers` tasks signing up through whatever `port` holds (read on each request, so a
    /// restarted server on a new port is followed).
    fn start(port: Arc<Mutex<u16>>, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
        let tasks = (0..workers)
            .map(|w| {
                let (stop, answers, client, port) = (stop.clone(), answers.clone(), client.clone(), port.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let email = format!("load-{w}-{n}-{}@example.com", uuid_like());
                        let url = format!("http://127.0.0.1:{}/api/auth/sign-up", port.lock().unwrap());
                        let body =
                            serde_json::json!({"email": email, "password": "securePassword123!", "name": "Load"});
                        let sent = Instant::now();
                        let answer = match client.post(url).json(&body).send().await {
                            Ok(r) => {
                                let status = r.status().as_u16();
                                let retry_after =
                                    r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                                let body = r.json().await.unwrap_or(Value::Null);
                                Answer { sent, took: sent.elapsed(), status: Some(status), retry_after, body }
                            }
                            Err(_) => {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                                Answer {
                                    sent,
                                    took: sent.elapsed(),
                                    status: None,
                                    retry_after: None,
                                    body: Value::Null,
                                }
                            }
                        };
                        answers.lock().unwrap().push(answer);
                    }
                })
            })
            .collect();
        Load { stop, answers, tasks }
    }

    async fn finish(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let mut answers = self.answers.lock().unwrap().clone();
        answers.sort_by_key(|a| a.sent);
        answers
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{nanos:x}{}", N.fetch_add(1, Ordering::Relaxed))
}

fn acknowledged(answers: &[Answer]) -> Vec<String> {
    answers.iter().filter_map(Answer::user_id).collect()
}

/// The user ids in the database.
async fn stored_users(database_url: &str) -> HashSet<String> {
    let rows: Vec<(String,)> = if database_url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
        sqlx::query_as("SELECT id FROM users").fetch_all(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        sqlx::query_as("SELECT id FROM users").fetch_all(&pool).await.unwrap()
    };
    rows.into_iter().map(|(id,)| id).collect()
}

fn assert_all_stored(acknowledged: &[String], stored: &HashSet<String>) {
    let lost: Vec<&String> = acknowledged.iter().filter(|u| !stored.contains(*u)).collect();
    assert!(lost.is_empty(), "{} acknowledged sign-ups lost: {lost:?}", lost.len());
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL of the test's own, to stop and start (the suite's shared one must stay up).

/// Runs as the `postgres` user when we are root (initdb refuses root), as in scripts/test.sh.
fn as_pg(program: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
}

impl Postgres {
    /// None (with the reason printed) when PostgreSQL's server binaries are not on PATH.
    fn init() -> Option<Postgres> {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            Command::new("chown").args(["-R", "postgres", dir.path().to_str().unwrap()]).status().unwrap();
        }
        let data = dir.path().join("data");
        let out =
            as_pg("initdb").args(["-D", data.to_str().unwrap(), "-U", "postgres", "-A", "trust", "--no-sync"]).output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!("initdb failed: {}", String::from_utf8_lossy(&o.stderr)),
            Err(e) => {
                eprintln!(
                    "SKIPPED: PostgreSQL server binaries (initdb, pg_ctl) are not on PATH ({e}); scripts/test.sh puts them there"
                );
                return None;
            }
        }
        let pg = Postgres { dir, port: free_port() };
        pg.start();
        Some(pg)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("pg.log");
        let status = as_pg("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-t", "30"])
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {args:?}: {}", std::fs::read_to_string(log).unwrap_or_default());
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off",
            self.port,
            self.dir.path().display()
        );
        self.ctl(&["-o", &options, "start"]);
    }

    /// A fast shutdown: sessions are ended, as in a restart or failover.
    fn stop(&self) {
        self.ctl(&["-m", "fast", "stop"]);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_pg("pg_ctl").args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]).output();
    }
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// PostgreSQL stopped under load: every request answers 503 with `Retry-After` within the
/// deadline (never 500, never a hang), `/readyz` says 503 within its own timeout, and once
/// PostgreSQL is back the server recovers by itself, having lost nothing acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_outage_answers_503_within_the_deadline_and_recovers() {
    let Some(pg) = Postgres::init() else { return };
    let (hooks, hook_url) = Hooks::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &pg.url(), &hook_url).await;
    let client = reqwest::Client::new();
    let load = Load::start(Arc::new(Mutex::new(server.port)), 4);
    let outage = Duration::from_secs(if soak() { 25 } else { 3 });

    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped_at = Instant::now();
    pg.stop();
    // Readiness says so within its own timeout.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probe = Instant::now();
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    let readyz_took = probe.elapsed();
    assert_eq!(ready.status(), 503);
    assert!(readyz_took < Duration::from_millis(1500), "/readyz took {readyz_took:?}");
    tokio::time::sleep(outage.saturating_sub(stopped_at.elapsed())).await;
    pg.start();
    let started_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(if soak() { 10 } else { 3 })).await;
    let answers = load.finish().await;

    // Never a 500; every refusal a 503 in the native envelope with Retry-After, in time.
    let deadline = Duration::from_millis(DB_TIMEOUT_MS + 1500);
    for a in &answers {
        let status = a.status.expect("the server stayed up");
        assert!(status == 201 || status == 503, "answered {status}: {}", a.body);
        assert!(a.took < deadline, "an answer took {:?} (deadline {deadline:?}): {}", a.took, a.body);
        if status == 503 {
            assert_eq!(a.body["error"]["code"], "SERVICE_UNAVAILABLE", "{}", a.body);
            assert!(a.retry_after.is_some(), "503 without Retry-After");
        }
    }
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == Some(503)).collect();
    assert!(!refused.is_empty(), "the outage was never seen");
    let first_503 = refused.iter().map(|a| a.sent + a.took).min().unwrap();
    let time_to_503 = first_503.saturating_duration_since(stopped_at);
    let recovered = answers
        .iter()
        .filter(|a| a.status == Some(201) && a.sent >= started_at)
        .map(|a| a.sent + a.took)
        .min()
        .expect("no sign-up succeeded after PostgreSQL came back");
    let time_to_recover = recovered.saturating_duration_since(started_at);
    assert!(time_to_recover < Duration::from_secs(5), "recovered {time_to_recover:?} after PostgreSQL started");
    let slowest_503 = refused.iter().map(|a| a.took).max().unwrap();

    let users = acknowledged(&answers);
    assert_all_stored(&users, &stored_users(&pg.url()).await);
    hooks.wait_for_users(&users, 30).await;
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    println!(
        "measured: postgres outage {outage:?}: first 503 {time_to_503:?} after the stop, slowest 503 {slowest_503:?}, \
         /readyz {readyz_took:?}, recovered {time_to_recover:?} after the start; {} sign-ups acknowledged, all stored \
         and delivered; {} refused with 503; duplicates {}",
        users.len(),
        refused.len(),
        hooks.duplicates().len()
    );
}

/// `kill -9` under load, then a restart on the same database: every acknowledged sign-up is
/// stored and its event delivered; deliveries cut by the kill are re-sent once their lease
/// expires (same `webhook-id`), so duplicates are only those in flight at the kill.
async fn kill_9_under_load(database_url: String) {
    let (hooks, hook_url) = Hooks::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &database_url, &hook_url).await;
    let port = Arc::new(Mutex::new(server.port));
    let load = Load::start(port.clone(), 6);
    let rounds = if soak() { 5 } else { 1 };
    let mut kills = Vec::new();
    for _ in 0..rounds {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill9();
        kills.push(Instant::now());
        server = Server::start(dir.path(), &database_url, &hook_url).await;
        *port.lock().unwrap() = server.port;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = load.finish().await;

    let users = acknowledged(&answers);
    assert!(users.len() >= 10, "too little load: {} sign-ups", users.len());
    assert_all_stored(&users, &stored_users(&database_url).await);
    hooks.wait_for_users(&users, 30).await;
    // A duplicate is a delivery first received shortly before a kill (its outcome not yet
    // recorded) and re-sent after the lease: none outside that window. A request the killed
    // process had already sent can still be handled by the receiver just after the kill, hence
    // a little slack after it.
    let duplicates = hooks.duplicates();
    let slack = Duration::from_millis(200);
    for times in &duplicates {
        let first = times[0];
        assert!(
            kills
                .iter()
                .any(|k| first <= *k + slack && k.saturating_duration_since(first) <= Duration::from_secs(LEASE_SECS)),
            "a delivery was received {} times, not around a kill",
            times.len()
        );
        assert_eq!(times.len(), 2, "a delivery was received {} times", times.len());
    }
    println!(
        "measured: kill -9 ×{rounds} on {}: {} sign-ups acknowledged, all stored and delivered; {} duplicate deliveries (lease {LEASE_SECS} s)",
        if database_url.starts_with("sqlite:") { "sqlite" } else { "postgres" },
        users.len(),
        duplicates.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    kill_9_under_load(format!("sqlite://{}", dir.path().join("doorway.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_on_postgres() {
    let Ok(base) = std::env::var("TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: TEST_POSTGRES_URL is not set; run the suite with scripts/test.sh");
        return;
    };
    let name = format!("doorway_kill_{}", uuid_like());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await.unwrap();
    sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap();
    let url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    kill_9_under_load(url).await;
}

/// A tmpfs of a few MiB, mounted for the test and unmounted after.
struct SmallFilesystem {
    dir: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(size: &str) -> Option<SmallFilesystem> {
        if !is_root() {
            eprintln!("SKIPPED: the full-disk test mounts a small tmpfs, which needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!("SKIPPED: cannot mount a tmpfs here: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Some(SmallFilesystem { dir })
    }

    /// Writes a file until the filesystem is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let small = vec![0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.flush();
        path
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").args(["-l", self.dir.path().to_str().unwrap()]).status();
    }
}

/// SQLite on a filesystem that fills up: sign-ups answer 503 (never 500), `/readyz` says
/// 503, and once space is freed the same process serves again, with an intact database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_full_disk_answers_503_and_recovers_without_restart() {
    let Some(fs) = SmallFilesystem::mount("8m") else { return };
    let (hooks, hook_url) = Hooks::start().await;
    let database_url = format!("sqlite://{}", fs.dir.path().join("doorway.db").display());
    let logs = tempfile::tempdir().unwrap();
    let mut server = Server::start(logs.path(), &database_url, &hook_url).await;
    let client = reqwest::Client::new();
    let sign_up = |n: usize| {
        let client = client.clone();
        let url = server.url("/api/auth/sign-up");
        async move {
            let email = format!("full-{n}-{}@example.com", uuid_like());
            let body = serde_json::json!({"email": email, "password": "securePassword123!", "name": "Full"});
            let r = client.post(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            let retry_after = r.headers().get("retry-after").is_some();
            (status, retry_after, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut users = Vec::new();
    for n in 0..3 {
        let (status, _, body) = sign_up(n).await;
        assert_eq!(status, 201, "{body}");
        users.push(body["data"]["user"]["id"].as_str().unwrap().to_owned());
    }

    let filler = fs.fill();
    let filled_at = Instant::now();
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "/readyz while the disk is full");
    let readyz_body: Value = ready.json().await.unwrap();
    assert!(readyz_body["error"]["message"].as_str().unwrap().contains("storage is full"), "{readyz_body}");
    // Sign-ups fit in the WAL's existing pages for a while; the first that needs space is
    // refused with 503.
    let mut first_503 = None;
    for n in 0..200 {
        let (status, retry_after, body) = sign_up(100 + n).await;
        match status {
            201 => users.push(body["data"]["user"]["id"].as_str().unwrap().to_owned()),
            503 => {
                assert!(retry_after, "503 without Retry-After");
                assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{body}");
                first_503 = Some(filled_at.elapsed());
                break;
            }
            other => panic!("answered {other} on a full disk: {body}"),
        }
    }
    let time_to_503 = first_503.expect("a full disk never refused a sign-up");
    // Still full: a sign-up is refused, or kept when a checkpoint let the WAL start over in
    // the space it already has; never a 500.
    for n in 0..3 {
        let (status, retry_after, body) = sign_up(400 + n).await;
        match status {
            201 => users.push(body["data"]["user"]["id"].as_str().unwrap().to_owned()),
            503 => assert!(retry_after, "503 without Retry-After"),
            other => panic!("answered {other} on a full disk: {body}"),
        }
    }

    std::fs::remove_file(filler).unwrap();
    let freed_at = Instant::now();
    let mut recovered = None;
    for n in 0..100 {
        let (status, _, body) = sign_up(500 + n).await;
        if status == 201 {
            users.push(body["data"]["user"]["id"].as_str().unwrap().to_owned());
            recovered = Some(freed_at.elapsed());
            break;
        }
        assert_eq!(status, 503, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let time_to_recover = recovered.expect("the server did not recover once space was freed");
    assert!(time_to_recover < Duration::from_secs(5), "recovered after {time_to_recover:?}");
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "/readyz once space is free");
    hooks.wait_for_users(&users, 30).await;

    server.kill9();
    let pool = sqlx::SqlitePool::connect(&database_url).await.unwrap();
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&pool).await.unwrap();
    assert_eq!(check, "ok");
    pool.close().await;
    assert_all_stored(&users, &stored_users(&database_url).await);
    println!(
        "measured: sqlite disk full: first 503 {time_to_503:?} after filling (/readyz 503 at once), recovered \
         {time_to_recover:?} after freeing, without restart; {} sign-ups acknowledged, all stored and delivered; \
         integrity_check ok",
        users.len()
    );
}
