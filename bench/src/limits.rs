//! `doorway-bench limit`: what a flow could reach if HTTP, JSON, tokens and the server cost
//! nothing. Write flows: the flow's statements (statements.rs) back to back from a bare client
//! of the same engine, drivers and connection settings as the server (SQLite: WAL,
//! synchronous=NORMAL, busy_timeout 10 s, foreign keys, 8 read connections and one writer
//! connection for the `BEGIN IMMEDIATE` transactions, rusqlite run inline; PostgreSQL: 16 sqlx
//! connections, no pings),
//! `--clients` tasks on a runtime with one worker per core. Read flows (`me`): an access-token
//! verification (EdDSA, jsonwebtoken, the server's validation) plus the session read; `me-reads` is every read `me` does on a
//! session-cache miss (the session, then the user with their memberships).
//!
//! `--check` runs every flow once on the given (freshly migrated) database and fails, naming the
//! statement, when one no longer matches the schema.

use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{f, proc_cpu_secs_self, round, system_busy_secs};
use crate::sqlite_inline::{Readers, Writer};
use crate::statements::{self as st, Bind, Script, Step};

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum LimitFlow {
    Me,
    MeReads,
    EmailSignup,
    OauthSignup,
    Refresh,
    SignOut,
    PasswordSignup,
}

const ALL: [LimitFlow; 7] = [
    LimitFlow::Me,
    LimitFlow::MeReads,
    LimitFlow::EmailSignup,
    LimitFlow::OauthSignup,
    LimitFlow::Refresh,
    LimitFlow::SignOut,
    LimitFlow::PasswordSignup,
];

impl LimitFlow {
    fn name(self) -> &'static str {
        match self {
            LimitFlow::Me => "me",
            LimitFlow::MeReads => "me-reads",
            LimitFlow::EmailSignup => "email-signup",
            LimitFlow::OauthSignup => "oauth-signup",
            LimitFlow::Refresh => "refresh",
            LimitFlow::SignOut => "sign-out",
            LimitFlow::PasswordSignup => "password-signup",
        }
    }
}

#[derive(Clone)]
pub enum Db {
    /// Reads outside a transaction on the first, transactions on the second (the server's
    /// single writer), both inline as the server runs them.
    Sqlite(Arc<Readers>, Arc<Writer>),
    Postgres(sqlx::PgPool),
}

impl Db {
    pub async fn connect(url: &str, max: Option<u32>) -> Result<Db, sqlx::Error> {
        if url.starts_with("sqlite:") {
            // The server's settings (crates/doorway-store/src/lib.rs).
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            // Creates the file and turns WAL on, as the server's migrator does.
            SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await?.close().await;
            let file = options.get_filename();
            let config = |e: rusqlite::Error| sqlx::Error::Configuration(e.into());
            let writer = Writer::open(file).map_err(config)?;
            let readers = Readers::open(file, max.unwrap_or(8) as usize).map_err(config)?;
            Ok(Db::Sqlite(Arc::new(readers), Arc::new(writer)))
        } else {
            Ok(Db::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(max.unwrap_or(16))
                    .test_before_acquire(false)
                    .connect(url)
                    .await?,
            ))
        }
    }

    fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(..) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}

/// Binds and runs one statement on one engine's executor, reading every row it returns.
macro_rules! run_step {
    ($db:ty, $conn:expr, $sql:expr, $binds:expr) => {{
        let mut q = sqlx::query::<$db>($sql);
        for b in $binds {
            q = match b {
                Bind::Text(v) => q.bind(v.clone()),
                Bind::OptText(v) => q.bind(v.clone()),
                Bind::Int(v) => q.bind(*v),
                Bind::OptInt(v) => q.bind(*v),
                Bind::Bool(v) => q.bind(*v),
                Bind::OptFloat(v) => q.bind(*v),
            };
        }
        q.fetch_all($conn).await.map(|rows| rows.len())
    }};
}

/// Deferred inserts as the server sends them: `WITH w0 AS (…), w1 AS (…) <last>`, each
/// statement's placeholders raised past the binds before it (the store's `combined`).
fn combined(steps: &[Step]) -> (String, Vec<Bind>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    let last = steps.len() - 1;
    for (i, step) in steps.iter().enumerate() {
        sql.push_str(match i {
            0 => "WITH ",
            _ if i == last => ") ",
            _ => "), ",
        });
        if i != last {
            sql.push_str(&format!("w{i} AS ("));
        }
        let mut rest = step.sql.postgres;
        while let Some(at) = rest.find('$') {
            sql.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let n: usize = rest[..digits].parse().unwrap_or(0);
            sql.push_str(&(n + binds.len()).to_string());
            rest = &rest[digits..];
        }
        sql.push_str(rest);
        binds.extend(step.binds.iter().cloned());
    }
    (sql, binds)
}

/// A statement that failed: which one, and why.
#[derive(Debug)]
pub struct StepError {
    pub sql: &'static str,
    pub error: String,
}

impl Db {
    /// As the server's transaction runs them: each run of deferred writes as one statement
    /// (crates/doorway-store/src/postgres.rs), sent before the next statement or the commit.
    /// (The server also splits a run at an update after an insert; no flow here has one.)
    async fn steps_pg(conn: &mut sqlx::PgConnection, steps: &[Step]) -> Result<(), StepError> {
        let mut i = 0;
        while i < steps.len() {
            let run = steps[i..].iter().take_while(|s| s.sql.deferred).count().max(1);
            let group = &steps[i..i + run];
            let first = group[0].sql.postgres;
            if run == 1 {
                run_step!(sqlx::Postgres, &mut *conn, first, &group[0].binds)
            } else {
                let (sql, binds) = combined(group);
                run_step!(sqlx::Postgres, &mut *conn, sqlx::AssertSqlSafe(sql), &binds)
            }
            .map_err(|e| StepError { sql: first, error: e.to_string() })?;
            i += run;
        }
        Ok(())
    }

    /// The statements before the transaction on the pool (each on any connection, as the
    /// server's reads are), then the transaction.
    pub async fn run(&self, script: &Script) -> Result<(), StepError> {
        let begin = |e: sqlx::Error| StepError { sql: "BEGIN", error: e.to_string() };
        let commit = |e: sqlx::Error| StepError { sql: "COMMIT", error: e.to_string() };
        match self {
            Db::Sqlite(reads, writer) => {
                for s in &script.before {
                    reads
                        .run(s.sql.sqlite, &s.binds)
                        .await
                        .map_err(|e| StepError { sql: s.sql.sqlite, error: e.to_string() })?;
                }
                if !script.tx.is_empty() {
                    writer.transaction(&script.tx).await.map_err(|(sql, e)| StepError { sql, error: e })?;
                }
            }
            Db::Postgres(pool) => {
                for s in &script.before {
                    run_step!(sqlx::Postgres, pool, s.sql.postgres, &s.binds)
                        .map_err(|e| StepError { sql: s.sql.postgres, error: e.to_string() })?;
                }
                if !script.tx.is_empty() {
                    let mut tx = pool.begin().await.map_err(begin)?;
                    Self::steps_pg(&mut tx, &script.tx).await?;
                    tx.commit().await.map_err(commit)?;
                }
            }
        }
        Ok(())
    }

    /// Runs steps in one transaction (setup: sign-out's sessions, in batches).
    async fn run_tx(&self, steps: Vec<Step>) -> Result<(), StepError> {
        self.run(&Script { before: Vec::new(), tx: steps }).await
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What one task needs to repeat its flow.
struct Task {
    key: String,
    project: String,
    user_id: String,
    session_id: String,
    /// refresh: the live token (id, hash).
    refresh: (String, String),
    /// sign-out: sessions still to end.
    sessions: Vec<String>,
    /// me: an access token for `session_id`.
    token: String,
    n: u32,
}

/// The server's access-token check (crates/doorway-core/src/session.rs verify_access_token).
struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

fn signer(project_slug: &str) -> (EncodingKey, Verifier) {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let mut secret = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut secret);
    let signing = ed25519_dalek::SigningKey::from_bytes(&secret);
    let der = signing.to_pkcs8_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default();
    let public = signing.verifying_key().to_bytes();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["http://127.0.0.1:8080"]);
    validation.set_audience(&[project_slug]);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    (EncodingKey::from_ed_der(&der), Verifier { key: DecodingKey::from_ed_der(&public), validation })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    sid: String,
    amr: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
}

async fn setup_task(
    db: &Db,
    flow: LimitFlow,
    key: String,
    project: &str,
    signing: &EncodingKey,
    prep_until: Instant,
) -> Result<Task, StepError> {
    let now = now_ms();
    // Every flow but the sign-ups starts from an account with a session.
    db.run(&st::email_signup(&key, 0, project, now)).await?;
    let user_id = st::id("usr", &key, 0);
    let session_id = st::id("ses", &key, 0);
    let mut sessions = Vec::new();
    if flow == LimitFlow::SignOut {
        let mut n = 1u32;
        loop {
            let mut batch = Vec::new();
            for _ in 0..200 {
                batch.extend(st::extra_session(&key, n, project, &user_id, now));
                sessions.push(st::id("ses", &key, n));
                n += 1;
            }
            db.run_tx(batch).await?;
            if Instant::now() >= prep_until {
                break;
            }
        }
    }
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("bench".into());
    let claims = Claims {
        iss: "http://127.0.0.1:8080".into(),
        sub: user_id.clone(),
        aud: "default".into(),
        exp: now / 1000 + 3600,
        iat: now / 1000,
        sid: session_id.clone(),
        amr: vec![],
        roles: vec![],
    };
    let token = jsonwebtoken::encode(&header, &claims, signing).unwrap_or_default();
    Ok(Task {
        refresh: st::first_refresh_token(&key, 0),
        key,
        project: project.to_owned(),
        user_id,
        session_id,
        sessions,
        token,
        n: 1_000_000,
    })
}

/// One iteration; `false` when the task has nothing left (sign-out).
async fn iterate(db: &Db, flow: LimitFlow, t: &mut Task, verifier: &Verifier) -> Result<bool, StepError> {
    t.n += 1;
    let now = now_ms();
    match flow {
        LimitFlow::EmailSignup => db.run(&st::email_signup(&t.key, t.n, &t.project, now)).await?,
        LimitFlow::OauthSignup => db.run(&st::oauth_signup(&t.key, t.n, &t.project, now)).await?,
        LimitFlow::PasswordSignup => db.run(&st::password_signup(&t.key, t.n, &t.project, now)).await?,
        LimitFlow::Refresh => {
            let (script, child) = st::refresh(&t.key, t.n, (&t.refresh.0, &t.refresh.1), &t.session_id, now);
            db.run(&script).await?;
            t.refresh = child;
        }
        LimitFlow::SignOut => {
            let Some(sid) = t.sessions.pop() else { return Ok(false) };
            db.run(&st::sign_out(&t.key, t.n, &t.project, &sid, &t.user_id, now)).await?;
        }
        LimitFlow::Me | LimitFlow::MeReads => {
            let claims = jsonwebtoken::decode::<Claims>(&t.token, &verifier.key, &verifier.validation)
                .map_err(|e| StepError { sql: "(access-token verification)", error: e.to_string() })?
                .claims;
            let script = if flow == LimitFlow::Me {
                Script {
                    before: vec![Step { sql: st::SESSION_BY_ID, binds: vec![Bind::Text(claims.sid)] }],
                    tx: vec![],
                }
            } else {
                st::me_reads(&t.project, &claims.sid, &claims.sub)
            };
            db.run(&script).await?;
        }
    }
    Ok(true)
}

fn script_of(flow: LimitFlow) -> Script {
    let now = 0;
    match flow {
        LimitFlow::EmailSignup => st::email_signup("k", 1, "p", now),
        LimitFlow::OauthSignup => st::oauth_signup("k", 1, "p", now),
        LimitFlow::PasswordSignup => st::password_signup("k", 1, "p", now),
        LimitFlow::Refresh => st::refresh("k", 1, ("a", "b"), "s", now).0,
        LimitFlow::SignOut => st::sign_out("k", 1, "p", "s", "u", now),
        LimitFlow::Me => Script { before: vec![Step { sql: st::SESSION_BY_ID, binds: vec![] }], tx: vec![] },
        LimitFlow::MeReads => st::me_reads("p", "s", "u"),
    }
}

fn has_tx(flow: LimitFlow) -> bool {
    !matches!(flow, LimitFlow::Me | LimitFlow::MeReads)
}

async fn project_id(db: &Db) -> Result<String, sqlx::Error> {
    const Q: &str = "SELECT id FROM projects WHERE slug = 'bench'";
    match db {
        Db::Sqlite(_, w) => w.text(Q).await.map_err(|e| sqlx::Error::Protocol(e.to_string())),
        Db::Postgres(p) => sqlx::query_scalar(Q).fetch_one(p).await,
    }
}

pub struct LimitArgs {
    pub flow: Option<LimitFlow>,
    pub database_url: String,
    pub clients: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub prep_seconds: f64,
    pub run: u32,
    pub label: String,
    pub check: bool,
}

fn fail(flow: LimitFlow, e: &StepError) -> ExitCode {
    eprintln!(
        "limit {}: statement failed: {}\n  SQL: {}",
        flow.name(),
        e.error,
        e.sql.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    ExitCode::FAILURE
}

pub async fn run(a: LimitArgs) -> ExitCode {
    let db = match Db::connect(&a.database_url, None).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("limit: connect {}: {e}", a.database_url);
            return ExitCode::FAILURE;
        }
    };
    let project = match project_id(&db).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("limit: no project 'bench' (run `doorway project add bench` on the database): {e}");
            return ExitCode::FAILURE;
        }
    };
    let (signing, verifier) = signer("default");
    let verifier = Arc::new(verifier);
    let nonce = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);

    if a.check {
        for (i, flow) in ALL.into_iter().enumerate() {
            let key = format!("c{nonce:x}x{i}");
            let mut task = match setup_task(&db, flow, key, &project, &signing, Instant::now()).await {
                Ok(t) => t,
                Err(e) => return fail(flow, &e),
            };
            if let Err(e) = iterate(&db, flow, &mut task, &verifier).await {
                return fail(flow, &e);
            }
            let script = script_of(flow);
            eprintln!(
                "limit --check: {} ok ({} statements; {} round trips on PostgreSQL)",
                flow.name(),
                script.count(),
                script.round_trips_pg()
            );
            // What the server sends for one request (`me`: user and memberships, the session
            // being cached), which the report shows beside the flow.
            let served = if flow == LimitFlow::Me { st::me_cached_reads("p", "u") } else { script_of(flow) };
            println!(
                "{}",
                json!({"kind": "statements", "flow": flow.name(), "statements": served.count(), "transaction": has_tx(flow)})
            );
        }
        return ExitCode::SUCCESS;
    }
    let Some(flow) = a.flow else {
        eprintln!("limit: --flow or --check");
        return ExitCode::FAILURE;
    };

    let prep_until = Instant::now() + Duration::from_secs_f64(a.prep_seconds);
    let mut tasks = Vec::new();
    let setups: Vec<_> = (0..a.clients)
        .map(|k| {
            let db = db.clone();
            let project = project.clone();
            let signing = signing.clone();
            tokio::spawn(async move {
                setup_task(&db, flow, format!("{nonce:x}t{k}"), &project, &signing, prep_until).await
            })
        })
        .collect();
    for s in setups {
        match s.await {
            Ok(Ok(t)) => tasks.push(t),
            Ok(Err(e)) => return fail(flow, &e),
            Err(e) => {
                eprintln!("limit: setup task: {e}");
                return ExitCode::FAILURE;
            }
        }
    }

    let t0 = Instant::now();
    let t_warm = t0 + Duration::from_secs_f64(a.warmup);
    let t_end = t_warm + Duration::from_secs_f64(a.seconds);
    let exhausted_us = Arc::new(AtomicU64::new(0));
    let cpu = tokio::spawn({
        let exhausted_us = exhausted_us.clone();
        async move {
            tokio::time::sleep_until(t_warm.into()).await;
            let (s0, b0) = (proc_cpu_secs_self(), system_busy_secs());
            while Instant::now() < t_end && exhausted_us.load(Ordering::Relaxed) == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let (s1, b1) = (proc_cpu_secs_self(), system_busy_secs());
            (s0.zip(s1).map(|(a, b)| b - a), b0.zip(b1).map(|(a, b)| b - a))
        }
    });
    let workers: Vec<_> = tasks
        .into_iter()
        .map(|mut task| {
            let db = db.clone();
            let verifier = verifier.clone();
            let exhausted_us = exhausted_us.clone();
            tokio::spawn(async move {
                let mut recs: Vec<(u64, u32)> = Vec::with_capacity(1 << 14);
                while Instant::now() < t_end {
                    let start = Instant::now();
                    match iterate(&db, flow, &mut task, &verifier).await {
                        Ok(true) => {}
                        Ok(false) => {
                            let at = t0.elapsed().as_micros() as u64;
                            let _ = exhausted_us.compare_exchange(0, at.max(1), Ordering::Relaxed, Ordering::Relaxed);
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                    let end = Instant::now();
                    recs.push(((end - t0).as_micros() as u64, (end - start).as_micros() as u32));
                }
                Ok(recs)
            })
        })
        .collect();
    let mut recs = Vec::new();
    for w in workers {
        match w.await {
            Ok(Ok(r)) => recs.extend(r),
            Ok(Err(e)) => return fail(flow, &e),
            Err(e) => {
                eprintln!("limit: task: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let (self_cpu, busy) = cpu.await.unwrap_or((None, None));
    let warm_us = (t_warm - t0).as_micros() as u64;
    let ex = exhausted_us.load(Ordering::Relaxed);
    let end_us = if ex > 0 { ex.min((t_end - t0).as_micros() as u64) } else { (t_end - t0).as_micros() as u64 };
    let window_s = end_us.saturating_sub(warm_us) as f64 / 1e6;
    let mut lat: Vec<u32> = recs.iter().filter(|(e, _)| *e >= warm_us && *e <= end_us).map(|(_, l)| *l).collect();
    lat.sort_unstable();
    let ops = lat.len() as u64;
    let rate = if window_s > 0.0 { ops as f64 / window_s } else { 0.0 };
    let pct = |p: f64| -> Option<f64> {
        if lat.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * lat.len() as f64).ceil().max(1.0) as usize;
        Some(round(f64::from(lat[rank - 1]) / 1000.0, 3))
    };
    let statements = script_of(flow).count();
    eprintln!(
        "limit {} run {} ({}): {ops} in {window_s:.1} s = {rate:.1}/s, {statements} statements{}, p50 {} p99 {} ms",
        flow.name(),
        a.run,
        db.engine(),
        if has_tx(flow) { " + BEGIN/COMMIT" } else { "" },
        f(pct(50.0), 2),
        f(pct(99.0), 2),
    );
    println!(
        "{}",
        json!({
            "kind": "limit",
            "flow": flow.name(),
            "label": a.label,
            "engine": db.engine(),
            "run": a.run,
            "clients": a.clients,
            "seconds": round(window_s, 3),
            "ops": ops,
            "per_sec": round(rate, 2),
            "statements": statements,
            "transaction": has_tx(flow),
            "p50_ms": pct(50.0),
            "p99_ms": pct(99.0),
            "max_ms": pct(100.0),
            "self_cpu_s": self_cpu.map(|v| round(v, 3)),
            "busy_cpu_s": busy.map(|v| round(v, 3)),
        })
    );
    ExitCode::SUCCESS
}
